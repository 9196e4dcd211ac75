// Region growing from a seed: the voxels connected to the seed (6-
// connectivity) whose value lies in a range (HU for CT), no farther than a
// radius from the seed. Cornerstone 5.14's RegionSegmentTool and grow-cut
// utilities run on WebGPU (navigator.gpu), which Chromium without a GPU —
// the headless test machines, many reading-room VMs — does not offer, and
// their one-click variant picks its own intensity range from the seed's
// neighbourhood; a connected threshold with the reader's HU range and a
// bound is predictable and runs anywhere. The radius bounds both the work
// (a sphere of voxels at most) and leaks into touching tissue of the same
// density.

export interface GrowInput {
  /** Voxels along i, j, k. */
  dimensions: [number, number, number];
  /** mm between voxels along i, j, k. */
  spacing: [number, number, number];
  /** The value of voxel i + j·nx + k·nx·ny. */
  valueAt: (index: number) => number;
  seed: [number, number, number];
  lower: number;
  upper: number;
  radiusMm: number;
  /** Voxels that may not be taken (another segment's), by index. */
  blocked?: (index: number) => boolean;
}

/** The indices of the grown region (empty when the seed itself is outside the range or the volume). */
export function growRegion(input: GrowInput): Int32Array {
  const [nx, ny, nz] = input.dimensions;
  const [sx, sy, sz] = input.spacing;
  const [si, sj, sk] = input.seed.map(Math.round);
  const { lower, upper, valueAt, blocked } = input;
  const r2 = input.radiusMm * input.radiusMm;
  if (si < 0 || sj < 0 || sk < 0 || si >= nx || sj >= ny || sk >= nz) return new Int32Array(0);
  const start = si + sj * nx + sk * nx * ny;
  const inRange = (idx: number) => {
    const v = valueAt(idx);
    return v >= lower && v <= upper && !blocked?.(idx);
  };
  if (!inRange(start)) return new Int32Array(0);
  const seen = new Set<number>([start]);
  const out: number[] = [start];
  for (let head = 0; head < out.length; head++) {
    const idx = out[head];
    const k = Math.floor(idx / (nx * ny));
    const j = Math.floor((idx - k * nx * ny) / nx);
    const i = idx - k * nx * ny - j * nx;
    for (const [di, dj, dk] of NEIGHBOURS) {
      const a = i + di;
      const b = j + dj;
      const c = k + dk;
      if (a < 0 || b < 0 || c < 0 || a >= nx || b >= ny || c >= nz) continue;
      const ddx = (a - si) * sx;
      const ddy = (b - sj) * sy;
      const ddz = (c - sk) * sz;
      if (ddx * ddx + ddy * ddy + ddz * ddz > r2) continue;
      const n = a + b * nx + c * nx * ny;
      if (seen.has(n)) continue;
      seen.add(n);
      if (inRange(n)) out.push(n);
    }
  }
  return Int32Array.from(out);
}

const NEIGHBOURS: ReadonlyArray<readonly [number, number, number]> = [
  [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1],
];
