// Annotation tools on Cornerstone3D's own tools and segmentation state,
// mapped to radmark's annotation kinds (annotation.go Item). The
// controller turns Cornerstone's annotations and labelmap into a save's
// items and labelmap slices, and a stored revision back into them.
import { Enums as CoreEnums, cache, eventTarget, getEnabledElement, utilities as csUtils, volumeLoader, type Types } from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import type { Item, Label } from '../api/client.ts';
import type { Segment } from './segments.ts';
import type { ViewerController } from '../viewer/cornerstone.ts';
import { Box3DTool } from './Box3DTool.ts';
import { type FilledSlice, type InterpolationInput, keySlicesAcross, planesAcross } from './interpolate.ts';
import { growRegion } from './region.ts';
import { type Grid, type Vec3, type VolumeMapping, imagePointToLps, lpsToImagePoint, mapVolumeToGrid, nearestSlice, normalOf, serverToVolume, volumeToServer } from './geometry.ts';

const { segmentation, annotation: annotationState, Enums: ToolEnums } = tools;

export type ToolId =
  | 'Length' | 'Angle' | 'Bidirectional' | 'EllipseROI' | 'RectangleROI' | 'Box2D' | 'Landmark' | 'Contour'
  | 'Box3D' | 'Brush' | 'SphereBrush' | 'Eraser' | 'SphereEraser' | 'ThresholdBrush' | 'RectangleScissors' | 'CircleScissors' | 'RegionGrow';

export interface ToolDef {
  id: ToolId;
  label: string;
  /** Default key (configurable, see shortcuts.ts). */
  key: string;
  kind: Item['kind'];
  /** Needs a volume (MPR). */
  volumeOnly?: boolean;
  /** Paints the labelmap (made when the tool is first picked). */
  labelmap?: boolean;
}

export const TOOL_DEFS: readonly ToolDef[] = [
  { id: 'Length', label: 'Length', key: 'l', kind: 'length' },
  { id: 'Angle', label: 'Angle', key: 'a', kind: 'angle' },
  { id: 'Bidirectional', label: 'Bidirectional', key: 'd', kind: 'bidirectional' },
  { id: 'EllipseROI', label: 'Ellipse ROI', key: 'e', kind: 'ellipse_roi' },
  { id: 'RectangleROI', label: 'Rect ROI', key: 'q', kind: 'rectangle_roi' },
  { id: 'Box2D', label: '2D box', key: 'o', kind: 'box2d' },
  { id: 'Landmark', label: 'Landmark', key: 'k', kind: 'landmark' },
  { id: 'Contour', label: 'Contour', key: 'f', kind: 'contour' },
  { id: 'Box3D', label: '3D box', key: 'O', kind: 'box3d', volumeOnly: true },
  { id: 'Brush', label: 'Brush ○', key: 'b', kind: 'segmentation', volumeOnly: true, labelmap: true },
  { id: 'SphereBrush', label: 'Brush ●', key: 'B', kind: 'segmentation', volumeOnly: true, labelmap: true },
  { id: 'Eraser', label: 'Eraser ○', key: 'n', kind: 'segmentation', volumeOnly: true, labelmap: true },
  { id: 'SphereEraser', label: 'Eraser ●', key: 'N', kind: 'segmentation', volumeOnly: true, labelmap: true },
  { id: 'ThresholdBrush', label: 'HU brush', key: 't', kind: 'segmentation', volumeOnly: true, labelmap: true },
  { id: 'RectangleScissors', label: 'Rect scissors', key: 'g', kind: 'segmentation', volumeOnly: true, labelmap: true },
  { id: 'CircleScissors', label: 'Circle scissors', key: 'G', kind: 'segmentation', volumeOnly: true, labelmap: true },
  { id: 'RegionGrow', label: 'Grow region', key: 'R', kind: 'segmentation', volumeOnly: true, labelmap: true },
];

/**
 * A click that gives a seed point to whoever listens (region growing);
 * the click does nothing else (no window/level drag).
 */
export class SeedTool extends tools.BaseTool {
  static toolName = 'RadmarkSeed';
  /** Called with the LPS point and the viewport of each click. */
  static onSeed: ((world: Types.Point3, viewportId: string) => void) | undefined;
  constructor(toolProps: tools.Types.PublicToolProps = {}, defaultToolProps: tools.Types.ToolProps = { supportedInteractionTypes: ['Mouse'], configuration: {} }) {
    super(toolProps, defaultToolProps);
  }
  preMouseDownCallback = (evt: tools.Types.EventTypes.MouseDownActivateEventType): boolean => {
    const { element, currentPoints } = evt.detail;
    const id = getEnabledElement(element)?.viewport.id;
    if (id) SeedTool.onSeed?.([...currentPoints.world] as Types.Point3, id);
    return true;
  };
}

