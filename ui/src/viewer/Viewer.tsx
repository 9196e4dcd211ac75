import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { LabelSchema, seriesGeometry } from '../api/client.ts';
import { AnnotationPanel } from '../annotate/AnnotationPanel.tsx';
import { type Grid, gridOf } from '../annotate/geometry.ts';
import type { SeriesImage } from '../dicomweb/series.ts';
import { AnnotationController, addAnnotationTools } from '../annotate/tools.ts';
import { Tag, formatDate, formatPersonName, str } from '../dicomweb/json.ts';
import type { SeriesSummary, StudySummary } from '../dicomweb/qido.ts';
import { type SeriesLayout, layoutSeries } from '../dicomweb/series.ts';
import { urlFor } from '../state/store.ts';
import { useLoad } from '../state/useLoad.ts';
import { useAppState, useServices } from '../state/useStore.ts';
import { PinnedComments } from '../workflow/PinnedComments.tsx';
import { addCommentPinTool } from '../workflow/CommentPinTool.ts';
import { PIN_SHORTCUTS } from '../workflow/pins.ts';
import { SeriesThumbs } from '../worklist/Worklist.tsx';
import { type ViewportKind, ViewerController, initCornerstone, registerMetadata } from './cornerstone.ts';
import { GeometryBanner } from './GeometryBanner.tsx';
import { HelpOverlay } from './HelpOverlay.tsx';
import { type PrimaryTool, SHORTCUTS, commandForKey, presetsFor, windowToRange } from './presets.ts';

