import { describe, expect, it } from 'vitest';
import { distanceTo, interpolateSlices, keySlicesAcross, planesAcross, signedDistance } from './interpolate.ts';

function disc(n: number, cx: number, cy: number, r: number): Uint8Array {
  const m = new Uint8Array(n * n);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) m[y * n + x] = 1;
  return m;
}
const count = (m: Uint8Array) => m.reduce((a, v) => a + v, 0);

describe('shape-based interpolation', () => {
  it('computes exact Euclidean distances with the pixel spacing', () => {
    const d = distanceTo(5, 3, [2, 0.5], (i) => i === 0);
    expect(d[0]).toBe(0);
    expect(d[4]).toBeCloseTo(8); // 4 columns × 2 mm
    expect(d[2 * 5 + 0]).toBeCloseTo(1); // 2 rows × 0.5 mm
    expect(d[2 * 5 + 3]).toBeCloseTo(Math.hypot(6, 1));
  });

  it('signs distances negative inside', () => {
    const sd = signedDistance(disc(21, 10, 10, 5), 21, 21, [1, 1]);
    expect(sd[10 * 21 + 10]).toBeLessThan(-4);
    expect(sd[0]).toBeGreaterThan(5);
  });

  it('fills the slices between two key slices with shapes that grow from one to the other', () => {
    const n = 41;
    const filled = interpolateSlices({ columns: n, rows: n, spacing: [1, 1], keys: [{ k: 10, mask: disc(n, 20, 20, 4) }, { k: 14, mask: disc(n, 20, 20, 12) }] });
    expect(filled.map((f) => f.k)).toEqual([11, 12, 13]);
    const sizes = filled.map((f) => count(f.mask));
    expect(sizes[0]).toBeGreaterThan(count(disc(n, 20, 20, 4)));
    expect(sizes[1]).toBeGreaterThan(sizes[0]);
    expect(sizes[2]).toBeLessThan(count(disc(n, 20, 20, 12)));
    // Half-way: the disc of the mean radius, to a pixel.
    expect(Math.abs(sizes[1] - count(disc(n, 20, 20, 8)))).toBeLessThan(2 * Math.PI * 8);
    expect(filled[1].mask[20 * n + 20]).toBe(1);
    expect(filled[1].mask[20 * n + 30]).toBe(0);
  });

  it('moves a shape that shifts between key slices, and leaves adjacent key slices alone', () => {
    const n = 40;
    const filled = interpolateSlices({ columns: n, rows: n, spacing: [1, 1], keys: [{ k: 0, mask: disc(n, 10, 20, 5) }, { k: 2, mask: disc(n, 30, 20, 5) }, { k: 3, mask: disc(n, 30, 20, 5) }] });
    expect(filled.map((f) => f.k)).toEqual([1]);
    // Two far-apart discs do not overlap: shape-based interpolation of disjoint shapes gives their overlap, here nothing.
    expect(count(filled[0].mask)).toBe(0);
  });

  it('refuses a key slice of the wrong size', () => {
    expect(() => interpolateSlices({ columns: 4, rows: 4, spacing: [1, 1], keys: [{ k: 0, mask: new Uint8Array(3) }] })).toThrow(/expected 16/);
  });
});

describe('planes across an axis', () => {
  // 4 × 3 × 2 voxels; voxel (i, j, k) at i + 4j + 12k.
  const dims = [4, 3, 2];
  it('maps plane coordinates to volume indices on each axis', () => {
    expect(planesAcross(2, dims).index(1, 3, 2)).toBe(3 + 8 + 12);
    const j = planesAcross(1, dims);
    expect([j.u, j.v, j.count]).toEqual([0, 2, 3]);
    expect(j.index(2, 1, 1)).toBe(1 + 8 + 12);
    const i = planesAcross(0, dims);
    expect([i.u, i.v, i.count]).toEqual([1, 2, 4]);
    expect(i.index(3, 2, 1)).toBe(3 + 8 + 12);
  });

  it('finds the planes that hold a value, as masks in plane order', () => {
    const data = new Uint8Array(24);
    data[1 + 12] = 7; // (1, 0, 1): i + 4j + 12k
    data[1 + 8] = 7; // (1, 2, 0)
    data[3] = 5;
    const byJ = keySlicesAcross(data, dims, 1, 7);
    expect(byJ.map((k) => k.k)).toEqual([0, 2]);
    expect([...byJ[0].mask]).toEqual([0, 0, 0, 0, 0, 1, 0, 0]); // u = i (4), v = k (2): (1, 1)
    expect(keySlicesAcross(data, dims, 0, 7).map((k) => k.k)).toEqual([1]);
    expect(keySlicesAcross(data, dims, 2, 9)).toEqual([]);
  });
});