/** Cornerstone tool class and configuration behind each tool. */
function toolClass(id: ToolId): { base: string; config?: Record<string, unknown> } {
  switch (id) {
    case 'Length': return { base: tools.LengthTool.toolName };
    case 'Angle': return { base: tools.AngleTool.toolName };
    case 'Bidirectional': return { base: tools.BidirectionalTool.toolName };
    case 'EllipseROI': return { base: tools.EllipticalROITool.toolName };
    case 'RectangleROI': return { base: tools.RectangleROITool.toolName };
    case 'Box2D': return { base: tools.RectangleROITool.toolName };
    case 'Landmark': return { base: tools.ProbeTool.toolName };
    case 'Contour': return { base: tools.PlanarFreehandROITool.toolName };
    case 'Box3D': return { base: Box3DTool.toolName };
    case 'RegionGrow': return { base: SeedTool.toolName };
    case 'Brush': return { base: tools.BrushTool.toolName, config: { activeStrategy: 'FILL_INSIDE_CIRCLE' } };
    case 'SphereBrush': return { base: tools.BrushTool.toolName, config: { activeStrategy: 'FILL_INSIDE_SPHERE' } };
    case 'Eraser': return { base: tools.BrushTool.toolName, config: { activeStrategy: 'ERASE_INSIDE_CIRCLE' } };
    case 'SphereEraser': return { base: tools.BrushTool.toolName, config: { activeStrategy: 'ERASE_INSIDE_SPHERE' } };
    case 'ThresholdBrush': return { base: tools.BrushTool.toolName, config: { activeStrategy: 'THRESHOLD_INSIDE_CIRCLE', threshold: { range: [-100, 200], isDynamic: false } } };
    case 'RectangleScissors': return { base: tools.RectangleScissorsTool.toolName };
    case 'CircleScissors': return { base: tools.CircleScissorsTool.toolName };
  }
}

/** Kinds stored as points on one acquired image (not in patient mm). */
const IMAGE_KINDS: ReadonlySet<Item['kind']> = new Set(['box2d', 'rectangle_roi', 'ellipse_roi', 'contour']);

/** Instance names are prefixed so they never clash with the navigation tools. */
export const instanceName = (id: ToolId) => `radmark-${id}`;
const idOfInstance = (name: string): ToolId | undefined => (name.startsWith('radmark-') ? (name.slice(8) as ToolId) : undefined);

let registered = false;
function registerTools(): void {
  if (registered) return;
  registered = true;
  for (const T of [tools.LengthTool, tools.AngleTool, tools.BidirectionalTool, tools.EllipticalROITool, tools.RectangleROITool, tools.ProbeTool, tools.PlanarFreehandROITool, tools.BrushTool, tools.RectangleScissorsTool, tools.CircleScissorsTool, Box3DTool, SeedTool]) tools.addTool(T);
}

/** Adds every annotation tool (as named instances) to a viewer tool group. */
export function addAnnotationTools(group: tools.Types.IToolGroup, mpr: boolean): void {
  registerTools();
  for (const def of TOOL_DEFS) {
    if (def.volumeOnly && !mpr) continue;
    const { base, config } = toolClass(def.id);
    group.addToolInstance(instanceName(def.id), base, config ?? {});
    group.setToolPassive(instanceName(def.id));
  }
}

/** Live numbers of an annotation as Cornerstone computes them while drawing. */
export interface LiveStats {
  length?: number;
  angle?: number;
  longAxis?: number;
  shortAxis?: number;
  area?: number;
  mean?: number;
  stdDev?: number;
  min?: number;
  max?: number;
  value?: number;
  unit?: string;
}

export interface ShownItem {
  item: Item;
  stats: LiveStats;
}

type CsAnnotation = tools.Types.Annotation & { data: { handles: { points: Types.Point3[] }; cachedStats?: Record<string, Record<string, unknown>>; contour?: { polyline?: Types.Point3[]; closed?: boolean }; label?: string } };

/**
 * Owns the labelmap volume and converts between Cornerstone's state and
 * radmark items. One per shown series.
 */
export class AnnotationController {
  /** Layer 0's Cornerstone segmentation (and labelmap volume) id; layer n's is segmentationIdOf(n). */
  readonly segmentationId: string;
  private mapping: VolumeMapping | undefined;
  /** The labelmap layers made so far (one Cornerstone segmentation each). */
  private readonly layers = new Set<number>();
  /** The active segment (layer and value): the brush and the other labelmap tools paint it. */
  private activeLayer = 0;
  private activeValue = 1;
  /** The label each Cornerstone annotation was drawn with (by annotation UID). */
  readonly labels = new Map<string, string>();
  currentLabel: string | undefined;
  /** The schema's labels, for a default label per kind. */
  schemaLabels: Label[] = [];
  private listeners = new Set<() => void>();
  private cleanups: Array<() => void> = [];
  /** Region growing: the value range (HU for CT) and how far from the seed (mm). */
  growRange: [number, number] = [-100, 200];
  growRadiusMm = 30;
  /** Tells the reader what a region grow or an interpolation did (or why not). */
  onMessage: (level: 'info' | 'warning' | 'error', text: string) => void = () => {};

