// The 3D box as a Cornerstone annotation tool. Cornerstone 5.14 has no 3D
// box (its annotations live on one view plane; RectangleROIStartEndThreshold
// is a threshold tool with a slice range, not a free box), so this one draws
// the box's section on every MPR view that cuts it (box3d.ts), with the
// section's corners as handles: a drag on one view draws the box, corners
// dragged on another view set the third extent. Its state is
// data.handles.points = [one corner, the opposite corner] in LPS. Undo and
// redo go on Cornerstone's history with memos of its own: the annotation
// tools' memos move the viewport back to the annotation's view plane,
// which would turn a coronal view axial when a box drawn on the axial view
// is edited there.
import { getEnabledElement, utilities as csUtils, type Types } from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import { type Box, boxFromDrag, clampToVolume, isSolid, moveCorner, normalizeBox, sectionOf, translateInPlane, viewAxis } from './box3d.ts';
import type { Vec3 } from './geometry.ts';

const { AnnotationTool, annotation: annotationApi, drawing, utilities, cursors, Enums } = tools;
type Annotation = tools.Types.Annotation;
type InteractionEvent = tools.Types.EventTypes.InteractionEventType;
type Drag = { annotation: Annotation; viewportIdsToRender: string[]; newAnnotation?: boolean; handleIndex?: number; hasMoved?: boolean; before?: Box };

const boxOf = (a: Annotation): Box => {
  const [p, q] = a.data.handles!.points as Types.Point3[];
  return { min: [p[0], p[1], p[2]], max: [q[0], q[1], q[2]] };
};
const setBox = (a: Annotation, b: Box): void => {
  a.data.handles!.points = [[...b.min], [...b.max]] as Types.Point3[];
  a.invalidated = true;
};

/** What the tool uses of a viewport (Cornerstone's viewport classes do not all type as IViewport). */
interface View {
  getCamera(): Types.ICamera;
  worldToCanvas(p: Types.Point3): Types.Point2;
  canvasToWorld(p: Types.Point2): Types.Point3;
}

function camera(viewport: View): { normal: Types.Point3; focal: Types.Point3 } {
  const cam = viewport.getCamera();
  return { normal: cam.viewPlaneNormal as Types.Point3, focal: cam.focalPoint as Types.Point3 };
}

/** Canvas corners of a box's section on a viewport, or undefined when the view does not cut it. */
function canvasCorners(viewport: View, a: Annotation): { axis: number; corners: Types.Point2[] } | undefined {
  const { normal, focal } = camera(viewport);
  const s = sectionOf(boxOf(a), normal, focal, 0.01);
  return s && { axis: s.axis, corners: s.corners.map((c) => viewport.worldToCanvas(c as Types.Point3)) };
}

function distanceToSegment(p: Types.Point2, a: Types.Point2, b: Types.Point2): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
  return Math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy));
}

export class Box3DTool extends AnnotationTool {
  static toolName = 'RadmarkBox3D';
  private drag: Drag | undefined;
  private dragAxis = 2;
  private dragStart: Types.Point3 = [0, 0, 0];

  constructor(toolProps: tools.Types.PublicToolProps = {}, defaultToolProps: tools.Types.ToolProps = { supportedInteractionTypes: ['Mouse'], configuration: {} }) {
    super(toolProps, defaultToolProps);
  }

  addNewAnnotation = (evt: InteractionEvent): Annotation | null => {
    const { currentPoints, element } = evt.detail;
    const viewport = getEnabledElement(element)?.viewport;
    const axis = viewport ? viewAxis(camera(viewport).normal) : undefined;
    if (!viewport || axis === undefined) return null;
    const p = [...currentPoints.world] as Types.Point3;
    const annotation = Box3DTool.createAnnotationForViewport<Annotation>(viewport, { data: { handles: { points: [[...p], [...p]], activeHandleIndex: null }, cachedStats: {} } });
    if (annotation.metadata) annotation.metadata.toolName = this.getToolName();
    annotationApi.state.addAnnotation(annotation, element);
    this.dragAxis = axis;
    this.dragStart = p;
    this.begin(element, { annotation, viewportIdsToRender: this.viewportsToRender(element), newAnnotation: true, handleIndex: 2, hasMoved: false });
    evt.preventDefault();
    return annotation;
  };

