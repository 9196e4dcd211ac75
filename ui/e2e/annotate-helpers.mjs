// Shared steps of the annotation end-to-end tests (annotate*.test.mjs): a
// signed-in radmark with the demo project, opening a study in the viewer,
// mouse drags at LPS points, and waiting for saves.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';

import { DEMO_ACCOUNT as ACCOUNT, launchBrowser, servesApp, startAppProxy, startRadmark, waitFor } from './harness.mjs';

export async function signIn(p) {
  await p.waitForSelector('[data-testid=signin]');
  await p.fill('[data-testid=signin-name]', ACCOUNT.name);
  await p.fill('[data-testid=signin-password]', 'wrong-password');
  await p.click('[data-testid=signin-submit]');
  await p.waitForSelector('[data-testid=signin-error]');
  await p.fill('[data-testid=signin-password]', ACCOUNT.password);
  await p.click('[data-testid=signin-submit]');
  await p.waitForSelector('[data-testid=user]');
}

/** Page coordinates of an LPS point on a viewport. */
export async function at(p, viewportId, lps) {
  const box = await p.locator(`[data-testid=viewport-${viewportId}] .vp-el`).boundingBox();
  const [x, y] = await p.evaluate(([id, q]) => window.radmark.viewer.worldToCanvas(id, q), [viewportId, lps]);
  return [box.x + x, box.y + y];
}

export async function drag(p, from, to) {
  await p.mouse.move(...from);
  await p.mouse.down();
  await p.mouse.move(...to, { steps: 10 });
  await p.mouse.up();
}

/** How many voxels of the viewer's labelmap (not yet saved) have a value. */
export const liveCount = (p, value) =>
  p.evaluate((v) => {
    let n = 0;
    for (const x of window.radmark.annotation.controller.labelmapBytes() ?? []) if (x === v) n++;
    return n;
  }, value);

/** Moves a viewport's plane to an LPS point and waits for it to render there. */
export async function moveTo(p, viewportId, lps) {
  await p.evaluate(([id, q]) => window.radmark.viewer.moveTo(id, q), [viewportId, lps]);
  await p.waitForTimeout(200);
}

/** With the brush on, paints a disc at each LPS centre on a view (moved there), waiting for each; resolves to the voxels of the value. */
export async function paintDiscs(p, viewportId, centres, value) {
  let painted = await liveCount(p, value);
  for (const centre of centres) {
    await moveTo(p, viewportId, centre);
    const c = await at(p, viewportId, centre);
    await drag(p, c, [c[0] + 1, c[1]]);
    const was = painted;
    painted = await waitFor(`the disc painted at ${centre} on the ${viewportId} view`, async () => {
      const n = await liveCount(p, value);
      return n > was && n;
    }, 10_000);
  }
  return painted;
}

/** Sets the zoom of volume viewports (about their centre). */
export async function zoom(p, ids, factor) {
  await p.evaluate(([vs, f]) => {
    for (const id of vs) window.radmark.viewer.renderingEngine.getViewport(id).setZoom(f);
    window.radmark.viewer.renderingEngine.render();
  }, [ids, factor]);
  await p.waitForTimeout(200);
}

/** Whether two lists of LPS points agree to 0.5 mm. */
export function near(a, b) {
  return !!a && a.length === b.length && a.every((p, i) => p.every((c, j) => Math.abs(c - b[i][j]) <= 0.5));
}

/** Waits for the autosave of the edits made since the head was `since`; resolves to the new head revision. */
export async function autosaved(p, since) {
  await waitFor('the autosave', async () => {
    const el = p.locator('[data-testid=save-status]');
    return (await el.getAttribute('data-dirty')) === '0' && (await el.getAttribute('data-state')) === 'saved' && (await el.getAttribute('data-head')) !== since;
  }, 30_000);
  return p.getAttribute('[data-testid=save-status]', 'data-head');
}

export async function saveNow(p, message) {
  await p.fill('[data-testid=save-message]', message);
  await p.click('[data-testid=save]');
  await waitFor('the save', async () => (await p.getAttribute('[data-testid=save-status]', 'data-state')) === 'saved' && (await p.getAttribute('[data-testid=save-status]', 'data-dirty')) === '0', 30_000);
  return p.getAttribute('[data-testid=save-status]', 'data-head');
}

/**
 * Starts radmark with the demo data (and the app proxy when the binary does
 * not embed the app), signs Node in like the browser and finds the demo
 * studies and project. Resolves to { server, app, auth, api, studies,
 * project, open(page, studyUID, mode), close() }.
 */
export async function startAnnotationServer() {
  const server = await startRadmark();
  let proxy;
  let app = server.url;
  if (!(await servesApp(server.url))) {
    proxy = await startAppProxy(server.url);
    app = proxy.url;
  }
  const cookies = { jar: '' };
  /** An /api/v1 call from Node, signed in like the browser. */
  async function api(pathAndQuery, init = {}) {
    const res = await fetch(`${server.url}/api/v1${pathAndQuery}`, { ...init, headers: { ...init.headers, ...(cookies.jar ? { Cookie: cookies.jar } : {}) } });
    if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${pathAndQuery}: ${res.status} ${await res.text()}`);
    return res;
  }
  // Does this server want a sign-in? (GET /auth/me: 401 yes, 404 no accounts.)
  const me = await fetch(`${server.url}/api/v1/auth/me`);
  const auth = me.status === 401;
  if (auth) {
    const res = await fetch(`${server.url}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ACCOUNT) });
    assert.equal(res.status, 200, await res.clone().text());
    cookies.jar = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  }
  const studies = {};
  const res = await fetch(`${server.url}/dicomweb/studies?includefield=00080061`, { headers: cookies.jar ? { Cookie: cookies.jar } : {} });
  for (const s of await res.json()) studies[s['00080061'].Value[0]] = s['0020000D'].Value[0];
  const project = (await (await api('/projects')).json()).find((p) => p.name === 'Demo: chest phantom');
  assert.ok(project && studies.CT && studies.DX, 'demo data missing');

  /** Opens a study of the demo project in the viewer (signing in when asked) and waits for its annotation set. */
  async function open(p, studyUID, mode) {
    await p.goto(`${app}/studies/${studyUID}?project=${project.id}`);
    if (auth && !(await p.locator('[data-testid=user]').count())) {
      await Promise.race([p.waitForSelector('[data-testid=signin]'), p.waitForSelector('[data-testid=user]')]);
      if (await p.locator('[data-testid=signin]').count()) await signIn(p);
    }
    await p.waitForSelector(`[data-testid=viewer][data-mode=${mode}][data-shown$=":${mode}"]`, { timeout: 60_000 });
    if (mode === 'mpr') await waitFor('the volume', async () => (await p.evaluate(() => window.radmark.viewer?.debugState()))?.volumeLoaded, 60_000);
    await p.waitForSelector('[data-testid=annotate]');
    await waitFor('the annotation set to load', () => p.evaluate(() => !!window.radmark.annotation?.session), 30_000);
    await p.waitForTimeout(300);
  }

  const close = async () => {
    await proxy?.close();
    await server.close();
  };
  return { server, app, auth, api, studies, project, open, close };
}

/**
 * Registers the before/after hooks of a describe block that start the
 * server of startAnnotationServer and a browser, and stop them; the
 * returned object holds { fx, browser, page } once the before hook ran.
 */
export function annotationSuite() {
  const suite = {};
  before(async () => {
    suite.fx = await startAnnotationServer();
    suite.browser = await launchBrowser();
    suite.page = suite.browser.page;
  });
  after(async () => {
    await suite.browser?.close();
    await suite.fx?.close();
  });
  return suite;
}
