// End-to-end test of the reading workflow in the web UI, on the workflow
// demo project `radmark demo` makes (the demo studies as cases, one
// annotator read each, pull queue): annotator1 signs in, pulls the next
// task, places a landmark, answers the required question and submits; the
// reviewer requests changes with a comment; annotator1 sees it, adds a
// length, resolves the comment and resubmits; the reviewer accepts. Each
// step's task state is checked through the API. Then the project page and
// the users & memberships page as the admin. Then pinned review comments
// (a point and an item, their markers where worldToCanvas puts them, jumps,
// resolving) and the three ways out of an arbitration: pick, merge, the
// arbiter's own edited version. Phantom facts as in
// annotate.test.mjs (CTSmall: 2 mm voxels, middle axial slice z = 0).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';

import { browserUnavailable, launchBrowser, login, screenshot, startApp, waitFor } from './harness.mjs';

const skip = await browserUnavailable();
const lengthItem = (id, a, b) => ({ id, kind: 'length', label: 'mass', source: { type: 'human' }, lps: [a, b] });
const account = (name) => ({ name, password: `${name}-radmark-demo` });

describe('the reading workflow in the web UI', { skip, timeout: 600_000 }, () => {
  let running, server, app, browser, page, project, adminCookie;
  const studies = {};

  /** An /api/v1 call from Node as the site admin (who sees every task). */
  async function api(pathAndQuery) {
    const res = await fetch(`${server.url}/api/v1${pathAndQuery}`, { headers: { Cookie: adminCookie } });
    if (!res.ok) throw new Error(`GET ${pathAndQuery}: ${res.status} ${await res.text()}`);
    return res.json();
  }
  const tasks = () => api(`/projects/${project.id}/tasks`);
  const task = async (id) => (await api(`/tasks/${id}`)).task;

  before(async () => {
    running = await startApp();
    ({ server, app } = running);
    adminCookie = await login(server.url);
    assert.ok(adminCookie, 'this test needs a server with accounts');
    for (const s of await (await fetch(`${server.url}/dicomweb/studies?includefield=00080061`, { headers: { Cookie: adminCookie } })).json()) {
      studies[s['00080061'].Value[0]] = s['0020000D'].Value[0];
    }
    project = (await api('/projects')).find((p) => p.name === 'Demo: reading workflow');
    assert.ok(project && studies.CT, 'the workflow demo project or the CT is missing');
    const all = await tasks();
    assert.equal(all.length, 3, 'one read per demo study');
    assert.ok(all.every((t) => t.state === 'unassigned' && t.kind === 'read'));
    browser = await launchBrowser();
    page = browser.page;
  });

  after(async () => {
    await browser?.close();
    await running?.close();
  });

  const shot = (name) => screenshot(page, name);

  /** Opens a page of the app as a user, signing out whoever was signed in. */
  async function visit(url, who) {
    await page.goto(`${app}${url}`);
    await Promise.race([page.waitForSelector('[data-testid=signin]'), page.waitForSelector('[data-testid=user]')]);
    if (await page.locator('[data-testid=user]').count()) {
      if ((await page.locator('[data-testid=user]').innerText()).includes(`Demo ${who.replace(/(\d)$/, ' $1')}`)) return;
      await page.click('[data-testid=signout]');
      await page.waitForSelector('[data-testid=signin]');
    }
    await page.fill('[data-testid=signin-name]', who);
    await page.fill('[data-testid=signin-password]', account(who).password);
    await page.click('[data-testid=signin-submit]');
    await page.waitForSelector('[data-testid=user]');
    await page.goto(`${app}${url}`);
    await page.waitForSelector('[data-testid=user]');
  }

  /** Waits for the viewer (MPR of the CT) and the annotation panel of a task. */
  async function viewerReady(taskId) {
    await page.waitForSelector(`[data-testid=taskbar][data-task="${taskId}"]`);
    await page.waitForSelector('[data-testid=viewer][data-mode=mpr][data-shown$=":mpr"]', { timeout: 60_000 });
    await waitFor('the volume', async () => (await page.evaluate(() => window.radmark.viewer?.debugState()))?.volumeLoaded, 60_000);
    await page.waitForSelector('[data-testid=annotate]');
    await waitFor('the annotation set to load', () => page.evaluate(() => !!window.radmark.annotation?.session), 30_000);
    await page.waitForTimeout(300);
  }

  async function at(lps) {
    const box = await page.locator('[data-testid=viewport-axial] .vp-el').boundingBox();
    const [x, y] = await page.evaluate((q) => window.radmark.viewer.worldToCanvas('axial', q), lps);
    return [box.x + x, box.y + y];
  }

  /** Places a landmark in front of the spine (0, -60, 0) and picks answer `choice` to the quality question. */
  async function landmarkAndAnswer(choice) {
    await page.keyboard.press('k');
    await page.mouse.click(...(await at([0, -60, 0])));
    await page.locator('[data-testid=item-landmark]').waitFor();
    await page.keyboard.press('Escape');
    await page.click(`[data-testid=q-quality] input[type=radio] >> nth=${choice}`);
    await page.waitForTimeout(400);
  }

  async function headOf(setId) {
    const set = await api(`/annotation-sets/${setId}`);
    return api(`/revisions/${set.head}`);
  }

  test('annotator pulls, annotates, submits; reviewer requests changes; annotator fixes and resubmits; reviewer accepts', async () => {
    // annotator1: My tasks is empty; Next task claims the CT's read (the highest priority) and opens it.
    await visit(`/tasks?project=${project.id}`, 'annotator1');
    await page.waitForSelector('[data-testid=my-tasks] [data-testid=next-task]');
    assert.equal(await page.locator('[data-testid=task-row]').count(), 0);
    await page.click('[data-testid=next-task]');
    await page.waitForURL(/\/studies\/.*task=/);
    const taskId = new URL(page.url()).searchParams.get('task');
    let t = await task(taskId);
    assert.deepEqual([t.assignee, t.state, t.studyUID], ['annotator1', 'in_progress', studies.CT]);
    assert.ok(t.setId && t.due, 'a started read has its set and a due date');
    await viewerReady(taskId);

    // A landmark in front of the spine and the required answer, then Submit (which saves first).
    await landmarkAndAnswer(0);
    await shot('workflow-task-viewer');
    await page.click('[data-testid=task-submit]');
    await page.waitForSelector('[data-testid=my-tasks]');
    t = await task(taskId);
    assert.equal(t.state, 'submitted');
    let rev = await headOf(t.setId);
    assert.equal(t.revision, rev.id, 'the submitted revision is the head');
    assert.deepEqual(rev.content.items.map((i) => i.kind), ['landmark']);
    assert.deepEqual(rev.content.answers.map((a) => [a.question, a.choices]), [['quality', ['diagnostic']]]);
    await page.waitForSelector(`[data-testid=task-row][data-task="${taskId}"][data-state=submitted]`);
    await shot('workflow-my-tasks');

    // The reviewer: the read in the review queue; opening it takes it into review and shows annotator1's landmark.
    await visit(`/review?project=${project.id}`, 'reviewer');
    await page.waitForSelector(`[data-testid=review-queue] [data-testid=task-row][data-task="${taskId}"][data-state=submitted]`);
    await shot('workflow-review-queue');
    await page.click(`[data-testid=task-row][data-task="${taskId}"] [data-testid=task-open]`);
    await page.waitForURL(/reader=annotator1/);
    await viewerReady(taskId);
    await page.waitForSelector('[data-testid=taskbar][data-state=in_review]');
    await page.locator('[data-testid=item-landmark]').waitFor();
    t = await task(taskId);
    assert.deepEqual([t.state, t.reviewer], ['in_review', 'reviewer']);
    // Request changes needs a reason.
    await page.click('[data-testid=task-request-changes]');
    await waitFor('the warning', async () => (await page.locator('.notice').allInnerTexts()).some((s) => s.includes('Say what should change')), 10_000);
    assert.equal((await task(taskId)).state, 'in_review');
    const reason = 'Please also measure the lung width on this slice.';
    await page.fill('[data-testid=comment-text]', reason);
    await shot('workflow-review');
    await page.click('[data-testid=task-request-changes]');
    await page.waitForSelector('[data-testid=review-queue]');
    t = await task(taskId);
    assert.equal(t.state, 'changes_requested');
    const comments = await api(`/cases/${t.caseId}/comments`);
    assert.deepEqual(comments.map((c) => [c.author, c.body, c.taskId, c.resolved]), [['reviewer', reason, taskId, false]]);

    // annotator1: the task is back; opening it resumes it; the comment shows; a length fixes it; resolve, resubmit.
    await visit(`/tasks?project=${project.id}`, 'annotator1');
    await page.waitForSelector(`[data-testid=task-row][data-task="${taskId}"][data-state=changes_requested]`);
    await page.click(`[data-testid=task-row][data-task="${taskId}"] [data-testid=task-open]`);
    await viewerReady(taskId);
    assert.equal((await task(taskId)).state, 'in_progress');
    assert.equal(await page.locator('[data-testid=comment] .body').innerText(), reason);
    await page.locator('[data-testid=item-landmark]').waitFor();
    await page.keyboard.press('l');
    const from = await at([-40, -20, 0]);
    const to = await at([40, -20, 0]);
    await page.mouse.move(...from);
    await page.mouse.down();
    await page.mouse.move(...to, { steps: 10 });
    await page.mouse.up();
    await page.locator('[data-testid=item-length]').waitFor();
    await page.keyboard.press('Escape');
    await shot('workflow-changes-requested');
    await page.click('[data-testid=comment-resolve]');
    await page.waitForSelector('[data-testid=comment][data-resolved="1"]');
    await page.waitForTimeout(400);
    await page.click('[data-testid=task-submit]');
    await page.waitForSelector('[data-testid=my-tasks]');
    t = await task(taskId);
    assert.equal(t.state, 'submitted');
    rev = await headOf(t.setId);
    assert.equal(t.revision, rev.id);
    assert.deepEqual(rev.content.items.map((i) => i.kind).sort(), ['landmark', 'length']);
    const length = rev.content.items.find((i) => i.kind === 'length');
    const ms = await api(`/revisions/${rev.id}/measurements`);
    const mm = ms.find((m) => m.item === length.id).length.value;
    assert.ok(Math.abs(mm - 80) <= 0.5, `the length is ${mm} mm, want 80 ± 0.5`);
    assert.equal((await api(`/cases/${t.caseId}/comments`))[0].resolvedBy, 'annotator1');

    // The reviewer accepts: the read is accepted and its case done, with this read's revision as the result.
    await visit(`/review?project=${project.id}`, 'reviewer');
    await page.click(`[data-testid=task-row][data-task="${taskId}"] [data-testid=task-open]`);
    await viewerReady(taskId);
    await page.waitForSelector('[data-testid=taskbar][data-state=in_review]');
    await waitFor('both items of the read', async () => (await page.locator('[data-testid=item-length]').count()) === 1 && (await page.locator('[data-testid=item-landmark]').count()) === 1, 20_000);
    await page.click('[data-testid=task-accept]');
    await page.waitForSelector('[data-testid=review-queue]');
    t = await task(taskId);
    assert.equal(t.state, 'accepted');
    const kase = (await api(`/cases/${t.caseId}`)).case;
    assert.deepEqual([kase.state, kase.outcome, kase.finalRevision], ['done', 'single', rev.id]);
    assert.equal(await page.locator(`[data-testid=task-row][data-task="${taskId}"]`).count(), 0, 'an accepted read leaves the review queue');
  });

  test('the project page and the users & memberships page', async () => {
    await visit(`/project?project=${project.id}`, 'admin');
    await page.waitForSelector('[data-testid=progress]');
    // The page shows what GET /progress counts (after the first test: one case done, its read accepted).
    const progress = await api(`/projects/${project.id}/progress`);
    assert.equal(await page.locator('[data-testid=case-count]').innerText(), '3');
    for (const [box, counts] of [['cases-by-state', progress.casesByState], ['reads-by-state', progress.readsByState]]) {
      const shown = Object.fromEntries(await page.locator(`[data-testid=${box}] .count`).evaluateAll((els) => els.map((e) => [e.dataset.state, Number(e.querySelector('b').textContent)])));
      assert.deepEqual(shown, counts, box);
    }
    for (const r of progress.readers ?? []) await page.waitForSelector(`[data-testid=reader-row][data-user="${r.user}"]`);
    // The manager changes the workflow: two reads per case from now on.
    assert.equal(await page.locator('[data-testid=wf-readers]').inputValue(), '1');
    await page.fill('[data-testid=wf-readers]', '2');
    await page.click('[data-testid=wf-save]');
    await waitFor('workflow version 2', async () => (await api(`/projects/${project.id}/workflow`)).version === 2, 10_000);
    assert.equal((await api(`/projects/${project.id}/workflow`)).readers, 2);
    await page.waitForSelector('[data-testid=wf-save]:has-text("version 3")');
    await shot('workflow-project');

    // Users: add one, make them a radiologist of the project; then a token made and revoked.
    await page.click('[data-testid=nav-admin]');
    await page.waitForSelector('[data-testid=user-row][data-user=reviewer]');
    await page.fill('[data-testid=new-user-name]', 'radiologist1');
    await page.click('[data-testid=new-user-add]');
    await page.waitForSelector('[data-testid=new-user-made] .secret');
    await page.waitForSelector('[data-testid=member-user] option[value=radiologist1]', { state: 'attached' });
    await page.selectOption('[data-testid=member-user]', 'radiologist1');
    await page.uncheck('[data-testid=member-roles] [data-role=annotator]');
    await page.check('[data-testid=member-roles] [data-role=radiologist]');
    await page.click('[data-testid=member-add]');
    await page.waitForSelector('[data-testid=member-row][data-user=radiologist1]');
    const members = await api(`/projects/${project.id}/members`);
    assert.deepEqual(members.find((m) => m.name === 'radiologist1')?.roles, ['radiologist']);
    await page.fill('[data-testid=token-name]', 'e2e script');
    await page.click('[data-testid=token-create]');
    await page.waitForSelector('[data-testid=token-made] .secret');
    await page.waitForSelector('[data-testid=token-row][data-revoked="0"]');
    await shot('workflow-admin');
    await page.click('[data-testid=token-revoke]');
    await page.waitForSelector('[data-testid=token-row][data-revoked="1"]');
    // Remove the member again.
    await page.click('[data-testid=member-row][data-user=radiologist1] [data-testid=member-remove]');
    await waitFor('radiologist1 removed', async () => (await page.locator('[data-testid=member-row][data-user=radiologist1]').count()) === 0, 10_000);
    assert.ok(!(await api(`/projects/${project.id}/members`)).some((m) => m.name === 'radiologist1'));
  });

  /** Signs an account in from Node; resolves to call(method, path, body, headers) → parsed answer (throws on failure). */
  async function as(name) {
    const res = await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(account(name)) });
    assert.equal(res.status, 200, await res.clone().text());
    const { csrfToken } = await res.json();
    const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    return async (method, pathAndQuery, body, headers = {}) => {
      const r = await fetch(`${server.url}/api/v1${pathAndQuery}`, {
        method,
        headers: { Cookie: cookie, 'X-CSRF-Token': csrfToken, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${name}: ${method} ${pathAndQuery}: ${r.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    };
  }

  /**
   * A new project on the CT with the demo schema, members annotator1 and 2
   * (annotators), the reviewer and the admin (manager and radiologist), and
   * the CT as its one case. `readers` reads are saved and submitted through
   * the API by annotator1, annotator2…, each with its items and answer;
   * with `review`, the reviewer accepts each (two reads that disagree then
   * go to arbitration). Resolves to the project and the reads (tasks).
   */
  async function projectWithReads(name, reads, { review = true } = {}) {
    const admin = await as('admin');
    const p = await admin('POST', '/projects', { name });
    const schema = await admin('GET', `/projects/${project.id}/schema`);
    await admin('PUT', `/projects/${p.id}/schema`, { baseVersion: 0, labels: schema.labels, questions: schema.questions });
    await admin('PUT', `/projects/${p.id}/workflow`, { baseVersion: 0, readers: reads.length, readerRoles: ['annotator'], assignment: 'pull', agreement: { dice: 0, iou: 0, landmarkMM: 0 } });
    for (const [user, roles] of [['annotator1', ['annotator']], ['annotator2', ['annotator']], ['reviewer', ['reviewer']], ['admin', ['manager', 'radiologist']]]) {
      await admin('PUT', `/projects/${p.id}/members/${user}`, { roles });
    }
    await admin('POST', `/projects/${p.id}/cases`, { studies: [{ studyUID: studies.CT }] });
    const submitted = {};
    for (const [i, { quality, items = [] }] of reads.entries()) {
      const user = `annotator${i + 1}`;
      const call = await as(user);
      let t = (await call('POST', `/projects/${p.id}/next-task`)).task;
      t = (await call('POST', `/tasks/${t.id}/start`, { version: t.version })).task;
      await call('POST', `/annotation-sets/${t.setId}/revisions`, { parent: '', items, answers: [{ question: 'quality', choices: [quality] }] }, { 'If-None-Match': '*' });
      submitted[user] = (await call('POST', `/tasks/${t.id}/submit`, { version: t.version })).task;
    }
    if (review) {
      const reviewer = await as('reviewer');
      for (const r of Object.values(submitted)) {
        const t = (await reviewer('POST', `/tasks/${r.id}/review`, { version: r.version })).task;
        await reviewer('POST', `/tasks/${t.id}/accept`, { version: t.version });
      }
    }
    return { p, reads: submitted };
  }

  /** Opens the project's one arbitration as the admin (claiming it) and waits for its task bar. */
  async function openArbitration(p) {
    await visit(`/arbitration?project=${p.id}`, 'admin');
    await page.waitForSelector('[data-testid=arbitration-queue] [data-testid=task-row][data-state=unassigned]');
    const id = await page.getAttribute('[data-testid=task-row]', 'data-task');
    await page.click('[data-testid=task-open]');
    await viewerReady(id);
    await page.waitForSelector('[data-testid=taskbar][data-state=in_progress] [data-testid=arbitration]');
    return id;
  }

  /** Resolves the open arbitration with a button of its task bar (and a note); checks the task and resolves to its case. */
  async function decide(arbitration, caseId, button, note) {
    if (note) await page.fill('[data-testid=comment-text]', note);
    await page.click(`[data-testid=${button}]`);
    await page.waitForSelector('[data-testid=arbitration-queue]');
    const t = await task(arbitration);
    assert.deepEqual([t.state, t.assignee], ['resolved', 'admin']);
    return { t, kase: (await api(`/cases/${caseId}`)).case };
  }

  test('disagreeing reads go to arbitration; the arbiter compares them and picks one', async () => {
    // A two-reader project on the CT, read through the API: the answers to the required question differ.
    const { p, reads } = await projectWithReads('Two readers', [{ quality: 'diagnostic' }, { quality: 'limited' }]);
    const caseId = reads.annotator1.caseId;
    assert.equal((await api(`/cases/${caseId}`)).case.state, 'arbitration');

    // The admin (manager and radiologist) claims it in the arbitration queue, looks at annotator2's read, picks annotator1's.
    const arbitration = await openArbitration(p);
    await page.click('[data-testid=show-annotator2]');
    await page.waitForURL(/reader=annotator2/);
    await viewerReady(arbitration);
    await waitFor("annotator2's answer shown", () => page.locator('[data-testid=q-quality] input[type=radio] >> nth=1').isChecked(), 20_000);
    await shot('workflow-arbitration');
    const { kase } = await decide(arbitration, caseId, 'pick-1', 'The image is diagnostic.');
    const read1 = await task(reads.annotator1.id);
    assert.deepEqual([kase.state, kase.outcome, kase.finalRevision], ['done', 'picked', read1.revision]);
  });

  test('the arbiter merges the reads', async () => {
    const { p, reads } = await projectWithReads('Merged reads', [
      { quality: 'diagnostic', items: [lengthItem('across', [-40, -20, 0], [40, -20, 0])] },
      { quality: 'limited', items: [lengthItem('down', [0, -60, -10], [0, -60, 10])] },
    ]);
    const caseId = reads.annotator1.caseId;
    assert.equal((await api(`/cases/${caseId}`)).case.state, 'arbitration');
    const arbitration = await openArbitration(p);
    const { t, kase } = await decide(arbitration, caseId, 'merge-reads', 'Both findings stand.');
    assert.deepEqual([kase.state, kase.outcome], ['done', 'merged']);
    // The union of the reads (item ids prefixed by read), the first read's answers, in the arbiter's set.
    const rev = await api(`/revisions/${kase.finalRevision}`);
    assert.equal(rev.setId ?? kase.finalSet, t.setId);
    assert.deepEqual(rev.content.items.map((i) => [i.id, i.kind]).sort(), [['m1-across', 'length'], ['m2-down', 'length']]);
    assert.deepEqual(rev.content.answers.map((a) => [a.question, a.choices]), [['quality', ['diagnostic']]]);
  });

  test("the arbiter's own edited version becomes the case's result", async () => {
    const { p, reads } = await projectWithReads('Arbiter edits', [{ quality: 'diagnostic' }, { quality: 'limited' }]);
    const caseId = reads.annotator1.caseId;
    const arbitration = await openArbitration(p);
    // The arbiter's own version: a landmark and their answer; Use my edited version saves it first.
    await landmarkAndAnswer(1);
    const { t, kase } = await decide(arbitration, caseId, 'use-mine');
    const rev = await headOf(t.setId);
    assert.deepEqual([kase.state, kase.outcome, kase.finalRevision], ['done', 'edited', rev.id]);
    assert.deepEqual(rev.content.items.map((i) => i.kind), ['landmark']);
    const [x, y, z] = rev.content.items[0].lps[0];
    assert.ok(Math.hypot(x, y + 60, z) <= 1, `the landmark is at (${x}, ${y}, ${z}), want (0, -60, 0) ± 1 mm`);
    assert.deepEqual(rev.content.answers.map((a) => [a.question, a.choices]), [['quality', ['limited']]]);
  });

  /** A pin marker drawn on a viewport (its SVG ring), or undefined when the comment is not on its slice. */
  async function marker(vp, commentId) {
    const ring = page.locator(`[data-testid=viewport-${vp}] circle[data-id="pin-${commentId}"]`);
    if (!(await ring.count())) return undefined;
    const [cx, cy, stroke] = await Promise.all(['cx', 'cy', 'stroke'].map((a) => ring.getAttribute(a)));
    return { cx: Number(cx), cy: Number(cy), stroke };
  }

  /** Waits for a comment's marker on a viewport and checks it is where the viewport's worldToCanvas puts the LPS point. */
  async function markerAt(vp, commentId, lps) {
    const m = await waitFor(`the marker of ${commentId} on ${vp}`, () => marker(vp, commentId), 10_000);
    const [x, y] = await page.evaluate(([v, q]) => window.radmark.viewer.worldToCanvas(v, q), [vp, lps]);
    assert.ok(Math.hypot(m.cx - x, m.cy - y) <= 1, `${vp}: the marker is at (${m.cx}, ${m.cy}), want (${x.toFixed(1)}, ${y.toFixed(1)})`);
    return m;
  }

  test('a reviewer pins comments to a point and to an item; the reader sees the markers, jumps to them and resolves them', async () => {
    const ends = [[-40, -20, -20], [40, -20, -20]];
    const { p, reads } = await projectWithReads('Pinned comments', [{ quality: 'diagnostic', items: [lengthItem('len-1', ...ends)] }], { review: false });
    const read = reads.annotator1;
    const comments = () => api(`/cases/${read.caseId}/comments`);

    // The reviewer: P, then a click on the axial view pins the point; the next comment is pinned to the length.
    await visit(`/review?project=${p.id}`, 'reviewer');
    await page.click(`[data-testid=task-row][data-task="${read.id}"] [data-testid=task-open]`);
    await page.waitForURL(/reader=annotator1/);
    await viewerReady(read.id);
    await page.waitForSelector('[data-testid=taskbar][data-state=in_review]');
    await page.locator('[data-testid=item-length]').waitFor();
    await page.keyboard.press('P');
    await page.waitForSelector('[data-testid=pin-hint]');
    await page.mouse.click(...(await at([30, -60, 0])));
    await page.waitForSelector('[data-testid=pin-target][data-kind=point]');
    await page.fill('[data-testid=comment-text]', 'What is this spot?');
    await page.click('[data-testid=comment-add]');
    await waitFor('the point comment', async () => (await comments()).length === 1, 10_000);
    await page.waitForSelector('[data-testid=pin-item] option[value="len-1"]', { state: 'attached' });
    await page.selectOption('[data-testid=pin-item]', 'len-1');
    await page.waitForSelector('[data-testid=pin-target][data-kind=item]');
    await page.fill('[data-testid=comment-text]', 'Measure the widest diameter instead.');
    await page.click('[data-testid=comment-add]');
    await waitFor('the item comment', async () => (await comments()).length === 2, 10_000);
    const onPoint = (await comments()).find((c) => c.lps);
    const onItem = (await comments()).find((c) => c.item);
    assert.equal(onPoint.taskId, read.id);
    const [px, py, pz] = onPoint.lps;
    assert.ok(Math.hypot(px - 30, py + 60) <= 0.5 && Math.abs(pz) <= 1, `the pinned point is (${onPoint.lps}), want (30, -60, 0)`);
    assert.ok(onPoint.image?.sopInstanceUID, 'the point names the image it is on');
    assert.deepEqual([onItem.item, onItem.taskId, onItem.lps], ['len-1', read.id, undefined]);
    await markerAt('axial', onPoint.id, onPoint.lps);
    await page.fill('[data-testid=comment-text]', 'Two remarks pinned in the image.');
    await page.click('[data-testid=task-request-changes]');
    await page.waitForSelector('[data-testid=review-queue]');
    assert.equal((await task(read.id)).state, 'changes_requested');

    // annotator1: the point's marker on the axial slice, where worldToCanvas puts it, orange at its centre.
    await visit(`/tasks?project=${p.id}`, 'annotator1');
    await page.click(`[data-testid=task-row][data-task="${read.id}"] [data-testid=task-open]`);
    await viewerReady(read.id);
    await page.waitForSelector(`[data-testid=comment][data-comment="${onPoint.id}"][data-pinned=point]`);
    await page.waitForSelector(`[data-testid=comment][data-comment="${onItem.id}"][data-pinned=item]`);
    await page.locator('[data-testid=item-length]').waitFor();
    let m = await markerAt('axial', onPoint.id, onPoint.lps);
    assert.equal(m.stroke, 'rgb(255, 140, 0)');
    const box = await page.locator('[data-testid=viewport-axial] .vp-el').boundingBox();
    const [r, g, b] = await pixel(page, box.x + m.cx, box.y + m.cy);
    assert.ok(r > 200 && g > 100 && g < 180 && b < 80, `the marker's centre is orange, got rgb(${r}, ${g}, ${b})`);
    // Only on slices the point lies on: not the sagittal (x = 0) nor the coronal (y = 0) until the marker is clicked,
    // which takes every view through the point and selects its comment.
    assert.equal(await marker('sagittal', onPoint.id), undefined);
    assert.equal(await marker('coronal', onPoint.id), undefined);
    assert.equal(await marker('axial', onItem.id), undefined, 'the length is 20 mm below the axial slice');
    await page.mouse.click(box.x + m.cx, box.y + m.cy);
    await page.waitForSelector(`[data-testid=comment][data-comment="${onPoint.id}"].selected`);
    await markerAt('sagittal', onPoint.id, onPoint.lps);
    await markerAt('coronal', onPoint.id, onPoint.lps);
    // The item's comment in the task bar's list jumps to the length: its marker at the length's centre.
    await page.click(`[data-testid=comment][data-comment="${onItem.id}"] [data-testid=comment-jump]`);
    await markerAt('axial', onItem.id, [0, -20, -20]);
    await waitFor('the axial slice at z = -20 mm', async () => (await page.locator('[data-testid=position-axial]').innerText()).includes('-20.0'), 5_000);
    assert.equal(await marker('axial', onPoint.id), undefined, 'the point is 20 mm above');
    // J: the next pinned comment, the point again.
    await page.keyboard.press('J');
    await markerAt('axial', onPoint.id, onPoint.lps);
    await shot('workflow-pinned-comments');

    // Resolving both: the markers stay, in green; the API has them resolved by annotator1.
    for (const c of [onPoint, onItem]) {
      await page.click(`[data-testid=comment][data-comment="${c.id}"] [data-testid=comment-resolve]`);
      await page.waitForSelector(`[data-testid=comment][data-comment="${c.id}"][data-resolved="1"]`);
    }
    m = await markerAt('axial', onPoint.id, onPoint.lps);
    assert.equal(m.stroke, 'rgb(120, 200, 120)');
    const final = await comments();
    for (const c of [onPoint, onItem]) {
      const now = final.find((x) => x.id === c.id);
      assert.deepEqual([now.resolved, now.resolvedBy], [true, 'annotator1'], c.body);
    }
  });
});

/** The colour of one page pixel: a 1×1 screenshot, its PNG decoded. */
async function pixel(page, x, y) {
  const png = await page.screenshot({ clip: { x: Math.floor(x), y: Math.floor(y), width: 1, height: 1 } });
  const idat = [];
  let colorType = 6;
  for (let o = 8; o < png.length; ) {
    const len = png.readUInt32BE(o);
    const type = png.toString('ascii', o + 4, o + 8);
    if (type === 'IHDR') colorType = png[o + 8 + 9];
    if (type === 'IDAT') idat.push(png.subarray(o + 8, o + 8 + len));
    o += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  // One row of one pixel: whatever the row's filter, it has no neighbours to add, so the bytes are the colour.
  assert.ok(colorType === 6 || colorType === 2, `PNG colour type ${colorType}`);
  return [...raw.subarray(1, 4)];
}