  isPointNearTool = (element: HTMLDivElement, annotation: Annotation, canvasCoords: Types.Point2, proximity: number): boolean => {
    const viewport = getEnabledElement(element)?.viewport;
    const cc = viewport && canvasCorners(viewport, annotation);
    if (!cc) return false;
    return cc.corners.some((c, i) => distanceToSegment(canvasCoords, c, cc.corners[(i + 1) % 4]) <= proximity);
  };

  getHandleNearImagePoint(element: HTMLDivElement, annotation: Annotation, canvasCoords: Types.Point2, proximity: number): tools.Types.ToolHandle | undefined {
    const viewport = getEnabledElement(element)?.viewport;
    const cc = viewport && canvasCorners(viewport, annotation);
    if (!cc) return undefined;
    const i = cc.corners.findIndex((c) => Math.hypot(c[0] - canvasCoords[0], c[1] - canvasCoords[1]) <= proximity);
    if (i < 0) return undefined;
    annotation.data.handles!.activeHandleIndex = i;
    return viewport.canvasToWorld(cc.corners[i]) as tools.Types.ToolHandle;
  }

  filterInteractableAnnotationsForElement(element: HTMLDivElement, annotations: tools.Types.Annotations): tools.Types.Annotations {
    const viewport = getEnabledElement(element)?.viewport;
    return viewport ? annotations.filter((a) => canvasCorners(viewport, a)) : [];
  }

  /** A drag on the box's outline moves it in the view plane. */
  toolSelectedCallback = (evt: InteractionEvent, annotation: Annotation): void => this.select(evt, annotation, undefined);

  /** A drag on a corner sets the two extents in the view plane. */
  handleSelectedCallback = (evt: InteractionEvent, annotation: Annotation): void => this.select(evt, annotation, annotation.data.handles!.activeHandleIndex ?? undefined);

  private select(evt: InteractionEvent, annotation: Annotation, handleIndex: number | undefined): void {
    const { element } = evt.detail;
    const viewport = getEnabledElement(element)?.viewport;
    const axis = viewport ? viewAxis(camera(viewport).normal) : undefined;
    if (axis === undefined) return;
    this.dragAxis = axis;
    annotation.highlighted = true;
    this.begin(element, { annotation, viewportIdsToRender: this.viewportsToRender(element), handleIndex });
    evt.preventDefault();
  }

  private viewportsToRender(element: HTMLDivElement): string[] {
    return utilities.viewportFilters.getViewportIdsWithToolToRender(element, this.getToolName(), false);
  }

  private begin(element: HTMLDivElement, drag: Drag): void {
    this.drag = drag;
    this.editData = drag;
    this.isDrawing = true;
    tools.state.isInteractingWithTool = true;
    element.addEventListener(Enums.Events.MOUSE_UP, this.endDrag as EventListener);
    element.addEventListener(Enums.Events.MOUSE_DRAG, this.onDrag as EventListener);
    element.addEventListener(Enums.Events.MOUSE_CLICK, this.endDrag as EventListener);
    cursors.elementCursor.hideElementCursor(element);
    utilities.triggerAnnotationRenderForViewportIds(drag.viewportIdsToRender);
  }

  private end(element: HTMLDivElement): void {
    tools.state.isInteractingWithTool = false;
    element.removeEventListener(Enums.Events.MOUSE_UP, this.endDrag as EventListener);
    element.removeEventListener(Enums.Events.MOUSE_DRAG, this.onDrag as EventListener);
    element.removeEventListener(Enums.Events.MOUSE_CLICK, this.endDrag as EventListener);
    cursors.elementCursor.resetElementCursor(element);
    this.isDrawing = false;
    this.editData = null;
    this.drag = undefined;
  }

  private onDrag = (evt: InteractionEvent): void => {
    const d = this.drag;
    if (!d) return;
    const { element, currentPoints, deltaPoints } = evt.detail as tools.Types.EventTypes.MouseDragEventDetail;
    const box = boxOf(d.annotation);
    d.before ??= box;
    if (d.newAnnotation) setBox(d.annotation, boxFromDrag(this.dragAxis, this.dragStart, currentPoints.world));
    else if (d.handleIndex !== undefined) setBox(d.annotation, moveCorner(box, this.dragAxis, d.handleIndex, currentPoints.world));
    else setBox(d.annotation, translateInPlane(box, this.dragAxis, deltaPoints.world));
    d.hasMoved = true;
    utilities.triggerAnnotationRenderForViewportIds(d.viewportIdsToRender);
    annotationApi.state.triggerAnnotationModified(d.annotation, element);
  };

