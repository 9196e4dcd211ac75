// One reader's annotation set on a study: loading the head revision,
// saving revisions (explicit and debounced autosave) that name the head
// they were made on, and the conflict when someone else saved first.
// Independent of Cornerstone (the content comes from a callback), so it is
// unit-tested against a fake fetch.
import { type Answer, ApiError, type ApiClient, type AnnotationSet, type Diff, type Item, type LabelmapEdit, type Revision, describeError } from './../api/client.ts';
import { answerKey, answersForItems } from './answers.ts';
import { changedSlices } from './geometry.ts';

export interface Draft {
  items: Item[];
  answers: Answer[];
  /** The series' labelmap layers in the server layout, by layer (overlapping segments are on different layers). */
  labelmaps?: Map<number, Uint8Array>;
}

export interface LabelmapShape {
  seriesUID: string;
  columns: number;
  rows: number;
  slices: number;
}

export type SaveStatus =
  | { state: 'idle' }
  | { state: 'saving' }
  | { state: 'saved'; revision: Revision }
  | { state: 'error'; message: string }
  | { state: 'conflict'; theirs: Revision; diff?: Diff; message: string };

export interface SessionSnapshot {
  set?: AnnotationSet;
  head?: string;
  headNumber: number;
  dirty: boolean;
  status: SaveStatus;
  history: Revision[];
}

const DRAFTS_KEY = 'radmark.drafts';

/** Unsaved items and answers survive a reload or an expired session (not the labelmap: too big for localStorage). */
export function storeDraft(key: string, base: string | undefined, d: Draft): void {
  try {
    const all = JSON.parse(localStorage.getItem(DRAFTS_KEY) ?? '{}') as Record<string, unknown>;
    all[key] = { base: base ?? '', items: d.items, answers: d.answers, at: Date.now() };
    localStorage.setItem(DRAFTS_KEY, JSON.stringify(all));
  } catch {
    // storage full or off: the draft stays in memory only
  }
}
export function loadDraft(key: string): { base: string; items: Item[]; answers: Answer[] } | undefined {
  try {
    const all = JSON.parse(localStorage.getItem(DRAFTS_KEY) ?? '{}') as Record<string, { base: string; items: Item[]; answers: Answer[] }>;
    return all[key];
  } catch {
    return undefined;
  }
}
export function clearDraft(key: string): void {
  try {
    const all = JSON.parse(localStorage.getItem(DRAFTS_KEY) ?? '{}') as Record<string, unknown>;
    delete all[key];
    localStorage.setItem(DRAFTS_KEY, JSON.stringify(all));
  } catch {
    // ignore
  }
}

/** The sessions the viewer has open: a task's Submit saves them first (src/workflow/TaskBar.tsx). */
export const openSessions = new Set<AnnotationSession>();

export class AnnotationSession {
  private set: AnnotationSet | undefined;
  private head: string | undefined;
  private headNumber = 0;
  /** What the head holds, to send only what changed. */
  private savedLabelmaps = new Map<number, Uint8Array>();
  private savedJSON = contentJSON({ items: [], answers: [] });
  /** Changes count only once the head has been loaded. */
  private loaded = false;
  private dirty = false;
  private status: SaveStatus = { state: 'idle' };
  private history: Revision[] = [];
  private listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private saving: Promise<unknown> | undefined;
  /** The message of the save that failed, for its retry. */
  private failedMessage: string | undefined;
  private snap: SessionSnapshot;
  /** Autosave this long after the last change (ms); 0 turns it off. */
  autosaveMs = 3000;

  private readonly api: ApiClient;
  readonly projectId: string;
  readonly studyUID: string;
  readonly reader: string | undefined;
  readonly shape: LabelmapShape | undefined;
  private readonly content: () => Draft;
  constructor(opts: { api: ApiClient; projectId: string; studyUID: string; reader?: string; shape?: LabelmapShape; content: () => Draft }) {
    this.api = opts.api;
    this.projectId = opts.projectId;
    this.studyUID = opts.studyUID;
    this.reader = opts.reader;
    this.shape = opts.shape;
    this.content = opts.content;
    this.snap = this.makeSnapshot();
  }

  get draftKey(): string {
    return `${this.projectId}/${this.studyUID}/${this.reader ?? ''}`;
  }

