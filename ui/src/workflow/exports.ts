// Exports and dataset releases: the /api/v1 calls of the Exports & releases
// page (background jobs that export or freeze a project, their progress and
// files, the project's releases) and the plain logic around them (what each
// format needs, a job told in plain words, split fractions, polling), kept
// here so it is unit-tested without a browser.
import type { ApiClient, ExportRequest, Fractions, Job, Release, releaseRequest } from '../api/client.ts';

const enc = encodeURIComponent;

/** What an export of a format is made from. */
export type ExportScope = 'series-annotations' | 'series-image' | 'project';

export interface ExportFormat {
  id: string;
  label: string;
  scope: ExportScope;
}

/** The server's export formats (exchange.ExportFormats), in the order the form offers them. */
export const EXPORT_FORMATS: readonly ExportFormat[] = [
  { id: 'seg', label: 'DICOM SEG (segmentations)', scope: 'series-annotations' },
  { id: 'sr', label: 'DICOM SR TID 1500 (measurements, answers)', scope: 'series-annotations' },
  { id: 'rtstruct', label: 'RTSTRUCT (contours)', scope: 'series-annotations' },
  { id: 'nifti-labels', label: 'NIfTI label map (.nii.gz)', scope: 'series-annotations' },
  { id: 'nifti', label: 'NIfTI image volume (.nii.gz)', scope: 'series-image' },
  { id: 'nnunet', label: 'nnU-Net v2 dataset (whole project, tar)', scope: 'project' },
  { id: 'coco', label: 'COCO JSON, 2D (whole project, tar)', scope: 'project' },
  { id: 'measurements', label: 'Measurements and answers table (whole project)', scope: 'project' },
];

export function exportFormat(id: string): ExportFormat | undefined {
  return EXPORT_FORMATS.find((f) => f.id === id);
}

/** The form's choices for an export. */
export interface ExportChoice {
  format: string;
  /** A series UID (series formats). */
  series?: string;
  /** A revision id: exports it instead of the head of the series' set. */
  revision?: string;
  /** measurements: csv or json. */
  table?: 'csv' | 'json';
}

/**
 * The request body for a choice, or an error sentence saying what is
 * missing. Only what the format reads is sent.
 */
export function exportRequest(c: ExportChoice): { request: ExportRequest } | { error: string } {
  const f = exportFormat(c.format);
  if (!f) return { error: `choose an export format (${EXPORT_FORMATS.map((x) => x.id).join(', ')})` };
  const series = c.series?.trim();
  const revision = c.revision?.trim();
  switch (f.scope) {
    case 'project':
      return { request: f.id === 'measurements' ? { format: f.id, table: c.table ?? 'csv' } : { format: f.id } };
    case 'series-image':
      if (!series) return { error: 'an image volume export needs a series' };
      return { request: { format: f.id, series } };
    case 'series-annotations':
      if (revision) return { request: { format: f.id, revision } };
      if (!series) return { error: `a ${f.id} export needs a series (its annotation set's latest revision) or a revision id` };
      return { request: { format: f.id, series } };
  }
}

/**
 * Parses "0.7, 0.15, 0.15" (train, validation, test) into fractions: three
 * numbers from 0 to 1 that add up to 1.
 */
export function parseFractions(text: string): { fractions: Fractions } | { error: string } {
  const parts = text.split(/[\s,;/]+/).filter(Boolean);
  if (parts.length !== 3) return { error: `give three fractions for train, validation and test (e.g. 0.7, 0.15, 0.15), not "${text}"` };
  const n = parts.map(Number);
  if (n.some((x) => !Number.isFinite(x) || x < 0 || x > 1)) return { error: `fractions are numbers from 0 to 1: "${text}"` };
  const sum = n[0] + n[1] + n[2];
  if (Math.abs(sum - 1) > 1e-6) return { error: `the fractions add up to ${Number(sum.toFixed(6))}, not 1` };
  return { fractions: { train: n[0], validation: n[1], test: n[2] } };
}

/** What an export job's result records (exchange.ExportResult). */
export interface ExportFile {
  format: string;
  revision?: string;
  name: string;
  folder?: boolean;
  contentType: string;
  size?: number;
  sha256?: string;
  summary: string;
}

/** What a release job's result records (release.Result). */
export interface ReleaseResult {
  release: Release;
  existed?: boolean;
  skipped?: number;
}

export const isExportJob = (j: Pick<Job, 'kind'>): boolean => j.kind.startsWith('export.');
export const isReleaseJob = (j: Pick<Job, 'kind'>): boolean => j.kind === 'release';
export const isFinished = (j: Pick<Job, 'state'>): boolean => j.state === 'succeeded' || j.state === 'failed';

/** Whether a succeeded export's file was deleted after the server's export retention. */
export const isExpired = (j: Pick<Job, 'fileExpiredAt'>): boolean => !!j.fileExpiredAt;

/** The file a succeeded export job recorded, while it can be downloaded. */
export function exportFile(j: Job): ExportFile | undefined {
  if (!isExportJob(j) || j.state !== 'succeeded' || isExpired(j) || !j.result || typeof j.result !== 'object') return undefined;
  const r = j.result as Partial<ExportFile>;
  return typeof r.name === 'string' ? (r as ExportFile) : undefined;
}

export function releaseResult(j: Job): ReleaseResult | undefined {
  if (!isReleaseJob(j) || j.state !== 'succeeded' || !j.result || typeof j.result !== 'object') return undefined;
  const r = j.result as Partial<ReleaseResult>;
  return r.release && typeof r.release.id === 'string' ? (r as ReleaseResult) : undefined;
}