  private endDrag = (evt: InteractionEvent): void => {
    const d = this.drag;
    if (!d) return;
    const { element } = evt.detail;
    // A click without a drag draws nothing.
    if (d.newAnnotation && !d.hasMoved) {
      this.end(element);
      annotationApi.state.removeAnnotation(d.annotation.annotationUID!);
      utilities.triggerAnnotationRenderForViewportIds(d.viewportIdsToRender);
      return;
    }
    // On the volume (the server refuses corners off it), and solid (it refuses flat boxes).
    const after = normalizeBox(this.onVolume(element, boxOf(d.annotation)));
    if (!isSolid(after)) {
      this.end(element);
      if (d.newAnnotation) annotationApi.state.removeAnnotation(d.annotation.annotationUID!);
      else if (d.before) setBox(d.annotation, d.before);
      utilities.triggerAnnotationRenderForViewportIds(d.viewportIdsToRender);
      return;
    }
    setBox(d.annotation, after);
    d.annotation.data.handles!.activeHandleIndex = null;
    this.end(element);
    this.remember(d, element, after);
    utilities.triggerAnnotationRenderForViewportIds(d.viewportIdsToRender);
    if (d.newAnnotation) annotationApi.state.triggerAnnotationCompleted(d.annotation);
    else annotationApi.state.triggerAnnotationModified(d.annotation, element);
  };

  private onVolume(element: HTMLDivElement, box: Box): Box {
    const viewport = getEnabledElement(element)?.viewport as { getImageData?: () => Types.IImageData | undefined } | undefined;
    const data = viewport?.getImageData?.();
    if (!data?.imageData) return box;
    return clampToVolume(
      box,
      data.dimensions,
      (p) => csUtils.transformWorldToIndexContinuous(data.imageData, p as Types.Point3),
      (ijk) => csUtils.transformIndexToWorld(data.imageData, ijk as Types.Point3) as Vec3,
    );
  }

  /** One undo step for a drawn or edited box. */
  private remember(d: Drag, element: HTMLDivElement, after: Box): void {
    const { annotation, viewportIdsToRender, newAnnotation, before } = d;
    const uid = annotation.annotationUID!;
    const frame = annotation.metadata?.FrameOfReferenceUID ?? '';
    const restore = (undo: boolean) => {
      if (newAnnotation) {
        if (undo) annotationApi.state.removeAnnotation(uid);
        else annotationApi.state.addAnnotation(annotation, frame);
      } else {
        setBox(annotation, undo && before ? before : after);
        annotationApi.state.triggerAnnotationModified(annotation, element);
      }
      utilities.triggerAnnotationRenderForViewportIds(viewportIdsToRender);
    };
    csUtils.HistoryMemo.DefaultHistoryMemo.push({ id: uid, operationType: 'annotation', restoreMemo: (isUndo?: boolean) => restore(!!isUndo) });
  }

  cancel = (element: HTMLDivElement): string | undefined => {
    const d = this.drag;
    if (!d) return undefined;
    this.end(element);
    d.annotation.highlighted = false;
    utilities.triggerAnnotationRenderForViewportIds(d.viewportIdsToRender);
    if (d.newAnnotation) annotationApi.state.triggerAnnotationCompleted(d.annotation);
    return d.annotation.annotationUID;
  };

  renderAnnotation = (enabledElement: Types.IEnabledElement, svgDrawingHelper: tools.Types.SVGDrawingHelper): boolean => {
    const { viewport } = enabledElement;
    const all = annotationApi.state.getAnnotations(this.getToolName(), viewport.element) ?? [];
    let rendered = false;
    for (const a of all) {
      if (!a.annotationUID || a.isVisible === false) continue;
      const cc = canvasCorners(viewport, a);
      if (!cc) continue;
      const { color, lineWidth, lineDash } = this.getAnnotationStyle({ annotation: a, styleSpecifier: { toolGroupId: this.toolGroupId, toolName: this.getToolName(), viewportId: viewport.id, annotationUID: a.annotationUID } }) as { color: string; lineWidth: number; lineDash: string };
      drawing.drawPolyline(svgDrawingHelper, a.annotationUID, 'box', [...cc.corners, cc.corners[0]], { color, lineWidth, lineDash });
      if (a.highlighted || this.drag?.annotation === a) drawing.drawHandles(svgDrawingHelper, a.annotationUID, 'corners', cc.corners, { color });
      rendered = true;
    }
    return rendered;
  };
}