  private readonly viewer: ViewerController;
  readonly grid: Grid;
  readonly seriesUID: string;
  readonly frameOfReferenceUID: string;

  constructor(viewer: ViewerController, grid: Grid, seriesUID: string, frameOfReferenceUID: string) {
    this.viewer = viewer;
    this.grid = grid;
    this.seriesUID = seriesUID;
    this.frameOfReferenceUID = frameOfReferenceUID;
    this.segmentationId = `radmark-seg:${seriesUID}`;
    const changed = () => this.emit();
    const E = ToolEnums.Events;
    const onAnnotation = (evt: Event) => {
      const a = (evt as CustomEvent<{ annotation?: CsAnnotation }>).detail?.annotation;
      if (a?.annotationUID && !this.labels.has(a.annotationUID)) {
        const def = TOOL_DEFS.find((d) => d.id === idOfInstance(a.metadata?.toolName ?? ''));
        if (def) this.labels.set(a.annotationUID, this.labelFor(def.kind));
      }
      if (evt.type === E.ANNOTATION_COMPLETED && a?.annotationUID) this.refuseOffImage(a);
      changed();
    };
    for (const e of [E.ANNOTATION_COMPLETED, E.ANNOTATION_MODIFIED, E.ANNOTATION_REMOVED, E.ANNOTATION_ADDED]) {
      eventTarget.addEventListener(e, onAnnotation);
      this.cleanups.push(() => eventTarget.removeEventListener(e, onAnnotation));
    }
    eventTarget.addEventListener(E.SEGMENTATION_DATA_MODIFIED, changed);
    this.cleanups.push(() => eventTarget.removeEventListener(E.SEGMENTATION_DATA_MODIFIED, changed));
    const onSeed = (world: Types.Point3) => {
      const n = this.growFrom(world);
      if (n !== undefined) this.onMessage(n ? 'info' : 'warning', n ? `Region grown: ${n} voxels.` : `Nothing grown: the seed's value is outside ${this.growRange[0]}…${this.growRange[1]}, or its voxel belongs to another segment.`);
    };
    SeedTool.onSeed = onSeed;
    this.cleanups.push(() => {
      if (SeedTool.onSeed === onSeed) SeedTool.onSeed = undefined;
    });
  }

