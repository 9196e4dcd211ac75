// The app's state outside Cornerstone: where the user is (route), which
// project they work in, the study search, what the viewer shows, and the
// messages shown to them. A reducer over plain data, so every transition is
// unit-tested; React reads it through useSyncExternalStore (useStore.ts).
import type { Project } from '../api/client.ts';
import type { StudyQuery } from '../dicomweb/qido.ts';
import type { PrimaryTool } from '../viewer/presets.ts';

/** The reading workflow's pages (src/workflow), each at /<page>. */
export const WORK_PAGES = ['tasks', 'review', 'arbitration', 'project', 'exports', 'admin'] as const;
export type WorkPage = (typeof WORK_PAGES)[number];

export type Route =
  | { page: 'worklist' }
  | { page: WorkPage }
  /** taskId: the study is open for that task; reader: whose annotation set is shown (default: the user's). */
  | { page: 'viewer'; studyUID: string; seriesUID?: string; taskId?: string; reader?: string };

export type Layout = 'auto' | 'mpr' | 'stack';

export interface Notice {
  id: number;
  level: 'error' | 'warning' | 'info';
  text: string;
}

export interface AppState {
  route: Route;
  projects: Project[];
  projectsLoaded: boolean;
  /** The project the user works in (annotations are saved into it). */
  projectId?: string;
  query: StudyQuery;
  viewer: {
    layout: Layout;
    tool: PrimaryTool;
    /** The window preset in force (id), 'auto', or undefined (the series' own). */
    preset?: string;
    cine: boolean;
    help: boolean;
  };
  notices: Notice[];
  nextNoticeId: number;
}

export type Action =
  | { type: 'navigate'; route: Route }
  | { type: 'projectsLoaded'; projects: Project[] }
  | { type: 'selectProject'; projectId: string | undefined }
  | { type: 'setQuery'; query: StudyQuery }
  | { type: 'setLayout'; layout: Layout }
  | { type: 'setTool'; tool: PrimaryTool }
  | { type: 'setPreset'; preset: string | undefined }
  | { type: 'setCine'; playing: boolean }
  | { type: 'toggleHelp' }
  | { type: 'notify'; level: Notice['level']; text: string }
  | { type: 'dismiss'; id: number };

export const PAGE_SIZE = 50;

export function initialState(init: Partial<Pick<AppState, 'route' | 'projectId' | 'query'>> = {}): AppState {
  return {
    route: init.route ?? { page: 'worklist' },
    projects: [],
    projectsLoaded: false,
    projectId: init.projectId,
    query: { limit: PAGE_SIZE, ...init.query },
    viewer: { layout: 'auto', tool: 'WindowLevel', preset: undefined, cine: false, help: false },
    notices: [],
    nextNoticeId: 1,
  };
}

/** At most this many messages are kept; older ones go first. */
const MAX_NOTICES = 5;

export function reduce(s: AppState, a: Action): AppState {
  switch (a.type) {
    case 'navigate': {
      const same = s.route.page === 'viewer' && a.route.page === 'viewer' && s.route.studyUID === a.route.studyUID;
      // A new study starts with the viewer's defaults; another series of
      // the same study keeps the tool but not the window or cine.
      const viewer = same
        ? { ...s.viewer, preset: undefined, cine: false }
        : { ...s.viewer, layout: 'auto' as Layout, preset: undefined, cine: false, help: false };
      return { ...s, route: a.route, viewer };
    }
    case 'projectsLoaded': {
      const projects = a.projects;
      // Keep the chosen project if it still exists; otherwise pick the
      // only one, or none (the user chooses).
      let projectId = s.projectId;
      if (projectId && !projects.some((p) => p.id === projectId)) projectId = undefined;
      if (!projectId && projects.length === 1) projectId = projects[0].id;
      return { ...s, projects, projectsLoaded: true, projectId };
    }
    case 'selectProject':
      return { ...s, projectId: a.projectId || undefined };
    case 'setQuery':
      return { ...s, query: { limit: PAGE_SIZE, ...a.query } };
    case 'setLayout':
      return { ...s, viewer: { ...s.viewer, layout: a.layout } };
    case 'setTool':
      return { ...s, viewer: { ...s.viewer, tool: a.tool } };
    case 'setPreset':
      return { ...s, viewer: { ...s.viewer, preset: a.preset } };
    case 'setCine':
      return { ...s, viewer: { ...s.viewer, cine: a.playing } };
    case 'toggleHelp':
      return { ...s, viewer: { ...s.viewer, help: !s.viewer.help } };
    case 'notify': {
      // The same message twice in a row is shown once.
      const last = s.notices.at(-1);
      if (last && last.text === a.text && last.level === a.level) return s;
      const notices = [...s.notices, { id: s.nextNoticeId, level: a.level, text: a.text }].slice(-MAX_NOTICES);
      return { ...s, notices, nextNoticeId: s.nextNoticeId + 1 };
    }
    case 'dismiss':
      return { ...s, notices: s.notices.filter((n) => n.id !== a.id) };
  }
}

