// The panel bridges React and Cornerstone's own (mutable) annotation,
// segmentation and history state: it hands refs to callbacks that
// Cornerstone and the session call outside rendering, and effects that
// push React state into Cornerstone. The React Compiler rules below assume
// everything is React state.
/* oxlint-disable react/immutability, react/refs, react/exhaustive-effect-dependencies, react/memo-dependencies, react-hooks/exhaustive-deps */
import { utilities as csUtils } from '@cornerstonejs/core';
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { Answer, Label, LabelSchema, Question } from '../api/client.ts';
import { describeError } from '../api/client.ts';
import { useServices } from '../state/useStore.ts';
import type { ViewerController } from '../viewer/cornerstone.ts';
import { type AnswerTarget, answerKey, findAnswer, targetOf, withAnswer } from './answers.ts';
import { type Draft, AnnotationSession, loadDraft, openSessions } from './session.ts';
import { type EditAction, type KeyBinding, actionForKey, loadBindings } from './shortcuts.ts';
import { type Segment, defaultSegments, overlappingSegment, segmentItem, segmentItems, segmentKey, segmentPlace, segmentsFromItems } from './segments.ts';
import { type AnnotationController, type ShownItem, TOOL_DEFS, type ToolId, instanceName } from './tools.ts';

const history = csUtils.HistoryMemo.DefaultHistoryMemo;

export interface PanelProps {
  viewer: ViewerController;
  controller: AnnotationController;
  schema: LabelSchema;
  projectId: string;
  studyUID: string;
  seriesUID: string;
  reader?: string;
  mpr: boolean;
  /** Registers the panel's key handler with the viewer (returns true when the key was used). */
  setKeyHandler: (h: ((e: KeyboardEvent) => boolean) | undefined) => void;
  bindingsVersion: number;
}

function fmt(n: number | undefined, d = 1): string {
  return n === undefined ? '' : n.toFixed(d);
}

function statsText(s: ShownItem): string {
  const st = s.stats;
  switch (s.item.kind) {
    case 'length':
      return `${fmt(st.length, 2)} mm`;
    case 'angle':
      return `${fmt(st.angle, 1)}°`;
    case 'bidirectional':
      return `${fmt(st.longAxis, 1)} × ${fmt(st.shortAxis, 1)} mm`;
    case 'ellipse_roi':
    case 'rectangle_roi':
    case 'box2d':
      return st.mean !== undefined ? `${fmt(st.area, 1)} mm² · mean ${fmt(st.mean, 1)} SD ${fmt(st.stdDev, 1)} ${st.unit ?? ''}` : `${fmt(st.area, 1)} mm²`;
    case 'box3d': {
      // As the server measures it: the extents along L, P and S.
      const [p, q] = s.item.lps ?? [];
      if (!p || !q) return '';
      const [w, h, d] = [0, 1, 2].map((i) => Math.abs(q[i] - p[i]));
      return `${fmt(w)} × ${fmt(h)} × ${fmt(d)} mm · ${fmt((w * h * d) / 1000, 1)} ml`;
    }
    case 'landmark':
      return `${(s.item.lps?.[0] ?? []).map((c) => c.toFixed(1)).join(', ')} mm${st.value !== undefined ? ` · ${fmt(st.value, 0)} ${st.unit ?? ''}` : ''}`;
    default:
      return '';
  }
}