/** A study: its series on the left, the selected series in a stack or MPR layout. */
export function Viewer({ studyUID, seriesUID, user }: { studyUID: string; seriesUID?: string; user?: string }) {
  const { dicomweb, api, store, navigate } = useServices();
  const viewerState = useAppState((s) => s.viewer);
  const projectId = useAppState((s) => s.projectId);
  const [controller] = useState(() => new ViewerController());
  const controllerRef = useRef<ViewerController>(controller);
  const stackRef = useRef<HTMLDivElement>(null);
  const axialRef = useRef<HTMLDivElement>(null);
  const sagittalRef = useRef<HTMLDivElement>(null);
  const coronalRef = useRef<HTMLDivElement>(null);
  const notify = useCallback((level: 'error' | 'warning' | 'info', text: string) => store.dispatch({ type: 'notify', level, text }), [store]);

  // The study and its series.
  const studyLoad = useLoad<StudySummary | undefined>(studyUID, (signal) => dicomweb.study(studyUID, signal));
  const study = studyLoad.state === 'done' ? studyLoad.value : undefined;
  useEffect(() => {
    if (studyLoad.state === 'done' && !studyLoad.value) notify('error', `Study ${studyUID} is not in the archive (it may have been deleted, or the link is wrong).`);
    if (studyLoad.state === 'error') notify('error', studyLoad.message);
  }, [studyLoad, studyUID, notify]);
  const series = useLoad<SeriesSummary[]>(studyUID, (signal) => dicomweb.searchSeries(studyUID, signal));

  const list = series.state === 'done' ? series.value : [];
  const current = seriesUID && list.some((s) => s.seriesUID === seriesUID) ? seriesUID : list[0]?.seriesUID;

  // The selected series' metadata (WADO-RS) and geometry (/api/v1).
  const layout = useLoad<SeriesLayout>(current, async (signal) => {
    const instances = await dicomweb.seriesMetadata(studyUID, current!, signal);
    const l = layoutSeries(dicomweb.root, studyUID, current!, instances);
    if (!l.images.length) throw new Error('the series has no images');
    controllerRef.current.timings.metadata = performance.now();
    return l;
  });
  const geometry = useLoad<seriesGeometry>(current, (signal) => api.getSeriesGeometry(studyUID, current!, signal));

  // One Cornerstone controller per study view. Cornerstone (and its decode
  // workers) starts while the series metadata is still on its way.
  useEffect(() => {
    void initCornerstone();
    controller.activate((m) => notify('error', m));
    // oxlint-disable-next-line react/immutability -- the Cornerstone controller is an outside object, not React state
    controller.onToolGroups = (groups) => {
      for (const { group, mpr } of groups) {
        addAnnotationTools(group, mpr);
        addCommentPinTool(group);
      }
    };
    (window as unknown as { radmark: Record<string, unknown> }).radmark.viewer = controller;
    return () => controller.destroy();
  }, [controller, notify]);

  const loaded = layout.state === 'done' ? layout.value : undefined;
  const mode: 'mpr' | 'stack' | undefined = loaded ? (viewerState.layout === 'stack' || !loaded.volume ? 'stack' : viewerState.layout === 'mpr' || loaded.volume ? 'mpr' : 'stack') : undefined;
  const [shownKey, setShown] = useState<string | undefined>();
  const shown = shownKey === `${current}:${mode}` ? shownKey : undefined;

  useEffect(() => {
    if (viewerState.layout === 'mpr' && loaded && !loaded.volume) notify('warning', `This series cannot be shown in MPR: ${loaded.stackReason}.`);
  }, [viewerState.layout, loaded, notify]);

  // Show the series once the elements exist.
  useEffect(() => {
    if (!controller || !loaded || !mode || !current) return;
    let cancelled = false;
    (async () => {
      await initCornerstone();
      if (cancelled) return;
      registerMetadata(loaded.images);
      if (mode === 'mpr') {
        await controller.showMPR({ axial: axialRef.current!, sagittal: sagittalRef.current!, coronal: coronalRef.current! }, loaded.images, current);
      } else {
        await controller.showStack(stackRef.current!, loaded.images);
      }
      if (!cancelled) setShown(`${current}:${mode}`);
    })().catch((err: unknown) => {
      if (!cancelled) notify('error', `The series could not be shown: ${err instanceof Error ? err.message : String(err)}`);
    });
    return () => {
      cancelled = true;
    };
  }, [controller, loaded, mode, current, notify]);

  // The tool follows the app state.
  useEffect(() => {
    if (controller && shown) controller.setPrimaryTool(viewerState.tool);
  }, [controller, shown, viewerState.tool]);

  // Annotation: the project's label schema and one controller per shown series.
  const schema = useLoad<LabelSchema | undefined>(projectId, (signal) => (projectId ? api.getSchema(projectId, signal) : Promise.resolve(undefined)));
  const [annot, setAnnot] = useState<AnnotationController | undefined>();
  const geo = geometry.state === 'done' ? geometry.value : undefined;
  // Projection images (X-ray) have no voxel grid: their items are image points on the stack's images.
  const noGrid = geometry.state === 'error' && mode === 'stack';
  useEffect(() => {
    if (!shown || (!geo && !noGrid) || !loaded || !current) return;
    const md = loaded.images[0]?.metadata ?? {};
    const forUID = str(md, '00200052') || `radmark-for:${current}`;
    const grid = geo ? gridOf(geo) : imageGrid(loaded.images);
    const a = new AnnotationController(controller, grid, current, forUID);
    // oxlint-disable-next-line react/set-state-in-effect -- the controller must exist after Cornerstone showed the series (an outside system)
    setAnnot(a);
    return () => {
      setAnnot(undefined);
      a.destroy();
    };
  }, [shown, geo, noGrid, loaded, current, controller]);
  const keyHandler = useRef<((e: KeyboardEvent) => boolean) | undefined>(undefined);
  const setKeyHandler = useCallback((h: ((e: KeyboardEvent) => boolean) | undefined) => {
    keyHandler.current = h;
  }, []);
  const [bindingsVersion, setBindingsVersion] = useState(0);

  const modality = loaded?.modality ?? '';
  const run = useCallback(
    (key: string) => {
      const c = controllerRef.current;
      const cmd = commandForKey(key, modality);
      if (!c || !cmd) return false;
      switch (cmd.kind) {
        case 'preset':
          c.setWindow(windowToRange(cmd.preset.center, cmd.preset.width));
          store.dispatch({ type: 'setPreset', preset: cmd.preset.id });
          break;
        case 'autoWindow':
          c.autoWindow();
          store.dispatch({ type: 'setPreset', preset: 'auto' });
          break;
        case 'tool':
          if (cmd.tool === 'Crosshairs' && mode !== 'mpr') return true;
          store.dispatch({ type: 'setTool', tool: cmd.tool });
          break;
        case 'scroll':
          c.scroll(cmd.delta);
          break;
        case 'cine':
          store.dispatch({ type: 'setCine', playing: c.toggleCine() });
          break;
        case 'layout':
          if (loaded?.volume) store.dispatch({ type: 'setLayout', layout: mode === 'mpr' ? 'stack' : 'mpr' });
          break;
        case 'reset':
          c.reset();
          store.dispatch({ type: 'setPreset', preset: undefined });
          break;
        case 'invert':
          c.invert();
          break;
        case 'help':
          store.dispatch({ type: 'toggleHelp' });
          break;
      }
      return true;
    },
    [modality, mode, loaded, store],
  );

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      const choice = t?.tagName === 'INPUT' && ['radio', 'checkbox', 'range', 'button'].includes((t as HTMLInputElement).type);
      if (t && !choice && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
      if (store.getState().viewer.help) {
        if (e.key === 'Escape' || e.key === '?') store.dispatch({ type: 'toggleHelp' });
        return;
      }
      if (keyHandler.current?.(e)) {
        e.preventDefault();
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === 'Escape' && store.getState().viewer.help) {
        store.dispatch({ type: 'toggleHelp' });
        return;
      }
      if (run(e.key)) e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [run, store]);

  const openSeries = (s: string) => navigate(urlFor({ page: 'viewer', studyUID, seriesUID: s }, store.getState().query, projectId));
  const selectedSeries = list.find((s) => s.seriesUID === current);
  const md = loaded?.images[0]?.metadata;

  return (
    <div className="viewer" data-testid="viewer" data-mode={mode ?? ''} data-shown={shown ?? ''}>
      <aside className="series-browser" data-testid="series-browser">
        <div className="study-head">
          <div className="patient">{study ? study.patientName || '(no name)' : md ? formatPersonName(str(md, Tag.PatientName)) : ''}</div>
          <div className="muted">
            {study?.patientId} · {study ? formatDate(study.studyDate) : ''}
          </div>
          <div className="muted">{study?.description}</div>
        </div>
        {series.state === 'loading' && <div className="muted">Loading series…</div>}
        {series.state === 'error' && <div className="notice notice-error">{series.message}</div>}
        {series.state === 'done' && <SeriesThumbs series={list} onOpen={openSeries} selected={current} vertical />}
      </aside>
      <section className="viewer-main">
        <Toolbar
          modality={modality}
          mode={mode}
          canMPR={!!loaded?.volume}
          tool={viewerState.tool}
          preset={viewerState.preset}
          cine={viewerState.cine}
          run={run}
        />
        <GeometryBanner geometry={geometry} modality={modality} />
        {layout.state === 'error' && (
          <div className="notice notice-error" data-testid="series-error">
            The series cannot be shown: {layout.message}
          </div>
        )}
        {series.state === 'done' && !list.length && <div className="notice notice-warning">This study has no series to show.</div>}
        <div className={`viewports viewports-${mode ?? 'none'}`}>
          <ViewportBox id="stack" kind="stack" refEl={stackRef} controller={controller} hidden={mode !== 'stack'} title={selectedSeries?.description} />
          <ViewportBox id="axial" kind="axial" refEl={axialRef} controller={controller} hidden={mode !== 'mpr'} title="Axial" />
          <ViewportBox id="sagittal" kind="sagittal" refEl={sagittalRef} controller={controller} hidden={mode !== 'mpr'} title="Sagittal" />
          <ViewportBox id="coronal" kind="coronal" refEl={coronalRef} controller={controller} hidden={mode !== 'mpr'} title="Coronal" />
          {layout.state === 'loading' && current && <div className="loading">Loading series…</div>}
        </div>
      </section>
      {/* The panel's place is kept from the start, so the viewports do not change size when it appears. */}
      <div className="annotate-slot">
      {annot && schema.state === 'done' && schema.value && projectId && current && (
        <AnnotationPanel
          key={`${current}:${mode}`}
          viewer={controller}
          controller={annot}
          schema={schema.value}
          projectId={projectId}
          studyUID={studyUID}
          seriesUID={current}
          reader={user}
          mpr={mode === 'mpr'}
          setKeyHandler={setKeyHandler}
          bindingsVersion={bindingsVersion}
        />
      )}
      </div>
      <PinnedComments viewer={controller} annot={annot} />
      {viewerState.help && <HelpOverlay shortcuts={[...SHORTCUTS, ...PIN_SHORTCUTS]} onClose={() => store.dispatch({ type: 'toggleHelp' })} onBindingsChanged={() => setBindingsVersion((v) => v + 1)} />}
    </div>
  );
}