/** "SEG export", "nnU-Net export", "Release". */
export function jobTitle(j: Pick<Job, 'kind'>): string {
  if (isReleaseJob(j)) return 'Release';
  if (isExportJob(j)) {
    const f = exportFormat(j.kind.slice('export.'.length));
    return `${f ? f.label.replace(/ \(.*\)$/, '') : j.kind.slice('export.'.length)} export`;
  }
  return j.kind;
}

/** A job's state and progress in plain words, and its progress as 0..1 (undefined: not known). */
export function describeJob(j: Job): { text: string; fraction?: number } {
  const pct = j.total > 0 ? Math.min(1, j.done / j.total) : undefined;
  const step = j.message ? `: ${j.message}` : '';
  switch (j.state) {
    case 'queued':
      return { text: j.attempts > 0 ? `waiting to be tried again (attempt ${j.attempts + 1} of ${j.maxAttempts})` : 'waiting to start', fraction: 0 };
    case 'running':
      return { text: `running${pct === undefined ? '' : `, ${Math.round(pct * 100)}%`}${step}`, fraction: pct };
    case 'succeeded': {
      if (isExportJob(j) && isExpired(j)) {
        return { text: 'expired: the file was deleted after the server\'s export retention; start the export again to download it', fraction: 1 };
      }
      const f = exportFile(j);
      const rel = releaseResult(j);
      let text = 'done';
      if (f) text = `done: ${f.summary || f.name}${f.size !== undefined ? ` (${formatBytes(f.size)})` : ''}`;
      if (rel) {
        text = rel.existed ? 'done: the same release existed already' : `done: release of ${caseCount(rel.release)} cases`;
        if (rel.skipped) text += `; ${rel.skipped} cases not done were left out`;
      }
      return { text, fraction: 1 };
    }
    case 'failed':
      return { text: `failed${j.attempts > 1 ? ` after ${j.attempts} attempts` : ''}: ${j.error || 'no reason was recorded'}` };
  }
  return { text: j.state };
}

/** The number of cases of a release (its parts added up). */
export function caseCount(r: Pick<Release, 'cases'>): number {
  return Object.values(r.cases ?? {}).reduce((a, b) => a + b, 0);
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/**
 * Follows jobs until each has finished: `get` is asked for every unfinished
 * job each `intervalMs`, `update` told of each answer. Resolves when all
 * have finished or the signal aborts; a failed request is reported through
 * `onError` and retried on the next round.
 */
export async function pollJobs(
  ids: string[],
  get: (id: string, signal: AbortSignal) => Promise<Job>,
  update: (j: Job) => void,
  opts: { intervalMs: number; signal: AbortSignal; onError?: (err: unknown) => void; sleep?: (ms: number, signal: AbortSignal) => Promise<void> },
): Promise<void> {
  const sleep = opts.sleep ?? wait;
  let open = [...ids];
  while (open.length > 0 && !opts.signal.aborted) {
    const next: string[] = [];
    for (const id of open) {
      try {
        const j = await get(id, opts.signal);
        update(j);
        if (!isFinished(j)) next.push(id);
      } catch (err) {
        if (opts.signal.aborted) return;
        opts.onError?.(err);
        next.push(id);
      }
    }
    open = next;
    if (open.length > 0) await sleep(opts.intervalMs, opts.signal);
  }
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

/** Puts a job into a newest-first list, replacing the older copy of it. */
export function upsertJob(list: Job[], j: Job): Job[] {
  const i = list.findIndex((x) => x.id === j.id);
  if (i < 0) return [j, ...list];
  const out = list.slice();
  out[i] = j;
  return out;
}

/**
 * The jobs to show: the listed ones, with the copies seen since (started
 * here or polled) put in, the newer copy of a job winning.
 */
export function mergeJobs(listed: Job[], seen: Job[]): Job[] {
  let out = listed;
  for (const j of seen.toReversed()) {
    const have = out.find((x) => x.id === j.id);
    if (!have || have.updatedAt <= j.updatedAt) out = upsertJob(out, j);
  }
  return out;
}

export class ExportsApi {
  private readonly api: ApiClient;
  constructor(api: ApiClient) {
    this.api = api;
  }
  startExport(project: string, req: ExportRequest): Promise<Job> {
    return this.api.request('POST', `/projects/${enc(project)}/exports`, { body: req });
  }
  startRelease(project: string, req: releaseRequest): Promise<Job> {
    return this.api.request('POST', `/projects/${enc(project)}/releases`, { body: req });
  }
  job(id: string, signal?: AbortSignal): Promise<Job> {
    return this.api.request('GET', `/jobs/${enc(id)}`, { signal });
  }
  /** The project's newest jobs, newest first. */
  jobs(project: string, signal?: AbortSignal): Promise<Job[]> {
    return this.api.request<Job[] | null>('GET', `/projects/${enc(project)}/jobs`, { signal }).then((v) => v ?? []);
  }
  releases(project: string, signal?: AbortSignal): Promise<Release[]> {
    return this.api.request<Release[] | null>('GET', `/projects/${enc(project)}/releases`, { signal }).then((v) => v ?? []);
  }
  /** Where a succeeded export job's file downloads from. */
  fileUrl(job: string): string {
    return this.api.url(`/jobs/${enc(job)}/file`);
  }
  /** Where a release downloads from, as a tar (as stored) or a zip. */
  releaseUrl(release: string, format: 'tar' | 'zip'): string {
    return this.api.url(`/releases/${enc(release)}/archive`, { format });
  }
}
