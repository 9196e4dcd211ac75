// End-to-end tests of the "bad input": a save while the
// connection is lost, a server that fails a save, a series that cannot be
// decoded and a study the user may not open. Each time the UI says so
// plainly, keeps the reader's unsaved work, and retries or says what to do.
// (A server 409 is in annotate.test.mjs: the conflict view.)
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { apiToken, browserUnavailable, launchBrowser, signInContext, waitFor } from './harness.mjs';
import { at, annotationSuite } from './annotate-helpers.mjs';

const skip = await browserUnavailable();

/** A route handler: the server fails every save with a 503 problem. */
const fail = (route) =>
  route.request().method() === 'POST'
    ? route.fulfill({ status: 503, contentType: 'application/problem+json', body: JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, code: 'unavailable', detail: 'the database is restarting' }) })
    : route.continue();

describe('bad input in the annotation UI', { skip, timeout: 300_000 }, () => {
  const suite = annotationSuite();
  let fx, browser, page;

  before(async () => {
    ({ fx, browser, page } = suite);
  });

  const status = (name) => page.getAttribute('[data-testid=save-status]', name);
  const landmarks = () => page.locator('[data-testid=item-landmark]').count();

  async function headItems() {
    const sets = await (await fx.api(`/annotation-sets?project=${fx.project.id}&study=${fx.studies.CT}`)).json();
    const set = sets.find((s) => s.head);
    return set ? (await (await fx.api(`/revisions/${set.head}`)).json()).content.items : [];
  }

  test('a save while offline keeps the edit, says so, and goes through when the connection is back', async () => {
    await fx.open(page, fx.studies.CT, 'mpr');
    // Only the reconnection may retry within this test (not the timed retry).
    await page.evaluate(() => (window.radmark.annotation.session.autosaveMs = 600_000));
    await page.keyboard.press('k');
    await page.mouse.click(...(await at(page, 'axial', [0, -60, 0])));
    await page.locator('[data-testid=item-landmark]').waitFor();

    await browser.context.setOffline(true);
    await page.fill('[data-testid=save-message]', 'landmark while offline');
    await page.click('[data-testid=save]');
    await page.locator('[data-testid=save-error]').waitFor({ timeout: 10_000 });
    assert.match(await page.locator('[data-testid=save-error]').innerText(), /^Not saved: cannot reach the radmark server.*check the connection.*Your changes are kept.*saved when the connection is back/s);
    assert.equal(await status('data-dirty'), '1');
    assert.equal(await landmarks(), 1, 'the landmark is still there');
    const draft = await page.evaluate(() => JSON.parse(localStorage.getItem('radmark.drafts') ?? '{}'));
    assert.ok(Object.values(draft).some((d) => d.items.some((i) => i.kind === 'landmark')), 'the unsaved landmark is kept in the browser too');
    assert.deepEqual(await headItems(), [], 'nothing reached the server');

    await browser.context.setOffline(false);
    await waitFor('the save on reconnection', async () => (await status('data-state')) === 'saved' && (await status('data-dirty')) === '0', 15_000);
    const items = await headItems();
    assert.deepEqual(items.map((i) => i.kind), ['landmark']);
    const sets = await (await fx.api(`/annotation-sets?project=${fx.project.id}&study=${fx.studies.CT}`)).json();
    const rev = await (await fx.api(`/revisions/${sets.find((s) => s.head).head}`)).json();
    assert.equal(rev.message, 'landmark while offline', 'the retry saves with the reader\'s message');
  });

  test('a save the server fails shows its reason and Retry saves the edit', async () => {
    await fx.open(page, fx.studies.CT, 'mpr');
    await page.evaluate(() => (window.radmark.annotation.session.autosaveMs = 600_000));
    await page.route('**/api/v1/annotation-sets/*/revisions', fail);
    await page.keyboard.press('k');
    await page.mouse.click(...(await at(page, 'axial', [20, -60, 0])));
    await waitFor('the second landmark', async () => (await landmarks()) === 2);
    await page.click('[data-testid=save]');
    await page.locator('[data-testid=save-error]').waitFor({ timeout: 10_000 });
    assert.match(await page.locator('[data-testid=save-error]').innerText(), /^Not saved: the database is restarting.*Your changes are kept.*press Retry/s);
    assert.equal(await landmarks(), 2);

    await page.unroute('**/api/v1/annotation-sets/*/revisions', fail);
    await page.click('[data-testid=retry-save]');
    await waitFor('the retried save', async () => (await status('data-state')) === 'saved' && (await status('data-dirty')) === '0', 15_000);
    assert.deepEqual((await headItems()).map((i) => i.kind), ['landmark', 'landmark']);
  });

  test('a series that cannot be decoded is said so', async () => {
    // Every frame of the X-ray comes back as bytes that claim to be JPEG and are not.
    await page.route(`**/dicomweb/studies/${fx.studies.DX}/series/*/instances/*/frames/**`, (route) =>
      route.fulfill({ status: 200, headers: { 'Content-Type': 'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50' }, body: Buffer.alloc(4096, 0x5a) }),
    );
    try {
      await page.goto(`${fx.app}/studies/${fx.studies.DX}?project=${fx.project.id}`);
      const notice = page.locator('[data-testid=notice-error]', { hasText: /could not be loaded or decoded/ });
      await notice.waitFor({ timeout: 30_000 });
      assert.match(await notice.innerText(), /an image of this series could not be loaded or decoded \(.+\)/);
    } finally {
      await page.unrouteAll();
    }
  });

  test('a study the user may not open is said so, with what to do', async () => {
    if (!fx.auth) {
      test.todo?.('this server has no accounts: nothing is forbidden');
      return;
    }
    const token = await apiToken(fx.server.url);
    const account = { name: 'outsider', password: 'outsider-radmark-e2e' };
    const res = await fetch(`${fx.server.url}/api/v1/users`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify(account) });
    assert.equal(res.status, 201, await res.text());
    const outsider = await launchBrowser();
    try {
      await signInContext(outsider.context, fx.app, account);
      await outsider.page.goto(`${fx.app}/studies/${fx.studies.CT}`);
      const notice = outsider.page.locator('[data-testid=notice-error]', { hasText: /You may not open this/ });
      await notice.first().waitFor({ timeout: 30_000 });
      assert.match(await notice.first().innerText(), /You may not open this: .* was refused \(archive\.search needs a role in a project\)\. Ask a manager of a project that holds the study to give you a role there\./);
    } finally {
      await outsider.close();
    }
  });
});
