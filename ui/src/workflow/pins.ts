// Review comments pinned in the image: the board the task bar and the
// viewer share. The task bar publishes the task's comments and what a new
// comment is pinned to; the viewer's pin overlay (PinnedComments.tsx)
// draws them on the slices they lie on, places new points and asks the
// task bar to show a comment when its marker is clicked. The geometry here
// is plain LPS arithmetic, tested without a browser.
import type { Comment, ImageRef, Item } from '../api/client.ts';

export type Vec3 = [number, number, number];

/** What the next comment is pinned to. */
export type PinTarget = { kind: 'point'; lps: Vec3; image?: ImageRef } | { kind: 'item'; item: string };

/** An item of the shown annotations a comment can be pinned to. */
export interface PinnableItem {
  id: string;
  kind: Item['kind'];
  label: string;
}

export interface PinBoardState {
  /** The comments of the task shown (as the task bar lists them). */
  comments: Comment[];
  /** The user may pin new comments (a reviewer or an arbiter at work). */
  canPin: boolean;
  /** The next click on a viewport places a point. */
  placing: boolean;
  target: PinTarget | undefined;
  /** The comment last jumped to or clicked. */
  selected: string | undefined;
  /** The shown annotations' items (for pinning to one). */
  items: PinnableItem[];
  /** Counts jump requests, so asking twice for the same comment jumps twice. */
  jump: number;
}

type Listener = () => void;

/** A small external store (React reads it with useSyncExternalStore). */
export class PinBoard {
  private state: PinBoardState = { comments: [], canPin: false, placing: false, target: undefined, selected: undefined, items: [], jump: 0 };
  private listeners = new Set<Listener>();

  get(): PinBoardState {
    return this.state;
  }
  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  update(patch: Partial<PinBoardState>): void {
    const next = { ...this.state, ...patch };
    if ((Object.keys(patch) as Array<keyof PinBoardState>).every((k) => Object.is(next[k], this.state[k]))) return;
    this.state = next;
    for (const l of this.listeners) l();
  }
  /** Starts (or stops) placing a point; placing drops a pending point. */
  togglePlacing(): void {
    if (!this.state.canPin) return;
    this.update({ placing: !this.state.placing });
  }
  place(lps: Vec3, image?: ImageRef): void {
    this.update({ placing: false, target: { kind: 'point', lps, ...(image ? { image } : {}) } });
  }
  /** Selects a comment and asks the viewer to show it. */
  jumpTo(commentId: string): void {
    this.update({ selected: commentId, jump: this.state.jump + 1 });
  }
  /** The pinned comment after the selected one (for the "next pin" key), unresolved ones first. */
  nextPinned(): string | undefined {
    const pinned = this.state.comments.filter((c) => c.lps || c.item);
    const open = pinned.filter((c) => !c.resolved);
    const list = open.length ? open : pinned;
    if (!list.length) return undefined;
    const i = list.findIndex((c) => c.id === this.state.selected);
    return list[(i + 1) % list.length].id;
  }
  /** Forgets the task (the task bar closed). */
  reset(): void {
    this.update({ comments: [], canPin: false, placing: false, target: undefined, selected: undefined });
  }
}

/** The one board of the page (one task bar over one viewer). */
export const pinBoard = new PinBoard();

/** The keys of pinning (shown in the help overlay). */
export const PIN_KEYS = { pin: 'P', next: 'J' } as const;
export const PIN_SHORTCUTS = [
  { key: PIN_KEYS.pin, description: 'Pin a review comment: the next click in an image places it (reviewer, arbiter)' },
  { key: PIN_KEYS.next, description: 'Jump to the next pinned comment' },
] as const;

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

export function cross(a: ArrayLike<number>, b: ArrayLike<number>): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** The mean of points: where a marker of an item goes. */
export function centroid(points: ArrayLike<ArrayLike<number>>): Vec3 | undefined {
  const n = points.length;
  if (!n) return undefined;
  const c: Vec3 = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let a = 0; a < 3; a++) c[a] += points[i][a] / n;
  return c;
}

/** Signed distance (mm) of a point from a plane through `origin` with unit `normal`. */
export function planeDistance(p: ArrayLike<number>, origin: ArrayLike<number>, normal: ArrayLike<number>): number {
  return dot([p[0] - origin[0], p[1] - origin[1], p[2] - origin[2]], normal);
}

/** A slice a viewport shows: its plane and half its thickness (half the slice spacing). */
export interface SlicePlane {
  origin: ArrayLike<number>;
  normal: ArrayLike<number>;
  half: number;
}

/** Whether a point lies on the slice: within half a slice of its plane (plus a rounding margin). */
export function onSlice(p: ArrayLike<number>, s: SlicePlane): boolean {
  return Math.abs(planeDistance(p, s.origin, s.normal)) <= s.half + 1e-3;
}

/**
 * Half the spacing of a volume along a view normal: for each of the
 * volume's axes (direction cosines `direction`, row-major 3×3) its share
 * of the normal times its spacing — the slab one slice of an oblique view
 * covers.
 */
export function halfSpacingAlong(normal: ArrayLike<number>, direction: ArrayLike<number>, spacing: ArrayLike<number>): number {
  let s = 0;
  for (let a = 0; a < 3; a++) s += Math.abs(dot(normal, [direction[3 * a], direction[3 * a + 1], direction[3 * a + 2]])) * spacing[a];
  return s / 2;
}

/**
 * Half the distance to the neighbouring images of image `index` of a stack
 * (its positions along the normal; the nearer neighbour), or `fallback`
 * for a single image.
 */
export function stackHalfSpacing(positions: Array<ArrayLike<number> | undefined>, index: number, normal: ArrayLike<number>, fallback = 0.5): number {
  const here = positions[index];
  if (!here) return fallback;
  let best = Infinity;
  for (const j of [index - 1, index + 1]) {
    const p = positions[j];
    if (!p) continue;
    const d = Math.abs(planeDistance(p, here, normal));
    if (d > 1e-6) best = Math.min(best, d);
  }
  return Number.isFinite(best) ? best / 2 : fallback;
}

/** The image (index into `positions`) whose plane is nearest a point, along the series normal. */
export function nearestImage(positions: Array<ArrayLike<number> | undefined>, normal: ArrayLike<number>, p: ArrayLike<number>): number {
  let best = -1;
  let bestD = Infinity;
  positions.forEach((q, i) => {
    if (!q) return;
    const d = Math.abs(planeDistance(p, q, normal));
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  });
  return best;
}

/**
 * Where a comment's marker goes: its LPS point, or the centre of the item
 * it is pinned to (`itemPoints` gives an item's points in LPS, when the
 * item is shown). Undefined for a comment on the case or the read.
 */
export function pinPosition(c: Pick<Comment, 'lps' | 'item'>, itemPoints: (id: string) => Vec3[] | undefined): Vec3 | undefined {
  if (c.lps) return [c.lps[0], c.lps[1], c.lps[2]];
  if (c.item) return centroid(itemPoints(c.item) ?? []);
  return undefined;
}

/** A comment's place in words (the task bar's list). */
export function describePin(c: Pick<Comment, 'lps' | 'item'>, items: PinnableItem[]): string {
  if (c.lps) return `at (${c.lps.map((v) => v.toFixed(1)).join(', ')}) mm`;
  if (c.item) {
    const it = items.find((i) => i.id === c.item);
    return it ? `on the ${it.kind.replace('_', ' ')} (${it.label})` : 'on an item';
  }
  return '';
}
