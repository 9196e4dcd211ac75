import { describe, expect, test } from 'vitest';
import { ApiClient, type Job } from '../api/client.ts';
import { ExportsApi, describeJob, mergeJobs, exportFile, exportRequest, formatBytes, jobTitle, parseFractions, pollJobs, releaseResult, upsertJob } from './exports.ts';

const job = (over: Partial<Job> = {}): Job => ({
  id: 'j1', kind: 'export.seg', state: 'queued', attempts: 0, maxAttempts: 3, done: 0, total: 0, params: {},
  createdAt: '2026-11-28T10:00:00Z', createdBy: 'mgr', updatedAt: '2026-11-28T10:00:00Z', ...over,
});

describe('exportRequest', () => {
  test('sends only what each format reads', () => {
    expect(exportRequest({ format: 'seg', series: ' 1.2.3 ', revision: '' })).toEqual({ request: { format: 'seg', series: '1.2.3' } });
    expect(exportRequest({ format: 'seg', series: '1.2.3', revision: 'r1' })).toEqual({ request: { format: 'seg', revision: 'r1' } });
    expect(exportRequest({ format: 'nifti', series: '1.2.3', revision: 'r1' })).toEqual({ request: { format: 'nifti', series: '1.2.3' } });
    expect(exportRequest({ format: 'nnunet', series: '1.2.3' })).toEqual({ request: { format: 'nnunet' } });
    expect(exportRequest({ format: 'measurements', table: 'json' })).toEqual({ request: { format: 'measurements', table: 'json' } });
  });
  test('says what is missing', () => {
    expect(exportRequest({ format: 'seg' })).toEqual({ error: expect.stringContaining('needs a series') });
    expect(exportRequest({ format: 'nifti', revision: 'r1' })).toEqual({ error: expect.stringContaining('needs a series') });
    expect(exportRequest({ format: 'xml' })).toEqual({ error: expect.stringContaining('choose an export format') });
  });
});

describe('parseFractions', () => {
  test('reads three fractions that add up to 1', () => {
    expect(parseFractions('0.7, 0.15, 0.15')).toEqual({ fractions: { train: 0.7, validation: 0.15, test: 0.15 } });
    expect(parseFractions('0.8 0.2 0')).toEqual({ fractions: { train: 0.8, validation: 0.2, test: 0 } });
  });
  test.each([
    ['0.7, 0.3', 'three fractions'],
    ['0.7, 0.2, 0.2', 'add up to 1.1'],
    ['a, b, c', 'numbers from 0 to 1'],
    ['1.5, -0.5, 0', 'numbers from 0 to 1'],
  ])('refuses %s', (text, why) => {
    expect(parseFractions(text)).toEqual({ error: expect.stringContaining(why) });
  });
});

describe('describeJob', () => {
  test('tells each state in plain words', () => {
    expect(describeJob(job())).toEqual({ text: 'waiting to start', fraction: 0 });
    expect(describeJob(job({ attempts: 1 })).text).toBe('waiting to be tried again (attempt 2 of 3)');
    expect(describeJob(job({ state: 'running', done: 3, total: 12, message: 'slice 3' }))).toEqual({ text: 'running, 25%: slice 3', fraction: 0.25 });
    expect(describeJob(job({ state: 'running' }))).toEqual({ text: 'running', fraction: undefined });
    expect(describeJob(job({ state: 'failed', attempts: 3, error: 'revision r9 not found' })).text).toBe('failed after 3 attempts: revision r9 not found');
    expect(describeJob(job({ state: 'failed', attempts: 1 })).text).toBe('failed: no reason was recorded');
  });
  test('a finished export names its file, a release its cases', () => {
    const done = job({ state: 'succeeded', result: { format: 'seg', name: 'seg.dcm', contentType: 'application/dicom', size: 2048, sha256: 'ab', summary: 'DICOM SEG: 2 segments' } });
    expect(exportFile(done)?.sha256).toBe('ab');
    expect(describeJob(done).text).toBe('done: DICOM SEG: 2 segments (2.0 KiB)');
    const rel = job({ kind: 'release', state: 'succeeded', result: { release: { id: 'f'.repeat(64), cases: { train: 2, validation: 1, test: 1 } }, skipped: 2 } });
    expect(releaseResult(rel)?.release.id).toBe('f'.repeat(64));
    expect(exportFile(rel)).toBeUndefined();
    expect(describeJob(rel).text).toBe('done: release of 4 cases; 2 cases not done were left out');
    expect(jobTitle(rel)).toBe('Release');
    expect(jobTitle(done)).toBe('DICOM SEG export');
  });
  test('an export whose file expired says so and offers no download', () => {
    const expired = job({ state: 'succeeded', fileExpiredAt: '2026-12-05T10:00:00Z', result: { format: 'seg', name: 'seg.dcm', contentType: 'application/dicom', size: 2048, sha256: 'ab', summary: 'DICOM SEG: 2 segments' } });
    expect(exportFile(expired)).toBeUndefined();
    expect(describeJob(expired).text).toBe("expired: the file was deleted after the server's export retention; start the export again to download it");
  });
});