const TOOLS: Array<{ tool: PrimaryTool; label: string; key: string }> = [
  { tool: 'WindowLevel', label: 'W/L', key: 'w' },
  { tool: 'Pan', label: 'Pan', key: 'p' },
  { tool: 'Zoom', label: 'Zoom', key: 'z' },
  { tool: 'StackScroll', label: 'Scroll', key: 's' },
  { tool: 'Crosshairs', label: 'Crosshairs', key: 'x' },
];

function Toolbar(props: { modality: string; mode?: 'mpr' | 'stack'; canMPR: boolean; tool: PrimaryTool; preset?: string; cine: boolean; run: (key: string) => boolean }) {
  const { modality, mode, canMPR, tool, preset, cine, run } = props;
  const presets = presetsFor(modality);
  return (
    <div className="toolbar" data-testid="toolbar">
      <div className="group">
        {TOOLS.filter((t) => t.tool !== 'Crosshairs' || mode === 'mpr').map((t) => (
          <button key={t.tool} type="button" className={tool === t.tool ? 'active' : ''} title={`${t.label} (${t.key})`} data-testid={`tool-${t.tool}`} onClick={() => run(t.key)}>
            {t.label}
          </button>
        ))}
      </div>
      <div className="group">
        {presets.map((p) => (
          <button key={p.id} type="button" className={preset === p.id ? 'active' : ''} title={`W ${p.width} / L ${p.center} (${p.key})`} data-testid={`preset-${p.id}`} onClick={() => run(p.key)}>
            {p.label}
          </button>
        ))}
        <button type="button" className={preset === 'auto' ? 'active' : ''} title="The series' own window, or one from its values (0)" data-testid="preset-auto" onClick={() => run('0')}>
          {modality === 'CT' ? 'Series W/L' : 'Auto W/L'}
        </button>
      </div>
      <div className="group">
        <button type="button" className={cine ? 'active' : ''} title="Cine (c)" data-testid="cine" onClick={() => run('c')}>
          {cine ? '■ Stop' : '▶ Cine'}
        </button>
        <button type="button" disabled={!canMPR} title="MPR / stack (m)" data-testid="layout-toggle" onClick={() => run('m')}>
          {mode === 'mpr' ? 'Stack' : 'MPR'}
        </button>
        <button type="button" title="Invert (i)" onClick={() => run('i')}>
          Invert
        </button>
        <button type="button" title="Reset (r)" data-testid="reset" onClick={() => run('r')}>
          Reset
        </button>
        <button type="button" title="Keyboard shortcuts (?)" onClick={() => run('?')}>
          ?
        </button>
      </div>
    </div>
  );
}

