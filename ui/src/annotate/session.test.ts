import { describe, expect, test } from 'vitest';
import { ApiClient } from '../api/client.ts';
import { type Draft, AnnotationSession } from './session.ts';

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

function fake(...responses: Response[]) {
  const calls: Array<{ method: string; url: string; headers: Record<string, string>; body?: unknown }> = [];
  const fetchFn = async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ method: init?.method ?? 'GET', url: String(input), headers: (init?.headers ?? {}) as Record<string, string>, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const r = responses.shift();
    if (!r) return json(200, []);
    return r;
  };
  return { api: new ApiClient({ fetch: fetchFn as typeof fetch }), calls };
}

const set = { id: 's1', projectId: 'p', studyUID: '1.2', reader: 'ann', headNumber: 0, createdAt: '', updatedAt: '' };
const rev = (id: string, number: number, extra: Record<string, unknown> = {}) => ({ id, number, author: 'ann', contentHash: 'h', createdAt: '', setId: 's1', ...extra });
const item = { id: 'i1', kind: 'length' as const, label: 'mass', source: { type: 'human' }, lps: [[0, 0, 0], [10, 0, 0]] as Array<[number, number, number]> };

/** A session (autosave off) on the loaded head with one item added. */
async function editedSession(api: ApiClient): Promise<AnnotationSession> {
  const s = new AnnotationSession({ api, projectId: 'p', studyUID: '1.2', reader: 'ann', content: () => ({ items: [item], answers: [] }) });
  s.autosaveMs = 0;
  await s.load();
  s.changed();
  return s;
}

describe('AnnotationSession', () => {
  test('the first save opens the set and sends If-None-Match: *, the next If-Match with the head; only changed slices of changed layers', async () => {
    const { api, calls } = fake(json(200, []), json(201, set), json(201, rev('r1', 1)), json(200, []), json(201, rev('r2', 2)), json(200, []));
    let content: Draft = { items: [item], answers: [], labelmaps: new Map([[0, new Uint8Array(2 * 2 * 3)], [1, new Uint8Array(2 * 2 * 3)]]) };
    const s = new AnnotationSession({ api, projectId: 'p', studyUID: '1.2', reader: 'ann', shape: { seriesUID: '1.2.3', columns: 2, rows: 2, slices: 3 }, content: () => content });
    s.autosaveMs = 0;
    await s.load();
    content.labelmaps!.get(0)![5] = 1;
    s.changed();
    expect(s.snapshot().dirty).toBe(true);
    await s.save('first');
    const save1 = calls.find((c) => c.url.endsWith('/revisions') && c.method === 'POST')!;
    expect(save1.headers['If-None-Match']).toBe('*');
    type Edits = { labelmaps: Array<{ layer: number; data: Record<string, string>; encoding: string }> };
    // Layer 1 is still empty: nothing to send for it.
    expect((save1.body as Edits).labelmaps.map((l) => [l.layer, l.encoding, Object.keys(l.data)])).toEqual([[0, 'rle', ['1']]]);
    expect(s.snapshot().head).toBe('r1');
    expect(s.snapshot().dirty).toBe(false);
    // The overlapping segment on layer 1, over the voxel of layer 0's, and on slice 2.
    content = { ...content, labelmaps: new Map([[0, content.labelmaps!.get(0)!.slice()], [1, content.labelmaps!.get(1)!.slice()]]) };
    content.labelmaps!.get(1)![5] = 1;
    content.labelmaps!.get(1)![9] = 1;
    s.changed();
    await s.save('second');
    const save2 = calls.filter((c) => c.url.endsWith('/revisions') && c.method === 'POST')[1];
    expect(save2.headers['If-Match']).toBe('"r1"');
    expect((save2.body as Edits).labelmaps.map((l) => [l.layer, Object.keys(l.data)])).toEqual([[1, ['1', '2']]]);
  });

  test('a save leaves out answers about items the revision does not hold; the editor keeps them, so they go out once the item is there', async () => {
    const { api, calls } = fake(json(200, []), json(201, set), json(201, rev('r1', 1)), json(200, []), json(201, rev('r2', 2)), json(200, []));
    const segment = { id: 'seg-nodule', kind: 'segmentation' as const, label: 'nodule', source: { type: 'human' }, segment: { layer: 0, value: 1 } };
    const answers = [{ question: 'q', choices: ['a'], item: 'i1' }, { question: 'q', choices: ['b'], item: 'seg-nodule' }];
    let content: Draft = { items: [item], answers };
    const s = new AnnotationSession({ api, projectId: 'p', studyUID: '1.2', reader: 'ann', content: () => content });
    s.autosaveMs = 0;
    await s.load();
    s.changed();
    await s.save('segment not painted yet');
    const saves = () => calls.filter((c) => c.url.endsWith('/revisions') && c.method === 'POST').map((c) => (c.body as { answers: Array<{ item?: string }> }).answers.map((a) => a.item));
    expect(saves()).toEqual([['i1']]);
    expect(s.snapshot().dirty).toBe(false);
    content = { items: [item, segment], answers };
    s.changed();
    expect(s.snapshot().dirty).toBe(true);
    await s.save('painted');
    expect(saves()).toEqual([['i1'], ['i1', 'seg-nodule']]);
  });

  test("a 409 shows the other writer's revision and the diff, and nothing is retried over it", async () => {
    const conflict = new Response(JSON.stringify({ type: 'x', title: 'Conflict', status: 409, code: 'conflict', detail: 'not the head', head: 'r9' }), { status: 409, headers: { 'Content-Type': 'application/problem+json' } });
    const { api, calls } = fake(
      json(200, [{ ...set, head: 'r1', headNumber: 1 }]),
      json(200, rev('r1', 1, { content: { items: [], answers: [], schemaVersion: 1 } })),
      json(200, []),
      conflict,
      json(200, rev('r9', 2, { author: 'other', message: 'theirs' })),
      json(200, { from: 'r1', to: 'r9', added: [{ id: 'x', after: { ...item, id: 'x' } }], removed: [], changed: [], answers: [], voxels: [] }),
    );
    const s = await editedSession(api);
    expect(await s.save('mine')).toBeUndefined();
    const st = s.snapshot().status;
    expect(st.state).toBe('conflict');
    if (st.state === 'conflict') {
      expect(st.theirs.author).toBe('other');
      expect(st.diff?.added?.[0].id).toBe('x');
    }
    expect(calls.some((c) => c.url.includes('/diff?from=r1&to=r9'))).toBe(true);
    // Saving again while in conflict does nothing (no silent overwrite).
    const n = calls.length;
    expect(await s.save('again')).toBeUndefined();
    expect(calls.length).toBe(n);
    expect(s.snapshot().dirty).toBe(true);
  });
});

