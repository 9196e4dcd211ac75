// My tasks (with Next task), the review queue and the arbitration queue of
// the selected project.
import { useState } from 'react';
import type { SessionInfo, Task } from '../api/client.ts';
import { useLoad } from '../state/useLoad.ts';
import { useAppState, useServices } from '../state/useStore.ts';
import type { Queue } from './api.ts';
import { NeedProject, Short, StateBadge, attempt, duration, isOverdue, openTask, rolesIn, useReload, useWorkflow, when } from './common.tsx';

type Column = 'kind' | 'assignee' | 'reviewer' | 'submitted';

function TaskTable(props: { tasks: Task[]; columns: Column[]; empty: string; action: (t: Task) => { label: string; run: () => void } | undefined }) {
  const { tasks, columns, empty, action } = props;
  const sorted = [...tasks].sort((a, b) => b.priority - a.priority || (a.due ?? '9').localeCompare(b.due ?? '9') || a.createdAt.localeCompare(b.createdAt));
  return (
    <table className="grid" data-testid="task-table">
      <thead>
        <tr>
          <th>Study</th>
          {columns.includes('kind') && <th>Kind</th>}
          <th>State</th>
          {columns.includes('assignee') && <th>Reader</th>}
          {columns.includes('reviewer') && <th>Reviewer</th>}
          <th className="num">Priority</th>
          <th>Due</th>
          {columns.includes('submitted') && <th>Submitted</th>}
          <th className="num">Time spent</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {sorted.length === 0 && (
          <tr>
            <td colSpan={9} className="muted">
              {empty}
            </td>
          </tr>
        )}
        {sorted.map((t) => {
          const a = action(t);
          return (
            <tr key={t.id} data-testid="task-row" data-task={t.id} data-state={t.state} className={isOverdue(t) ? 'overdue' : ''}>
              <td>
                <Short id={t.studyUID} />
                {t.seriesUID && (
                  <span className="muted">
                    {' '}
                    series <Short id={t.seriesUID} />
                  </span>
                )}
              </td>
              {columns.includes('kind') && <td>{t.kind === 'read' ? `read ${t.slot}` : t.kind}</td>}
              <td>
                <StateBadge state={t.state} />
              </td>
              {columns.includes('assignee') && <td>{t.assignee ?? '—'}</td>}
              {columns.includes('reviewer') && <td>{t.reviewer ?? '—'}</td>}
              <td className="num">{t.priority}</td>
              <td className="due">{when(t.due)}</td>
              {columns.includes('submitted') && <td>{when(t.submittedAt)}</td>}
              <td className="num">{duration(t.workSeconds)}</td>
              <td>
                {a && (
                  <button type="button" data-testid="task-open" onClick={a.run}>
                    {a.label}
                  </button>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

const OPEN_LABEL: Record<string, string> = { assigned: 'Start', in_progress: 'Open', changes_requested: 'Fix and resubmit' };

/** The caller's tasks in the selected project and the pull queue's Next task. */
export function MyTasks({ session }: { session?: SessionInfo }) {
  const services = useServices();
  const wf = useWorkflow();
  const projectId = useAppState((s) => s.projectId);
  const [reload, bump] = useReload();
  const [busy, setBusy] = useState(false);
  const me = session?.user.name ?? '';
  const tasks = useLoad(projectId && `${projectId}/${reload}`, (signal) => wf.myTasks(projectId!, signal));
  if (!projectId) return <NeedProject />;
  const roles = rolesIn(session, projectId);
  const reader = roles.has('annotator') || roles.has('radiologist');
  const next = async () => {
    setBusy(true);
    const t = await attempt(services, 'No next task', () => wf.nextTask(projectId));
    setBusy(false);
    if (t === null) {
      services.store.dispatch({ type: 'notify', level: 'info', text: 'Nothing is waiting for you in this project.' });
      bump();
    } else if (t) await attempt(services, 'The task could not be opened', () => openTask(services, wf, t, me));
  };
  const open = (t: Task) => void attempt(services, 'The task could not be opened', () => openTask(services, wf, t, me));
  const mine = tasks.state === 'done' ? tasks.value : [];
  const active = mine.filter((t) => !['accepted', 'resolved'].includes(t.state));
  const finished = mine.filter((t) => ['accepted', 'resolved'].includes(t.state));
  return (
    <div className="work" data-testid="my-tasks">
      <div className="bar">
        <h2>My tasks</h2>
        {reader && (
          <button type="button" data-testid="next-task" disabled={busy} onClick={() => void next()}>
            Next task ▶
          </button>
        )}
        {!reader && <span className="muted">You read no cases in this project (annotator or radiologist role).</span>}
        <button type="button" className="link" onClick={bump}>
          Refresh
        </button>
      </div>
      {tasks.state === 'error' && <div className="notice notice-error">{tasks.message}</div>}
      <section>
        <h3>Open ({active.length})</h3>
        <TaskTable
          tasks={active}
          columns={['kind']}
          empty={tasks.state === 'loading' ? 'Loading…' : 'No open task: press Next task.'}
          action={(t) => (OPEN_LABEL[t.state] ? { label: OPEN_LABEL[t.state], run: () => open(t) } : { label: 'View', run: () => open(t) })}
        />
      </section>
      {finished.length > 0 && (
        <section>
          <h3>Finished ({finished.length})</h3>
          <TaskTable tasks={finished} columns={['kind', 'reviewer']} empty="" action={(t) => ({ label: 'View', run: () => open(t) })} />
        </section>
      )}
    </div>
  );
}

function QueuePage(props: { session?: SessionInfo; queue: Queue; title: string; allowed: boolean; testid: string }) {
  const { session, queue, title, allowed, testid } = props;
  const services = useServices();
  const wf = useWorkflow();
  const projectId = useAppState((s) => s.projectId);
  const [reload, bump] = useReload();
  const me = session?.user.name ?? '';
  const tasks = useLoad(projectId && allowed ? `${projectId}/${queue}/${reload}` : undefined, (signal) => wf.queue(projectId!, queue, signal));
  if (!projectId) return <NeedProject />;
  if (!allowed) {
    return (
      <div className="work" data-testid={testid}>
        <h2>{title}</h2>
        <p className="muted">{queue === 'review' ? 'Reviewing needs the reviewer or manager role in this project.' : 'Arbitrating needs the radiologist or manager role in this project.'}</p>
      </div>
    );
  }
  const run = (what: string, f: () => Promise<unknown>) => void attempt(services, what, f).then(bump);
  const review = (t: Task) =>
    run('The read could not be opened for review', async () => {
      const cur = t.state === 'submitted' ? ((await wf.transition(t, 'review')).task ?? t) : t;
      await openTask(services, wf, cur, me, cur.assignee);
    });
  const arbitrate = (t: Task) =>
    run('The arbitration could not be opened', async () => {
      const cur = t.state === 'unassigned' ? ((await wf.transition(t, 'claim')).task ?? t) : t;
      await openTask(services, wf, cur, me);
    });
  const nextArbitration = () =>
    run('No next arbitration', async () => {
      const t = await wf.nextTask(projectId, 'arbitration');
      if (!t) services.store.dispatch({ type: 'notify', level: 'info', text: 'No arbitration is waiting.' });
      else await openTask(services, wf, t, me);
    });
  const list = tasks.state === 'done' ? tasks.value : [];
  return (
    <div className="work" data-testid={testid}>
      <div className="bar">
        <h2>{title}</h2>
        {queue === 'arbitration' && (
          <button type="button" data-testid="next-arbitration" onClick={nextArbitration}>
            Next arbitration ▶
          </button>
        )}
        <button type="button" className="link" onClick={bump}>
          Refresh
        </button>
      </div>
      {tasks.state === 'error' && <div className="notice notice-error">{tasks.message}</div>}
      <section>
        <TaskTable
          tasks={list}
          columns={queue === 'review' ? ['assignee', 'reviewer', 'submitted'] : ['assignee']}
          empty={tasks.state === 'loading' ? 'Loading…' : queue === 'review' ? 'No read waits for review.' : 'No case waits for arbitration.'}
          action={(t) => {
            if (queue === 'review') {
              if (t.state === 'submitted') return { label: 'Review', run: () => review(t) };
              return t.reviewer === me || rolesIn(session, projectId).has('manager') ? { label: 'Continue review', run: () => review(t) } : undefined;
            }
            if (t.state === 'unassigned') return { label: 'Claim', run: () => arbitrate(t) };
            return t.assignee === me ? { label: t.state === 'assigned' ? 'Start' : 'Open', run: () => arbitrate(t) } : undefined;
          }}
        />
      </section>
    </div>
  );
}

export function ReviewQueue({ session }: { session?: SessionInfo }) {
  const projectId = useAppState((s) => s.projectId);
  const roles = rolesIn(session, projectId);
  return <QueuePage session={session} queue="review" title="Review queue" allowed={roles.has('reviewer') || roles.has('manager')} testid="review-queue" />;
}

export function ArbitrationQueue({ session }: { session?: SessionInfo }) {
  const projectId = useAppState((s) => s.projectId);
  const roles = rolesIn(session, projectId);
  return <QueuePage session={session} queue="arbitration" title="Arbitration queue" allowed={roles.has('radiologist') || roles.has('manager')} testid="arbitration-queue" />;
}
