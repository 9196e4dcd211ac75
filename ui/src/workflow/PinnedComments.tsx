// The viewer's side of pinned review comments (pins.ts): it feeds the
// Cornerstone marker tool (CommentPinTool.ts) the task's pinned comments,
// places a new pin where the reviewer clicks, jumps every viewport to a
// comment the task bar (or a click on its marker) selects, lists the shown
// annotation items the task bar can pin to, and answers the pin keys.
import { Enums, type Types } from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import { useEffect, useSyncExternalStore } from 'react';
import type { Comment } from '../api/client.ts';
import { actionForKey, loadBindings } from '../annotate/shortcuts.ts';
import type { AnnotationController } from '../annotate/tools.ts';
import { Tag, nums } from '../dicomweb/json.ts';
import type { ViewerController } from '../viewer/cornerstone.ts';
import { CommentPinTool, PIN_HIT_RADIUS, type RenderPin, pinsOnViewport, redrawPins } from './CommentPinTool.ts';
import { PIN_KEYS, type PinBoard, type Vec3, cross, nearestImage, pinBoard, pinPosition } from './pins.ts';

type PointsAnnotation = { data?: { handles?: { points?: Types.Point3[] }; contour?: { polyline?: Types.Point3[] } } };

/** An item's points in LPS, from the Cornerstone annotation that shows it (its UID is the item's id). */
function itemPoints(id: string): Vec3[] | undefined {
  const a = tools.annotation.state.getAnnotation(id) as PointsAnnotation | undefined;
  const pts = a?.data?.contour?.polyline?.length ? a.data.contour.polyline : a?.data?.handles?.points;
  return pts?.length ? pts.map((p) => [p[0], p[1], p[2]] as Vec3) : undefined;
}

/** The pins to draw on the shown series: the task's pinned comments and a point not yet commented. */
function renderPins(board: PinBoard, viewer: ViewerController): RenderPin[] {
  const s = board.get();
  const sops = new Set(viewer.seriesImages.map((im) => im.sopInstanceUID));
  const out: RenderPin[] = [];
  s.comments.forEach((c: Comment, i) => {
    if (c.image && !sops.has(c.image.sopInstanceUID)) return;
    const lps = pinPosition(c, itemPoints);
    if (lps) out.push({ id: c.id, lps, n: i + 1, state: c.resolved ? 'resolved' : 'open', selected: s.selected === c.id });
  });
  if (s.target?.kind === 'point') out.push({ id: 'pending', lps: s.target.lps, state: 'pending', selected: false });
  return out;
}

/** The image of the series a placed point is on: the stack's shown image, or the nearest along the series normal. */
function imageAt(viewer: ViewerController, vp: Types.IViewport, lps: Vec3): { sopInstanceUID: string; frame?: number } | undefined {
  const images = viewer.seriesImages;
  const shown = vp.type === Enums.ViewportType.STACK ? (vp as Types.IStackViewport).getCurrentImageId() : undefined;
  let index = shown ? images.findIndex((im) => im.imageId === shown) : -1;
  if (index < 0) {
    const iop = nums(images[0]?.metadata ?? {}, Tag.ImageOrientationPatient);
    if (iop.length !== 6) return undefined;
    index = nearestImage(images.map((im) => im.position), cross(iop.slice(0, 3), iop.slice(3)), lps);
  }
  const im = images[index];
  return im ? { sopInstanceUID: im.sopInstanceUID, ...(im.frame ? { frame: im.frame } : {}) } : undefined;
}

function typing(t: EventTarget | null): boolean {
  const el = t as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'SELECT' || el.tagName === 'TEXTAREA' || el.isContentEditable);
}

