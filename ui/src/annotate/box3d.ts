// Geometry of the 3D box (annotation kind box3d): a box with its faces on
// patient (LPS) axis planes, stored as two opposite corners, as the server
// measures it (width along L, height along P, depth along S). On a view
// whose plane is an LPS axis plane (the MPR of an axial, sagittal or
// coronal acquisition) the box shows as the rectangle where it cuts the
// plane; its four corners are the handles that set the two in-plane
// extents. Oblique views do not show it.
import type { Vec3 } from './geometry.ts';

export interface Box {
  min: Vec3;
  max: Vec3;
}

/** Where a view plane cuts a box: the plane's axis and position, the in-plane axes, and the rectangle's corners. */
export interface Section {
  /** The LPS axis along the view normal (0 L, 1 P, 2 S). */
  axis: number;
  u: number;
  v: number;
  /** Corners (u min, v min), (u max, v min), (u max, v max), (u min, v max) on the plane. */
  corners: [Vec3, Vec3, Vec3, Vec3];
}

/** The LPS axis a view looks along, or undefined for an oblique view. */
export function viewAxis(normal: ArrayLike<number>): number | undefined {
  for (let a = 0; a < 3; a++) if (Math.abs(normal[a]) > 0.999) return a;
  return undefined;
}

function inPlane(axis: number): [number, number] {
  return axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
}

/** The section of a box on a view plane (normal, a point of the plane), or undefined when the plane misses it. */
export function sectionOf(box: Box, normal: ArrayLike<number>, planePoint: ArrayLike<number>, tolerance = 1e-3): Section | undefined {
  const axis = viewAxis(normal);
  if (axis === undefined) return undefined;
  const s = planePoint[axis];
  const lo = Math.min(box.min[axis], box.max[axis]);
  const hi = Math.max(box.min[axis], box.max[axis]);
  if (s < lo - tolerance || s > hi + tolerance) return undefined;
  const [u, v] = inPlane(axis);
  const at = (cu: number, cv: number): Vec3 => {
    const p: Vec3 = [0, 0, 0];
    p[axis] = s;
    p[u] = cu;
    p[v] = cv;
    return p;
  };
  return {
    axis, u, v,
    corners: [at(box.min[u], box.min[v]), at(box.max[u], box.min[v]), at(box.max[u], box.max[v]), at(box.min[u], box.max[v])],
  };
}

/** Moves one corner of a section (0..3, as in Section.corners) to p: it sets that corner's two in-plane extents. */
export function moveCorner(box: Box, axis: number, corner: number, p: ArrayLike<number>): Box {
  const [u, v] = inPlane(axis);
  const min: Vec3 = [...box.min];
  const max: Vec3 = [...box.max];
  if (corner === 0 || corner === 3) min[u] = p[u];
  else max[u] = p[u];
  if (corner === 0 || corner === 1) min[v] = p[v];
  else max[v] = p[v];
  return { min, max };
}

/**
 * The box a drag from a to b on a view draws: the rectangle in the plane,
 * and as deep as its shorter side, centred on the plane (the reader sets
 * the depth on another view).
 */
export function boxFromDrag(axis: number, a: ArrayLike<number>, b: ArrayLike<number>): Box {
  const [u, v] = inPlane(axis);
  const depth = Math.min(Math.abs(b[u] - a[u]), Math.abs(b[v] - a[v]));
  const min: Vec3 = [0, 0, 0];
  const max: Vec3 = [0, 0, 0];
  for (const c of [u, v]) {
    min[c] = Math.min(a[c], b[c]);
    max[c] = Math.max(a[c], b[c]);
  }
  min[axis] = a[axis] - depth / 2;
  max[axis] = a[axis] + depth / 2;
  return { min, max };
}

/** Moves a box within a view plane (the part of delta along the view axis is dropped). */
export function translateInPlane(box: Box, axis: number, delta: ArrayLike<number>): Box {
  const d: Vec3 = [delta[0], delta[1], delta[2]];
  d[axis] = 0;
  return { min: [box.min[0] + d[0], box.min[1] + d[1], box.min[2] + d[2]], max: [box.max[0] + d[0], box.max[1] + d[1], box.max[2] + d[2]] };
}

/** The same box with min ≤ max on every axis. */
export function normalizeBox(box: Box): Box {
  return {
    min: [0, 1, 2].map((a) => Math.min(box.min[a], box.max[a])) as Vec3,
    max: [0, 1, 2].map((a) => Math.max(box.min[a], box.max[a])) as Vec3,
  };
}

/** Whether the box has an extent on every axis (the server refuses flat boxes). */
export function isSolid(box: Box, minExtent = 1e-3): boolean {
  return [0, 1, 2].every((a) => Math.abs(box.max[a] - box.min[a]) >= minExtent);
}

/**
 * The box with each corner moved onto the volume (in index space, at most
 * half a voxel beyond the outer voxel centres, as the server accepts).
 */
export function clampToVolume(box: Box, dimensions: ArrayLike<number>, toIndex: (p: Vec3) => ArrayLike<number>, toWorld: (ijk: Vec3) => ArrayLike<number>): Box {
  const clamp = (p: Vec3): Vec3 => {
    const ijk = toIndex(p);
    const c: Vec3 = [0, 1, 2].map((a) => Math.min(dimensions[a] - 0.5, Math.max(-0.5, ijk[a]))) as Vec3;
    if (c.every((v, a) => v === ijk[a])) return p;
    const w = toWorld(c);
    return [w[0], w[1], w[2]];
  };
  return { min: clamp(box.min), max: clamp(box.max) };
}
