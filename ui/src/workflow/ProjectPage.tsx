// The project page: progress by state and by reader, the time spent on each
// task, and the workflow settings (editable by managers).
import { type FormEvent, useState } from 'react';
import type { SessionInfo, WorkflowConfig, workflowRequest } from '../api/client.ts';
import { useLoad } from '../state/useLoad.ts';
import { useAppState, useServices } from '../state/useStore.ts';
import { ROLES, type Role } from './api.ts';
import { NeedProject, Short, StateBadge, attempt, duration, rolesIn, useReload, useWorkflow } from './common.tsx';

function Counts({ title, counts, testid }: { title: string; counts: Record<string, number> | null; testid: string }) {
  const entries = Object.entries(counts ?? {}).sort();
  return (
    <div>
      <h3>{title}</h3>
      <div className="counts" data-testid={testid}>
        {entries.length === 0 && <span className="muted">none</span>}
        {entries.map(([state, n]) => (
          <div key={state} className="count" data-state={state}>
            <b>{n}</b>
            <StateBadge state={state} />
          </div>
        ))}
      </div>
    </div>
  );
}

export function ProjectPage({ session }: { session?: SessionInfo }) {
  const wf = useWorkflow();
  const projectId = useAppState((s) => s.projectId);
  const project = useAppState((s) => s.projects.find((p) => p.id === s.projectId));
  const [reload, bump] = useReload();
  const key = projectId && `${projectId}/${reload}`;
  const progress = useLoad(key, (signal) => wf.progress(projectId!, signal));
  const config = useLoad(key, (signal) => wf.config(projectId!, signal));
  if (!projectId) return <NeedProject />;
  const manager = rolesIn(session, projectId).has('manager');
  const p = progress.state === 'done' ? progress.value : undefined;
  return (
    <div className="work" data-testid="project-page">
      <div className="bar">
        <h2>{project?.name ?? 'Project'}</h2>
        {project?.description && <span className="muted">{project.description}</span>}
        <button type="button" className="link" onClick={bump}>
          Refresh
        </button>
      </div>
      {progress.state === 'error' && <div className="notice notice-error">{progress.message}</div>}
      {p && (
        <>
          <section className="bar" data-testid="progress">
            <div className="count">
              <b data-testid="case-count">{p.cases}</b>cases
            </div>
            <Counts title="Cases by state" counts={p.casesByState} testid="cases-by-state" />
            <Counts title="Reads by state" counts={p.readsByState} testid="reads-by-state" />
            <Counts title="Arbitrations" counts={p.arbitrationsByState} testid="arbitrations-by-state" />
          </section>
          <section>
            <h3>By reader</h3>
            <table className="grid" data-testid="by-reader">
              <thead>
                <tr>
                  <th>Reader</th>
                  <th>Tasks by state</th>
                  <th className="num">Finished</th>
                  <th className="num">Overdue</th>
                  <th className="num">Time spent</th>
                  <th className="num">Mean per finished task</th>
                </tr>
              </thead>
              <tbody>
                {(p.readers ?? []).map((r) => (
                  <tr key={r.user} data-testid="reader-row" data-user={r.user}>
                    <td>{r.user}</td>
                    <td>
                      {Object.entries(r.byState ?? {})
                        .map(([s, n]) => `${n} ${s.replace('_', ' ')}`)
                        .join(', ')}
                    </td>
                    <td className="num">{r.finished}</td>
                    <td className="num">{r.overdue}</td>
                    <td className="num">{duration(r.workSeconds)}</td>
                    <td className="num">{r.finished ? duration(r.meanSeconds) : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <section>
            <h3>Time spent per task</h3>
            <table className="grid" data-testid="task-times">
              <thead>
                <tr>
                  <th>Task</th>
                  <th>Case</th>
                  <th>Kind</th>
                  <th>State</th>
                  <th>Assignee</th>
                  <th className="num">Time spent</th>
                </tr>
              </thead>
              <tbody>
                {[...(p.tasks ?? [])]
                  .sort((a, b) => b.workSeconds - a.workSeconds)
                  .map((t) => (
                    <tr key={t.task}>
                      <td>
                        <Short id={t.task} />
                      </td>
                      <td>
                        <Short id={t.case} />
                      </td>
                      <td>{t.kind}</td>
                      <td>
                        <StateBadge state={t.state} />
                      </td>
                      <td>{t.assignee ?? '—'}</td>
                      <td className="num">{duration(t.workSeconds)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </section>
        </>
      )}
      {config.state === 'done' && <Settings key={`${projectId}/${config.value.version}`} project={projectId} config={config.value} editable={manager} onSaved={bump} />}
    </div>
  );
}

function Settings({ project, config, editable, onSaved }: { project: string; config: WorkflowConfig; editable: boolean; onSaved: () => void }) {
  const services = useServices();
  const wf = useWorkflow();
  const [form, setForm] = useState<workflowRequest>(() => ({
    readers: config.readers,
    readerRoles: (config.readerRoles ?? []) as Role[],
    readerUsers: config.readerUsers ?? [],
    assignment: config.assignment,
    quota: config.quota ?? 0,
    dueDays: config.dueDays ?? 0,
    priority: config.priority ?? 0,
    agreement: { ...config.agreement },
  }));
  const num = (k: 'readers' | 'quota' | 'dueDays' | 'priority', label: string, min: number, max?: number) => (
    <label>
      {label}
      <input type="number" min={min} max={max} value={form[k] ?? 0} disabled={!editable} data-testid={`wf-${k}`} onChange={(e) => setForm({ ...form, [k]: Number(e.target.value) })} />
    </label>
  );
  const agree = (k: 'dice' | 'iou' | 'landmarkMM', label: string, step: number) => (
    <label>
      {label}
      <input type="number" min={0} step={step} value={form.agreement[k]} disabled={!editable} onChange={(e) => setForm({ ...form, agreement: { ...form.agreement, [k]: Number(e.target.value) } })} />
    </label>
  );
  const save = (e: FormEvent) => {
    e.preventDefault();
    void attempt(services, 'The workflow was not saved', () => wf.putConfig(project, { ...form, baseVersion: config.version })).then((c) => {
      if (!c) return;
      services.store.dispatch({ type: 'notify', level: 'info', text: `Workflow version ${c.version} saved; it applies to cases added from now on.` });
      onSaved();
    });
  };
  return (
    <section data-testid="workflow-settings">
      <h3>
        Workflow settings (version {config.version}
        {config.version === 0 ? ': the default, not saved yet' : `, by ${config.createdBy}`})
      </h3>
      <form onSubmit={save}>
        <div className="settings">
          {num('readers', 'Independent reads per case', 1, 10)}
          <label>
            Assignment
            <select value={form.assignment} disabled={!editable} data-testid="wf-assignment" onChange={(e) => setForm({ ...form, assignment: e.target.value })}>
              <option value="pull">pull (readers take their next task)</option>
              <option value="round_robin">round robin (pushed to readers)</option>
              <option value="manual">manual (managers assign)</option>
            </select>
          </label>
          <label>
            Who reads: roles
            <span className="checks">
              {ROLES.map((r) => (
                <label key={r}>
                  <input
                    type="checkbox"
                    disabled={!editable}
                    checked={form.readerRoles?.includes(r) ?? false}
                    onChange={(e) => setForm({ ...form, readerRoles: e.target.checked ? [...(form.readerRoles ?? []), r] : (form.readerRoles ?? []).filter((x) => x !== r) })}
                  />{' '}
                  {r}
                </label>
              ))}
            </span>
          </label>
          <label>
            Who reads: named users (comma-separated)
            <input
              type="text"
              disabled={!editable}
              value={(form.readerUsers ?? []).join(', ')}
              onChange={(e) => setForm({ ...form, readerUsers: e.target.value.split(',').map((s) => s.trim()).filter(Boolean) })}
            />
          </label>
          {num('quota', 'Quota: most reads per user (0: none)', 0)}
          {num('dueDays', 'Due days after assignment (0: none)', 0)}
          {num('priority', 'Default priority of new cases', -1000)}
          {agree('dice', 'Least Dice per label', 0.01)}
          {agree('iou', 'Least box IoU', 0.01)}
          {agree('landmarkMM', 'Largest landmark distance (mm)', 0.5)}
        </div>
        {editable ? (
          <button type="submit" data-testid="wf-save" style={{ marginTop: 10 }}>
            Save as version {config.version + 1}
          </button>
        ) : (
          <p className="muted">Only the project's managers change these.</p>
        )}
      </form>
    </section>
  );
}