  subscribe(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  private itemsCache: ShownItem[] | undefined;
  private emit(): void {
    this.itemsCache = undefined;
    for (const l of this.listeners) l();
  }

  destroy(): void {
    for (const c of this.cleanups.splice(0)) c();
    this.listeners.clear();
    annotationState.state.removeAllAnnotations();
    for (const layer of this.layers) {
      const id = this.segmentationIdOf(layer);
      try {
        segmentation.removeSegmentation(id);
      } catch {
        // not there
      }
      if (cache.getVolume(id)) {
        try {
          cache.removeVolumeLoadObject(id);
        } catch {
          // already gone
        }
      }
    }
    this.layers.clear();
    this.mapping = undefined;
  }

  segmentationIdOf(layer: number): string {
    return layer === 0 ? this.segmentationId : `${this.segmentationId}:layer${layer}`;
  }

  /** The layers made on the shown series, in order. */
  get labelmapLayers(): number[] {
    return [...this.layers].sort((a, b) => a - b);
  }

  get hasLabelmap(): boolean {
    return !!this.mapping;
  }

  /**
   * Makes the labelmap volumes on the shown CT volume (MPR), one per layer
   * the segments use (layer 0 at least), each shown on every MPR view.
   */
  async attachLabelmap(segments: Segment[]): Promise<void> {
    const volumeId = this.viewer.currentVolumeId;
    if (!volumeId) return;
    const vol = cache.getVolume(volumeId);
    if (!vol?.imageData) return;
    const d = vol.imageData.getDirection();
    const mapping = mapVolumeToGrid(
      {
        dimensions: vol.dimensions as [number, number, number],
        origin: vol.imageData.getOrigin() as Vec3,
        spacing: vol.imageData.getSpacing() as Vec3,
        direction: [[d[0], d[1], d[2]], [d[3], d[4], d[5]], [d[6], d[7], d[8]]],
      },
      this.grid,
    );
    this.mapping = mapping;
    await this.ensureLayers(segments);
    this.styleSegments(segments);
    this.emit();
  }

  /** Makes the Cornerstone segmentation of every layer the segments use that is not made yet. */
  async ensureLayers(segments: Segment[]): Promise<void> {
    const volumeId = this.viewer.currentVolumeId;
    if (!volumeId || !this.mapping) return;
    const wanted = [...new Set([0, ...segments.map((s) => s.layer)])].filter((l) => !this.layers.has(l)).sort((a, b) => a - b);
    const vps = this.viewer.viewports.filter((v) => v.kind !== 'stack');
    for (const layer of wanted) {
      const id = this.segmentationIdOf(layer);
      if (!cache.getVolume(id)) await volumeLoader.createAndCacheDerivedLabelmapVolume(volumeId, { volumeId: id });
      if (!segmentation.state.getSegmentation(id)) {
        const own = segments.filter((s) => s.layer === layer);
        segmentation.addSegmentations([
          {
            segmentationId: id,
            representation: { type: ToolEnums.SegmentationRepresentations.Labelmap, data: { volumeId: id } },
            config: { segments: Object.fromEntries(own.map((s) => [s.value, { segmentIndex: s.value, label: s.label.name, locked: false, active: false, cachedStats: {} }])) },
          },
        ]);
      }
      await segmentation.addLabelmapRepresentationToViewportMap(Object.fromEntries(vps.map((v) => [v.id, [{ segmentationId: id }]])));
      this.layers.add(layer);
    }
    if (wanted.length) this.setActiveSegment(this.activeLayer, this.activeValue);
  }

  styleSegments(segments: Segment[], opacity = 0.5): void {
    if (!this.mapping) return;
    try {
      this.applyStyle(segments, opacity);
    } catch (err) {
      console.warn('segment style not applied', err);
    }
  }

  private applyStyle(segments: Segment[], opacity: number): void {
    for (const v of this.viewer.viewports) {
      if (v.kind === 'stack') continue;
      for (const s of segments) {
        if (!this.layers.has(s.layer)) continue;
        const id = this.segmentationIdOf(s.layer);
        segmentation.config.color.setSegmentIndexColor(v.id, id, s.value, [...s.color, 255] as Types.Color);
        segmentation.config.visibility.setSegmentIndexVisibility(v.id, { segmentationId: id, type: ToolEnums.SegmentationRepresentations.Labelmap }, s.value, s.visible);
      }
    }
    for (const s of segments) if (this.layers.has(s.layer)) segmentation.segmentLocking.setSegmentIndexLocked(this.segmentationIdOf(s.layer), s.value, s.locked);
    segmentation.segmentationStyle.setStyle({ type: ToolEnums.SegmentationRepresentations.Labelmap }, { fillAlpha: opacity, fillAlphaInactive: opacity * 0.6, outlineOpacity: 1 } as never);
    this.viewer.renderingEngine?.render();
  }

  /** Makes a segment the one the labelmap tools paint: its layer's segmentation active on every MPR view, its value the active index. */
  setActiveSegment(layer: number, value: number): void {
    this.activeLayer = layer;
    this.activeValue = value;
    const id = this.segmentationIdOf(layer);
    if (!segmentation.state.getSegmentation(id)) return;
    for (const v of this.viewer.viewports) if (v.kind !== 'stack') segmentation.activeSegmentation.setActiveSegmentation(v.id, id);
    segmentation.segmentIndex.setActiveSegmentIndex(id, value);
  }

  setBrushSize(mm: number): void {
    for (const g of this.viewer.toolGroupIds) tools.utilities.segmentation.setBrushSizeForToolGroup(g, mm);
  }

  setThreshold(lower: number, upper: number): void {
    for (const g of this.viewer.toolGroupIds) tools.utilities.segmentation.setBrushThresholdForToolGroup(g, { range: [lower, upper], isDynamic: false } as never);
  }

  /** A labelmap layer in the server layout (undefined when it is not made). */
  labelmapBytes(layer = 0): Uint8Array | undefined {
    if (!this.mapping || !this.layers.has(layer)) return undefined;
    const vol = cache.getVolume(this.segmentationIdOf(layer));
    const data = vol?.voxelManager?.getCompleteScalarDataArray?.() as ArrayLike<number> | undefined;
    if (!data) return undefined;
    return volumeToServer(data, this.mapping, this.grid.columns, this.grid.rows);
  }

  /** Every layer made, in the server layout. */
  labelmapLayerBytes(): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>();
    for (const layer of this.labelmapLayers) {
      const b = this.labelmapBytes(layer);
      if (b) out.set(layer, b);
    }
    return out;
  }

  /** Replaces a labelmap layer with server-layout bytes (a stored revision), or clears it. */
  setLabelmapBytes(bytes: Uint8Array | undefined, layer = 0): void {
    if (!this.mapping || !this.layers.has(layer)) return;
    const id = this.segmentationIdOf(layer);
    const vol = cache.getVolume(id);
    const vm = vol?.voxelManager;
    if (!vm) return;
    const n = this.grid.columns * this.grid.rows * this.grid.positions.length;
    const arr = new Uint8Array(n);
    if (bytes) serverToVolume(bytes, this.mapping, this.grid.columns, this.grid.rows, arr);
    vm.setCompleteScalarDataArray?.(arr as never);
    segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(id);
    this.viewer.renderingEngine?.render();
  }

  /** The active segment's value, or undefined (with a message) when it cannot be painted. */
  private paintableSegment(): number | undefined {
    if (!this.mapping) {
      this.onMessage('warning', 'There is no labelmap on this series yet: pick a labelmap tool (brush, region growing) first.');
      return undefined;
    }
    const id = this.segmentationIdOf(this.activeLayer);
    const value = segmentation.state.getSegmentation(id) ? segmentation.segmentIndex.getActiveSegmentIndex(id) : undefined;
    if (!value) {
      this.onMessage('warning', 'Pick a segment (a label) first.');
      return undefined;
    }
    if (segmentation.segmentLocking.isSegmentIndexLocked(id, value)) {
      this.onMessage('warning', `Segment ${value} is locked.`);
      return undefined;
    }
    return value;
  }

