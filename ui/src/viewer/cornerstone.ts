// Cornerstone3D set-up and the viewer's rendering: one controller owns the
// rendering engine, the viewports, the tool groups and the loaded volume.
// React components give it DOM elements and read what it reports (slice,
// window, value under the cursor) through ViewportInfo listeners.
//
// Bootstrap order and the pitfalls it avoids are in
// ../shared/research/ui-stack.md (§3, §10).
import * as core from '@cornerstonejs/core';
import {
  Enums,
  RenderingEngine,
  cache,
  eventTarget,
  imageLoader,
  metaData,
  utilities as csUtils,
  volumeLoader,
  type Types,
} from '@cornerstonejs/core';
import * as dicomImageLoader from '@cornerstonejs/dicom-image-loader';
import { utilities as metadataUtils } from '@cornerstonejs/metadata';
import * as tools from '@cornerstonejs/tools';
import type { SeriesImage } from '../dicomweb/series.ts';
import { type PrimaryTool, type VoiRange, autoRange, edgeMarkers, markersFromPatientOrientation, windowToRange } from './presets.ts';
import { type DicomJson, Tag, nums, strs } from '../dicomweb/json.ts';

const {
  ToolGroupManager,
  Enums: ToolEnums,
  WindowLevelTool,
  PanTool,
  ZoomTool,
  StackScrollTool,
  CrosshairsTool,
} = tools;

let initialised: Promise<void> | undefined;

const MIDDLE_FIRST = {
  stages: [
    { id: 'middle', positions: [0.5], retrieveType: 'default', requestType: Enums.RequestType.Thumbnail, priority: 5 },
    { id: 'rest', decimate: 1, offset: 0, retrieveType: 'default', requestType: Enums.RequestType.Thumbnail, priority: 6 },
  ],
};

/** Initialises Cornerstone once per page (React StrictMode mounts twice). */
export function initCornerstone(): Promise<void> {
  initialised ??= (async () => {
    core.init();
    dicomImageLoader.init({ maxWebWorkers: Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) });
    tools.init();
    volumeLoader.registerUnknownVolumeLoader(core.cornerstoneStreamingImageVolumeLoader as unknown as Types.VolumeLoaderFn);
    volumeLoader.registerVolumeLoader('cornerstoneStreamingImageVolume', core.cornerstoneStreamingImageVolumeLoader as unknown as Types.VolumeLoaderFn);
    // Volumes load the middle slice first (what the axial view shows at
    // once), then the others in order. Cornerstone's interleaved stages
    // also copy each slice into its neighbours while loading, which costs
    // re-renders; on a CPU-rendered WebGL that made the full volume slower.
    csUtils.imageRetrieveMetadataProvider.add('volume', MIDDLE_FIRST);
    for (const T of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool, CrosshairsTool]) tools.addTool(T);
    // Debugging and the benchmark read Cornerstone's state from here (as
    // they do in OHIF).
    (window as unknown as { cornerstone: typeof core }).cornerstone = core;
  })();
  return initialised;
}

const registered = new Set<string>();

/** Gives Cornerstone the WADO-RS metadata of each image (once per image id). */
export function registerMetadata(images: SeriesImage[]): void {
  for (const im of images) {
    if (registered.has(im.imageId)) continue;
    // Typed Promise<never> but synchronous for DICOM JSON: not awaited (P5).
    void metadataUtils.addDicomWebInstance(im.imageId, im.metadata as Record<string, unknown>);
    registered.add(im.imageId);
  }
}

export type ViewportKind = 'stack' | 'axial' | 'sagittal' | 'coronal';

export interface ViewportInfo {
  kind: ViewportKind;
  /** 1-based index of the shown slice and the number of slices. */
  slice?: number;
  slices?: number;
  /** Position of the slice along its normal: axis letter and mm. */
  position?: { axis: string; mm: number };
  window?: { center: number; width: number };
  markers?: { top: string; bottom: string; left: string; right: string };
  zoom?: number;
  /** What the viewport waits for (the volume while the axial stack preview shows). */
  loading?: string;
  /** The value under the cursor (HU for CT) and where. */
  hover?: { value: number | undefined; unit: string; lps: [number, number, number]; ijk?: [number, number, number] };
  rendered: boolean;
}

export interface Timings {
  /** ms since navigation start. */
  metadata?: number;
  firstImage?: number;
  volumeLoaded?: number;
}

type Listener = () => void;

