// Fill between slices: shape-based interpolation (Raya & Udupa 1990) of
// one segment painted on non-adjacent slices. Each painted ("key") slice
// becomes a signed distance map (negative inside, in mm); a slice between
// two key slices gets the voxels where the linear blend of the two maps is
// inside. Cornerstone 5.14's own labelmap interpolation lives in the
// separate @cornerstonejs/labelmap-interpolation package, which runs ITK's
// morphological contour interpolation through @itk-wasm, whose WebAssembly
// pipelines load at run time (from a CDN by default); it is not among the
// pinned packages, and this app loads nothing from outside its own server. Its contour interpolation
// (InterpolationManager) works on contour annotations, not on a labelmap.
// So this is done here, in a web worker (interpolate.worker.ts).

/** Key slices of one segment: slice index (along k) and its mask, columns × rows. */
export interface KeySlice {
  k: number;
  mask: Uint8Array;
}

export interface InterpolationInput {
  columns: number;
  rows: number;
  /** mm between columns and between rows. */
  spacing: [number, number];
  keys: KeySlice[];
}

/** A filled slice between two key slices. */
export interface FilledSlice {
  k: number;
  mask: Uint8Array;
}

const INF = 1e20;

/** Squared distance transform along one line (Felzenszwalb & Huttenlocher), samples step mm apart; INF marks "no target". */
function edt1d(f: Float64Array, n: number, step: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  const meet = (q: number, p: number) => (f[q] + (q * step) ** 2 - (f[p] + (p * step) ** 2)) / (2 * step * (q - p));
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    let s = meet(q, v[k]);
    while (s <= z[k]) {
      k--;
      s = meet(q, v[k]);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1] < q * step) k++;
    const dx = (q - v[k]) * step;
    d[q] = dx * dx + f[v[k]];
  }
}

/** Euclidean distance (mm) from every pixel to the nearest pixel where target(pixel) is true (0 there). */
export function distanceTo(columns: number, rows: number, spacing: [number, number], target: (i: number) => boolean): Float64Array {
  const n = Math.max(columns, rows);
  const f = new Float64Array(n);
  const d = new Float64Array(n);
  const v = new Int32Array(n);
  const z = new Float64Array(n + 1);
  const g = new Float64Array(columns * rows);
  for (let i = 0; i < columns * rows; i++) g[i] = target(i) ? 0 : INF;
  // Columns (along rows, step = row spacing), then rows (step = column spacing).
  for (let x = 0; x < columns; x++) {
    for (let y = 0; y < rows; y++) f[y] = g[y * columns + x];
    edt1d(f, rows, spacing[1], d, v, z);
    for (let y = 0; y < rows; y++) g[y * columns + x] = d[y];
  }
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) f[x] = g[y * columns + x];
    edt1d(f, columns, spacing[0], d, v, z);
    for (let x = 0; x < columns; x++) g[y * columns + x] = Math.sqrt(d[x]);
  }
  return g;
}

/** Signed distance (mm): negative inside the mask, positive outside, |value| the distance to the other side. */
export function signedDistance(mask: Uint8Array, columns: number, rows: number, spacing: [number, number]): Float64Array {
  const outside = distanceTo(columns, rows, spacing, (i) => mask[i] !== 0);
  const inside = distanceTo(columns, rows, spacing, (i) => mask[i] === 0);
  for (let i = 0; i < outside.length; i++) outside[i] -= inside[i];
  return outside;
}

/** The slices strictly between consecutive key slices, filled by blending their signed distances. */
export function interpolateSlices(input: InterpolationInput): FilledSlice[] {
  const { columns, rows, spacing } = input;
  const keys = [...input.keys].sort((a, b) => a.k - b.k);
  const out: FilledSlice[] = [];
  let prev: { k: number; sd: Float64Array } | undefined;
  for (const key of keys) {
    if (key.mask.length !== columns * rows) throw new Error(`key slice ${key.k} has ${key.mask.length} voxels, expected ${columns * rows}`);
    const sd = signedDistance(key.mask, columns, rows, spacing);
    if (prev && key.k - prev.k > 1) {
      for (let k = prev.k + 1; k < key.k; k++) {
        const t = (k - prev.k) / (key.k - prev.k);
        const mask = new Uint8Array(columns * rows);
        for (let i = 0; i < mask.length; i++) if ((1 - t) * prev.sd[i] + t * sd[i] < 0) mask[i] = 1;
        out.push({ k, mask });
      }
    }
    prev = { k: key.k, sd };
  }
  return out;
}

/**
 * How a volume's planes across one index axis (0 i, 1 j, 2 k) are laid
 * out: the two in-plane axes (u before v), and the volume index of (u, v)
 * on plane s.
 */
export function planesAcross(axis: number, dimensions: ArrayLike<number>): { u: number; v: number; count: number; index: (s: number, u: number, v: number) => number } {
  const [nx, ny] = [dimensions[0], dimensions[1]];
  const [u, v] = axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
  const stride = [1, nx, nx * ny];
  return { u, v, count: dimensions[axis], index: (s, a, b) => s * stride[axis] + a * stride[u] + b * stride[v] };
}

/** The planes across an axis on which a value is present, as masks of dims[u] × dims[v]. */
export function keySlicesAcross(data: ArrayLike<number>, dimensions: ArrayLike<number>, axis: number, value: number): KeySlice[] {
  const { u, v, count, index } = planesAcross(axis, dimensions);
  const nu = dimensions[u];
  const nv = dimensions[v];
  const keys: KeySlice[] = [];
  for (let s = 0; s < count; s++) {
    let mask: Uint8Array | undefined;
    for (let b = 0; b < nv; b++) {
      for (let a = 0; a < nu; a++) {
        if (data[index(s, a, b)] !== value) continue;
        mask ??= new Uint8Array(nu * nv);
        mask[b * nu + a] = 1;
      }
    }
    if (mask) keys.push({ k: s, mask });
  }
  return keys;
}