  /**
   * Sets the given labelmap voxels that are still unpainted to value, as
   * one undoable step; returns how many changed. Other segments' voxels
   * are never overwritten.
   */
  private paintUnpainted(indices: ArrayLike<number>, value: number): number {
    const id = this.segmentationIdOf(this.activeLayer);
    const vm = cache.getVolume(id)?.voxelManager as Types.IVoxelManager<number> | undefined;
    if (!vm) return 0;
    const changed: number[] = [];
    for (let n = 0; n < indices.length; n++) {
      const idx = indices[n];
      if (Number(vm.getAtIndex(idx)) === 0) changed.push(idx);
    }
    if (!changed.length) return 0;
    const apply = (v: number) => {
      for (const idx of changed) vm.setAtIndex(idx, v);
      segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(id);
      this.viewer.renderingEngine?.render();
    };
    apply(value);
    csUtils.HistoryMemo.DefaultHistoryMemo.push({ restoreMemo: (isUndo?: boolean) => apply(isUndo ? 0 : value) });
    return changed.length;
  }

  /** Grows the active segment from a seed (LPS) in the reader's value range and radius; the voxel count, or undefined when nothing could be tried. */
  growFrom(world: Types.Point3): number | undefined {
    const value = this.paintableSegment();
    const ct = this.viewer.currentVolumeId ? cache.getVolume(this.viewer.currentVolumeId) : undefined;
    const lab = cache.getVolume(this.segmentationIdOf(this.activeLayer))?.voxelManager as Types.IVoxelManager<number> | undefined;
    if (value === undefined || !ct?.imageData || !ct.voxelManager || !lab) return undefined;
    const ctVoxels = ct.voxelManager as Types.IVoxelManager<number>;
    const seed = csUtils.transformWorldToIndex(ct.imageData, world) as [number, number, number];
    const region = growRegion({
      dimensions: ct.dimensions as [number, number, number],
      spacing: ct.imageData.getSpacing() as [number, number, number],
      valueAt: (i) => Number(ctVoxels.getAtIndex(i)),
      seed,
      lower: this.growRange[0],
      upper: this.growRange[1],
      radiusMm: this.growRadiusMm,
      blocked: (i) => {
        const v = Number(lab.getAtIndex(i));
        return v !== 0 && v !== value;
      },
    });
    return region.length ? this.paintUnpainted(region, value) || region.length : 0;
  }

  /**
   * Fills the planes between the planes on which the active segment is
   * painted, across the axis of the view the reader works in (the MPR
   * view last clicked or scrolled; the acquisition's slices otherwise), by
   * shape-based interpolation in a web worker (interpolate.ts). Resolves
   * to the planes and voxels filled.
   */
  async interpolate(): Promise<{ slices: number; voxels: number } | undefined> {
    const value = this.paintableSegment();
    const vol = cache.getVolume(this.segmentationIdOf(this.activeLayer));
    const data = vol?.voxelManager?.getCompleteScalarDataArray?.() as ArrayLike<number> | undefined;
    if (value === undefined || !vol?.imageData || !data) return undefined;
    const axis = this.viewIndexAxis(vol.imageData.getDirection() as ArrayLike<number>);
    const keys = keySlicesAcross(data, vol.dimensions, axis, value);
    if (keys.length < 2 || keys.every((key, n) => n === 0 || key.k - keys[n - 1].k === 1)) {
      this.onMessage('warning', 'Paint the segment on two or more slices of this view with unpainted slices between them, then fill between them.');
      return { slices: 0, voxels: 0 };
    }
    const sp = vol.imageData.getSpacing();
    const { u, v, index } = planesAcross(axis, vol.dimensions);
    const nu = vol.dimensions[u];
    const filled = await runInterpolation({ columns: nu, rows: vol.dimensions[v], spacing: [sp[u], sp[v]], keys });
    const indices: number[] = [];
    for (const f of filled) {
      for (let m = 0; m < f.mask.length; m++) {
        if (!f.mask[m]) continue;
        const idx = index(f.k, m % nu, Math.floor(m / nu));
        if (data[idx] === 0) indices.push(idx);
      }
    }
    const voxels = this.paintUnpainted(indices, value);
    return { slices: filled.length, voxels };
  }

  /** The volume index axis (0 i, 1 j, 2 k) along the normal of the active volume view; k when it is oblique or a stack. */
  private viewIndexAxis(direction: ArrayLike<number>): number {
    const id = this.viewer.activeViewportId;
    const vp = id ? this.viewer.renderingEngine?.getViewport(id) : undefined;
    const n = vp?.getCamera().viewPlaneNormal;
    if (!n || this.viewer.viewports.find((x) => x.id === id)?.kind === 'stack') return 2;
    for (let a = 0; a < 3; a++) {
      const dot = n[0] * direction[3 * a] + n[1] * direction[3 * a + 1] + n[2] * direction[3 * a + 2];
      if (Math.abs(dot) > 0.99) return a;
    }
    return 2;
  }

