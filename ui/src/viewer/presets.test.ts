import { describe, expect, it } from 'vitest';
import type { seriesGeometry } from '../api/client.ts';
import { geometryNotice } from './geometry.ts';
import { CT_PRESETS, SHORTCUTS, autoRange, commandForKey, edgeMarkers, markersFromPatientOrientation, orientationLetters, presetsFor, rangeToWindow, windowToRange } from './presets.ts';

describe('window presets', () => {
  it('has the six CT presets, each on its own key', () => {
    expect(CT_PRESETS.map((p) => p.id)).toEqual(['soft-tissue', 'lung', 'bone', 'brain', 'liver', 'mediastinum']);
    expect(new Set(CT_PRESETS.map((p) => p.key)).size).toBe(6);
    expect(presetsFor('MR')).toEqual([]);
  });
  it('converts windows to ranges and back', () => {
    expect(windowToRange(-600, 1500)).toEqual({ lower: -1350, upper: 150 });
    expect(rangeToWindow({ lower: -1350, upper: 150 })).toEqual({ center: -600, width: 1500 });
    expect(windowToRange(0, 0).upper - windowToRange(0, 0).lower).toBe(1);
  });
  it('computes an automatic window that ignores outliers', () => {
    const v = new Float32Array(10_000);
    for (let i = 0; i < v.length; i++) v[i] = i % 1000;
    v[0] = -100_000;
    v[1] = 100_000;
    const r = autoRange(v);
    expect(r.lower).toBeGreaterThan(-1000);
    expect(r.lower).toBeLessThan(20);
    expect(r.upper).toBeGreaterThan(980);
    expect(r.upper).toBeLessThan(1100);
    expect(autoRange(new Uint16Array([7, 7, 7]))).toEqual({ lower: 6.5, upper: 7.5 });
    expect(autoRange([])).toEqual({ lower: 0, upper: 1 });
  });
});

describe('keyboard', () => {
  it('maps keys to commands per modality', () => {
    expect(commandForKey('2', 'CT')).toEqual({ kind: 'preset', preset: CT_PRESETS[1] });
    expect(commandForKey('2', 'MR')).toBeUndefined();
    expect(commandForKey('0', 'MR')).toEqual({ kind: 'autoWindow' });
    expect(commandForKey('x', 'CT')).toEqual({ kind: 'tool', tool: 'Crosshairs' });
    expect(commandForKey('ArrowDown', 'CT')).toEqual({ kind: 'scroll', delta: 1 });
    expect(commandForKey('q', 'CT')).toBeUndefined();
  });
  it('documents every key it answers to', () => {
    for (const s of SHORTCUTS) {
      for (const key of s.key.split(' / ')) expect(commandForKey(key, 'CT'), key).toBeDefined();
    }
  });
});

describe('orientation markers', () => {
  it('labels LPS directions', () => {
    expect(orientationLetters([1, 0, 0])).toBe('L');
    expect(orientationLetters([0, -1, 0])).toBe('A');
    expect(orientationLetters([0, 0.2, -0.9])).toBe('I');
    expect(orientationLetters([0.9, 0.1, -0.4])).toBe('LI');
    expect(orientationLetters([0, 0, 0])).toBe('');
  });
  it('marks an axial view in radiological convention', () => {
    // Screen right is the patient's left, screen up is anterior.
    expect(edgeMarkers([1, 0, 0], [0, -1, 0])).toEqual({ top: 'A', bottom: 'P', left: 'R', right: 'L' });
  });
  it('marks a radiograph from Patient Orientation', () => {
    expect(markersFromPatientOrientation('L', 'F')).toEqual({ right: 'L', left: 'R', bottom: 'F', top: 'H' });
    expect(markersFromPatientOrientation('', 'F')).toBeUndefined();
  });
});

describe('geometry banner', () => {
  const g = (findings: seriesGeometry['findings']) => ({ geometry: { findings } as seriesGeometry });
  it('says nothing for a regular volume', () => {
    expect(geometryNotice(g([]), 'CT')).toBeUndefined();
    expect(geometryNotice(g(null), 'CT')).toBeUndefined();
  });
  it('names every kind of finding and lists them with 1-based slices', () => {
    const n = geometryNotice(g([
      { code: 'gap', slice: 4, message: 'step 6 mm, expected 2 mm' },
      { code: 'uneven_spacing', slice: 7, message: 'step 2.5 mm' },
      { code: 'mixed_orientation', slice: -1, message: '3 images in another orientation were left out' },
    ]), 'CT')!;
    expect(n.level).toBe('warning');
    expect(n.codes).toEqual(['gap', 'uneven_spacing', 'mixed_orientation']);
    expect(n.title).toMatch(/missing slices \(gap\), uneven slice spacing, mixed orientation/);
    expect(n.lines).toEqual(['slice 5: step 6 mm, expected 2 mm', 'slice 8: step 2.5 mm', '3 images in another orientation were left out']);
  });
  it('caps the list', () => {
    const many = Array.from({ length: 9 }, (_, i) => ({ code: 'duplicate_position', slice: i, message: 'same position' }));
    const n = geometryNotice(g(many), 'CT')!;
    expect(n.lines).toHaveLength(7);
    expect(n.lines[6]).toBe('… and 3 more');
  });
  it('is only informative for a single slice', () => {
    expect(geometryNotice(g([{ code: 'single_image', slice: 0, message: 'one slice' }]), 'CT')!.level).toBe('info');
  });
  it('warns when the server cannot compute the geometry of a CT, but not of a radiograph', () => {
    expect(geometryNotice({ error: 'image has no patient geometry' }, 'CT')!.title).toMatch(/Geometry unknown: image has no patient geometry/);
    expect(geometryNotice({ error: 'image has no patient geometry' }, 'DX')).toBeUndefined();
  });
});
