import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, describeError } from './client.ts';

interface Call {
  url: string;
  init: RequestInit;
}

/** A fetch that answers from a list of canned responses and records the calls. */
function fakeFetch(...responses: Array<Response | Error>) {
  const calls: Call[] = [];
  const fn = async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(input), init: init ?? {} });
    const r = responses.shift();
    if (!r) throw new Error('unexpected request');
    if (r instanceof Error) throw r;
    return r;
  };
  return { fetch: fn as typeof fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
const problem = (status: number, body: Record<string, unknown>) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/problem+json' } });

const project = { id: '01a2', name: 'Demo', createdAt: '2026-01-01T00:00:00Z', createdBy: 'me', schemaVersion: 1 };

describe('ApiClient', () => {
  it('lists projects from /api/v1/projects', async () => {
    const f = fakeFetch(json(200, [project]));
    const c = new ApiClient({ fetch: f.fetch });
    await expect(c.listProjects()).resolves.toEqual([project]);
    expect(f.calls[0].url).toBe('/api/v1/projects');
    expect(f.calls[0].init.method).toBe('GET');
    expect((f.calls[0].init.headers as Record<string, string>).Accept).toContain('application/json');
  });

  it('treats a null list as empty', async () => {
    const f = fakeFetch(json(200, null));
    await expect(new ApiClient({ fetch: f.fetch }).listProjects()).resolves.toEqual([]);
  });

  it('escapes path segments and builds query strings without empty values', async () => {
    const f = fakeFetch(json(200, { findings: [] }), json(200, []));
    const c = new ApiClient({ base: 'http://h:1/api/v1/', fetch: f.fetch });
    await c.getSeriesGeometry('1.2.3', '4.5/6');
    expect(f.calls[0].url).toBe('http://h:1/api/v1/studies/1.2.3/series/4.5%2F6/geometry');
    await c.listAnnotationSets({ project: 'p 1', study: '', reader: undefined, limit: 10 });
    expect(f.calls[1].url).toBe('http://h:1/api/v1/annotation-sets?project=p+1&limit=10');
  });

  it('turns a problem+json answer into an ApiError with the detail as message', async () => {
    const p = {
      type: 'urn:radmark:problem:unsupported', title: 'Unsupported Media Type', status: 415, code: 'unsupported',
      detail: 'image has no patient geometry', instance: '/api/v1/studies/1/series/2/geometry', requestId: 'abc123',
    };
    const c = new ApiClient({ fetch: fakeFetch(problem(415, p)).fetch });
    const err = await c.getSeriesGeometry('1', '2').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.message).toBe('image has no patient geometry');
    expect(e.status).toBe(415);
    expect(e.code).toBe('unsupported');
    expect(e.requestId).toBe('abc123');
    expect(describeError(e)).toBe('image has no patient geometry (request abc123)');
  });

  it('sends If-None-Match for a first save and If-Match for later ones, and reads the ETag', async () => {
    const rev = { id: 'r2' };
    const f = fakeFetch(json(201, { id: 'r1' }, { ETag: '"r1"' }), json(201, rev, { ETag: '"r2"' }));
    const c = new ApiClient({ fetch: f.fetch });
    const body = { message: 'first', content: { items: [], schemaVersion: 1 } } as unknown as Parameters<ApiClient['saveRevision']>[1];
    const first = await c.saveRevision('s1', body, undefined);
    expect(first.etag).toBe('r1');
    expect((f.calls[0].init.headers as Record<string, string>)['If-None-Match']).toBe('*');
    expect(f.calls[0].init.body).toBe(JSON.stringify(body));
    expect((f.calls[0].init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    const second = await c.saveRevision('s1', body, 'r1');
    expect(second).toEqual({ value: rev, etag: 'r2' });
    expect((f.calls[1].init.headers as Record<string, string>)['If-Match']).toBe('"r1"');
  });

  it('reports a 409 with the head the other writer saved', async () => {
    const p = { type: 'urn:radmark:problem:conflict', title: 'Conflict', status: 409, code: 'conflict', detail: 'revision r1 is not the head any more (the head is r9)', head: 'r9' };
    const c = new ApiClient({ fetch: fakeFetch(problem(409, p)).fetch });
    const e = (await c.saveRevision('s', {} as never, 'r1').catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('conflict');
    expect(e.head).toBe('r9');
  });

  it('explains a failed connection in words', async () => {
    const c = new ApiClient({ fetch: fakeFetch(new TypeError('Failed to fetch')).fetch });
    const e = (await c.listProjects().catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('network');
    expect(e.status).toBe(0);
    expect(e.message).toMatch(/cannot reach the radmark server .*Failed to fetch/);
  });

  it('reports a non-problem error body with the status and a snippet', async () => {
    const c = new ApiClient({ fetch: fakeFetch(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' })).fetch });
    const e = (await c.listProjects().catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(502);
    expect(e.code).toBe('internal');
    expect(e.message).toBe('GET /api/v1/projects failed: HTTP 502 Bad Gateway: <html>bad gateway</html>');
  });

  it('rejects a 200 answer that is not JSON', async () => {
    const c = new ApiClient({ fetch: fakeFetch(new Response('<!doctype html>', { status: 200, headers: { 'Content-Type': 'text/html' } })).fetch });
    const e = (await c.listProjects().catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe('bad_response');
    expect(e.message).toMatch(/not JSON \(text\/html\)/);
  });

  it('reads a labelmap as bytes', async () => {
    const f = fakeFetch(new Response(new Uint8Array([0, 1, 2, 255]), { status: 200, headers: { 'Content-Type': 'application/octet-stream' } }));
    const bytes = await new ApiClient({ fetch: f.fetch }).getLabelmap('r1', 3);
    expect([...bytes]).toEqual([0, 1, 2, 255]);
    expect(f.calls[0].url).toBe('/api/v1/revisions/r1/labelmaps/3');
  });
});

describe('ApiClient sessions', () => {
  const me = { user: { id: 'u1', name: 'annotator1' }, memberships: [], via: 'session', csrfToken: 'tok-1' };
  it('sends the CSRF token from sign-in on unsafe requests only', async () => {
    const f = fakeFetch(json(200, me), json(200, [project]), json(201, project));
    const c = new ApiClient({ fetch: f.fetch });
    await c.login('annotator1', 'pw');
    expect(JSON.parse(String(f.calls[0].init.body))).toEqual({ name: 'annotator1', password: 'pw' });
    await c.listProjects();
    await c.createProject({ name: 'x' });
    expect((f.calls[1].init.headers as Record<string, string>)['X-CSRF-Token']).toBeUndefined();
    expect((f.calls[2].init.headers as Record<string, string>)['X-CSRF-Token']).toBe('tok-1');
  });
  it('reports a 401 to the app (the session ended) but not a failed sign-in', async () => {
    const f = fakeFetch(problem(401, { status: 401, code: 'unauthorized', title: 'Unauthorized', detail: 'sign in first' }), problem(401, { status: 401, code: 'unauthorized', title: 'Unauthorized', detail: 'wrong name or password' }));
    const c = new ApiClient({ fetch: f.fetch });
    const seen: string[] = [];
    c.onUnauthorized = (e) => seen.push(e.message);
    await expect(c.listProjects()).rejects.toMatchObject({ status: 401 });
    await expect(c.login('a', 'b')).rejects.toThrow('wrong name or password');
    expect(seen).toEqual(['sign in first']);
  });
  it('me(): undefined on a server without accounts, the CSRF token otherwise', async () => {
    const f = fakeFetch(problem(404, { status: 404, code: 'not_found', title: 'Not Found', detail: 'no route' }), json(200, me));
    const c = new ApiClient({ fetch: f.fetch });
    await expect(c.me()).resolves.toBeUndefined();
    await expect(c.me()).resolves.toMatchObject({ user: { name: 'annotator1' } });
    expect(c.csrfToken).toBe('tok-1');
  });
});
