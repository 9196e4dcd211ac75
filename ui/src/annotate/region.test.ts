import { describe, expect, it } from 'vitest';
import { growRegion } from './region.ts';

/** A 30³ volume of 2 mm voxels: −850 everywhere, a ball of 30 (radius 5 voxels) at (10,10,10), a slab of 30 at i ≥ 25. */
function phantom() {
  const n = 30;
  const v = new Float32Array(n * n * n).fill(-850);
  for (let k = 0; k < n; k++)
    for (let j = 0; j < n; j++)
      for (let i = 0; i < n; i++) {
        if ((i - 10) ** 2 + (j - 10) ** 2 + (k - 10) ** 2 <= 25 || i >= 25) v[i + j * n + k * n * n] = 30;
      }
  return { n, v };
}

describe('region growing', () => {
  const { n, v } = phantom();
  const base = { dimensions: [n, n, n] as [number, number, number], spacing: [2, 2, 2] as [number, number, number], valueAt: (i: number) => v[i], lower: -100, upper: 200 };

  it('fills the connected voxels in range and nothing else', () => {
    const r = growRegion({ ...base, seed: [10, 10, 10], radiusMm: 100 });
    let ball = 0;
    for (let i = 0; i < v.length; i++) {
      const x = i % n, y = Math.floor(i / n) % n, z = Math.floor(i / (n * n));
      if ((x - 10) ** 2 + (y - 10) ** 2 + (z - 10) ** 2 <= 25) ball++;
    }
    expect(r.length).toBe(ball);
    // The slab is in range but not connected.
    expect([...r].some((i) => i % n >= 25)).toBe(false);
  });

  it('stops at the radius, and grows nothing from a seed out of range or outside the volume', () => {
    const r = growRegion({ ...base, seed: [27, 15, 15], radiusMm: 4 });
    for (const i of r) {
      const x = i % n, y = Math.floor(i / n) % n, z = Math.floor(i / (n * n));
      expect(Math.hypot(x - 27, y - 15, z - 15) * 2).toBeLessThanOrEqual(4);
    }
    expect(r.length).toBeGreaterThan(10);
    expect(growRegion({ ...base, seed: [0, 0, 0], radiusMm: 50 }).length).toBe(0);
    expect(growRegion({ ...base, seed: [-1, 0, 0], radiusMm: 50 }).length).toBe(0);
  });

  it('does not take blocked voxels', () => {
    const r = growRegion({ ...base, seed: [10, 10, 10], radiusMm: 100, blocked: (i) => Math.floor(i / (n * n)) === 10 && i !== 10 + 10 * n + 10 * n * n });
    expect([...r].every((i) => Math.floor(i / (n * n)) !== 10 || i === 10 + 10 * n + 10 * n * n)).toBe(true);
  });
});