  /**
   * ROIs, 2D boxes and contours are stored on an acquired image (image
   * points, stats over its pixels: annotation.go Item), so one drawn on a
   * reformatted MPR plane (sagittal or coronal of an axial CT) has no
   * place in the set: it is removed at once, and the reader told where to
   * draw it, instead of staying on screen unsaved.
   */
  private refuseOffImage(a: CsAnnotation): void {
    const def = TOOL_DEFS.find((d) => d.id === idOfInstance(a.metadata?.toolName ?? ''));
    if (!def || !IMAGE_KINDS.has(def.kind) || this.toItem(a, def)) return;
    if (this.viewer.viewports.some((v) => v.kind === 'stack')) return;
    annotationState.state.removeAnnotation(a.annotationUID!);
    this.labels.delete(a.annotationUID!);
    this.viewer.renderingEngine?.render();
    const where = this.acquisitionViews()[0]?.kind;
    this.onMessage(
      'warning',
      `${def.label} not kept: ROIs, 2D boxes and contours are stored on the acquired images, so draw them on the ${where ?? 'acquisition'} view. On the other views use length, angle, bidirectional, landmark or the 3D box (stored in patient mm).`,
    );
  }

  /** The MPR views in the plane the series was acquired in (the axial one for an axial CT). */
  private acquisitionViews(): Array<{ id: string; kind: string }> {
    const n = normalOf(this.grid);
    return this.viewer.viewports.filter((v) => {
      const vn = this.viewer.renderingEngine?.getViewport(v.id)?.getCamera().viewPlaneNormal;
      return v.kind !== 'stack' && !!vn && Math.abs(vn[0] * n[0] + vn[1] * n[1] + vn[2] * n[2]) > 0.99;
    });
  }

  // --- items ----------------------------------------------------------------------

  /** The current label when it allows the kind, else the first label that does. */
  labelFor(kind: Item['kind']): string {
    const cur = this.schemaLabels.find((l) => l.id === this.currentLabel);
    if (cur && (!cur.kinds || cur.kinds.includes(kind))) return cur.id;
    return this.schemaLabels.find((l) => !l.kinds || l.kinds.includes(kind))?.id ?? this.currentLabel ?? '';
  }

  /**
   * The image the reader looks at, for image-level answers: the stack's
   * current image, or on the MPR the server slice at the focal point of the
   * view in the acquisition plane (the active view when it is one).
   */
  currentImage(): { sopInstanceUID: string; frame?: number } | undefined {
    const engine = this.viewer.renderingEngine;
    const stack = this.viewer.viewports.find((v) => v.kind === 'stack');
    if (stack) {
      const vp = engine?.getViewport(stack.id) as Types.IStackViewport | undefined;
      const im = vp ? this.viewer.seriesImages[vp.getCurrentImageIdIndex()] : undefined;
      return im ? { sopInstanceUID: im.sopInstanceUID, ...(im.frame ? { frame: im.frame } : {}) } : undefined;
    }
    const views = this.acquisitionViews();
    const inPlane = views.find((v) => v.id === this.viewer.activeViewportId) ?? views[0];
    const fp = inPlane ? engine?.getViewport(inPlane.id)?.getCamera().focalPoint : undefined;
    if (!fp) return undefined;
    const near = nearestSlice(this.grid, fp);
    if (near.k < 0 || near.distance > Math.max(0.01, this.grid.spacing[2] / 2)) return undefined;
    const frame = this.grid.frames[near.k];
    return { sopInstanceUID: this.grid.sopInstanceUIDs[near.k], ...(frame ? { frame } : {}) };
  }

  /** The 1-based slice number of an image in the series, for showing which image an answer is about. */
  sliceNumberOf(image: { sopInstanceUID: string; frame?: number }): number | undefined {
    const stackIndex = this.viewer.seriesImages.findIndex((im) => im.sopInstanceUID === image.sopInstanceUID && (im.frame || 0) === (image.frame || 0));
    if (this.viewer.viewports.some((v) => v.kind === 'stack')) return stackIndex >= 0 ? stackIndex + 1 : undefined;
    const k = this.grid.sopInstanceUIDs.findIndex((u, i) => u === image.sopInstanceUID && this.grid.frames[i] === (image.frame || 0));
    return k >= 0 ? k + 1 : undefined;
  }

  private imageIndexOf(imageId: string | undefined): number {
    return imageId ? this.viewer.seriesImages.findIndex((im) => im.imageId === imageId) : -1;
  }

  /** The Cornerstone annotations of the radmark tools, as items with their live numbers. */
  shownItems(): ShownItem[] {
    this.itemsCache ??= this.computeItems();
    return this.itemsCache;
  }