test('formatBytes', () => {
  expect([formatBytes(10), formatBytes(1536), formatBytes(50 * 1024 * 1024)]).toEqual(['10 B', '1.5 KiB', '50 MiB']);
});

test('upsertJob replaces a job in place and puts a new one first', () => {
  const a = job({ id: 'a' });
  const b = job({ id: 'b' });
  expect(upsertJob([a, b], { ...b, state: 'running' }).map((j) => `${j.id}:${j.state}`)).toEqual(['a:queued', 'b:running']);
  expect(upsertJob([a], b).map((j) => j.id)).toEqual(['b', 'a']);
});

test('mergeJobs keeps the newer copy of each job and adds jobs not listed yet', () => {
  const listed = [job({ id: 'a', state: 'succeeded', updatedAt: '2026-11-28T10:00:05Z' }), job({ id: 'b' })];
  const seen = [job({ id: 'c' }), job({ id: 'a', state: 'running', updatedAt: '2026-11-28T10:00:02Z' }), job({ id: 'b', state: 'running', updatedAt: '2026-11-28T10:00:03Z' })];
  expect(mergeJobs(listed, seen).map((j) => `${j.id}:${j.state}`)).toEqual(['c:queued', 'a:succeeded', 'b:running']);
});

describe('pollJobs', () => {
  test('asks until every job has finished, and keeps going after a failed request', async () => {
    const answers: Record<string, Array<Partial<Job> | Error>> = {
      a: [{ state: 'running', done: 1, total: 2 }, new Error('offline'), { state: 'succeeded' }],
      b: [{ state: 'failed', error: 'boom' }],
    };
    const asked: string[] = [];
    const seen: string[] = [];
    const errors: string[] = [];
    await pollJobs(
      ['a', 'b'],
      async (id) => {
        asked.push(id);
        const next = answers[id].shift();
        if (next instanceof Error) throw next;
        return job({ id, ...next });
      },
      (j) => seen.push(`${j.id}:${j.state}`),
      { intervalMs: 1000, signal: new AbortController().signal, onError: (e) => errors.push(String(e)), sleep: async () => {} },
    );
    expect(asked).toEqual(['a', 'b', 'a', 'a']);
    expect(seen).toEqual(['a:running', 'b:failed', 'a:succeeded']);
    expect(errors).toEqual(['Error: offline']);
  });
  test('stops when aborted', async () => {
    const ctl = new AbortController();
    let n = 0;
    await pollJobs(['a'], async () => {
      if (++n === 2) ctl.abort();
      return job({ state: 'running' });
    }, () => {}, { intervalMs: 1, signal: ctl.signal, sleep: async () => {} });
    expect(n).toBe(2);
  });
});

describe('ExportsApi', () => {
  test('calls the export, job and release routes', async () => {
    const calls: string[] = [];
    const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
      calls.push(`${init?.method} ${String(input)} ${init?.body ?? ''}`.trim());
      return new Response(JSON.stringify(String(input).includes('/releases') && init?.method === 'GET' ? [] : job()), { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
    const x = new ExportsApi(new ApiClient({ fetch }));
    await x.startExport('p 1', { format: 'seg', series: '1.2' });
    await x.startRelease('p1', { seed: 7, fractions: { train: 0.8, validation: 0.1, test: 0.1 } });
    await x.job('j1');
    expect(await x.releases('p1')).toEqual([]);
    expect(calls).toEqual([
      'POST /api/v1/projects/p%201/exports {"format":"seg","series":"1.2"}',
      'POST /api/v1/projects/p1/releases {"seed":7,"fractions":{"train":0.8,"validation":0.1,"test":0.1}}',
      'GET /api/v1/jobs/j1',
      'GET /api/v1/projects/p1/releases',
    ]);
    expect(x.fileUrl('j1')).toBe('/api/v1/jobs/j1/file');
    expect(x.releaseUrl('abc', 'zip')).toBe('/api/v1/releases/abc/archive?format=zip');
  });
});
