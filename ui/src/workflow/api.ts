// The reading workflow's and the account admin's /api/v1 calls, on the
// shared typed client (src/api/client.ts): tasks and their transitions,
// queues, cases and review comments, progress, the workflow settings,
// members, users and one's own API tokens.
import type {
  APIToken,
  ApiClient,
  Comment,
  CommentRequest,
  Decision,
  Progress,
  Task,
  User,
  WorkflowConfig,
  caseDetail,
  createTokenRequest,
  createUserRequest,
  createdToken,
  createdUser,
  memberInfo,
  taskDetail,
  updateUserRequest,
  workflowRequest,
} from '../api/client.ts';

export type Role = 'manager' | 'annotator' | 'radiologist' | 'reviewer' | 'viewer';
export const ROLES: readonly Role[] = ['manager', 'annotator', 'radiologist', 'reviewer', 'viewer'];

/** The transitions of a task (POST /tasks/{t}/<transition>). */
export type Transition = 'assign' | 'claim' | 'release' | 'start' | 'submit' | 'review' | 'accept' | 'request-changes' | 'resolve';

export type Queue = 'review' | 'arbitration' | 'unassigned';

const enc = encodeURIComponent;
const list = <T>(p: Promise<T[] | null>): Promise<T[]> => p.then((v) => v ?? []);

export class WorkflowApi {
  private readonly api: ApiClient;
  constructor(api: ApiClient) {
    this.api = api;
  }

  // --- tasks ---------------------------------------------------------------
  /** The caller's tasks in a project. */
  myTasks(project: string, signal?: AbortSignal): Promise<Task[]> {
    return list(this.api.request<Task[] | null>('GET', `/projects/${enc(project)}/tasks`, { query: { mine: true, limit: 1000 }, signal }));
  }
  queue(project: string, queue: Queue, signal?: AbortSignal): Promise<Task[]> {
    return list(this.api.request<Task[] | null>('GET', `/projects/${enc(project)}/tasks`, { query: { queue, limit: 1000 }, signal }));
  }
  /** Pulls the caller's next task (null when nothing waits). */
  async nextTask(project: string, kind: 'read' | 'arbitration' = 'read'): Promise<Task | null> {
    const r = await this.api.request<{ task: Task | null }>('POST', `/projects/${enc(project)}/next-task`, { query: { kind } });
    return r.task;
  }
  task(id: string, signal?: AbortSignal): Promise<taskDetail> {
    return this.api.request('GET', `/tasks/${enc(id)}`, { signal });
  }
  /** A transition based on the task version the user saw (a task changed since is 409). */
  transition(task: Task, tr: Transition, extra: { assignee?: string; decision?: Decision } = {}): Promise<taskDetail> {
    return this.api.request('POST', `/tasks/${enc(task.id)}/${tr}`, { body: { version: task.version, ...extra } });
  }

  // --- cases and comments ------------------------------------------------
  caseDetail(id: string, signal?: AbortSignal): Promise<caseDetail> {
    return this.api.request('GET', `/cases/${enc(id)}`, { signal });
  }
  comments(caseId: string, signal?: AbortSignal): Promise<Comment[]> {
    return list(this.api.request<Comment[] | null>('GET', `/cases/${enc(caseId)}/comments`, { signal }));
  }
  addComment(caseId: string, req: CommentRequest): Promise<Comment> {
    return this.api.request('POST', `/cases/${enc(caseId)}/comments`, { body: req });
  }
  resolveComment(c: Comment, resolved: boolean): Promise<Comment> {
    return this.api.request('POST', `/comments/${enc(c.id)}/resolve`, { body: { resolved, version: c.version } });
  }

  // --- the project ---------------------------------------------------------
  progress(project: string, signal?: AbortSignal): Promise<Progress> {
    return this.api.request('GET', `/projects/${enc(project)}/progress`, { signal });
  }
  config(project: string, signal?: AbortSignal): Promise<WorkflowConfig> {
    return this.api.request('GET', `/projects/${enc(project)}/workflow`, { signal });
  }
  /** Stores the next workflow version, based on the version the user edited. */
  putConfig(project: string, req: workflowRequest): Promise<WorkflowConfig> {
    return this.api.request('PUT', `/projects/${enc(project)}/workflow`, { body: req });
  }
  members(project: string, signal?: AbortSignal): Promise<memberInfo[]> {
    return list(this.api.request<memberInfo[] | null>('GET', `/projects/${enc(project)}/members`, { signal }));
  }
  setMember(project: string, user: string, roles: Role[]): Promise<unknown> {
    return this.api.request('PUT', `/projects/${enc(project)}/members/${enc(user)}`, { body: { roles } });
  }
  removeMember(project: string, user: string): Promise<unknown> {
    return this.api.request('DELETE', `/projects/${enc(project)}/members/${enc(user)}`);
  }

  // --- accounts --------------------------------------------------------------
  users(signal?: AbortSignal): Promise<User[]> {
    return list(this.api.request<User[] | null>('GET', '/users', { signal }));
  }
  createUser(req: createUserRequest): Promise<createdUser> {
    return this.api.request('POST', '/users', { body: req });
  }
  updateUser(id: string, req: updateUserRequest): Promise<User> {
    return this.api.request('PATCH', `/users/${enc(id)}`, { body: req });
  }
  tokens(signal?: AbortSignal): Promise<APIToken[]> {
    return list(this.api.request<APIToken[] | null>('GET', '/tokens', { signal }));
  }
  createToken(req: createTokenRequest): Promise<createdToken> {
    return this.api.request('POST', '/tokens', { body: req });
  }
  revokeToken(id: string): Promise<unknown> {
    return this.api.request('DELETE', `/tokens/${enc(id)}`);
  }
}
