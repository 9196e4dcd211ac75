import { describe, expect, it } from 'vitest';
import { ApiClient, type SessionInfo } from '../api/client.ts';
import { WorkflowApi } from './api.ts';
import { duration, isOverdue, rolesIn } from './common.tsx';

describe('workflow helpers', () => {
  it('shows durations in s, min and h', () => {
    expect(duration(0)).toBe('0 s');
    expect(duration(59.6)).toBe('1 min 00 s');
    expect(duration(252)).toBe('4 min 12 s');
    expect(duration(3900)).toBe('1 h 05 min');
  });
  it('calls a task overdue only while it waits on its reader', () => {
    const now = Date.parse('2026-03-02T00:00:00Z');
    expect(isOverdue({ due: '2026-03-01T00:00:00Z', state: 'in_progress' }, now)).toBe(true);
    expect(isOverdue({ due: '2026-03-01T00:00:00Z', state: 'submitted' }, now)).toBe(false);
    expect(isOverdue({ due: '2026-03-03T00:00:00Z', state: 'assigned' }, now)).toBe(false);
    expect(isOverdue({ state: 'assigned' }, now)).toBe(false);
  });
  it('reads the roles of one project from the session; a site admin manages', () => {
    const s = (admin: boolean): SessionInfo => ({
      via: 'session',
      user: { id: 'u1', name: 'ann', admin, createdAt: '' },
      memberships: [
        { projectId: 'p1', userId: 'u1', roles: ['annotator', 'reviewer'] },
        { projectId: 'p2', userId: 'u1', roles: ['viewer'] },
      ],
    });
    expect([...rolesIn(s(false), 'p1')].sort()).toEqual(['annotator', 'reviewer']);
    expect([...rolesIn(s(false), 'p3')]).toEqual([]);
    expect([...rolesIn(s(true), 'p2')].sort()).toEqual(['manager', 'viewer']);
    expect(rolesIn(undefined, 'p1').size).toBe(0);
  });
});

describe('WorkflowApi', () => {
  it('sends the task version the user saw with a transition, and the CSRF token', async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const fetch = (async (url: RequestInfo | URL, init?: RequestInit) => {
      calls.push({ url: String(url), init: init ?? {} });
      return new Response(JSON.stringify({ task: { id: 't/1', version: 4 }, allowed: ['review'] }), { status: 200, headers: { 'Content-Type': 'application/json' } });
    }) as typeof globalThis.fetch;
    const api = new ApiClient({ fetch });
    api.csrfToken = 'csrf';
    const wf = new WorkflowApi(api);
    const d = await wf.transition({ id: 't/1', version: 3 } as Parameters<WorkflowApi['transition']>[0], 'request-changes');
    expect(d.allowed).toEqual(['review']);
    expect(calls[0].url).toBe('/api/v1/tasks/t%2F1/request-changes');
    expect(calls[0].init.method).toBe('POST');
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ version: 3 });
    expect((calls[0].init.headers as Record<string, string>)['X-CSRF-Token']).toBe('csrf');
  });
  it('answers null when no task waits, and lists the caller’s tasks', async () => {
    const answers = [{ task: null }, null];
    const urls: string[] = [];
    const fetch = (async (url: RequestInfo | URL) => {
      urls.push(String(url));
      return new Response(JSON.stringify(answers.shift()), { status: 200, headers: { 'Content-Type': 'application/json' } });
    }) as typeof globalThis.fetch;
    const wf = new WorkflowApi(new ApiClient({ fetch }));
    expect(await wf.nextTask('p1')).toBeNull();
    expect(await wf.myTasks('p1')).toEqual([]);
    expect(urls).toEqual(['/api/v1/projects/p1/next-task?kind=read', '/api/v1/projects/p1/tasks?mine=true&limit=1000']);
  });
});