export function AnnotationPanel(props: PanelProps) {
  const { viewer, controller, schema, projectId, studyUID, seriesUID, reader, mpr, setKeyHandler, bindingsVersion } = props;
  const { api, store } = useServices();
  const notify = useCallback((level: 'error' | 'warning' | 'info', text: string) => store.dispatch({ type: 'notify', level, text }), [store]);
  const labels = useMemo(() => schema.labels ?? [], [schema]);
  const [segments, setSegments] = useState<Segment[]>(() => defaultSegments(labels));
  const segmentsRef = useRef<Segment[]>(segments);
  segmentsRef.current = segments;
  const [opacity, setOpacity] = useState(0.5);
  const [activeLabel, setActiveLabel] = useState<string | undefined>(labels[0]?.id);
  /** The segment (segmentKey) the labelmap tools paint, when the label has several; else the label's. */
  const [activeSeg, setActiveSeg] = useState<string | undefined>();
  const [tool, setTool] = useState<ToolId | undefined>();
  const [brush, setBrush] = useState(10);
  const [hu, setHu] = useState<[number, number]>([-100, 200]);
  const [growRadius, setGrowRadius] = useState(30);
  const [answers, setAnswers] = useState<Answer[]>([]);
  const answersRef = useRef<Answer[]>([]);
  answersRef.current = answers;
  const [message, setMessage] = useState('');
  /** The item picked in the list: its annotation-level questions are shown. */
  const [selected, setSelected] = useState<string | undefined>();
  /**
   * The segment (segmentKey) picked in the label list on a volume, when no
   * item is: annotation-level questions are then about its segmentation
   * item. An answer about a segment with no voxels yet stays in the editor
   * and goes out with the first save after the segment is painted.
   */
  const [segSubject, setSegSubject] = useState<string | undefined>();
  /** Picks a segment to paint and, on a volume, to answer questions about. */
  const pickSegment = (label: Label, seg: Segment | undefined) => {
    setActiveLabel(label.id);
    setActiveSeg(seg ? segmentKey(seg) : undefined);
    if (mpr && seg) {
      setSelected(undefined);
      setSegSubject(segmentKey(seg));
    }
  };
  // The image looked at ("sop/frame"), for image-level questions; follows scrolling.
  const currentImage = useSyncExternalStore(
    (l) => viewer.subscribe(l),
    () => {
      const im = controller.currentImage();
      return im ? `${im.sopInstanceUID}/${im.frame ?? 0}` : '';
    },
  );
  const [canUndo, setCanUndo] = useState(false);
  const [canRedo, setCanRedo] = useState(false);
  const bindings = useMemo<KeyBinding[]>(() => loadBindings(), [bindingsVersion]);

  const shape = mpr ? { seriesUID, columns: controller.grid.columns, rows: controller.grid.rows, slices: controller.grid.positions.length } : undefined;
  const [session] = useState(
    () =>
      new AnnotationSession({
        api, projectId, studyUID, reader, shape,
        content: (): Draft => {
          const labelmaps = controller.labelmapLayerBytes();
          const items = [...controller.shownItems().map((s) => s.item), ...segmentItems(labelmaps, segmentsRef.current)];
          // Answers about items that are not there (deleted, undone, a segment with no voxels yet,
          // or one whose labelmap is still loading) stay here; the save leaves them out.
          return { items, answers: answersRef.current, labelmaps };
        },
      }),
  );
  useEffect(() => {
    openSessions.add(session);
    return () => void openSessions.delete(session);
  }, [session]);
  const snap = useSyncExternalStore((l) => session.subscribe(l), () => session.snapshot());
  // shownItems is cached by the controller until the next change.
  const stableItems = useSyncExternalStore(
    (l) => controller.subscribe(l),
    () => controller.shownItems(),
  );

  /** Shows a revision: its segments (where each label's voxels are: layers and values), items, labelmap layers and answers. */
  const apply = useCallback(
    async (d: Draft | undefined) => {
      const segs = segmentsFromItems(labels, d?.items ?? [], segmentsRef.current);
      segmentsRef.current = segs;
      setSegments(segs);
      setActiveSeg(undefined);
      setSegSubject(undefined);
      controller.loadItems(d?.items ?? []);
      setAnswers(d?.answers ?? []);
      // The labelmap is made when the revision has one or a labelmap tool is picked (see below).
      if (!mpr || !(controller.hasLabelmap || d?.labelmaps?.size)) return;
      await controller.attachLabelmap(segs);
      for (const layer of controller.labelmapLayers) controller.setLabelmapBytes(d?.labelmaps?.get(layer), layer);
    },
    [controller, labels, mpr],
  );
  const applyOrSay = useCallback((d: Draft | undefined) => apply(d).catch((err: unknown) => notify('error', `The revision could not be shown: ${describeError(err)}`)), [apply, notify]);

  // Labelmap, then the stored head (and any unsaved draft of it).
  useEffect(() => {
    const ctl = new AbortController();
    (async () => {
      controller.schemaLabels = labels;
      const d = await session.load(ctl.signal);
      if (ctl.signal.aborted) return;
      await apply(d);
      if (ctl.signal.aborted) return;
      const draft = loadDraft(session.draftKey);
      if (draft && draft.base === (session.snapshot().head ?? '')) {
        controller.loadItems(draft.items);
        setAnswers(draft.answers);
        notify('info', 'Unsaved changes from your last visit were restored.');
        setTimeout(() => session.changed(), 0);
      }
      (window as unknown as { radmark: Record<string, unknown> }).radmark.annotation = { session, controller };
    })().catch((err: unknown) => {
      if (!ctl.signal.aborted) notify('error', `The annotations could not be loaded: ${describeError(err)}`);
    });
    return () => ctl.abort();
    // segments' styling is applied separately
  }, [controller, session, apply, notify, labels]);

  // Every change marks the session dirty (and schedules the autosave).
  useEffect(() => {
    let t: ReturnType<typeof setTimeout> | undefined;
    const un = controller.subscribe(() => {
      if (t) clearTimeout(t);
      t = setTimeout(() => session.changed(), 250);
    });
    return () => {
      un();
      if (t) clearTimeout(t);
    };
  }, [controller, session]);
  useEffect(() => {
    session.changed();
  }, [answers, session]);
  useEffect(() => {
    const update = () => {
      setCanUndo(history.canUndo);
      setCanRedo(history.canRedo);
    };
    const un = controller.subscribe(update);
    const t = setInterval(update, 500);
    return () => {
      un();
      clearInterval(t);
    };
  }, [controller]);

  useEffect(() => controller.styleSegments(segments, opacity), [controller, segments, opacity, snap.head]);
  useEffect(() => {
    controller.currentLabel = activeLabel;
    const seg = segments.find((s) => segmentKey(s) === activeSeg && s.label.id === activeLabel) ?? segments.find((s) => s.label.id === activeLabel);
    if (seg) controller.setActiveSegment(seg.layer, seg.value);
  }, [controller, activeLabel, activeSeg, segments]);
  /** A new segment of a label on a layer of its own, made the active one: painting it leaves the other segments' voxels alone. */
  const addOverlapping = (label: Label) => {
    const seg = overlappingSegment(segmentsRef.current, label);
    const next = [...segmentsRef.current, seg];
    segmentsRef.current = next;
    setSegments(next);
    pickSegment(label, seg);
    if (controller.hasLabelmap) void controller.ensureLayers(next).then(() => controller.styleSegments(segmentsRef.current, opacity), (err: unknown) => notify('error', `The new layer cannot be made: ${describeError(err)}`));
    notify('info', `New ${label.name} segment on layer ${seg.layer}: paint it over other segments, they keep their voxels.`);
  };
  useEffect(() => {
    const def = TOOL_DEFS.find((d) => d.id === tool);
    if (def?.labelmap && mpr && !controller.hasLabelmap) {
      void controller.attachLabelmap(segmentsRef.current).then(() => {
        controller.styleSegments(segmentsRef.current);
        controller.setBrushSize(brush);
        viewer.setAnnotationTool(instanceName(def.id));
      }, (err: unknown) => notify('error', `The labelmap cannot be made on this series: ${describeError(err)}`));
      return;
    }
    viewer.setAnnotationTool(tool ? instanceName(tool) : undefined);
  }, [viewer, tool]);
  useEffect(() => controller.setBrushSize(brush), [controller, brush, tool]);
  useEffect(() => {
    controller.setThreshold(hu[0], hu[1]);
    controller.growRange = hu;
    controller.growRadiusMm = growRadius;
  }, [controller, hu, growRadius, tool]);
  useEffect(() => {
    controller.onMessage = notify;
  }, [controller, notify]);
  // A save that failed for want of a connection is retried as soon as the browser is back online.
  useEffect(() => {
    const online = () => void session.retry();
    window.addEventListener('online', online);
    return () => window.removeEventListener('online', online);
  }, [session]);
  const [filling, setFilling] = useState(false);
  const fillBetween = useCallback(() => {
    if (!mpr || filling) return;
    setFilling(true);
    controller.interpolate().then(
      (r) => {
        if (r?.voxels) {
          notify('info', `Filled ${r.voxels} voxels on ${r.slices} slices between the painted ones.`);
          session.changed();
        }
      },
      (err: unknown) => notify('error', `Fill between slices failed: ${describeError(err)}`),
    ).finally(() => setFilling(false));
  }, [controller, mpr, filling, notify, session]);
  useEffect(() => () => viewer.setAnnotationTool(undefined), [viewer]);

  const undo = useCallback(() => {
    history.undo();
    viewer.renderingEngine?.render();
    session.changed();
  }, [viewer, session]);
  const redo = useCallback(() => {
    history.redo();
    viewer.renderingEngine?.render();
    session.changed();
  }, [viewer, session]);
  const save = useCallback(() => {
    void session.save(message || 'saved').then((r) => r && setMessage(''));
  }, [session, message]);

  const setAnswer = (q: Question, a: Answer | undefined, target: AnswerTarget) => {
    const before = answersRef.current;
    const next = withAnswer(before, q.id, target, a);
    // Answers are undone with the drawing tools: one history.
    history.push({
      restoreMemo: (isUndo?: boolean) => setAnswers(isUndo ? before : next),
    });
    setAnswers(next);
  };

  const run = useCallback(
    (action: EditAction) => {
      if (action.startsWith('tool:')) {
        const id = action.slice(5) as ToolId;
        const def = TOOL_DEFS.find((d) => d.id === id);
        if (def?.volumeOnly && !mpr) return;
        setTool((t) => (t === id ? undefined : id));
      } else if (action === 'undo') undo();
      else if (action === 'redo') redo();
      else if (action === 'save') save();
      else if (action === 'brushBigger') setBrush((b) => Math.min(100, b + 1));
      else if (action === 'brushSmaller') setBrush((b) => Math.max(1, b - 1));
      else if (action === 'interpolate') fillBetween();
    },
    [mpr, undo, redo, save, fillBetween],
  );

  useEffect(() => {
    setKeyHandler((e) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey) {
        const k = e.key.toLowerCase();
        if (k === 'z' && !e.shiftKey) return run('undo'), true;
        if (k === 'y' || (k === 'z' && e.shiftKey)) return run('redo'), true;
        if (k === 's') return run('save'), true;
        return false;
      }
      if (e.altKey) return false;
      if (e.key === 'Escape' && tool) return setTool(undefined), true;
      const a = actionForKey(bindings, e.key);
      if (!a) return false;
      run(a);
      return true;
    });
    return () => setKeyHandler(undefined);
  }, [setKeyHandler, bindings, run, tool]);

  const toggle = (seg: Segment, change: Partial<Segment>) => setSegments((ss) => ss.map((s) => (segmentKey(s) === segmentKey(seg) ? { ...s, ...change } : s)));
  /** Show/hide and lock of one segment. */
  const controls = (seg: Segment, testid: string) => (
    <>
      <button type="button" className="link" title="Show/hide" onClick={(e) => (e.stopPropagation(), toggle(seg, { visible: !seg.visible }))}>
        {seg.visible ? 'shown' : 'hidden'}
      </button>
      <button type="button" className="link" title="Lock" data-testid={`lock-${testid}`} onClick={(e) => (e.stopPropagation(), toggle(seg, { locked: !seg.locked }))}>
        {seg.locked ? 'locked' : 'lock'}
      </button>
    </>
  );
  const keyOf = (a: EditAction) => bindings.find((b) => b.action === a)?.key ?? '';
  const questions = schema.questions ?? [];
  const subjectSegment = segSubject ? segments.find((s) => segmentKey(s) === segSubject) : undefined;
  const selectedItem = stableItems.find((s) => s.item.id === selected)?.item ?? (subjectSegment && segmentItem(subjectSegment));
  const image = currentImage ? { sopInstanceUID: currentImage.split('/')[0], frame: Number(currentImage.split('/')[1]) } : undefined;
  const answerContext = { seriesUID, image, item: selectedItem };
  /** What the level's target is, in words, or why there is none yet. */
  const aboutText = (q: Question, target: AnswerTarget | undefined): string => {
    if (q.level === 'image') return image ? `image ${controller.sliceNumberOf(image) ?? '?'}` : 'scroll to an image of this series';
    if (q.level !== 'annotation') return q.level;
    if (target) {
      const place = subjectSegment && !selected && subjectSegment.layer ? ` (${segmentPlace(subjectSegment)})` : '';
      return `${selectedItem?.kind} · ${labels.find((l) => l.id === selectedItem?.label)?.name ?? selectedItem?.label}${place}`;
    }
    const of = q.labels?.length ? ` of ${q.labels.map((id) => labels.find((l) => l.id === id)?.name ?? id).join(' or ')}` : '';
    return `pick an annotation${of} in the list${mpr ? ', or its segment among the labels' : ''}`;
  };
  const status = snap.status;

  return (
    <div className="annotate" data-testid="annotate">
      <section>
        <h3>Tools</h3>
        <div className="tools">
          {TOOL_DEFS.filter((t) => !t.volumeOnly || mpr).map((t) => (
            <button key={t.id} type="button" className={tool === t.id ? 'active' : ''} title={`${t.label} (${keyOf(`tool:${t.id}`)})`} data-testid={`atool-${t.id}`} onClick={() => run(`tool:${t.id}`)}>
              {t.label}
            </button>
          ))}
        </div>
        {mpr && (
          <div className="brush">
            <label>
              Brush {brush} mm{' '}
              <input type="range" min={1} max={60} value={brush} onChange={(e) => setBrush(Number(e.target.value))} data-testid="brush-size" />
            </label>
            <label>
              HU{' '}
              <input type="number" value={hu[0]} style={{ width: 60 }} onChange={(e) => setHu([Number(e.target.value), hu[1]])} data-testid="hu-low" />–
              <input type="number" value={hu[1]} style={{ width: 60 }} onChange={(e) => setHu([hu[0], Number(e.target.value)])} data-testid="hu-high" />
            </label>
            <label title="Region growing: how far from the seed it may grow">
              Grow ≤ <input type="number" min={1} max={200} value={growRadius} style={{ width: 50 }} onChange={(e) => setGrowRadius(Math.max(1, Number(e.target.value)))} data-testid="grow-radius" /> mm
            </label>
            <button type="button" disabled={filling} onClick={fillBetween} data-testid="interpolate" title={`Fill the active segment between the slices it is painted on (${keyOf('interpolate')})`}>
              {filling ? 'Filling…' : 'Fill between slices'}
            </button>
          </div>
        )}
        <div className="tools">
          <button type="button" disabled={!canUndo} onClick={undo} data-testid="undo" title={`Undo (${keyOf('undo')}, Ctrl+Z)`}>
            ↶ Undo
          </button>
          <button type="button" disabled={!canRedo} onClick={redo} data-testid="redo" title={`Redo (${keyOf('redo')}, Ctrl+Y)`}>
            ↷ Redo
          </button>
        </div>
      </section>
      <section>
        <h3>Labels</h3>
        {labels.map((l) => {
          const own = segments.filter((s) => s.label.id === l.id);
          const activeOwn = own.find((s) => segmentKey(s) === activeSeg) ?? own[0];
          // One row per segment of the label (a label has one, unless it overlaps itself or a revision has several).
          return (
            <div key={l.id}>
              <div
                className={`seg${activeLabel === l.id && activeOwn === own[0] ? ' active' : ''}`}
                onClick={() => pickSegment(l, own[0])}
              >
                <span className="swatch" style={{ background: l.color }} />
                {/* The name is what tests and readers click (the buttons beside it do other things). */}
                <span style={{ flex: 1 }} data-testid={`label-${l.id}`}>
                  {l.name}
                  {own[0] && mpr ? ` (${segmentPlace(own[0])})` : ''}
                </span>
                {own[0] && mpr && (
                  <>
                    {controls(own[0], l.id)}
                    <button type="button" className="link" title="A new segment of this label on a layer of its own, to paint over other segments (they keep their voxels)" data-testid={`overlap-${l.id}`} onClick={(e) => (e.stopPropagation(), addOverlapping(l))}>
                      +layer
                    </button>
                  </>
                )}
              </div>
              {mpr &&
                own.slice(1).map((seg) => (
                  <div
                    key={segmentKey(seg)}
                    className={`seg sub${activeLabel === l.id && activeOwn === seg ? ' active' : ''}`}
                    onClick={() => pickSegment(l, seg)}
                  >
                    <span className="swatch" style={{ background: l.color }} />
                    <span style={{ flex: 1 }} data-testid={`segment-${l.id}-${seg.layer}-${seg.value}`}>
                      {l.name} ({segmentPlace(seg)})
                    </span>
                    {controls(seg, `${l.id}-${seg.layer}-${seg.value}`)}
                  </div>
                ))}
            </div>
          );
        })}
        {mpr && (
          <label>
            Opacity <input type="range" min={0} max={1} step={0.05} value={opacity} onChange={(e) => setOpacity(Number(e.target.value))} />
          </label>
        )}
      </section>
      <section>
        <h3>Annotations</h3>
        <ul className="items" data-testid="items">
          {stableItems.map((s) => (
            <li
              key={s.item.id}
              data-kind={s.item.kind}
              data-testid={`item-${s.item.kind}`}
              className={s.item.id === selected ? 'selected' : ''}
              title="Pick it to answer the questions about it"
              onClick={() => {
                setSegSubject(undefined);
                setSelected((cur) => (cur === s.item.id ? undefined : s.item.id));
              }}
            >
              <span>
                {s.item.kind} · {labels.find((l) => l.id === s.item.label)?.name ?? s.item.label}
              </span>
              <span className="muted" data-testid="item-stats">
                {statsText(s)}
              </span>
            </li>
          ))}
        </ul>
      </section>
      {questions.length > 0 && (
        <section data-testid="classification">
          <h3>Classification</h3>
          {questions.map((q) => {
            const target = targetOf(q, answerContext);
            const cur = target ? findAnswer(answers, q.id, target) : undefined;
            if (!target) {
              return (
                <div key={q.id} className="question muted" data-testid={`q-${q.id}`} data-target="">
                  <div>
                    {q.text}
                    {q.required ? ' *' : ''} <span className="muted">({aboutText(q, target)})</span>
                  </div>
                </div>
              );
            }
            return (
              <div key={answerKey({ question: q.id, ...target })} className="question" data-testid={`q-${q.id}`} data-target={answerKey({ question: q.id, ...target })}>
                <div>
                  {q.text}
                  {q.required ? ' *' : ''} <span className="muted">({aboutText(q, target)})</span>
                </div>
                {q.type === 'single' &&
                  (q.options ?? []).map((o) => (
                    <label key={o.value}>
                      <input type="radio" name={answerKey({ question: q.id, ...target })} checked={cur?.choices?.[0] === o.value} onChange={() => setAnswer(q, { question: q.id, choices: [o.value], ...target }, target)} /> {o.value}
                    </label>
                  ))}
                {q.type === 'multiple' &&
                  (q.options ?? []).map((o) => {
                    const has = cur?.choices?.includes(o.value) ?? false;
                    return (
                      <label key={o.value}>
                        <input
                          type="checkbox"
                          checked={has}
                          onChange={() => {
                            const choices = has ? (cur?.choices ?? []).filter((c) => c !== o.value) : [...(cur?.choices ?? []), o.value];
                            setAnswer(q, choices.length ? { question: q.id, choices, ...target } : undefined, target);
                          }}
                        />{' '}
                        {o.value}
                      </label>
                    );
                  })}
                {q.type === 'text' && <input type="text" defaultValue={cur?.text ?? ''} onBlur={(e) => setAnswer(q, e.target.value ? { question: q.id, text: e.target.value, ...target } : undefined, target)} />}
                {q.type === 'number' && <input type="number" defaultValue={cur?.number ?? ''} onBlur={(e) => setAnswer(q, e.target.value ? { question: q.id, number: Number(e.target.value), ...target } : undefined, target)} />}
              </div>
            );
          })}
        </section>
      )}
      <section>
        <h3>Save</h3>
        <div data-testid="save-status" data-state={status.state} data-dirty={snap.dirty ? '1' : '0'} data-head={snap.head ?? ''}>
          {status.state === 'saving' && 'Saving…'}
          {status.state === 'saved' && `Saved as revision ${status.revision.number}${snap.dirty ? ' · unsaved changes' : ''}`}
          {status.state === 'idle' && (snap.dirty ? 'Unsaved changes (autosave in a few seconds)' : snap.head ? `Revision ${snap.headNumber}` : 'Nothing saved yet')}
          {status.state === 'error' && (
            <span className="notice notice-error" data-testid="save-error">
              {status.message}{' '}
              <button type="button" data-testid="retry-save" onClick={() => void session.retry()}>
                Retry
              </button>
            </span>
          )}
        </div>
        {status.state === 'conflict' && (
          <div className="conflict" data-testid="conflict">
            <strong>Someone else saved first.</strong> {status.theirs.author} saved revision {status.theirs.number}
            {status.theirs.message ? ` (“${status.theirs.message}”)` : ''}. Your changes were not saved.
            {status.diff && (
              <ul data-testid="conflict-diff">
                {(status.diff.added ?? []).map((c) => <li key={'a' + c.id}>added {c.after?.kind} {c.after?.label}</li>)}
                {(status.diff.removed ?? []).map((c) => <li key={'r' + c.id}>removed {c.before?.kind} {c.before?.label}</li>)}
                {(status.diff.changed ?? []).map((c) => <li key={'c' + c.id}>changed {c.after?.kind} {c.after?.label}: {(c.fields ?? []).join(', ')}</li>)}
                {(status.diff.answers ?? []).map((c, i) => <li key={'q' + i}>answer {c.after?.question ?? c.before?.question}: {(c.after?.choices ?? []).join(', ') || c.after?.text || '(removed)'}</li>)}
                {(status.diff.voxels ?? []).map((v, i) => <li key={'v' + i}>labelmap value {v.value}: +{v.added} / −{v.removed} voxels</li>)}
              </ul>
            )}
            <button type="button" data-testid="take-theirs" onClick={() => void session.takeTheirs().then(applyOrSay)}>
              Load theirs (drop mine)
            </button>{' '}
            <button type="button" data-testid="keep-mine" onClick={() => void session.keepMine()}>
              Save mine on top
            </button>
          </div>
        )}
        <input type="text" placeholder="message" value={message} onChange={(e) => setMessage(e.target.value)} data-testid="save-message" />
        <button type="button" onClick={save} data-testid="save" disabled={status.state === 'saving' || status.state === 'conflict'}>
          Save ({keyOf('save')})
        </button>
      </section>
      <section>
        <h3>History</h3>
        <ul className="history" data-testid="history">
          {snap.history.map((r) => (
            <li key={r.id}>
              <span>
                #{r.number} {r.author} {r.message ? `· ${r.message}` : ''}
              </span>
              {r.id !== snap.head && (
                <button type="button" className="link" data-testid={`revert-${r.number}`} onClick={() => void session.revert(r.id).then(applyOrSay, (err: unknown) => notify('error', `Revert failed: ${describeError(err)}`))}>
                  revert
                </button>
              )}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}
