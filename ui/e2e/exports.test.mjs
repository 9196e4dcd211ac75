// End-to-end test of the Exports & releases page: in the demo project
// "Demo: chest phantom", a segmentation of the phantom CT is saved through
// the API; the site admin (a manager) then starts a DICOM SEG export and a
// release from the page, watches both jobs finish, and downloads them. The
// downloaded SEG's sha256 must be the one the job recorded, the release
// tar's the release's, and `radmark release verify` must pass the tar and
// the zip from the releases list.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { apiToken, browserUnavailable, launchBrowser, radmarkBinary, screenshot, signInContext, waitFor } from './harness.mjs';
import { startApp } from './harness.mjs';

const skip = await browserUnavailable();
const sha256 = async (file) => createHash('sha256').update(await readFile(file)).digest('hex');

describe('exports and releases in the web UI', { skip, timeout: 600_000 }, () => {
  let running, server, app, browser, page, token, project, series;

  async function api(method, pathAndQuery, body) {
    const res = await fetch(`${server.url}/api/v1${pathAndQuery}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${pathAndQuery}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? undefined : res.json();
  }

  before(async () => {
    running = await startApp();
    ({ server, app } = running);
    token = await apiToken(server.url);
    project = (await api('GET', '/projects')).find((p) => p.name === 'Demo: chest phantom');
    assert.ok(project, 'the demo project is missing');
    // The phantom CT, and a box of label "lung-nodule" on three of its slices.
    const studies = await (await fetch(`${server.url}/dicomweb/studies?ModalitiesInStudy=CT`, { headers: { Authorization: `Bearer ${token}` } })).json();
    const study = studies[0]['0020000D'].Value[0];
    const ser = await (await fetch(`${server.url}/dicomweb/studies/${study}/series`, { headers: { Authorization: `Bearer ${token}` } })).json();
    series = ser.find((s) => s['00080060'].Value[0] === 'CT')['0020000E'].Value[0];
    const g = await api('GET', `/studies/${study}/series/${series}/geometry`);
    const slice = Buffer.alloc(g.columns * g.rows);
    for (let j = Math.floor(g.rows / 3); j < g.rows / 2; j++) slice.fill(1, j * g.columns + Math.floor(g.columns / 3), j * g.columns + Math.floor(g.columns / 2));
    const mid = Math.floor(g.slices / 2);
    const data = Object.fromEntries([mid - 1, mid, mid + 1].map((k) => [String(k), slice.toString('base64')]));
    const set = await api('POST', '/annotation-sets', { projectId: project.id, studyUID: study, seriesUID: series });
    await api('POST', `/annotation-sets/${set.id}/revisions`, {
      items: [{ id: 'n1', kind: 'segmentation', label: 'lung-nodule', source: { type: 'human' }, segment: { layer: 0, value: 1 } }],
      labelmaps: [{ layer: 0, seriesUID: series, columns: g.columns, rows: g.rows, slices: g.slices, encoding: 'raw', data }],
    });
    browser = await launchBrowser();
    page = browser.page;
    await signInContext(browser.context, app);
  });

  after(async () => {
    await browser?.close();
    await running?.close();
  });

  async function finished(kind) {
    const row = page.locator(`[data-testid=job-row][data-kind="${kind}"]`).first();
    await row.waitFor();
    const id = await row.getAttribute('data-job');
    await waitFor(`the ${kind} job to finish`, async () => ['succeeded', 'failed'].includes(await row.getAttribute('data-state')), 120_000, 250);
    assert.equal(await row.getAttribute('data-state'), 'succeeded', `${kind} job: ${await row.locator('[data-testid=job-state]').innerText()}`);
    return { row, id, job: await api('GET', `/jobs/${id}`) };
  }

  async function download(locator) {
    const [dl] = await Promise.all([page.waitForEvent('download'), locator.click()]);
    const file = await dl.path();
    assert.ok(file, `the download of ${dl.suggestedFilename()} failed: ${await dl.failure()}`);
    return { file, name: dl.suggestedFilename() };
  }

  test('a manager exports a SEG and makes a release, follows both jobs and downloads them', async () => {
    await page.goto(`${app}/project?project=${project.id}`);
    await page.click('[data-testid=nav-exports]');
    await page.waitForSelector('[data-testid=export-form]');
    assert.match(page.url(), /\/exports\?project=/);

    // A SEG of the series' latest revision.
    await page.selectOption('[data-testid=export-format]', 'seg');
    await page.selectOption('[data-testid=export-series]', series);
    await page.click('[data-testid=export-start]');
    const seg = await finished('export.seg');
    assert.match(await seg.row.locator('[data-testid=job-state]').innerText(), /^done/);
    const segFile = await download(seg.row.locator('[data-testid=job-download]'));
    assert.equal(await sha256(segFile.file), seg.job.result.sha256, 'the downloaded SEG is the file the job recorded');
    assert.equal(segFile.name, seg.job.result.name);

    // A release of the latest revisions, downloaded as a tar.
    await page.selectOption('[data-testid=release-selection]', 'latest');
    await page.fill('[data-testid=release-fractions]', '1, 0, 0');
    await page.fill('[data-testid=release-seed]', '7');
    await page.selectOption('[data-testid=release-archive]', 'tar');
    await page.click('[data-testid=release-start]');
    const rel = await finished('release');
    const release = await api('GET', `/releases/${rel.job.result.release.id}`);
    const tar = await download(rel.row.locator('[data-testid=job-download]'));
    assert.equal(await sha256(tar.file), release.sha256, 'the downloaded release is the stored tar');
    const row = page.locator(`[data-testid=release-row][data-release="${release.id}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /1: 1 \/ 0 \/ 0/);
    const zip = await download(row.locator('[data-testid=release-zip]'));
    const verify = promisify(execFile);
    for (const f of [tar, zip]) {
      const copy = `${f.file}.${f.name.endsWith('.zip') ? 'zip' : 'tar'}`;
      await verify('cp', [f.file, copy]);
      const { stdout } = await verify(radmarkBinary(), ['release', 'verify', copy, '--id', release.id]);
      assert.match(stdout, new RegExp(release.id.slice(0, 12)), `radmark release verify ${f.name}: ${stdout}`);
    }

    // A request the page refuses before sending: the fractions must add up to 1.
    await page.fill('[data-testid=release-fractions]', '0.5, 0.2, 0.2');
    await page.click('[data-testid=release-start]');
    assert.match(await page.locator('[data-testid=release-error]').innerText(), /add up to 0\.9/);
    await page.fill('[data-testid=release-fractions]', '1, 0, 0');
    await screenshot(page, 'exports-releases');
    assert.deepEqual(browser.errors, []);
  });
});
