// Coordinate conventions between Cornerstone and radmark's annotation API,
// and the labelmap run code. Plain arithmetic, unit-tested without a browser.
//
// radmark (annotation.go Item, docs/api.md): image points are (x = column,
// y = row) with (0, 0) the top-left corner of the top-left pixel, so pixel
// (i, j) has its centre at (i + 0.5, j + 0.5); patient points are LPS mm;
// labelmap slice k is the k-th image of the series geometry's `images`
// (ascending along the slice normal).
import type { seriesGeometry } from '../api/client.ts';

export type Vec3 = [number, number, number];

const dot = (a: readonly number[], b: readonly number[]) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const sub = (a: readonly number[], b: readonly number[]): Vec3 => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];

/** The grid of a series as the server reports it, reduced to what the mapping needs. */
export interface Grid {
  columns: number;
  rows: number;
  /** Unit vector along a row (increasing column) and along a column (increasing row). */
  rowDir: Vec3;
  colDir: Vec3;
  /** Column spacing (along rowDir) and row spacing (along colDir), mm. */
  spacing: [number, number, number];
  /** LPS of the centre of pixel (0, 0) of each slice, in the server's slice order. */
  positions: Vec3[];
  sopInstanceUIDs: string[];
  frames: number[];
}

export function gridOf(g: seriesGeometry): Grid {
  const images = g.images ?? [];
  return {
    columns: g.columns,
    rows: g.rows,
    rowDir: g.rowDir,
    colDir: g.colDir,
    spacing: g.spacing,
    positions: images.map((im) => im.position),
    sopInstanceUIDs: images.map((im) => im.sopInstanceUID),
    frames: images.map((im) => im.frame ?? 0),
  };
}

/** The slice normal of the grid (rowDir × colDir). */
export function normalOf(g: Pick<Grid, 'rowDir' | 'colDir'>): Vec3 {
  const [a, b] = [g.rowDir, g.colDir];
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** The slice of the grid nearest to an LPS point, and the distance to its plane (mm). */
export function nearestSlice(g: Grid, lps: readonly number[]): { k: number; distance: number } {
  const n = normalOf(g);
  let best = { k: -1, distance: Infinity };
  g.positions.forEach((p, k) => {
    const d = Math.abs(dot(sub(lps, p), n));
    if (d < best.distance) best = { k, distance: d };
  });
  return best;
}

/** An LPS point as a radmark image point (SCOORD: pixel centres at i + 0.5) on slice k. */
export function lpsToImagePoint(g: Grid, k: number, lps: readonly number[]): [number, number] {
  const d = sub(lps, g.positions[k]);
  return [dot(d, g.rowDir) / g.spacing[0] + 0.5, dot(d, g.colDir) / g.spacing[1] + 0.5];
}

/** A radmark image point on slice k as an LPS point. */
export function imagePointToLps(g: Grid, k: number, [x, y]: readonly number[]): Vec3 {
  const p = g.positions[k];
  const u = (x - 0.5) * g.spacing[0];
  const v = (y - 0.5) * g.spacing[1];
  return [p[0] + u * g.rowDir[0] + v * g.colDir[0], p[1] + u * g.rowDir[1] + v * g.colDir[1], p[2] + u * g.rowDir[2] + v * g.colDir[2]];
}

/** What a volume (Cornerstone's vtkImageData) says about its index→LPS mapping. */
export interface VolumeFrame {
  dimensions: [number, number, number];
  origin: Vec3;
  /** Spacing of index i, j, k (mm). */
  spacing: Vec3;
  /** Direction of index i, j and k (columns of the direction matrix). */
  direction: [Vec3, Vec3, Vec3];
}

/** LPS of voxel (i, j, k) of a volume. */
export function volumeIndexToLps(v: VolumeFrame, [i, j, k]: readonly number[]): Vec3 {
  const out: Vec3 = [...v.origin] as Vec3;
  const steps = [i * v.spacing[0], j * v.spacing[1], k * v.spacing[2]];
  for (let a = 0; a < 3; a++) for (let c = 0; c < 3; c++) out[c] += steps[a] * v.direction[a][c];
  return out;
}

/**
 * How a Cornerstone volume's voxels map onto the server's labelmap grid:
 * `serverSlice[k]` is the server slice holding volume slice k, and whether
 * the in-plane axes match. Checked against the geometry's positions (not
 * assumed): every volume slice must lie on a server slice's plane within a
 * tenth of the spacing, and the in-plane index directions must be the
 * server's rowDir and colDir.
 */
export interface VolumeMapping {
  serverSlice: number[];
}

export function mapVolumeToGrid(v: VolumeFrame, g: Grid): VolumeMapping {
  const [nx, ny, nz] = v.dimensions;
  if (nx !== g.columns || ny !== g.rows || nz !== g.positions.length) {
    throw new Error(`the loaded volume is ${nx}×${ny}×${nz} voxels but the server's grid is ${g.columns}×${g.rows}×${g.positions.length}`);
  }
  if (dot(v.direction[0], g.rowDir) < 0.999 || dot(v.direction[1], g.colDir) < 0.999) {
    throw new Error('the loaded volume is not oriented like the server grid (row and column directions differ)');
  }
  const tol = Math.max(0.01, (g.spacing[2] || 1) / 10);
  const used = new Set<number>();
  const serverSlice: number[] = [];
  for (let k = 0; k < nz; k++) {
    const p = volumeIndexToLps(v, [0, 0, k]);
    const near = nearestSlice(g, p);
    const inPlane = sub(p, g.positions[near.k]);
    if (near.distance > tol || Math.abs(dot(inPlane, g.rowDir)) > tol || Math.abs(dot(inPlane, g.colDir)) > tol || used.has(near.k)) {
      throw new Error(`volume slice ${k} at (${p.map((c) => c.toFixed(2)).join(', ')}) is on no slice of the server grid`);
    }
    used.add(near.k);
    serverSlice.push(near.k);
  }
  return { serverSlice };
}

// --- labelmap run code (labelmap.EncodeRuns) -------------------------------------

/**
 * labelmap.EncodeRuns, byte for byte: for each run, the value byte, then the
 * run length minus one as a uvarint (labelmap/chunk.go appendRLE; docs/api.md
 * describes the pair in the other order, the Go code is what the server reads).
 */
export function encodeRuns(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  let i = 0;
  while (i < data.length) {
    const v = data[i];
    let j = i + 1;
    while (j < data.length && data[j] === v) j++;
    out.push(v);
    let n = j - i - 1;
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    i = j;
  }
  return Uint8Array.from(out);
}

/** Decodes runs into exactly `size` bytes; throws on a malformed or wrong-sized code. */
export function decodeRuns(code: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let pos = 0;
  let i = 0;
  while (i < code.length) {
    const v = code[i++];
    let n = 0;
    let mul = 1;
    for (;;) {
      if (i >= code.length) throw new Error('run code ends inside a run length');
      const b = code[i++];
      n += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) break;
    }
    n += 1;
    if (pos + n > size) throw new Error(`run of ${n} at byte ${pos} does not fit ${size} bytes`);
    out.fill(v, pos, pos + n);
    pos += n;
  }
  if (pos !== size) throw new Error(`run code covers ${pos} of ${size} bytes`);
  return out;
}