const ENGINE_ID = 'radmark-viewer';
const STACK_GROUP = 'radmark-stack';
const MPR_GROUP = 'radmark-mpr';

const orientationOf: Record<Exclude<ViewportKind, 'stack'>, Enums.OrientationAxis> = {
  axial: Enums.OrientationAxis.AXIAL,
  sagittal: Enums.OrientationAxis.SAGITTAL,
  coronal: Enums.OrientationAxis.CORONAL,
};

/** The mouse bindings of each primary tool, and the fixed ones. */
const primary = ToolEnums.MouseBindings.Primary;

export class ViewerController {
  private engine: RenderingEngine | undefined;
  private viewportIds: string[] = [];
  private elements = new Map<string, HTMLDivElement>();
  private kinds = new Map<string, ViewportKind>();
  private info = new Map<string, ViewportInfo>();
  private listeners = new Set<Listener>();
  private cleanups: Array<() => void> = [];
  private volumeId: string | undefined;
  private images: SeriesImage[] = [];
  private modality = '';
  private unit = '';
  private tool: PrimaryTool = 'WindowLevel';
  private seriesWindow: VoiRange | undefined;
  private activeViewport: string | undefined;
  private cinePlaying = false;
  private disposed = false;
  /** Counts series shown: work for an earlier series stops when it changed. */
  private generation = 0;
  /** The volume viewports show the loaded volume (after the stack preview). */
  private mprShown = false;
  readonly timings: Timings = {};
  /** Called when a viewport fails to load or decode. */
  onError: (message: string) => void = () => {};
  /** Called when the full volume has loaded. */
  onVolumeLoaded: () => void = () => {};
  /** Called after tool groups are made (a new series or layout): annotation tools add themselves. */
  onToolGroups: (groups: Array<{ group: tools.Types.IToolGroup; mpr: boolean }>) => void = () => {};
  /** The annotation tool on the left mouse button, if any (overrides the navigation tool). */
  private annotationTool: string | undefined;

  get renderingEngine(): RenderingEngine | undefined {
    return this.engine;
  }
  get currentVolumeId(): string | undefined {
    return this.volumeId;
  }
  get seriesImages(): SeriesImage[] {
    return this.images;
  }
  get viewports(): Array<{ id: string; kind: ViewportKind; element: HTMLDivElement }> {
    return this.viewportIds.map((id) => ({ id, kind: this.kinds.get(id)!, element: this.elements.get(id)! }));
  }
  /** The viewport the reader last clicked or scrolled in. */
  get activeViewportId(): string | undefined {
    return this.activeViewport;
  }
  get toolGroupIds(): string[] {
    return [STACK_GROUP, MPR_GROUP].filter((g) => ToolGroupManager.getToolGroup(g));
  }

