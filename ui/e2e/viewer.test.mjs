// End-to-end tests of the web UI: a real `radmark serve` with the small
// phantom studies (radmark demo --small), driven in headless Chromium.
//
// Phantom facts used here (phantom/spec.go, phantom/anatomy.go): CTSmall is
// 128×128×64 voxels of 2 mm, origin (−128, −128, −64) LPS, so voxel centres
// lie on even millimetres and the middle axial slice is z = 0; noise-free
// tissue values are lung −850 HU, soft tissue 40, fat −100, liver 60; lungs
// are ellipsoids centred at (±55, 0, 70) with semi-axes (40, 55, 80), the
// body core an elliptic cylinder 110 × 80 mm inside a 10 mm fat layer.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { browserUnavailable, launchBrowser, login, apiToken, radmarkBinary, repoDir, servesApp, signInContext, startAppProxy, startRadmark, uiDir, waitFor } from './harness.mjs';

const skip = await browserUnavailable();
const shotsDir = path.join(uiDir, 'test-results');
// UPDATE_SCREENSHOTS=1 also writes the README's pictures.
const docsShots = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(repoDir, 'docs', 'screenshots') : undefined;

describe('radmark web UI', { skip, timeout: 300_000 }, () => {
  let server;
  let proxy;
  let app;
  let browser;
  let page;
  let embedded;
  let cookie = '';
  const studies = {};

  before(async () => {
    server = await startRadmark();
    embedded = await servesApp(server.url);
    if (embedded) app = server.url;
    else {
      // A radmark built before cmd/radmark embeds the UI: test the app
      // through a proxy (the embedding test below then reports TODO).
      proxy = await startAppProxy(server.url);
      app = proxy.url;
    }
    cookie = await login(server.url);
    const res = await fetch(`${server.url}/dicomweb/studies?includefield=00080061`, { headers: cookie ? { Cookie: cookie } : {} });
    for (const s of await res.json()) studies[s['00080061'].Value[0]] = s['0020000D'].Value[0];
    assert.ok(studies.CT && studies.DX && studies.MR, `demo studies missing: ${JSON.stringify(studies)}`);
    browser = await launchBrowser();
    page = browser.page;
    await signInContext(browser.context, app);
    await mkdir(shotsDir, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.close();
  });

  async function shot(name) {
    await page.mouse.move(0, 0);
    await page.waitForTimeout(100);
    const file = path.join(shotsDir, `${name}.png`);
    await page.screenshot({ path: file });
    if (docsShots) {
      await mkdir(docsShots, { recursive: true });
      await copyFile(file, path.join(docsShots, `${name}.png`));
    }
  }

  const debugState = () => page.evaluate(() => window.radmark.viewer?.debugState());

  /** Opens a study's URL and waits until its series is shown (and, for MPR, fully loaded). */
  async function openStudy(studyUID, mode) {
    await page.goto(`${app}/studies/${studyUID}`);
    await page.waitForSelector(`[data-testid=viewer][data-mode=${mode}][data-shown$=":${mode}"]`, { timeout: 60_000 });
    if (mode === 'mpr') await waitFor('the volume to load', async () => (await debugState())?.volumeLoaded, 60_000);
    else await waitFor('the image to render', async () => (await debugState())?.viewports?.[0]?.rendered, 60_000);
  }

  /** Moves the mouse over an LPS point of a viewport; returns the value and position the overlay shows. */
  async function hover(viewportId, lps) {
    const box = await page.locator(`[data-testid=viewport-${viewportId}] .vp-el`).boundingBox();
    const [x, y] = await page.evaluate(([id, p]) => window.radmark.viewer.worldToCanvas(id, p), [viewportId, lps]);
    assert.ok(x > 0 && y > 0 && x < box.width && y < box.height, `${lps} is off the ${viewportId} viewport (${x}, ${y})`);
    await page.mouse.move(box.x + x, box.y + y);
    const el = page.locator(`[data-testid=hover-${viewportId}]`);
    await el.waitFor();
    return { value: Number(await el.getAttribute('data-value')), lps: (await el.getAttribute('data-lps')).split(',').map(Number), text: await el.innerText(), canvas: [x, y] };
  }

  /** RGBA of the rendered viewport canvas at a CSS pixel position. */
  function pixel(viewportId, [x, y]) {
    return page.evaluate(([id, px, py]) => {
      const c = document.querySelector(`[data-testid=viewport-${id}] canvas.cornerstone-canvas`);
      const ctx = c.getContext('2d');
      const s = c.width / c.getBoundingClientRect().width;
      return [...ctx.getImageData(Math.round(px * s), Math.round(py * s), 1, 1).data];
    }, [viewportId, x, y]);
  }

  test('the study list shows the phantom studies, filters them and shows series thumbnails', async () => {
    await page.goto(`${app}/`);
    await page.waitForSelector('[data-testid=study-row]');
    assert.equal(await page.locator('[data-testid=study-row]').count(), 3);
    // Two demo projects: the user chooses one (the only one is chosen for them: store.test.ts).
    await waitFor('the project list', async () => (await page.locator('[data-testid=project-select] option').count()) === 3);
    await page.selectOption('[data-testid=project-select]', { label: 'Demo: chest phantom' });
    const chosen = await page.locator('[data-testid=project-select] option:checked').innerText();
    assert.equal(chosen, 'Demo: chest phantom');

    await page.selectOption('select[name=modality]', 'CT');
    await page.click('button[type=submit]');
    await page.waitForURL(/modality=CT/);
    await waitFor('one CT row', async () => (await page.locator('[data-testid=study-row]').count()) === 1);
    const row = page.locator('[data-testid=study-row]').first();
    assert.equal(await row.getAttribute('data-study-uid'), studies.CT);
    assert.match(await row.innerText(), /PHANTOM, CT[\s\S]*2024-01-02[\s\S]*CT[\s\S]*radmark phantom CT[\s\S]*64/);

    await page.fill('input[name=patientName]', 'nobody');
    await page.click('button[type=submit]');
    await page.waitForSelector('text=No study matches these filters.');

    await page.goto(`${app}/?modality=CT`);
    await page.locator('[data-testid=study-row]').first().click();
    const img = page.locator('[data-testid=series-thumb] img').first();
    await img.waitFor();
    await waitFor('the thumbnail', () => img.evaluate((el) => el.complete && el.naturalWidth > 0));
    await page.goto(`${app}/`);
    await page.waitForSelector('[data-testid=study-row]');
    await page.locator(`[data-study-uid="${studies.CT}"]`).click();
    await page.locator('[data-testid=series-thumb] img').first().waitFor();
    await waitFor('thumbnails', () => page.locator('[data-testid=series-thumb] img').first().evaluate((el) => el.complete && el.naturalWidth > 0));
    await shot('study-list');
  });

  test('opens the phantom CT in MPR with orientation markers, slice positions and crosshairs', async () => {
    await page.goto(`${app}/`);
    await page.locator(`[data-study-uid="${studies.CT}"] [data-testid=open-study]`).click();
    await page.waitForURL(new RegExp(`/studies/${studies.CT.replaceAll('.', '\\.')}`));
    await page.waitForSelector('[data-testid=viewer][data-mode=mpr]');
    await waitFor('the volume to load', async () => (await debugState())?.volumeLoaded, 60_000);
    const st = await debugState();
    // The first image came from the stack preview, before the volume had loaded.
    assert.ok(st.timings.firstImage > 0 && st.timings.firstImage < st.timings.volumeLoaded, JSON.stringify(st.timings));
    const vp = Object.fromEntries(st.viewports.map((v) => [v.id, v]));
    assert.equal(vp.axial.kind, 'axial', 'the axial stack preview became a volume view');
    assert.deepEqual(vp.axial.markers, { top: 'A', bottom: 'P', left: 'R', right: 'L' });
    assert.deepEqual(vp.coronal.markers, { top: 'S', bottom: 'I', left: 'R', right: 'L' });
    assert.deepEqual(vp.sagittal.markers, { top: 'S', bottom: 'I', left: 'A', right: 'P' });
    assert.equal(vp.axial.slices, 64);
    assert.deepEqual(vp.axial.position, { axis: 'z', mm: 0 });
    assert.deepEqual(vp.axial.window, { center: 40, width: 400 });
    assert.match(await page.locator('[data-testid=slice-axial]').innerText(), /^Slice \d+\/64$/);
    assert.equal(await page.locator('[data-testid=position-axial]').innerText(), 'z = 0.0 mm');
    // Crosshair lines are drawn (SVG) in every view.
    for (const id of ['axial', 'sagittal', 'coronal']) {
      assert.ok(await page.locator(`[data-testid=viewport-${id}] svg line, [data-testid=viewport-${id}] svg path`).count() > 0, `no crosshair lines in ${id}`);
    }
    // A continuous phantom has no geometry findings: no banner.
    assert.equal(await page.locator('[data-testid=geometry-banner]').count(), 0);
    await shot('viewer-ct-mpr');
  });

  test('scrolling moves the axial slice by the slice spacing, with the keyboard and the wheel', async () => {
    await openStudy(studies.CT, 'mpr');
    const pos = async () => (await debugState()).viewports.find((v) => v.id === 'axial');
    const start = await pos();
    const box = await page.locator('[data-testid=viewport-axial] .vp-el').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, 120);
    await waitFor('the wheel to scroll', async () => (await pos()).slice !== start.slice);
    const wheeled = await pos();
    assert.equal(Math.abs(wheeled.slice - start.slice), 1);
    assert.ok(Math.abs(Math.abs(wheeled.position.mm - start.position.mm) - 2) < 1e-6, `moved ${wheeled.position.mm - start.position.mm} mm`);
    await page.keyboard.press('PageDown');
    await waitFor('PageDown to scroll', async () => Math.abs((await pos()).slice - wheeled.slice) === 10);
    const paged = await pos();
    assert.ok(Math.abs(Math.abs(paged.position.mm - wheeled.position.mm) - 20) < 1e-6, `moved ${paged.position.mm - wheeled.position.mm} mm`);
    // The other views show where the axial slice now is: the crosshair
    // centre follows (linked views), and their own slices stay put.
    const sag = (await debugState()).viewports.find((v) => v.id === 'sagittal');
    assert.deepEqual(sag.position, { axis: 'x', mm: 0 });
  });

  test('the HU under the cursor is the phantom tissue value', async () => {
    await openStudy(studies.CT, 'mpr');
    const cases = [
      ['axial', [54, 0, 0], -850, 'lung'],
      ['axial', [0, -60, 0], 40, 'soft tissue'],
      ['axial', [0, -84, 0], -100, 'fat'],
      ['coronal', [-80, 0, -50], 60, 'liver'],
    ];
    for (const [id, lps, hu, tissue] of cases) {
      const h = await hover(id, lps);
      assert.equal(h.value, hu, `${tissue} at ${lps} on ${id}: overlay shows ${h.text}`);
      assert.match(h.text, new RegExp(`^${hu} HU`));
      for (let a = 0; a < 3; a++) assert.ok(Math.abs(h.lps[a] - lps[a]) <= 1, `pointer at ${h.lps}, wanted ${lps}`);
    }
  });

  test('the lung preset changes the rendered pixel at a lung location', async () => {
    await openStudy(studies.CT, 'mpr');
    const [x, y] = await page.evaluate(() => window.radmark.viewer.worldToCanvas('axial', [54, 0, 0]));
    const beforePreset = await pixel('axial', [x, y]);
    // Soft-tissue window (W 400 / L 40): −850 HU is below the window: black.
    assert.ok(beforePreset[0] < 10, `lung under the soft-tissue window should be black, got ${beforePreset}`);
    await page.click('[data-testid=preset-lung]');
    await waitFor('the lung window', async () => {
      const w = (await debugState()).viewports.find((v) => v.id === 'axial').window;
      return w.center === -600 && w.width === 1500;
    });
    await page.waitForTimeout(200);
    const afterPreset = await pixel('axial', [x, y]);
    // Lung window (W 1500 / L −600): −850 HU is a third of the way up: grey.
    const expected = Math.round(((-850 + 1350) / 1500) * 255);
    assert.ok(Math.abs(afterPreset[0] - expected) <= 12, `lung under the lung window should be grey ≈${expected}, got ${afterPreset}`);
    assert.equal(await page.locator('[data-testid=window-axial]').innerText(), 'W 1500 L -600');
    // The keyboard applies presets too: 3 = bone.
    await page.keyboard.press('3');
    await waitFor('the bone window', async () => (await debugState()).viewports.find((v) => v.id === 'axial').window.width === 1500 && (await debugState()).viewports.find((v) => v.id === 'axial').window.center === 300);
    await page.keyboard.press('2');
    await page.waitForTimeout(200);
    await shot('viewer-ct-lung-window');
  });

  test('window/level follows a mouse drag', async () => {
    await openStudy(studies.CT, 'mpr');
    const w0 = (await debugState()).viewports.find((v) => v.id === 'axial').window;
    const box = await page.locator('[data-testid=viewport-axial] .vp-el').boundingBox();
    await page.mouse.move(box.x + 100, box.y + 100);
    await page.mouse.down();
    await page.mouse.move(box.x + 180, box.y + 140, { steps: 8 });
    await page.mouse.up();
    const w1 = (await debugState()).viewports.find((v) => v.id === 'axial').window;
    assert.notDeepEqual(w1, w0);
  });

  test('the chest X-ray opens in a stack viewport with markers from Patient Orientation', async () => {
    await openStudy(studies.DX, 'stack');
    const st = await debugState();
    const vp = st.viewports[0];
    assert.equal(vp.id, 'stack');
    assert.equal(vp.slices, 1);
    assert.deepEqual(vp.markers, { right: 'L', left: 'R', bottom: 'F', top: 'H' });
    // No MPR, no crosshairs, no geometry warning for a projection image.
    assert.ok(await page.locator('[data-testid=layout-toggle]').isDisabled());
    assert.equal(await page.locator('[data-testid=tool-Crosshairs]').count(), 0);
    assert.equal(await page.locator('[data-testid=geometry-banner]').count(), 0);
    const box = await page.locator('[data-testid=viewport-stack] .vp-el').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const h = page.locator('[data-testid=hover-stack]');
    await h.waitFor();
    assert.ok(Number.isFinite(Number(await h.getAttribute('data-value'))), await h.innerText());
    // The image is not blank.
    const samples = [];
    for (const fx of [0.3, 0.5, 0.7]) for (const fy of [0.3, 0.5, 0.7]) samples.push((await pixel('stack', [box.width * fx, box.height * fy]))[0]);
    assert.ok(Math.max(...samples) - Math.min(...samples) > 20, `the radiograph looks blank: ${samples}`);
    await shot('viewer-xray');
  });

  test('the MR opens in MPR with an automatic window', async () => {
    await openStudy(studies.MR, 'mpr');
    await page.click('[data-testid=preset-auto]');
    const w = (await debugState()).viewports.find((v) => v.id === 'axial').window;
    assert.ok(w.width > 100 && w.center > 0, `MR auto window ${JSON.stringify(w)}`);
    assert.equal(await page.locator('[data-testid^=preset-lung]').count(), 0, 'CT presets shown for MR');
  });

  test('the CT can be switched to a stack and back', async () => {
    await openStudy(studies.CT, 'mpr');
    await page.keyboard.press('m');
    await page.waitForSelector('[data-testid=viewer][data-mode=stack][data-shown$=":stack"]');
    await waitFor('the stack to render', async () => (await debugState())?.viewports?.[0]?.rendered);
    const vp = (await debugState()).viewports[0];
    assert.equal(vp.slices, 64);
    const h = await hover('stack', [54, 0, 0]);
    assert.equal(h.value, -850, h.text);
    await page.keyboard.press('m');
    await page.waitForSelector('[data-testid=viewer][data-mode=mpr][data-shown$=":mpr"]');
  });

  test('a series with missing slices shows the geometry banner', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'radmark-ui-gap-'));
    try {
      const bin = radmarkBinary();
      execFileSync(bin, ['demo', '--small', '--out', path.join(dir, 'demo')]);
      // A copy of the CT as a new series without slices 20–23.
      execFileSync('/usr/bin/python3', ['-c', GAP_SCRIPT, path.join(dir, 'demo'), path.join(dir, 'gap')]);
      const token = await apiToken(server.url);
      execFileSync(bin, ['ingest', '--quiet', '--server', server.url, ...(token ? ['--token', token] : []), path.join(dir, 'gap')]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await page.goto(`${app}/studies/${studies.CT}`);
    await page.locator('[data-testid=series-thumb]', { hasText: 'with a gap' }).click();
    const banner = page.locator('[data-testid=geometry-banner]');
    await banner.waitFor({ timeout: 30_000 });
    assert.match(await banner.getAttribute('data-codes'), /\bgap\b/);
    assert.match(await banner.innerText(), /missing slices/);
    await page.waitForSelector('[data-testid=viewer][data-shown]:not([data-shown=""])', { timeout: 60_000 });
    await shot('viewer-gap-banner');
  });

  test('a study that is not in the archive is reported plainly', async () => {
    await page.goto(`${app}/studies/1.2.3.4.5`);
    const n = page.locator('[data-testid=notice-error]').first();
    await n.waitFor();
    assert.match(await n.innerText(), /Study 1\.2\.3\.4\.5 is not in the archive/);
  });

  test('no uncaught errors on the page', () => {
    assert.deepEqual(browser.errors, []);
  });

  test('the radmark binary embeds the app: SPA fallback, MIME types and caching', async (t) => {
    if (!embedded) {
      t.todo('this radmark does not serve the UI at / yet (cmd/radmark must set httpapi.Server.UI = ui.Handler()); the app was tested through a proxy');
      return;
    }
    const index = await fetch(`${server.url}/studies/1.2.3?series=4.5`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const html = await index.text();
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)[1];
    const asset = await fetch(server.url + js);
    assert.equal(asset.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(asset.headers.get('cache-control'), /max-age=31536000, immutable/);
    const wasm = (await readdir(path.join(uiDir, 'dist', 'app', 'assets'))).find((f) => f.endsWith('.wasm'));
    const w = await fetch(`${server.url}/assets/${wasm}`);
    assert.equal(w.headers.get('content-type'), 'application/wasm');
    assert.equal((await fetch(`${server.url}/assets/missing-123.js`)).status, 404);
    // The API and DICOMweb still answer under the app.
    assert.equal((await fetch(`${server.url}/api/v1/projects`, { headers: cookie ? { Cookie: cookie } : {} })).headers.get('content-type'), 'application/json');
  });
});

// Makes a copy of the phantom CT with a gap: a new series (new UIDs) without
// slices 20–23. Debian's python3-pydicom.
const GAP_SCRIPT = `
import glob, os, sys
import pydicom
from pydicom.uid import generate_uid
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst, exist_ok=True)
cts = []
for f in glob.glob(os.path.join(src, '**', '*'), recursive=True):
    if os.path.isfile(f):
        try:
            d = pydicom.dcmread(f)
        except Exception:
            continue
        if d.get('Modality') == 'CT':
            cts.append(d)
cts.sort(key=lambda d: float(d.ImagePositionPatient[2]))
assert len(cts) == 64, len(cts)
series = generate_uid()
for i, d in enumerate(cts):
    if 20 <= i < 24:
        continue
    d.SeriesInstanceUID = series
    d.SOPInstanceUID = generate_uid()
    d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
    d.SeriesNumber = 9
    d.SeriesDescription = 'Phantom CT with a gap'
    d.save_as(os.path.join(dst, '%03d.dcm' % i))
`;