function ViewportBox(props: { id: string; kind: ViewportKind; refEl: React.RefObject<HTMLDivElement | null>; controller: ViewerController | null; hidden: boolean; title?: string }) {
  const { id, kind, refEl, controller, hidden, title } = props;
  return (
    <div className={`viewport-box vp-${kind}`} hidden={hidden} data-testid={`viewport-${id}`}>
      <div ref={refEl} className="vp-el" onContextMenu={(e) => e.preventDefault()} />
      {controller && !hidden && <Overlay id={id} controller={controller} title={title} />}
    </div>
  );
}

function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(digits);
}

function Overlay({ id, controller, title }: { id: string; controller: ViewerController; title?: string }) {
  const info = useSyncExternalStore(
    (l) => controller.subscribe(l),
    () => controller.getInfo(id),
  );
  if (!info) return null;
  const h = info.hover;
  return (
    <div className="overlay" data-testid={`overlay-${id}`}>
      <div className="ov-tl">{title}</div>
      {info.loading && (
        <div className="ov-loading" data-testid={`loading-${id}`}>
          {info.loading}
        </div>
      )}
      <div className="ov-bl">
        {info.slice !== undefined && (
          <div data-testid={`slice-${id}`}>
            Slice {info.slice}/{info.slices}
          </div>
        )}
        {info.position && (
          <div data-testid={`position-${id}`}>
            {info.position.axis} = {fmt(info.position.mm)} mm
          </div>
        )}
        {info.window && (
          <div data-testid={`window-${id}`}>
            W {Math.round(info.window.width)} L {Math.round(info.window.center)}
          </div>
        )}
      </div>
      <div className="ov-br">
        {h && (
          <div data-testid={`hover-${id}`} data-value={h.value ?? ''} data-lps={h.lps.map((c) => c.toFixed(2)).join(',')}>
            {h.value === undefined ? 'outside the image' : `${Number.isInteger(h.value) ? h.value : h.value.toFixed(1)}${h.unit ? ' ' + h.unit : ''}`}
            <br />
            <span className="muted">
              ({fmt(h.lps[0])}, {fmt(h.lps[1])}, {fmt(h.lps[2])}) mm
            </span>
          </div>
        )}
        {info.zoom !== undefined && <div className="muted">zoom {fmt(info.zoom, 2)}×</div>}
      </div>
      {info.markers && (
        <>
          <div className="marker m-top" data-testid={`marker-top-${id}`}>{info.markers.top}</div>
          <div className="marker m-bottom">{info.markers.bottom}</div>
          <div className="marker m-left" data-testid={`marker-left-${id}`}>{info.markers.left}</div>
          <div className="marker m-right" data-testid={`marker-right-${id}`}>{info.markers.right}</div>
        </>
      )}
    </div>
  );
}

/** A stand-in grid for images without a voxel grid: one "slice" per image, in the stack's order. */
function imageGrid(images: SeriesImage[]): Grid {
  const md = images[0]?.metadata ?? {};
  const columns = Number(str(md, '00280011')) || 0;
  const rows = Number(str(md, '00280010')) || 0;
  return {
    columns, rows, rowDir: [1, 0, 0], colDir: [0, 1, 0], spacing: [1, 1, 1],
    positions: images.map((im) => im.position ?? [0, 0, 0]),
    sopInstanceUIDs: images.map((im) => im.sopInstanceUID),
    frames: images.map((im) => im.frame),
  };
}