  /** Puts an annotation tool (a tool instance name) on the left mouse button, or gives it back to the navigation tool. */
  setAnnotationTool(name: string | undefined): void {
    this.annotationTool = name;
    for (const [gid, mpr] of [[STACK_GROUP, false], [MPR_GROUP, true]] as const) {
      const group = ToolGroupManager.getToolGroup(gid);
      if (group) this.bindPrimary(group, gid === STACK_GROUP && this.tool === 'Crosshairs' ? 'WindowLevel' : this.tool, mpr);
    }
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  getInfo(id: string): ViewportInfo | undefined {
    return this.info.get(id);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }

  private setInfo(id: string, patch: Partial<ViewportInfo>): void {
    const cur = this.info.get(id);
    if (!cur) return;
    this.info.set(id, { ...cur, ...patch });
    this.emit();
  }

  private ensureEngine(): RenderingEngine {
    this.engine ??= new RenderingEngine(ENGINE_ID);
    return this.engine;
  }

  /** Tears down the viewports and tool groups of the previous series. */
  private clear(): void {
    this.generation++;
    this.mprShown = false;
    for (const c of this.cleanups.splice(0)) c();
    if (this.cinePlaying) this.stopCine();
    ToolGroupManager.destroyToolGroup(STACK_GROUP);
    ToolGroupManager.destroyToolGroup(MPR_GROUP);
    if (this.engine) {
      for (const id of this.viewportIds) {
        try {
          this.engine.disableElement(id);
        } catch {
          // already gone
        }
      }
    }
    if (this.volumeId) {
      const vol = cache.getVolume(this.volumeId) as (Types.IImageVolume & { cancelLoading?: () => void }) | undefined;
      vol?.cancelLoading?.();
      cache.removeVolumeLoadObject(this.volumeId);
      this.volumeId = undefined;
    }
    this.viewportIds = [];
    this.elements.clear();
    this.kinds.clear();
    this.info.clear();
  }

  /** Makes a destroyed controller usable again (React StrictMode remounts). */
  activate(onError: (message: string) => void): void {
    this.onError = onError;
    this.disposed = false;
  }

  destroy(): void {
    this.disposed = true;
    this.clear();
    this.engine?.destroy();
    this.engine = undefined;
  }

  private describeImages(images: SeriesImage[]): void {
    this.images = images;
    const md = images[0]?.metadata ?? {};
    this.modality = strs(md, Tag.Modality)[0] ?? '';
    this.unit = this.modality === 'CT' ? 'HU' : '';
    const c = nums(md, Tag.WindowCenter)[0];
    const w = nums(md, Tag.WindowWidth)[0];
    this.seriesWindow = c !== undefined && w !== undefined && w > 0 ? windowToRange(c, w) : undefined;
  }

  /** Shows images one at a time (X-ray, single images, or a volume as a stack). */
  async showStack(element: HTMLDivElement, images: SeriesImage[], startIndex?: number): Promise<void> {
    this.clear();
    this.describeImages(images);
    const engine = this.ensureEngine();
    const id = 'stack';
    engine.enableElement({ viewportId: id, type: Enums.ViewportType.STACK, element, defaultOptions: { background: [0, 0, 0] } });
    this.register(id, 'stack', element);
    this.watchFailures();
    const group = ToolGroupManager.createToolGroup(STACK_GROUP);
    if (!group) throw new Error('cannot create the stack tool group');
    group.addViewport(id, ENGINE_ID);
    this.configureTools(group, false);
    this.onToolGroups([{ group, mpr: false }]);
    this.bindPrimary(group, this.tool === 'Crosshairs' ? 'WindowLevel' : this.tool, false);
    const vp = engine.getViewport(id) as Types.IStackViewport;
    const index = startIndex ?? Math.floor((images.length - 1) / 2);
    this.watchRendering(id);
    await vp.setStack(images.map((im) => im.imageId), index);
    if (this.disposed) return;
    if (this.seriesWindow) vp.setProperties({ voiRange: this.seriesWindow });
    else if (this.modality !== 'CT') this.applyAutoWindowStack(vp);
    vp.render();
    tools.utilities.stackPrefetch.enable(element);
    this.cleanups.push(() => tools.utilities.stackPrefetch.disable(element));
  }

  /**
   * Shows a volume in three orthogonal views with crosshairs. The first
   * image comes first: the axial element shows the series as a stack at
   * its middle slice as soon as that one image has arrived, while the
   * volume streams in without any viewport rendering it; when the volume
   * has loaded, the axial stack gives way to the three volume viewports
   * at the slice, window and zoom the reader left it (OHIF opens a stack
   * first too). Creating the volume viewports and their 3D texture takes
   * seconds of main-thread time on a CPU-rendered WebGL, and re-rendering
   * three viewports while the volume streams slowed it down, so both wait.
   * Resolves when the MPR is shown (or the series was closed before).
   */
  async showMPR(elements: Record<'axial' | 'sagittal' | 'coronal', HTMLDivElement>, images: SeriesImage[], seriesUID: string): Promise<void> {
    this.clear();
    this.describeImages(images);
    const generation = this.generation;
    const engine = this.ensureEngine();
    const imageIds = images.map((im) => im.imageId);
    const range = this.seriesWindow ?? (this.modality === 'CT' ? windowToRange(40, 400) : undefined);

    // The preview: a stack viewport in the axial element.
    engine.enableElement({ viewportId: 'axial', type: Enums.ViewportType.STACK, element: elements.axial, defaultOptions: { background: [0, 0, 0] } });
    this.register('axial', 'stack', elements.axial);
    for (const k of ['sagittal', 'coronal'] as const) this.register(k, k, elements[k], { loading: 'Loading the volume…' });
    this.watchFailures();
    const preview = ToolGroupManager.createToolGroup(STACK_GROUP);
    if (!preview) throw new Error('cannot create the stack tool group');
    preview.addViewport('axial', ENGINE_ID);
    this.configureTools(preview, false);
    this.watchRendering('axial');
    const stack = engine.getViewport('axial') as Types.IStackViewport;
    // A middle image that cannot be decoded is reported (watchFailures); the volume still loads.
    await stack.setStack(imageIds, Math.floor(images.length / 2)).catch(() => undefined);
    if (this.generation !== generation) return;
    if (range) stack.setProperties({ voiRange: range });
    else this.applyAutoWindowStack(stack);
    stack.render();

    // The volume streams in behind the preview; no viewport renders it yet.
    const volumeId = `cornerstoneStreamingImageVolume:${seriesUID}`;
    this.volumeId = volumeId;
    const volume = await volumeLoader.createAndCacheVolume(volumeId, { imageIds });
    if (this.generation !== generation) return;
    (volume as unknown as { autoRenderOnLoad: boolean }).autoRenderOnLoad = false;
    const loaded = new Promise<void>((resolve) => {
      const onModified = (evt: Event) => {
        const d = (evt as CustomEvent<{ volumeId: string; framesProcessed: number }>).detail;
        if (d?.volumeId !== volumeId) return;
        const text = `Loading the volume… ${Math.floor((100 * d.framesProcessed) / images.length)} %`;
        for (const k of ['sagittal', 'coronal']) this.setInfo(k, { loading: text });
      };
      const onLoaded = (evt: Event) => {
        if ((evt as CustomEvent<{ volumeId: string }>).detail?.volumeId === volumeId) resolve();
      };
      eventTarget.addEventListener(Enums.Events.IMAGE_VOLUME_MODIFIED, onModified);
      eventTarget.addEventListener(Enums.Events.IMAGE_VOLUME_LOADING_COMPLETED, onLoaded);
      this.cleanups.push(() => {
        eventTarget.removeEventListener(Enums.Events.IMAGE_VOLUME_MODIFIED, onModified);
        eventTarget.removeEventListener(Enums.Events.IMAGE_VOLUME_LOADING_COMPLETED, onLoaded);
        resolve();
      });
    });
    volume.load(() => {});
    await loaded;
    if (this.generation !== generation) return;
    this.timings.volumeLoaded ??= performance.now();
    await this.switchToVolume(elements, volumeId, images);
  }

  /** Replaces the axial stack preview by the three volume viewports, keeping the slice, window, zoom and tool. */
  private async switchToVolume(elements: Record<'axial' | 'sagittal' | 'coronal', HTMLDivElement>, volumeId: string, images: SeriesImage[]): Promise<void> {
    const generation = this.generation;
    const engine = this.ensureEngine();
    const stack = engine.getViewport('axial') as Types.IStackViewport;
    const index = stack.getCurrentImageIdIndex();
    const voi = stack.getProperties().voiRange;
    const invert = stack.getProperties().invert;
    const zoom = stack.getZoom();
    ToolGroupManager.destroyToolGroup(STACK_GROUP);
    engine.disableElement('axial');
    for (const k of ['axial', 'sagittal', 'coronal'] as const) {
      engine.enableElement({
        viewportId: k,
        type: Enums.ViewportType.ORTHOGRAPHIC,
        element: elements[k],
        defaultOptions: { orientation: orientationOf[k], background: [0, 0, 0] as Types.Point3 },
      });
      this.kinds.set(k, k);
    }
    const group = ToolGroupManager.createToolGroup(MPR_GROUP);
    if (!group) throw new Error('cannot create the MPR tool group');
    for (const k of ['axial', 'sagittal', 'coronal']) group.addViewport(k, ENGINE_ID);
    this.configureTools(group, true);
    this.onToolGroups([{ group, mpr: true }]);
    this.bindPrimary(group, this.tool, true);
    for (const k of ['sagittal', 'coronal']) this.watchRendering(k);
    await core.setVolumesForViewports(engine, [{ volumeId }], ['axial', 'sagittal', 'coronal']);
    if (this.generation !== generation) return;
    if (!this.seriesWindow && this.modality !== 'CT' && !voi) this.applyAutoWindowVolume();
    for (const k of ['axial', 'sagittal', 'coronal'] as const) {
      const vp = engine.getViewport(k) as Types.IVolumeViewport;
      if (voi) vp.setProperties({ voiRange: voi, invert }, volumeId);
      this.setInfo(k, { kind: k, loading: undefined });
    }
    // The axial view stays on the slice the reader was looking at.
    const at = images[index]?.position;
    if (at) this.moveTo('axial', at);
    if (zoom && zoom !== 1) engine.getViewport('axial')?.setZoom(zoom);
    // Crosshairs need the viewports to have their volume before they can
    // compute their centre.
    group.setToolEnabled(CrosshairsTool.toolName);
    if (this.tool === 'Crosshairs') this.setPrimaryTool('Crosshairs');
    this.mprShown = true;
    this.onVolumeLoaded();
    engine.renderViewports(['axial', 'sagittal', 'coronal']);
    this.refreshAll();
  }

  /** Reports images that could not be loaded or decoded (once per series). */
  private watchFailures(): void {
    let reported = false;
    const onFailed = (evt: Event) => {
      const d = (evt as CustomEvent<{ imageId?: string; error?: unknown }>).detail ?? {};
      if (!d.imageId || !this.images.some((im) => im.imageId === d.imageId) || reported) return;
      reported = true;
      this.onError(`an image of this series could not be loaded or decoded (${describeLoadError(d.error)}); the other images are shown as they arrive`);
    };
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, onFailed);
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_ERROR, onFailed);
    this.cleanups.push(() => {
      eventTarget.removeEventListener(Enums.Events.IMAGE_LOAD_FAILED, onFailed);
      eventTarget.removeEventListener(Enums.Events.IMAGE_LOAD_ERROR, onFailed);
    });
  }

  private register(id: string, kind: ViewportKind, element: HTMLDivElement, info: Partial<ViewportInfo> = {}): void {
    this.viewportIds.push(id);
    this.elements.set(id, element);
    this.kinds.set(id, kind);
    this.info.set(id, { ...info, kind, rendered: false });
    this.activeViewport ??= id;
    const onMove = (e: MouseEvent) => this.hover(id, e);
    const onLeave = () => this.setInfo(id, { hover: undefined });
    const onDown = () => {
      this.activeViewport = id;
    };
    element.addEventListener('mousemove', onMove);
    element.addEventListener('mouseleave', onLeave);
    element.addEventListener('mousedown', onDown);
    element.addEventListener('wheel', onDown, { passive: true });
    this.cleanups.push(() => {
      element.removeEventListener('mousemove', onMove);
      element.removeEventListener('mouseleave', onLeave);
      element.removeEventListener('mousedown', onDown);
      element.removeEventListener('wheel', onDown);
    });
    this.activeViewport = this.viewportIds[0];
  }

  private configureTools(group: tools.Types.IToolGroup, mpr: boolean): void {
    group.addTool(WindowLevelTool.toolName);
    group.addTool(PanTool.toolName);
    group.addTool(ZoomTool.toolName);
    group.addTool(StackScrollTool.toolName);
    if (mpr) {
      group.addTool(CrosshairsTool.toolName, {
        getReferenceLineColor: (viewportId: string) => ({ axial: 'rgb(255, 80, 80)', sagittal: 'rgb(255, 220, 0)', coronal: 'rgb(80, 200, 80)' })[viewportId] ?? 'white',
      });
    }
    group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Auxiliary }] });
    group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Secondary }] });
    group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: ToolEnums.MouseBindings.Wheel }] });
    this.bindPrimary(group, this.tool === 'Crosshairs' && !mpr ? 'WindowLevel' : this.tool, mpr);
  }

  private bindPrimary(group: tools.Types.IToolGroup, tool: PrimaryTool, mpr: boolean): void {
    const names: Record<PrimaryTool, string> = {
      WindowLevel: WindowLevelTool.toolName,
      Pan: PanTool.toolName,
      Zoom: ZoomTool.toolName,
      StackScroll: StackScrollTool.toolName,
      Crosshairs: CrosshairsTool.toolName,
    };
    // Take the primary button away from whichever tool has it, keeping
    // the tool's other bindings (pan: middle, zoom: right, scroll: wheel).
    const fixed: Partial<Record<PrimaryTool, tools.Types.IToolBinding>> = {
      Pan: { mouseButton: ToolEnums.MouseBindings.Auxiliary },
      Zoom: { mouseButton: ToolEnums.MouseBindings.Secondary },
      StackScroll: { mouseButton: ToolEnums.MouseBindings.Wheel },
    };
    const annot = this.annotationTool;
    const options = group.toolOptions as Record<string, { mode?: string } | undefined>;
    for (const name of Object.keys(options)) {
      if (Object.values(names).includes(name)) continue;
      if (name === annot) group.setToolActive(name, { bindings: [{ mouseButton: primary }] });
      else if (options[name]?.mode === ToolEnums.ToolModes.Active) group.setToolPassive(name);
    }
    for (const t of Object.keys(names) as PrimaryTool[]) {
      if (t === 'Crosshairs' && !mpr) continue;
      const bindings = fixed[t] ? [fixed[t]!] : [];
      if (t === tool && !(annot && options[annot])) bindings.push({ mouseButton: primary });
      if (bindings.length) group.setToolActive(names[t], { bindings });
      else if (t === 'Crosshairs') {
        // Keep the lines visible without catching drags.
        if (group.getToolInstance(names[t])) group.setToolEnabled(names[t]);
      } else group.setToolPassive(names[t]);
    }
  }

  setPrimaryTool(tool: PrimaryTool): void {
    this.tool = tool;
    this.annotationTool = undefined;
    const stack = ToolGroupManager.getToolGroup(STACK_GROUP);
    if (stack) this.bindPrimary(stack, tool === 'Crosshairs' ? 'WindowLevel' : tool, false);
    const mpr = ToolGroupManager.getToolGroup(MPR_GROUP);
    if (mpr) this.bindPrimary(mpr, tool, true);
  }

  private watchRendering(id: string): void {
    const el = this.elements.get(id);
    if (!el) return;
    const onRendered = () => {
      this.refresh(id);
      if (this.timings.firstImage === undefined && this.hasPixels(id)) this.timings.firstImage = performance.now();
    };
    el.addEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
    this.cleanups.push(() => el.removeEventListener(Enums.Events.IMAGE_RENDERED, onRendered));
  }

  /** Whether the image a viewport shows has arrived (not an empty volume slice). */
  private hasPixels(id: string): boolean {
    const vp = this.engine?.getViewport(id);
    if (!vp) return false;
    if (this.kinds.get(id) === 'stack') return !!(vp as Types.IStackViewport).getCornerstoneImage?.();
    if (!this.volumeId) return false;
    const vol = cache.getVolume(this.volumeId) as (Types.IImageVolume & { cachedFrames?: unknown[] }) | undefined;
    if (!vol) return false;
    if (vol.loadStatus?.loaded) return true;
    return (vol.cachedFrames ?? []).some(Boolean);
  }

  private refreshAll(): void {
    for (const id of this.viewportIds) this.refresh(id);
  }

  /** Recomputes a viewport's slice, position, window and orientation markers. */
  private refresh(id: string): void {
    const vp = this.engine?.getViewport(id);
    if (!vp) return;
    const kind = this.kinds.get(id)!;
    const patch: Partial<ViewportInfo> = { rendered: true };
    const cam = vp.getCamera();
    const normal = (cam.viewPlaneNormal ?? [0, 0, 1]) as number[];
    const up = (cam.viewUp ?? [0, -1, 0]) as number[];
    const dop = normal.map((c) => -c);
    const right = [dop[1] * up[2] - dop[2] * up[1], dop[2] * up[0] - dop[0] * up[2], dop[0] * up[1] - dop[1] * up[0]];
    const axis = axisOf(normal);
    if (kind === 'stack') {
      const svp = vp as Types.IStackViewport;
      const idx = svp.getCurrentImageIdIndex();
      patch.slice = idx + 1;
      patch.slices = svp.getImageIds().length;
      const im = this.images[idx];
      if (im?.position && axis) patch.position = { axis: axis.letter, mm: im.position[axis.index] };
      const md = im?.metadata;
      const po = md ? strs(md, Tag.PatientOrientation) : [];
      const hasIOP = md ? nums(md, Tag.ImageOrientationPatient).length === 6 : false;
      patch.markers = hasIOP ? edgeMarkers(right, up) : markersFromPatientOrientation(po[0] ?? '', po[1] ?? '');
      const props = svp.getProperties();
      if (props.voiRange) patch.window = rangeWindow(props.voiRange);
    } else {
      const vvp = vp as Types.IVolumeViewport;
      try {
        const sd = csUtils.getImageSliceDataForVolumeViewport(vvp);
        if (sd) {
          patch.slice = sd.imageIndex + 1;
          patch.slices = sd.numberOfSlices;
        }
      } catch {
        // not ready
      }
      const fp = cam.focalPoint as number[] | undefined;
      if (fp && axis) patch.position = { axis: axis.letter, mm: fp[axis.index] };
      patch.markers = edgeMarkers(right, up);
      const props = vvp.getProperties(this.volumeId);
      if (props?.voiRange) patch.window = rangeWindow(props.voiRange);
    }
    patch.zoom = vp.getZoom?.();
    this.setInfo(id, patch);
  }

  /** The value under the mouse: modality values (HU for CT) of the loaded pixels. */
  private hover(id: string, e: MouseEvent): void {
    const vp = this.engine?.getViewport(id);
    const el = this.elements.get(id);
    if (!vp || !el) return;
    const rect = el.getBoundingClientRect();
    const canvasPos: Types.Point2 = [e.clientX - rect.left, e.clientY - rect.top];
    const world = vp.canvasToWorld(canvasPos) as [number, number, number];
    const v = this.valueAt(id, world);
    this.setInfo(id, { hover: { value: v?.value, unit: this.unit, lps: world, ijk: v?.ijk } });
  }

  /** The modality value at an LPS point on a viewport (undefined outside the image). */
  valueAt(id: string, world: [number, number, number]): { value: number; ijk: [number, number, number] } | undefined {
    const vp = this.engine?.getViewport(id);
    if (!vp) return undefined;
    if (this.kinds.get(id) === 'stack') {
      const svp = vp as Types.IStackViewport;
      const image = svp.getCornerstoneImage?.();
      if (!image) return undefined;
      const [col, row] = csUtils.worldToImageCoords(svp.getCurrentImageId(), world as Types.Point3) ?? [];
      if (col === undefined || row === undefined) return undefined;
      const i = Math.floor(col);
      const j = Math.floor(row);
      if (i < 0 || j < 0 || i >= image.columns || j >= image.rows) return undefined;
      const data = image.getPixelData() as ArrayLike<number>;
      let value = data[j * image.columns + i];
      if (!image.preScale?.scaled) value = value * (image.slope ?? 1) + (image.intercept ?? 0);
      return { value, ijk: [i, j, svp.getCurrentImageIdIndex()] };
    }
    if (!this.volumeId) return undefined;
    const vol = cache.getVolume(this.volumeId);
    if (!vol?.imageData || !vol.voxelManager) return undefined;
    const ijk = csUtils.transformWorldToIndex(vol.imageData, world as Types.Point3) as [number, number, number];
    const [nx, ny, nz] = vol.dimensions;
    if (ijk.some((c) => !Number.isFinite(c)) || ijk[0] < 0 || ijk[1] < 0 || ijk[2] < 0 || ijk[0] >= nx || ijk[1] >= ny || ijk[2] >= nz) return undefined;
    const value = Number(vol.voxelManager.getAtIJK(ijk[0], ijk[1], ijk[2]));
    return { value, ijk };
  }

  // --- commands ----------------------------------------------------------------------

  setWindow(range: VoiRange): void {
    for (const id of this.viewportIds) {
      const vp = this.engine?.getViewport(id);
      if (!vp) continue;
      if (this.kinds.get(id) === 'stack') (vp as Types.IStackViewport).setProperties({ voiRange: range });
      else (vp as Types.IVolumeViewport).setProperties({ voiRange: range }, this.volumeId);
      vp.render();
    }
  }

  /** The series' own window, or one computed from its values (MR "auto"). */
  autoWindow(): void {
    if (this.seriesWindow) return this.setWindow(this.seriesWindow);
    if (this.volumeId) return this.applyAutoWindowVolume();
    const vp = this.engine?.getViewport('stack') as Types.IStackViewport | undefined;
    if (vp) {
      this.applyAutoWindowStack(vp);
      vp.render();
    }
  }

  private applyAutoWindowStack(vp: Types.IStackViewport): void {
    const image = vp.getCornerstoneImage?.();
    if (!image) return;
    vp.setProperties({ voiRange: autoRange(image.getPixelData() as ArrayLike<number>) });
  }

  private applyAutoWindowVolume(): void {
    if (!this.volumeId) return;
    const vol = cache.getVolume(this.volumeId);
    const data = vol?.voxelManager?.getCompleteScalarDataArray?.() as ArrayLike<number> | undefined;
    if (!data) return;
    this.setWindow(autoRange(data));
  }

  scroll(delta: number): void {
    const id = this.activeViewport;
    const vp = id ? this.engine?.getViewport(id) : undefined;
    if (!vp) return;
    csUtils.scroll(vp, { delta, volumeId: this.volumeId });
  }

  /** Moves a volume viewport's plane (along its normal) to pass through an LPS point. */
  moveTo(id: string, lps: ArrayLike<number>): void {
    const vp = this.engine?.getViewport(id);
    if (!vp || this.kinds.get(id) === 'stack') return;
    const cam = vp.getCamera();
    const n = cam.viewPlaneNormal as number[];
    const f = cam.focalPoint as number[];
    const p = cam.position as number[];
    const d = (lps[0] - f[0]) * n[0] + (lps[1] - f[1]) * n[1] + (lps[2] - f[2]) * n[2];
    vp.setCamera({ focalPoint: f.map((c, i) => c + d * n[i]) as Types.Point3, position: p.map((c, i) => c + d * n[i]) as Types.Point3 });
    vp.render();
  }

  /** Scrolls a viewport to a 0-based slice index. */
  jumpTo(id: string, index: number): void {
    const vp = this.engine?.getViewport(id);
    if (!vp) return;
    void csUtils.jumpToSlice(vp.element, { imageIndex: index, volumeId: this.volumeId });
  }

  toggleCine(): boolean {
    if (this.cinePlaying) this.stopCine();
    else {
      const el = this.activeViewport ? this.elements.get(this.activeViewport) : undefined;
      if (!el) return false;
      tools.utilities.cine.playClip(el, { framesPerSecond: 15, loop: true });
      this.cinePlaying = true;
    }
    return this.cinePlaying;
  }

  private stopCine(): void {
    for (const el of this.elements.values()) tools.utilities.cine.stopClip(el);
    this.cinePlaying = false;
  }

  reset(): void {
    for (const id of this.viewportIds) {
      const vp = this.engine?.getViewport(id);
      if (!vp) continue;
      vp.resetCamera();
      if (this.kinds.get(id) === 'stack') (vp as Types.IStackViewport).resetProperties();
    }
    const range = this.seriesWindow ?? (this.modality === 'CT' ? windowToRange(40, 400) : undefined);
    if (range) this.setWindow(range);
    else this.autoWindow();
    this.engine?.render();
  }

  invert(): void {
    for (const id of this.viewportIds) {
      const vp = this.engine?.getViewport(id);
      if (!vp) continue;
      if (this.kinds.get(id) === 'stack') {
        const svp = vp as Types.IStackViewport;
        svp.setProperties({ invert: !svp.getProperties().invert });
      } else {
        const vvp = vp as Types.IVolumeViewport;
        vvp.setProperties({ invert: !vvp.getProperties(this.volumeId)?.invert }, this.volumeId);
      }
      vp.render();
    }
  }

  /** For tests and debugging: the viewports and what they show. */
  debugState(): unknown {
    const vol = this.volumeId ? cache.getVolume(this.volumeId) : undefined;
    return {
      timings: this.timings,
      volumeId: this.volumeId,
      volumeLoaded: this.mprShown && !!vol?.loadStatus?.loaded,
      viewports: this.viewportIds.map((id) => ({ id, ...this.info.get(id) })),
    };
  }

  /** Canvas position (CSS px, relative to the viewport element) of an LPS point. */
  worldToCanvas(id: string, world: [number, number, number]): [number, number] | undefined {
    const vp = this.engine?.getViewport(id);
    return vp ? (vp.worldToCanvas(world as Types.Point3) as [number, number]) : undefined;
  }
}

function describeLoadError(err: unknown): string {
  if (!err) return 'no reason given';
  if (err instanceof Error) return err.message;
  if (typeof err === 'object') {
    const e = err as { status?: number; statusText?: string; message?: string; error?: unknown };
    if (e.status) return `HTTP ${e.status}${e.statusText ? ' ' + e.statusText : ''}`;
    if (e.message) return e.message;
    if (e.error) return describeLoadError(e.error);
  }
  return String(err);
}

function rangeWindow(r: VoiRange): { center: number; width: number } {
  return { center: (r.lower + r.upper) / 2, width: r.upper - r.lower };
}

function axisOf(normal: number[]): { index: number; letter: string } | undefined {
  const a = normal.map(Math.abs);
  const index = a.indexOf(Math.max(...a));
  if (index < 0 || a[index] < 0.5) return undefined;
  return { index, letter: ['x', 'y', 'z'][index] };
}

/** Metadata of the first image (patient and study lines of the overlay). */
export function firstMetadata(images: SeriesImage[]): DicomJson {
  return images[0]?.metadata ?? {};
}

export { imageLoader, metaData };