  private computeItems(): ShownItem[] {
    const out: ShownItem[] = [];
    for (const a of (annotationState.state.getAllAnnotations() ?? []) as CsAnnotation[]) {
      const id = idOfInstance(a.metadata?.toolName ?? '');
      const def = TOOL_DEFS.find((d) => d.id === id);
      if (!def || !a.annotationUID) continue;
      const item = this.toItem(a, def);
      if (item) out.push({ item, stats: liveStats(a) });
    }
    return out;
  }

  private toItem(a: CsAnnotation, def: ToolDef): Item | undefined {
    const pts = def.id === 'Contour' ? (a.data.contour?.polyline ?? []) : a.data.handles.points;
    if (!pts?.length) return undefined;
    const base = { id: a.annotationUID!, kind: def.kind, label: this.labels.get(a.annotationUID!) ?? this.labelFor(def.kind), source: { type: 'human' } };
    const stackIndex = this.imageIndexOf(a.metadata?.referencedImageId);
    // An image point on the image the annotation was drawn on: the stack's
    // image (Cornerstone's image coordinates follow the SCOORD convention),
    // or the server grid's slice for a volume view.
    const onImage = (): { image: Item['image']; points: Array<[number, number]> } | undefined => {
      if (this.viewer.viewports.some((v) => v.kind === 'stack') && stackIndex >= 0) {
        const im = this.viewer.seriesImages[stackIndex];
        return { image: { sopInstanceUID: im.sopInstanceUID, ...(im.frame ? { frame: im.frame } : {}) }, points: pts.map((p) => csUtils.worldToImageCoords(im.imageId, p) as [number, number]) };
      }
      const near = nearestSlice(this.grid, pts[0]);
      const tol = Math.max(0.01, this.grid.spacing[2] / 2);
      if (near.k < 0 || pts.some((p) => nearestSlice(this.grid, p).distance > tol || nearestSlice(this.grid, p).k !== near.k)) return undefined;
      const f = this.grid.frames[near.k];
      return { image: { sopInstanceUID: this.grid.sopInstanceUIDs[near.k], ...(f ? { frame: f } : {}) }, points: pts.map((p) => lpsToImagePoint(this.grid, near.k, p)) };
    };
    switch (def.kind) {
      case 'length':
      case 'angle':
      case 'bidirectional': {
        const img = onImage();
        if (this.viewer.viewports.some((v) => v.kind === 'stack') && img) return { ...base, image: img.image, points: img.points.slice(0, def.kind === 'length' ? 2 : def.kind === 'angle' ? 3 : 4) };
        return { ...base, lps: lps(pts.slice(0, def.kind === 'length' ? 2 : def.kind === 'angle' ? 3 : 4)) };
      }
      case 'box3d':
        return pts.length >= 2 ? { ...base, lps: lps(pts.slice(0, 2)) } : undefined;
      case 'landmark': {
        const near = nearestSlice(this.grid, pts[0]);
        const im = stackIndex >= 0 ? this.viewer.seriesImages[stackIndex] : undefined;
        const image = im ? { sopInstanceUID: im.sopInstanceUID, ...(im.frame ? { frame: im.frame } : {}) } : { sopInstanceUID: this.grid.sopInstanceUIDs[near.k], ...(this.grid.frames[near.k] ? { frame: this.grid.frames[near.k] } : {}) };
        return { ...base, image, lps: lps(pts.slice(0, 1)) };
      }
      case 'box2d':
      case 'rectangle_roi':
      case 'ellipse_roi': {
        const img = onImage();
        return img ? { ...base, image: img.image, points: corners(img.points) } : undefined;
      }
      case 'contour': {
        const img = onImage();
        return img ? { ...base, image: img.image, points: img.points, closed: a.data.contour?.closed ?? true } : undefined;
      }
      default:
        return undefined;
    }
  }

  /** Removes every radmark annotation from Cornerstone and adds these items. */
  loadItems(items: Item[]): void {
    for (const a of (annotationState.state.getAllAnnotations() ?? []) as CsAnnotation[]) {
      if (idOfInstance(a.metadata?.toolName ?? '') && a.annotationUID) annotationState.state.removeAnnotation(a.annotationUID);
    }
    this.labels.clear();
    for (const it of items) {
      const def = TOOL_DEFS.find((d) => d.kind === it.kind && !d.labelmap && (it.kind !== 'rectangle_roi' || d.id === 'RectangleROI'));
      if (!def) continue;
      const a = this.fromItem(it, def);
      if (!a) continue;
      this.labels.set(it.id, it.label);
      annotationState.state.addAnnotation(a as tools.Types.Annotation, this.frameOfReferenceUID);
    }
    this.viewer.renderingEngine?.render();
    this.emit();
  }