/** Mounted by the viewer (with its controllers); draws nothing itself but the placing hint. */
export function PinnedComments({ viewer, annot, board = pinBoard }: { viewer: ViewerController; annot?: AnnotationController; board?: PinBoard }) {
  const state = useSyncExternalStore(
    (l) => board.subscribe(l),
    () => board.get(),
  );

  // The marker tool draws this board's pins; redraw when they change.
  useEffect(() => {
    CommentPinTool.pins = () => renderPins(board, viewer);
    const redraw = () => redrawPins(viewer.viewports.map((v) => v.element));
    const un = board.subscribe(redraw);
    redraw();
    return () => {
      un();
      CommentPinTool.pins = () => [];
    };
  }, [board, viewer]);

  // The shown items (to pin a comment to one), and redraws when they move.
  useEffect(() => {
    if (!annot) return undefined;
    const publish = () => {
      board.update({ items: annot.shownItems().map(({ item }) => ({ id: item.id, kind: item.kind, label: item.label })) });
      redrawPins(viewer.viewports.map((v) => v.element));
    };
    publish();
    const un = annot.subscribe(publish);
    return () => {
      un();
      board.update({ items: [] });
    };
  }, [annot, board, viewer]);

  // A jump request: every viewport moves to the comment's place.
  useEffect(() => {
    const c = state.comments.find((x) => x.id === state.selected);
    if (!state.jump || !c) return;
    const lps = pinPosition(c, itemPoints);
    if (!lps) return;
    // Both Cornerstone viewports can jump: a stack to the nearest image, a volume plane along its normal.
    for (const { id } of viewer.viewports) (viewer.renderingEngine?.getViewport(id) as { jumpToWorld?: (p: Types.Point3) => boolean } | undefined)?.jumpToWorld?.(lps as Types.Point3);
    redrawPins(viewer.viewports.map((v) => v.element));
    // Only a new request jumps, not a change of the comments.
    // oxlint-disable-next-line react-hooks/exhaustive-deps
  }, [state.jump, viewer]);

  // Clicks on the viewports: place a pin, or select (and jump to) a marker. Capturing on the
  // window comes before Cornerstone's own listeners on the viewport elements, so the tools
  // do not also act on the click.
  useEffect(() => {
    const onDown = (e: MouseEvent) => {
      if (e.button !== 0) return;
      const v = viewer.viewports.find((x) => x.element.contains(e.target as Node));
      const vp = v && viewer.renderingEngine?.getViewport(v.id);
      if (!v || !vp) return;
      const r = v.element.getBoundingClientRect();
      const at: Types.Point2 = [e.clientX - r.left, e.clientY - r.top];
      const s = board.get();
      if (s.placing) {
        const lps = vp.canvasToWorld(at) as Vec3;
        board.place([lps[0], lps[1], lps[2]], imageAt(viewer, vp, lps));
      } else {
        const hit = pinsOnViewport(vp, CommentPinTool.pins())
          .filter(({ pin, canvas }) => pin.id !== 'pending' && Math.hypot(canvas[0] - at[0], canvas[1] - at[1]) <= PIN_HIT_RADIUS)
          .sort((a, b) => Math.hypot(a.canvas[0] - at[0], a.canvas[1] - at[1]) - Math.hypot(b.canvas[0] - at[0], b.canvas[1] - at[1]))[0];
        if (!hit) return;
        board.jumpTo(hit.pin.id);
      }
      e.preventDefault();
      e.stopPropagation();
    };
    window.addEventListener('mousedown', onDown, true);
    return () => window.removeEventListener('mousedown', onDown, true);
  }, [board, viewer]);

  // Keys: pin (the next click places the point), next pinned comment, Esc stops placing.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (typing(e.target) || e.ctrlKey || e.metaKey || e.altKey || document.querySelector('[data-testid=help]')) return;
      if (e.key === 'Escape' && board.get().placing) board.update({ placing: false });
      else if (actionForKey(loadBindings(), e.key)) return;
      else if (e.key === PIN_KEYS.pin) board.togglePlacing();
      else if (e.key === PIN_KEYS.next) {
        const next = board.nextPinned();
        if (next) board.jumpTo(next);
      } else return;
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [board]);

  useEffect(() => {
    document.body.classList.toggle('pin-placing', state.placing);
    return () => document.body.classList.remove('pin-placing');
  }, [state.placing]);

  return state.placing ? (
    <div className="pin-hint" data-testid="pin-hint">
      Click in an image to pin the comment there · Esc cancels
    </div>
  ) : null;
}