  subscribe(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  snapshot(): SessionSnapshot {
    return this.snap;
  }
  private makeSnapshot(): SessionSnapshot {
    return { set: this.set, head: this.head, headNumber: this.headNumber, dirty: this.dirty, status: this.status, history: this.history };
  }
  private emit(): void {
    this.snap = this.makeSnapshot();
    for (const l of this.listeners) l();
  }

  /** Finds this reader's set on the study and reads its head (items, answers, the series' labelmap layers). */
  async load(signal?: AbortSignal): Promise<Draft | undefined> {
    const sets = await this.api.listAnnotationSets({ project: this.projectId, study: this.studyUID, ...(this.reader ? { reader: this.reader } : {}) }, signal);
    this.set = sets.find((s) => !s.seriesUID && (!this.reader || s.reader === this.reader)) ?? sets.find((s) => !this.reader || s.reader === this.reader);
    if (!this.set?.head) {
      this.head = undefined;
      this.loaded = true;
      this.emit();
      return undefined;
    }
    const d = await this.loadRevision(this.set.head, signal);
    this.loaded = true;
    return d;
  }

  private async loadRevision(id: string, signal?: AbortSignal): Promise<Draft> {
    const rev = await this.api.getRevision(id, signal);
    const labelmaps = new Map<number, Uint8Array>();
    const shape = this.shape;
    if (shape) {
      const layers = (rev.content?.labelmaps ?? []).filter((l) => l.seriesUID === shape.seriesUID).map((l) => l.layer);
      const bytes = await Promise.all(layers.map((layer) => this.api.getLabelmap(id, layer, signal)));
      layers.forEach((layer, n) => labelmaps.set(layer, bytes[n]));
    }
    this.head = rev.id;
    this.headNumber = rev.number;
    this.savedLabelmaps = labelmaps;
    const draft: Draft = { items: rev.content?.items ?? [], answers: rev.content?.answers ?? [], labelmaps };
    this.savedJSON = contentJSON(draft);
    this.dirty = false;
    this.status = { state: 'idle' };
    this.emit();
    void this.refreshHistory();
    return draft;
  }

  async refreshHistory(): Promise<void> {
    if (!this.set) return;
    try {
      this.history = (await this.api.listRevisions(this.set.id)).sort((a, b) => b.number - a.number);
      this.emit();
    } catch {
      // the panel shows what it has
    }
  }

  /** The user changed something: mark dirty, keep a draft, autosave later. */
  changed(): void {
    if (!this.loaded) return;
    const d = this.content();
    const json = contentJSON(d);
    const shape = this.shape;
    const labelChanged = !!shape && [...(d.labelmaps ?? [])].some(([layer, bytes]) => Object.keys(changedSlices(this.savedLabelmaps.get(layer), bytes, shape.columns, shape.rows)).length > 0);
    const dirty = json !== this.savedJSON || labelChanged;
    if (dirty) storeDraft(this.draftKey, this.head, d);
    if (dirty !== this.dirty) {
      this.dirty = dirty;
      this.emit();
    }
    if (this.timer) clearTimeout(this.timer);
    if (dirty && this.autosaveMs > 0 && this.status.state !== 'conflict') this.timer = setTimeout(() => void this.save('autosave'), this.autosaveMs);
  }

  /** Saves a revision on the head this editor started from; a 409 becomes the conflict state. */
  async save(message: string, opts: { overHead?: string } = {}): Promise<Revision | undefined> {
    if (this.timer) clearTimeout(this.timer);
    while (this.saving) await this.saving;
    const run = this.doSave(message, opts);
    this.saving = run;
    try {
      return await run;
    } finally {
      this.saving = undefined;
    }
  }

  private async doSave(message: string, opts: { overHead?: string }): Promise<Revision | undefined> {
    if (this.status.state === 'conflict' && !opts.overHead) return undefined;
    const d = this.content();
    this.status = { state: 'saving' };
    this.emit();
    try {
      if (!this.set) {
        try {
          this.set = await this.api.createAnnotationSet({ projectId: this.projectId, studyUID: this.studyUID });
        } catch (err) {
          // Opened meanwhile (another tab): use it; its head then decides below.
          if (!(err instanceof ApiError && err.status === 409)) throw err;
          const sets = await this.api.listAnnotationSets({ project: this.projectId, study: this.studyUID, ...(this.reader ? { reader: this.reader } : {}) });
          this.set = sets.find((s) => !s.seriesUID) ?? sets[0];
          if (!this.set) throw err;
        }
      }
      const base = opts.overHead ?? this.head;
      const labelmaps: LabelmapEdit[] = [];
      const shape = this.shape;
      for (const [layer, bytes] of shape ? (d.labelmaps ?? []) : []) {
        const data = changedSlices(opts.overHead ? undefined : this.savedLabelmaps.get(layer), bytes, shape!.columns, shape!.rows);
        if (Object.keys(data).length || opts.overHead) labelmaps.push({ layer, seriesUID: shape!.seriesUID, columns: shape!.columns, rows: shape!.rows, slices: shape!.slices, encoding: 'rle', data, ...(opts.overHead ? { replace: true } : {}) });
      }
      // An answer about an item that is not in the revision (deleted, undone, a segment not
      // painted) is left out: the server refuses it. It stays in the editor's answers.
      const answers = answersForItems(d.answers, d.items);
      const saved = await this.api.saveRevision(this.set.id, { parent: base ?? '', message, items: d.items, answers, ...(labelmaps.length ? { labelmaps } : {}) }, base);
      const rev = saved.value;
      this.head = rev.id;
      this.headNumber = rev.number;
      this.savedLabelmaps = new Map([...(d.labelmaps ?? [])].map(([layer, bytes]) => [layer, bytes.slice()]));
      this.savedJSON = contentJSON(d);
      this.dirty = false;
      this.status = { state: 'saved', revision: rev };
      clearDraft(this.draftKey);
      this.emit();
      void this.refreshHistory();
      return rev;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.head) {
        const theirHead = err.head;
        let theirs: Revision;
        try {
          theirs = await this.api.getRevision(theirHead);
        } catch {
          theirs = { id: theirHead, author: '?', contentHash: '', createdAt: '', number: 0, setId: this.set?.id ?? '' };
        }
        let diff: Diff | undefined;
        if (this.head) {
          try {
            diff = await this.api.diff(this.head, theirHead);
          } catch {
            diff = undefined;
          }
        }
        this.status = { state: 'conflict', theirs, diff, message: err.message };
        this.emit();
        void this.refreshHistory();
        return undefined;
      }
      const offline = err instanceof ApiError && err.code === 'network';
      this.status = {
        state: 'error',
        message: `Not saved: ${describeError(err)}. Your changes are kept (also in this browser); ${offline ? 'they are saved when the connection is back' : 'they are saved at the next attempt'}, or press Retry.`,
      };
      this.failedMessage = message;
      this.emit();
      if (!(err instanceof ApiError && err.status === 401) && this.autosaveMs > 0) this.timer = setTimeout(() => void this.save(message), this.autosaveMs * 3);
      return undefined;
    }
  }