  private fromItem(it: Item, def: ToolDef): CsAnnotation | undefined {
    const stack = this.viewer.viewports.some((v) => v.kind === 'stack');
    const imageIndex = it.image ? this.viewer.seriesImages.findIndex((im) => im.sopInstanceUID === it.image!.sopInstanceUID && (im.frame || 0) === (it.image!.frame || 0)) : -1;
    const gridK = it.image ? this.grid.sopInstanceUIDs.findIndex((u, k) => u === it.image!.sopInstanceUID && this.grid.frames[k] === (it.image!.frame || 0)) : -1;
    const toWorld = (p: [number, number]): Types.Point3 => (stack && imageIndex >= 0 ? (csUtils.imageToWorldCoords(this.viewer.seriesImages[imageIndex].imageId, p) as Types.Point3) : (imagePointToLps(this.grid, gridK, p) as Types.Point3));
    let world: Types.Point3[] = [];
    if (it.lps?.length) world = it.lps.map((p) => [...p] as Types.Point3);
    else if (it.points?.length && (imageIndex >= 0 || gridK >= 0)) {
      if (it.kind === 'rectangle_roi' || it.kind === 'box2d') {
        const [[x0, y0], [x1, y1]] = it.points;
        world = [[x0, y0], [x1, y0], [x0, y1], [x1, y1]].map((p) => toWorld(p as [number, number]));
      } else if (it.kind === 'ellipse_roi') {
        const [[x0, y0], [x1, y1]] = it.points;
        const cx = (x0 + x1) / 2;
        const cy = (y0 + y1) / 2;
        world = [[cx, y1], [cx, y0], [x0, cy], [x1, cy]].map((p) => toWorld(p as [number, number]));
      } else world = it.points.map((p) => toWorld(p));
    }
    if (!world.length) return undefined;
    const normal = planeNormal(world, normalOf(this.grid));
    const referencedImageId = stack && imageIndex >= 0 ? this.viewer.seriesImages[imageIndex].imageId : undefined;
    const a: CsAnnotation = {
      annotationUID: it.id,
      highlighted: false,
      invalidated: true,
      isLocked: false,
      isVisible: true,
      metadata: { toolName: instanceName(def.id), FrameOfReferenceUID: this.frameOfReferenceUID, referencedImageId, viewPlaneNormal: normal, viewUp: [0, -1, 0] } as never,
      data: {
        handles: { points: it.kind === 'contour' ? [] : world, activeHandleIndex: null, textBox: { hasMoved: false, worldPosition: [0, 0, 0], worldBoundingBox: { topLeft: [0, 0, 0], topRight: [0, 0, 0], bottomLeft: [0, 0, 0], bottomRight: [0, 0, 0] } } } as never,
        cachedStats: {},
        ...(it.kind === 'contour' ? { contour: { polyline: world, closed: it.closed ?? true } } : {}),
        label: '',
      } as never,
    };
    return a;
  }
}

/** Runs interpolate.ts in a web worker (one per call: the work is seconds apart and rare). */
function runInterpolation(input: InterpolationInput): Promise<FilledSlice[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./interpolate.worker.ts', import.meta.url), { type: 'module' });
    worker.addEventListener('message', (e: MessageEvent<{ filled?: FilledSlice[]; error?: string }>) => {
      worker.terminate();
      if (e.data.error !== undefined) reject(new Error(e.data.error));
      else resolve(e.data.filled ?? []);
    });
    worker.addEventListener('error', (e) => {
      worker.terminate();
      reject(new Error(`the interpolation worker failed: ${e.message}`));
    });
    worker.postMessage(input, input.keys.map((k) => k.mask.buffer));
  });
}

function corners(ps: Array<[number, number]>): Array<[number, number]> {
  const xs = ps.map((p) => p[0]);
  const ys = ps.map((p) => p[1]);
  return [[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]];
}

function lps(ps: Types.Point3[]): Array<[number, number, number]> {
  return ps.map((p) => [p[0], p[1], p[2]]);
}

/** The normal of the view plane an annotation lies in: the series' slice normal, or an orthogonal plane that holds every point. */
function planeNormal(points: Types.Point3[], sliceNormal: Vec3): Types.Point3 {
  const same = (a: number) => points.every((p) => Math.abs(p[a] - points[0][a]) < 1e-3);
  if (points.length === 1 || points.every((p) => Math.abs((p[0] - points[0][0]) * sliceNormal[0] + (p[1] - points[0][1]) * sliceNormal[1] + (p[2] - points[0][2]) * sliceNormal[2]) < 1e-3)) return [...sliceNormal] as Types.Point3;
  if (same(0)) return [1, 0, 0];
  if (same(1)) return [0, 1, 0];
  return [...sliceNormal] as Types.Point3;
}

function liveStats(a: CsAnnotation): LiveStats {
  const all = Object.values(a.data.cachedStats ?? {});
  const s = (all[0] ?? {}) as Record<string, unknown>;
  const num = (k: string) => (typeof s[k] === 'number' && Number.isFinite(s[k]) ? (s[k] as number) : undefined);
  return {
    length: num('length'), angle: num('angle'), longAxis: num('length') ?? undefined, shortAxis: num('width'), area: num('area'),
    mean: num('mean'), stdDev: num('stdDev'), min: num('min'), max: num('max'), value: num('value'),
    unit: typeof s.modalityUnit === 'string' ? s.modalityUnit : undefined,
  };
}

export { CoreEnums };
