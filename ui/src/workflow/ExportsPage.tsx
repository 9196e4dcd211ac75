// The Exports & releases page of a project, for its managers: start an
// export (a format, and the series, revision or whole project it reads) or
// a dataset release (split fractions, seed, stratification, zip or tar),
// follow the background jobs with live progress, download their files, and
// the project's releases.
import { type FormEvent, useEffect, useMemo, useState } from 'react';
import type { AnnotationSet, Job, SessionInfo } from '../api/client.ts';
import { describeError } from '../api/client.ts';
import { useLoad } from '../state/useLoad.ts';
import { useAppState, useServices } from '../state/useStore.ts';
import { NeedProject, Short, attempt, rolesIn, useReload, when } from './common.tsx';
import {
  EXPORT_FORMATS,
  ExportsApi,
  type ExportChoice,
  caseCount,
  describeJob,
  exportFile,
  exportFormat,
  exportRequest,
  formatBytes,
  isFinished,
  jobTitle,
  mergeJobs,
  parseFractions,
  pollJobs,
  releaseResult,
  upsertJob,
} from './exports.ts';
import './exports.css';

type ArchiveFormat = 'zip' | 'tar';

export function ExportsPage({ session }: { session?: SessionInfo }) {
  const services = useServices();
  const x = useMemo(() => new ExportsApi(services.api), [services.api]);
  const projectId = useAppState((s) => s.projectId);
  const project = useAppState((s) => s.projects.find((p) => p.id === s.projectId));
  const [reload, bump] = useReload();
  const key = projectId && `${projectId}/${reload}`;
  const loadedJobs = useLoad(key, (signal) => x.jobs(projectId!, signal));
  const releases = useLoad(key, (signal) => x.releases(projectId!, signal));
  const sets = useLoad(projectId, (signal) => services.api.listAnnotationSets({ project: projectId, limit: 1000 }, signal));
  // Jobs started here or polled since the list was loaded.
  const [seen, setSeen] = useState<Job[]>([]);
  const [archiveOf, setArchiveOf] = useState<Record<string, ArchiveFormat>>({});
  const jobs = mergeJobs(loadedJobs.state === 'done' ? loadedJobs.value : [], seen);

  // Follow every unfinished job until it finishes; a finished release
  // reloads the releases list.
  const open = jobs.filter((j) => !isFinished(j)).map((j) => j.id).sort().join(',');
  useEffect(() => {
    if (!open) return;
    const ctl = new AbortController();
    let releaseDone = false;
    void pollJobs(
      open.split(','),
      (id, signal) => x.job(id, signal),
      (j) => {
        setSeen((list) => upsertJob(list, j));
        if (releaseResult(j)) releaseDone = true;
      },
      { intervalMs: 1000, signal: ctl.signal, onError: (err) => services.store.dispatch({ type: 'notify', level: 'warning', text: `A job's progress could not be read: ${describeError(err)}` }) },
    ).then(() => {
      if (releaseDone && !ctl.signal.aborted) bump();
    });
    return () => ctl.abort();
  }, [open, x, services.store, bump]);

  if (!projectId) return <NeedProject />;
  if (!rolesIn(session, projectId).has('manager')) {
    return (
      <div className="work" data-testid="exports-page">
        <h2>Exports &amp; releases</h2>
        <p className="muted">Exports and releases are made by the project's managers.</p>
      </div>
    );
  }
  const started = (j: Job, archive?: ArchiveFormat) => {
    setSeen((list) => upsertJob(list, j));
    if (archive) setArchiveOf((m) => ({ ...m, [j.id]: archive }));
  };
  return (
    <div className="work" data-testid="exports-page">
      <div className="bar">
        <h2>Exports &amp; releases{project ? `: ${project.name}` : ''}</h2>
        <button type="button" className="link" onClick={bump}>
          Refresh
        </button>
      </div>
      <div className="exports-forms">
        <ExportForm project={projectId} x={x} sets={sets.state === 'done' ? sets.value : []} onStarted={started} />
        <ReleaseForm project={projectId} x={x} onStarted={started} />
      </div>
      <section>
        <h3>Jobs</h3>
        {loadedJobs.state === 'error' && <div className="notice notice-error">The jobs could not be listed: {loadedJobs.message}</div>}
        {jobs.length === 0 ? (
          <p className="muted">No exports or releases were started in this project yet.</p>
        ) : (
          <table className="grid" data-testid="jobs">
            <thead>
              <tr>
                <th>What</th>
                <th>Started</th>
                <th>By</th>
                <th>State</th>
                <th>File</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((j) => (
                <JobRow key={j.id} job={j} x={x} archive={archiveOf[j.id] ?? 'zip'} />
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section>
        <h3>Releases</h3>
        {releases.state === 'error' && <div className="notice notice-error">The releases could not be listed: {releases.message}</div>}
        {releases.state === 'done' && releases.value.length === 0 && <p className="muted">No releases yet.</p>}
        {releases.state === 'done' && releases.value.length > 0 && (
          <table className="grid" data-testid="releases">
            <thead>
              <tr>
                <th>Release id (sha256 of its manifest)</th>
                <th>Created</th>
                <th>Cases: train / validation / test</th>
                <th>Files</th>
                <th>Size</th>
                <th>Download</th>
              </tr>
            </thead>
            <tbody>
              {releases.value.map((r) => (
                <tr key={r.id} data-testid="release-row" data-release={r.id}>
                  <td className="mono">
                    <Short id={r.id} />
                  </td>
                  <td>
                    {when(r.createdAt)} by {r.createdBy}
                  </td>
                  <td>
                    {caseCount(r)}: {r.cases?.train ?? 0} / {r.cases?.validation ?? 0} / {r.cases?.test ?? 0}
                  </td>
                  <td>{r.files}</td>
                  <td>{formatBytes(r.size)}</td>
                  <td>
                    <a href={x.releaseUrl(r.id, 'zip')} download data-testid="release-zip">
                      .zip
                    </a>{' '}
                    <a href={x.releaseUrl(r.id, 'tar')} download data-testid="release-tar">
                      .tar
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

function JobRow({ job, x, archive }: { job: Job; x: ExportsApi; archive: ArchiveFormat }) {
  const d = describeJob(job);
  const file = exportFile(job);
  const rel = releaseResult(job);
  return (
    <tr data-testid="job-row" data-job={job.id} data-state={job.state} data-kind={job.kind}>
      <td>{jobTitle(job)}</td>
      <td>{when(job.createdAt)}</td>
      <td>{job.createdBy}</td>
      <td className={job.state === 'failed' ? 'job-failed' : ''}>
        <span data-testid="job-state">{d.text}</span>
        {!isFinished(job) && <progress max={1} value={d.fraction} data-testid="job-progress" />}
      </td>
      <td>
        {file && (
          <a href={x.fileUrl(job.id)} download data-testid="job-download" title={file.sha256 ? `sha256 ${file.sha256}` : undefined}>
            {file.name}
            {file.folder ? '.tar' : ''}
          </a>
        )}
        {rel && (
          <a href={x.releaseUrl(rel.release.id, archive)} download data-testid="job-download">
            release-{rel.release.id.slice(0, 12)}.{archive}
          </a>
        )}
      </td>
    </tr>
  );
}

/** The series the project has annotation sets on, for the series choice. */
function seriesOf(sets: AnnotationSet[]): string[] {
  return [...new Set(sets.map((s) => s.seriesUID).filter((s): s is string => !!s))].sort();
}

function ExportForm({ project, x, sets, onStarted }: { project: string; x: ExportsApi; sets: AnnotationSet[]; onStarted: (j: Job) => void }) {
  const services = useServices();
  const [choice, setChoice] = useState<ExportChoice>({ format: 'seg', table: 'csv' });
  const [error, setError] = useState('');
  const format = exportFormat(choice.format);
  const series = seriesOf(sets);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const r = exportRequest(choice);
    if ('error' in r) {
      setError(r.error);
      return;
    }
    setError('');
    void attempt(services, 'The export was not started', () => x.startExport(project, r.request)).then((j) => j && onStarted(j));
  };
  return (
    <form onSubmit={submit} data-testid="export-form">
      <h3>Export</h3>
      <label>
        Format
        <select value={choice.format} data-testid="export-format" onChange={(e) => setChoice({ ...choice, format: e.target.value })}>
          {EXPORT_FORMATS.map((f) => (
            <option key={f.id} value={f.id}>
              {f.label}
            </option>
          ))}
        </select>
      </label>
      {format && format.scope !== 'project' && (
        <label>
          Series
          <select value={choice.series ?? ''} data-testid="export-series" onChange={(e) => setChoice({ ...choice, series: e.target.value })}>
            <option value="">{series.length ? 'choose a series' : 'no series has annotations in this project'}</option>
            {series.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      )}
      {format?.scope === 'series-annotations' && (
        <label>
          Revision (optional: instead of the series' latest)
          <input type="text" value={choice.revision ?? ''} placeholder="revision id" data-testid="export-revision" onChange={(e) => setChoice({ ...choice, revision: e.target.value })} />
        </label>
      )}
      {format?.id === 'measurements' && (
        <label>
          Table
          <select value={choice.table} onChange={(e) => setChoice({ ...choice, table: e.target.value === 'json' ? 'json' : 'csv' })}>
            <option value="csv">CSV</option>
            <option value="json">JSON</option>
          </select>
        </label>
      )}
      {error && <div className="notice notice-error" data-testid="export-error">{error}</div>}
      <button type="submit" data-testid="export-start">
        Start export
      </button>
    </form>
  );
}

function ReleaseForm({ project, x, onStarted }: { project: string; x: ExportsApi; onStarted: (j: Job, archive: ArchiveFormat) => void }) {
  const services = useServices();
  const [fractions, setFractions] = useState('0.7, 0.15, 0.15');
  const [seed, setSeed] = useState('0');
  const [stratify, setStratify] = useState(false);
  const [archive, setArchive] = useState<ArchiveFormat>('zip');
  const [selection, setSelection] = useState<'accepted' | 'latest'>('accepted');
  const [error, setError] = useState('');
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const f = parseFractions(fractions);
    if ('error' in f) {
      setError(f.error);
      return;
    }
    if (!/^-?\d+$/.test(seed.trim())) {
      setError(`the seed is a whole number, not "${seed}"`);
      return;
    }
    setError('');
    const j = await attempt(services, 'The release was not started', async () => {
      let revisions: string[] | undefined;
      if (selection === 'latest') {
        const sets = await services.api.listAnnotationSets({ project, limit: 1000 });
        revisions = sets.map((s) => s.head).filter((h): h is string => !!h);
        if (revisions.length === 0) throw new Error('no annotation set of this project has a revision to freeze');
      }
      return x.startRelease(project, { fractions: f.fractions, seed: Number(seed.trim()), stratify, revisions });
    });
    if (j) onStarted(j, archive);
  };
  return (
    <form onSubmit={(e) => void submit(e)} data-testid="release-form">
      <h3>Release</h3>
      <label>
        Freeze
        <select value={selection} data-testid="release-selection" onChange={(e) => setSelection(e.target.value === 'latest' ? 'latest' : 'accepted')}>
          <option value="accepted">the accepted reads of the workflow's done cases</option>
          <option value="latest">the latest revision of every annotation set (projects without a workflow)</option>
        </select>
      </label>
      <label>
        Split by patient: train, validation, test
        <input type="text" value={fractions} data-testid="release-fractions" onChange={(e) => setFractions(e.target.value)} />
      </label>
      <label>
        Seed
        <input type="text" inputMode="numeric" value={seed} data-testid="release-seed" onChange={(e) => setSeed(e.target.value)} />
      </label>
      <label className="inline">
        <input type="checkbox" checked={stratify} data-testid="release-stratify" onChange={(e) => setStratify(e.target.checked)} /> Stratify by label mix
      </label>
      <label>
        Download as
        <select value={archive} data-testid="release-archive" onChange={(e) => setArchive(e.target.value === 'tar' ? 'tar' : 'zip')}>
          <option value="zip">.zip</option>
          <option value="tar">.tar</option>
        </select>
      </label>
      {error && <div className="notice notice-error" data-testid="release-error">{error}</div>}
      <button type="submit" data-testid="release-start">
        Start release
      </button>
    </form>
  );
}