  /** After a failed save (the connection is back, or the reader pressed Retry): saves now. */
  async retry(): Promise<Revision | undefined> {
    if (this.status.state !== 'error') return undefined;
    return this.save(this.failedMessage ?? 'autosave');
  }

  /** Conflict: drop my changes and load the other writer's head. */
  async takeTheirs(): Promise<Draft | undefined> {
    if (this.status.state !== 'conflict') return undefined;
    clearDraft(this.draftKey);
    return this.loadRevision(this.status.theirs.id);
  }

  /** Conflict: save my version as a new revision on top of theirs (a deliberate choice, never automatic). */
  async keepMine(): Promise<Revision | undefined> {
    if (this.status.state !== 'conflict') return undefined;
    const theirs = this.status.theirs.id;
    this.status = { state: 'idle' };
    return this.save('kept my version over a concurrent change', { overHead: theirs });
  }

  /** Makes a new revision with an earlier revision's content, and loads it. */
  async revert(target: string): Promise<Draft | undefined> {
    if (!this.set || !this.head) return undefined;
    const saved = await this.api.revert(this.set.id, { target, message: `revert to ${target}` }, this.head);
    return this.loadRevision(saved.value.id);
  }
}

function contentJSON(d: Draft): string {
  const items = [...d.items].sort((a, b) => a.id.localeCompare(b.id));
  // The server fills in `author`: not an edit.
  const answers = [...d.answers].sort((a, b) => answerKey(a).localeCompare(answerKey(b))).map((a) => ({ ...a, author: undefined }));
  return JSON.stringify({ items: items.map(roundItem), answers });
}

/** Compares positions to a micrometre: Cornerstone's round trips must not count as edits. */
const r = (n: number) => Math.round(n * 1000) / 1000;
function roundItem(it: Item): unknown {
  return { ...it, author: undefined, points: it.points?.map((p) => p.map(r)), lps: it.lps?.map((p) => p.map(r)) };
}
