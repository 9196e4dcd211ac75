// Pieces the workflow pages share: the signed-in user's roles, opening a
// task in the viewer, and how states, dates and durations are shown.
import { useCallback, useMemo, useState } from 'react';
import { type SessionInfo, type Task, describeError } from '../api/client.ts';
import { type Route, urlFor } from '../state/store.ts';
import { type Services, useServices } from '../state/useStore.ts';
import { type Role, WorkflowApi } from './api.ts';
import './workflow.css';

export function useWorkflow(): WorkflowApi {
  const { api } = useServices();
  return useMemo(() => new WorkflowApi(api), [api]);
}

/** The user's roles in a project (site admins act as managers). */
export function rolesIn(session: SessionInfo | undefined, project: string | undefined): Set<Role> {
  const roles = new Set<Role>();
  if (!session || !project) return roles;
  for (const m of session.memberships ?? []) if (m.projectId === project) for (const r of m.roles ?? []) roles.add(r);
  if (session.user.admin) roles.add('manager');
  return roles;
}

/** A reload counter: bump it after a change to load a page's data again. */
export function useReload(): [number, () => void] {
  const [n, setN] = useState(0);
  return [n, useCallback(() => setN((x) => x + 1), [])];
}

/** Runs an action, reporting its failure as a message; resolves to its value or undefined. */
export async function attempt<T>(services: Services, what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    services.store.dispatch({ type: 'notify', level: 'error', text: `${what}: ${describeError(err)}` });
    return undefined;
  }
}

/**
 * Opens a task's study in the viewer, in the context of the task. The
 * assignee's assigned (or sent back) read is started first, which opens
 * their annotation set. `reader` shows someone else's set (a reviewer
 * opening a read).
 */
export async function openTask(services: Services, wf: WorkflowApi, task: Task, me: string, reader?: string): Promise<void> {
  let t = task;
  if (t.assignee === me && (t.state === 'assigned' || t.state === 'changes_requested')) t = (await wf.transition(t, 'start')).task ?? t;
  const { store, navigate } = services;
  store.dispatch({ type: 'selectProject', projectId: t.projectId });
  const route: Route = { page: 'viewer', studyUID: t.studyUID, seriesUID: t.seriesUID, taskId: t.id };
  if (reader && reader !== me) route.reader = reader;
  navigate(urlFor(route, store.getState().query, t.projectId));
}

const STATE_NAMES: Record<string, string> = {
  unassigned: 'unassigned',
  assigned: 'assigned',
  in_progress: 'in progress',
  submitted: 'submitted',
  in_review: 'in review',
  accepted: 'accepted',
  changes_requested: 'changes requested',
  resolved: 'resolved',
  reading: 'reading',
  review: 'review',
  arbitration: 'arbitration',
  done: 'done',
};

export function StateBadge({ state }: { state: string }) {
  return (
    <span className={`state state-${state}`} data-testid="state">
      {STATE_NAMES[state] ?? state}
    </span>
  );
}

/** A date and time in the user's locale, or '—'. */
export function when(iso: string | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** Seconds as "1 h 05 min", "4 min 12 s" or "35 s". */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function isOverdue(t: Pick<Task, 'due' | 'state'>, now = Date.now()): boolean {
  return !!t.due && new Date(t.due).getTime() < now && !['submitted', 'in_review', 'accepted', 'resolved'].includes(t.state);
}

/** A UID or ID shortened for a table cell (the whole one in its title). */
export function Short({ id }: { id: string }) {
  return <span title={id}>{id.length > 18 ? `…${id.slice(-14)}` : id}</span>;
}

export function NeedProject() {
  return <p className="muted">Choose a project at the top right.</p>;
}