test('a loaded revision is not an edit, though the server filled in authors', async () => {
  const stored = { ...item, author: 'ann' };
  const { api } = fake(json(200, [{ ...set, head: 'r1', headNumber: 1 }]), json(200, rev('r1', 1, { content: { items: [stored], answers: [{ question: 'q', choices: ['a'], author: 'ann' }], schemaVersion: 1 } })), json(200, []));
  const s = new AnnotationSession({ api, projectId: 'p', studyUID: '1.2', reader: 'ann', content: () => ({ items: [item], answers: [{ question: 'q', choices: ['a'] }] }) });
  s.autosaveMs = 0;
  await s.load();
  s.changed();
  expect(s.snapshot().dirty).toBe(false);
});

test('a save without a connection keeps the edits, says so, and retry saves them with the same message', async () => {
  let online = false;
  const bodies: unknown[] = [];
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    if (url.includes('/annotation-sets?')) return json(200, [{ ...set, head: 'r1', headNumber: 1 }]);
    if (url.endsWith('/revisions/r1')) return json(200, rev('r1', 1, { content: { items: [], answers: [], schemaVersion: 1 } }));
    if (url.endsWith('/revisions') && init?.method === 'POST') {
      if (!online) throw new TypeError('Failed to fetch');
      bodies.push(JSON.parse(String(init.body)));
      return json(201, rev('r2', 2));
    }
    return json(200, []);
  }) as typeof fetch;
  const s = await editedSession(new ApiClient({ fetch: fetchFn }));
  expect(await s.save('my lesion')).toBeUndefined();
  const st = s.snapshot().status;
  expect(st.state).toBe('error');
  if (st.state === 'error') expect(st.message).toMatch(/^Not saved: cannot reach the radmark server.*Your changes are kept.*when the connection is back/);
  expect(s.snapshot().dirty).toBe(true);
  online = true;
  expect((await s.retry())?.id).toBe('r2');
  expect(bodies).toMatchObject([{ parent: 'r1', message: 'my lesion', items: [{ id: 'i1' }] }]);
  expect(s.snapshot().dirty).toBe(false);
  // Nothing to retry once saved.
  expect(await s.retry()).toBeUndefined();
});
