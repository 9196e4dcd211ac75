import { describe, expect, it, vi } from 'vitest';
import type { Project } from '../api/client.ts';
import { PAGE_SIZE, Store, WORK_PAGES, initialState, parseLocation, reduce, selectedProject, urlFor } from './store.ts';

const p = (id: string): Project => ({ id, name: `Project ${id}`, createdAt: '2026-01-01T00:00:00Z', createdBy: 'me', schemaVersion: 1 });

describe('reduce', () => {
  it('picks the only project, keeps a chosen one that exists and drops one that does not', () => {
    let s = reduce(initialState(), { type: 'projectsLoaded', projects: [p('a')] });
    expect(s.projectId).toBe('a');
    expect(s.projectsLoaded).toBe(true);
    s = reduce(initialState({ projectId: 'b' }), { type: 'projectsLoaded', projects: [p('a'), p('b')] });
    expect(s.projectId).toBe('b');
    expect(selectedProject(s)?.name).toBe('Project b');
    s = reduce(initialState({ projectId: 'gone' }), { type: 'projectsLoaded', projects: [p('a'), p('b')] });
    expect(s.projectId).toBeUndefined();
    s = reduce(s, { type: 'selectProject', projectId: 'a' });
    expect(s.projectId).toBe('a');
    s = reduce(s, { type: 'selectProject', projectId: '' as unknown as undefined });
    expect(s.projectId).toBeUndefined();
  });

  it('resets the viewer for a new study but keeps the tool for another series of the same study', () => {
    let s = initialState();
    s = reduce(s, { type: 'navigate', route: { page: 'viewer', studyUID: '1.2' } });
    s = reduce(s, { type: 'setTool', tool: 'Pan' });
    s = reduce(s, { type: 'setLayout', layout: 'stack' });
    s = reduce(s, { type: 'setPreset', preset: 'lung' });
    s = reduce(s, { type: 'setCine', playing: true });
    s = reduce(s, { type: 'navigate', route: { page: 'viewer', studyUID: '1.2', seriesUID: '1.2.3' } });
    expect(s.viewer).toMatchObject({ tool: 'Pan', layout: 'stack', preset: undefined, cine: false });
    s = reduce(s, { type: 'navigate', route: { page: 'viewer', studyUID: '9.9' } });
    expect(s.viewer).toMatchObject({ tool: 'Pan', layout: 'auto', preset: undefined });
  });

  it('keeps the last five messages and no repeats', () => {
    let s = initialState();
    for (let i = 0; i < 7; i++) s = reduce(s, { type: 'notify', level: 'error', text: `e${i}` });
    expect(s.notices.map((n) => n.text)).toEqual(['e2', 'e3', 'e4', 'e5', 'e6']);
    const same = reduce(s, { type: 'notify', level: 'error', text: 'e6' });
    expect(same).toBe(s);
    s = reduce(s, { type: 'dismiss', id: s.notices[0].id });
    expect(s.notices.map((n) => n.text)).toEqual(['e3', 'e4', 'e5', 'e6']);
  });

  it('toggles help and always pages by PAGE_SIZE', () => {
    let s = reduce(initialState(), { type: 'toggleHelp' });
    expect(s.viewer.help).toBe(true);
    s = reduce(s, { type: 'setQuery', query: { modality: 'CT' } });
    expect(s.query).toEqual({ limit: PAGE_SIZE, modality: 'CT' });
  });
});

describe('URLs', () => {
  it('round-trips the study list search', () => {
    const q = { patientName: 'Doe^J', modality: 'CT', dateFrom: '2024-01-01', dateTo: '2024-02-01', offset: 2 * PAGE_SIZE };
    const url = urlFor({ page: 'worklist' }, q, 'p1');
    expect(url).toBe('/?name=Doe%5EJ&modality=CT&from=2024-01-01&to=2024-02-01&page=3&project=p1');
    const u = new URL(url, 'http://x');
    expect(parseLocation(u)).toEqual({ route: { page: 'worklist' }, query: q, projectId: 'p1' });
  });
  it('round-trips a study and series', () => {
    const url = urlFor({ page: 'viewer', studyUID: '1.2.840.1', seriesUID: '1.2.840.1.5' }, {}, undefined);
    expect(url).toBe('/studies/1.2.840.1?series=1.2.840.1.5');
    expect(parseLocation(new URL(url, 'http://x')).route).toEqual({ page: 'viewer', studyUID: '1.2.840.1', seriesUID: '1.2.840.1.5' });
  });
  it('round-trips a study opened for a task, showing another reader', () => {
    const route = { page: 'viewer' as const, studyUID: '1.2.840.1', taskId: 't-1', reader: 'annotator1' };
    const url = urlFor(route, {}, 'p1');
    expect(url).toBe('/studies/1.2.840.1?task=t-1&reader=annotator1&project=p1');
    expect(parseLocation(new URL(url, 'http://x'))).toEqual({ route: { ...route, seriesUID: undefined }, query: {}, projectId: 'p1' });
  });
  it('round-trips the workflow pages', () => {
    for (const page of WORK_PAGES) {
      const url = urlFor({ page }, { patientName: 'ignored' }, 'p1');
      expect(url).toBe(`/${page}?project=p1`);
      expect(parseLocation(new URL(url, 'http://x'))).toEqual({ route: { page }, query: {}, projectId: 'p1' });
    }
    expect(parseLocation({ pathname: '/tasks/', search: '' }).route).toEqual({ page: 'tasks' });
    expect(parseLocation({ pathname: '/tasks/x', search: '' }).route).toEqual({ page: 'worklist' });
  });
  it('sends anything that is not a study UID to the study list', () => {
    expect(parseLocation({ pathname: '/studies/<script>', search: '' }).route).toEqual({ page: 'worklist' });
    expect(parseLocation({ pathname: '/nope', search: '?page=x' })).toEqual({ route: { page: 'worklist' }, query: {}, projectId: undefined });
    expect(parseLocation({ pathname: '/studies/1.2', search: '?series=bad' }).route).toEqual({ page: 'viewer', studyUID: '1.2', seriesUID: undefined });
  });
});

describe('Store', () => {
  it('notifies subscribers of changes only', () => {
    const st = new Store(initialState());
    const l = vi.fn();
    const off = st.subscribe(l);
    st.dispatch({ type: 'toggleHelp' });
    expect(l).toHaveBeenCalledTimes(1);
    const s = st.getState();
    st.dispatch({ type: 'dismiss', id: 42 });
    expect(st.getState()).not.toBe(s); // a new object, listeners called
    off();
    st.dispatch({ type: 'toggleHelp' });
    expect(l).toHaveBeenCalledTimes(2);
  });
});
