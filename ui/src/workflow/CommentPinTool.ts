// Pinned review comments drawn by Cornerstone: a display-only tool in the
// viewer's tool groups whose renderAnnotation draws a marker (Cornerstone's
// SVG drawing helpers, in its annotation layer) for every pin that lies on
// the slice a viewport shows, within half a slice. The pins come from the
// pin overlay (PinnedComments.tsx) through `CommentPinTool.pins`, not from
// Cornerstone's annotation state: they are not the reader's annotations,
// so the annotation session never saves, undoes or clears them.
import { Enums, type Types, metaData } from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import { type SlicePlane, type Vec3, cross, halfSpacingAlong, onSlice, stackHalfSpacing } from './pins.ts';

const { drawing } = tools;

export interface RenderPin {
  /** The comment's id ('pending' for a point not yet commented). */
  id: string;
  lps: Vec3;
  /** Number shown beside the marker (its place in the task bar's list). */
  n?: number;
  state: 'open' | 'resolved' | 'pending';
  selected: boolean;
}

const COLORS: Record<RenderPin['state'], string> = { open: 'rgb(255, 140, 0)', resolved: 'rgb(120, 200, 120)', pending: 'rgb(0, 200, 255)' };
/** Markers answer clicks within this many CSS pixels of their centre. */
export const PIN_HIT_RADIUS = 10;

type PlaneModule = { imagePositionPatient?: number[]; rowCosines?: number[]; columnCosines?: number[] };

/** The slice a viewport shows: the stack's current image, or the volume plane through the focal point. */
export function slicePlaneOf(viewport: Types.IViewport): SlicePlane | undefined {
  const cam = viewport.getCamera();
  const normal = cam.viewPlaneNormal as number[] | undefined;
  if (!normal) return undefined;
  // Volume viewports have image ids and a current index too, along their view direction: ask the type.
  if (viewport.type === Enums.ViewportType.STACK) {
    const stack = viewport as Types.IStackViewport;
    const ids = stack.getImageIds();
    const index = stack.getCurrentImageIdIndex();
    const plane = (id: string | undefined) => (id ? (metaData.get('imagePlaneModule', id) as PlaneModule | undefined) : undefined);
    const here = plane(ids[index]);
    if (!here?.imagePositionPatient) return undefined;
    const n = here.rowCosines && here.columnCosines ? cross(here.rowCosines, here.columnCosines) : normal;
    const positions = [index - 1, index, index + 1].map((i) => plane(ids[i])?.imagePositionPatient);
    return { origin: here.imagePositionPatient, normal: n, half: stackHalfSpacing(positions, 1, n) };
  }
  const data = (viewport as Types.IVolumeViewport).getImageData?.();
  if (!data) return undefined;
  return { origin: cam.focalPoint as number[], normal, half: halfSpacingAlong(normal, data.direction, data.spacing) };
}

/** The pins on a viewport's slice and their canvas positions (CSS px). */
export function pinsOnViewport(viewport: Types.IViewport, pins: RenderPin[]): Array<{ pin: RenderPin; canvas: Types.Point2 }> {
  const plane = slicePlaneOf(viewport);
  if (!plane) return [];
  return pins.filter((p) => onSlice(p.lps, plane)).map((pin) => ({ pin, canvas: viewport.worldToCanvas(pin.lps as Types.Point3) }));
}

export class CommentPinTool extends tools.AnnotationDisplayTool {
  static toolName = 'RadmarkCommentPin';
  /** The pins to draw (set by the pin overlay of the viewer). */
  static pins: () => RenderPin[] = () => [];

  constructor(toolProps: tools.Types.PublicToolProps = {}, defaultToolProps: tools.Types.ToolProps = { supportedInteractionTypes: [], configuration: {} }) {
    super(toolProps, defaultToolProps);
  }

  renderAnnotation(enabledElement: Types.IEnabledElement, svg: tools.Types.SVGDrawingHelper): boolean {
    const shown = pinsOnViewport(enabledElement.viewport as unknown as Types.IViewport, CommentPinTool.pins());
    for (const { pin, canvas } of shown) {
      const uid = `pin-${pin.id}`;
      const color = COLORS[pin.state];
      drawing.drawCircle(svg, uid, 'ring', canvas, pin.selected ? 11 : 8, { color, width: pin.selected ? 3 : 2 }, uid);
      drawing.drawCircle(svg, uid, 'dot', canvas, 3, { color, fill: color });
      if (pin.n !== undefined) drawing.drawTextBox(svg, uid, 'n', [String(pin.n)], [canvas[0] + 10, canvas[1] - 22], { color, background: 'rgba(0, 0, 0, 0.5)' });
    }
    return shown.length > 0;
  }
}

let registered = false;

/** Adds the pin markers to a viewer tool group (drawn, never on a mouse button). */
export function addCommentPinTool(group: tools.Types.IToolGroup): void {
  if (!registered) {
    tools.addTool(CommentPinTool);
    registered = true;
  }
  group.addTool(CommentPinTool.toolName);
  group.setToolEnabled(CommentPinTool.toolName);
}

/** Redraws the markers on every viewport of the rendering engine. */
export function redrawPins(elements: HTMLDivElement[]): void {
  for (const el of elements) tools.utilities.triggerAnnotationRender(el);
}