export function selectedProject(s: AppState): Project | undefined {
  return s.projects.find((p) => p.id === s.projectId);
}

// --- URLs -------------------------------------------------------------------
// The route and the search live in the URL so a study can be bookmarked or
// shared and the browser's back button works:
//   /?name=doe&modality=CT&from=2024-01-01&to=2024-12-31&project=<id>
//   /studies/<StudyInstanceUID>?series=<SeriesInstanceUID>&project=<id>&task=<id>&reader=<name>
//   /tasks, /review, /arbitration, /project, /admin ?project=<id>

export interface Location {
  pathname: string;
  search: string;
}

const uidPattern = /^[0-9]+(\.[0-9]+)*$/;

export function parseLocation(loc: Location): { route: Route; query: StudyQuery; projectId?: string } {
  const params = new URLSearchParams(loc.search);
  const projectId = params.get('project') || undefined;
  const m = /^\/studies\/([^/]+)\/?$/.exec(loc.pathname);
  if (m) {
    const studyUID = decodeURIComponent(m[1]);
    if (uidPattern.test(studyUID)) {
      const seriesUID = params.get('series') || undefined;
      const route: Route = { page: 'viewer', studyUID, seriesUID: seriesUID && uidPattern.test(seriesUID) ? seriesUID : undefined };
      const taskId = params.get('task');
      const reader = params.get('reader');
      if (taskId) route.taskId = taskId;
      if (reader) route.reader = reader;
      return { route, query: {}, projectId };
    }
  }
  const work = WORK_PAGES.find((w) => loc.pathname === `/${w}` || loc.pathname === `/${w}/`);
  if (work) return { route: { page: work }, query: {}, projectId };
  const query: StudyQuery = {};
  const set = (k: keyof StudyQuery, p: string) => {
    const v = params.get(p);
    if (v) (query as Record<string, string>)[k] = v;
  };
  set('patientName', 'name');
  set('patientId', 'id');
  set('accession', 'accession');
  set('modality', 'modality');
  set('dateFrom', 'from');
  set('dateTo', 'to');
  const page = Number(params.get('page') ?? '');
  if (Number.isInteger(page) && page > 1) query.offset = (page - 1) * PAGE_SIZE;
  return { route: { page: 'worklist' }, query, projectId };
}

export function urlFor(route: Route, query: StudyQuery, projectId?: string): string {
  const params = new URLSearchParams();
  let path = '/';
  if (route.page === 'viewer') {
    path = `/studies/${encodeURIComponent(route.studyUID)}`;
    if (route.seriesUID) params.set('series', route.seriesUID);
    if (route.taskId) params.set('task', route.taskId);
    if (route.reader) params.set('reader', route.reader);
  } else if (route.page !== 'worklist') {
    path = `/${route.page}`;
  } else {
    const add = (p: string, v: string | undefined) => v && params.set(p, v);
    add('name', query.patientName);
    add('id', query.patientId);
    add('accession', query.accession);
    add('modality', query.modality);
    add('from', query.dateFrom);
    add('to', query.dateTo);
    if (query.offset) params.set('page', String(Math.floor(query.offset / PAGE_SIZE) + 1));
  }
  if (projectId) params.set('project', projectId);
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

// --- the store --------------------------------------------------------------

export type Listener = () => void;

export class Store {
  private state: AppState;
  private readonly listeners = new Set<Listener>();

  constructor(state: AppState) {
    this.state = state;
  }

  getState = (): AppState => this.state;

  dispatch = (a: Action): void => {
    const next = reduce(this.state, a);
    if (next === this.state) return;
    this.state = next;
    for (const l of this.listeners) l();
  };

  subscribe = (l: Listener): (() => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };
}