export function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * The server slices that differ between a saved labelmap and the current
 * one (both in the server's layout: columns × rows × slices, column fastest),
 * RLE-encoded and keyed by slice index, as a save's `labelmaps[].data`.
 */
export function changedSlices(saved: Uint8Array | undefined, current: Uint8Array, columns: number, rows: number): Record<string, string> {
  const n = columns * rows;
  const slices = current.length / n;
  const data: Record<string, string> = {};
  for (let k = 0; k < slices; k++) {
    const cur = current.subarray(k * n, (k + 1) * n);
    let same = true;
    if (saved) {
      const old = saved.subarray(k * n, (k + 1) * n);
      for (let i = 0; i < n; i++) {
        if (old[i] !== cur[i]) {
          same = false;
          break;
        }
      }
    } else same = cur.every((v) => v === 0);
    if (!same) data[String(k)] = toBase64(encodeRuns(cur));
  }
  return data;
}

/** Copies a Cornerstone volume's voxels (volume index order) into the server layout. */
export function volumeToServer(values: ArrayLike<number>, map: VolumeMapping, columns: number, rows: number): Uint8Array {
  const n = columns * rows;
  const out = new Uint8Array(n * map.serverSlice.length);
  map.serverSlice.forEach((sk, k) => {
    for (let i = 0; i < n; i++) out[sk * n + i] = values[k * n + i];
  });
  return out;
}

/** The reverse of volumeToServer: server layout → volume index order. */
export function serverToVolume(server: Uint8Array, map: VolumeMapping, columns: number, rows: number, into: { [i: number]: number }): void {
  const n = columns * rows;
  map.serverSlice.forEach((sk, k) => {
    for (let i = 0; i < n; i++) into[k * n + i] = server[sk * n + i];
  });
}
