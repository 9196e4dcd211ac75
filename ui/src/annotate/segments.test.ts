import { describe, expect, test } from 'vitest';
import type { Item, Label } from '../api/client.ts';
import { defaultSegments, overlappingSegment, segmentItem, segmentItems, segmentKey, segmentsFromItems } from './segments.ts';

const label = (id: string, kinds?: Item['kind'][]): Label => ({ id, name: id.toUpperCase(), color: '#ff0000', ...(kinds ? { kinds } : {}) }) as Label;
const labels = [label('nodule'), label('ruler', ['length']), label('liver'), label('lung')];
const seg = (id: string, lab: string, layer: number, value: number): Item => ({ id, kind: 'segmentation', label: lab, source: { type: 'human' }, segment: { layer, value } });

describe('segments', () => {
  test('by default one segment per segmentation label on layer 0, valued by schema order', () => {
    expect(defaultSegments(labels).map((s) => [s.label.id, s.layer, s.value])).toEqual([['nodule', 0, 1], ['liver', 0, 2], ['lung', 0, 3]]);
  });

  test('a revision says where its segments are (an import with overlaps); the other labels get free layer-0 values', () => {
    // As an import of a SEG with overlapping segments writes them: lung on layer 0 value 1, nodule inside it on layer 1.
    const items = [seg('segment-0-1', 'lung', 0, 1), seg('segment-1-1', 'nodule', 1, 1), seg('segment-1-2', 'nodule', 1, 2)];
    const segs = segmentsFromItems(labels, items);
    expect(segs.map((s) => [s.label.id, s.layer, s.value, s.itemId])).toEqual([
      ['lung', 0, 1, 'segment-0-1'],
      ['nodule', 1, 1, 'segment-1-1'],
      ['nodule', 1, 2, 'segment-1-2'],
      // Liver's default value 2 is free on layer 0.
      ['liver', 0, 2, undefined],
    ]);
    // Display state survives a reload of the same segments.
    const hidden = segs.map((s) => (s.label.id === 'lung' ? { ...s, visible: false } : s));
    expect(segmentsFromItems(labels, items, hidden).find((s) => s.label.id === 'lung')?.visible).toBe(false);
  });

  test('an overlapping segment goes on a new layer; items name each present segment with its layer', () => {
    const segs = defaultSegments(labels);
    const over = overlappingSegment(segs, labels[3]);
    expect([over.layer, over.value, over.label.id]).toEqual([1, 1, 'lung']);
    expect(overlappingSegment([...segs, over], labels[0]).layer).toBe(2);
    const layer0 = new Uint8Array([0, 1, 1, 0]);
    const layer1 = new Uint8Array([0, 1, 0, 0]);
    const items = segmentItems(new Map([[0, layer0], [1, layer1]]), [...segs, over]);
    expect(items.map((i) => [i.id, i.label, segmentKey(i.segment!)])).toEqual([['seg-nodule', 'nodule', '0:1'], ['seg-lung-layer1', 'lung', '1:1']]);
  });

  test('a segment is saved as the same item before and after it has voxels, so an answer about it stays attached', () => {
    const segs = defaultSegments(labels);
    const nodule = segs[0];
    const empty = new Map([[0, new Uint8Array([0, 0, 0, 0])]]);
    const painted = new Map([[0, new Uint8Array([0, 1, 0, 0])]]);
    expect(segmentItems(empty, segs)).toEqual([]);
    expect(segmentItems(painted, segs)).toEqual([segmentItem(nodule)]);
    // a loaded revision's id wins
    const loaded = segmentsFromItems(labels, [seg('segment-1-1', 'nodule', 1, 1)])[0];
    expect(segmentItem(loaded).id).toBe('segment-1-1');
  });
});
