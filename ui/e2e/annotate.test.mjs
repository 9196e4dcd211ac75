// End-to-end tests of the annotation side: sign-in, the tools on the
// phantom CT and the chest X-ray, saving and what the API then stores,
// undo/redo, reload, and the conflict view. Phantom facts as in
// viewer.test.mjs: CTSmall is 128×128×64 voxels of 2 mm, voxel centres on
// even millimetres, middle axial slice z = 0, lungs around (±55, 0, 70).
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { at, autosaved, drag, liveCount, moveTo, near, paintDiscs, saveNow, signIn, zoom, startAnnotationServer } from './annotate-helpers.mjs';
import { browserUnavailable, launchBrowser, repoDir, uiDir, waitFor } from './harness.mjs';

const skip = await browserUnavailable();
const shotsDir = path.join(uiDir, 'test-results');
const docsShots = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(repoDir, 'docs', 'screenshots') : undefined;

describe('annotation in the web UI', { skip, timeout: 400_000 }, () => {
  let fx, app, browser, page, project, auth, api, open;
  const studies = {};

  before(async () => {
    fx = await startAnnotationServer();
    ({ app, auth, api, project, open } = fx);
    Object.assign(studies, fx.studies);
    browser = await launchBrowser();
    page = browser.page;
    await mkdir(shotsDir, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await fx?.close();
  });

  async function shot(name, p = page) {
    await p.mouse.move(0, 0);
    await p.waitForTimeout(150);
    const file = path.join(shotsDir, `${name}.png`);
    await p.screenshot({ path: file });
    if (docsShots) {
      await mkdir(docsShots, { recursive: true });
      await copyFile(file, path.join(docsShots, `${name}.png`));
    }
  }

  async function headRevision() {
    const sets = await (await api(`/annotation-sets?project=${project.id}&study=${studies.CT}`)).json();
    const set = sets.find((s) => s.head);
    return (await api(`/revisions/${set.head}`)).json();
  }

  /** Layer 0 of a revision's labelmap through the API, and the value at an LPS point (nearest voxel). */
  async function storedLabelmap(revision) {
    const [lm] = await (await api(`/revisions/${revision}/labelmaps`)).json();
    const geo = await (await api(`/studies/${studies.CT}/series/${lm.seriesUID}/geometry`)).json();
    const raw = new Uint8Array(await (await api(`/revisions/${revision}/labelmaps/0`, { headers: { Accept: 'application/octet-stream' } })).arrayBuffer());
    const { columns, rows } = geo;
    assert.equal(raw.length, columns * rows * geo.slices);
    const voxel = (lps) => {
      let best = 0;
      let bestD = Infinity;
      geo.images.forEach((im, k) => {
        const d = Math.abs((lps[0] - im.position[0]) * geo.sliceDir[0] + (lps[1] - im.position[1]) * geo.sliceDir[1] + (lps[2] - im.position[2]) * geo.sliceDir[2]);
        if (d < bestD) [best, bestD] = [k, d];
      });
      const p = geo.images[best].position;
      const dv = [lps[0] - p[0], lps[1] - p[1], lps[2] - p[2]];
      const i = Math.round((dv[0] * geo.rowDir[0] + dv[1] * geo.rowDir[1] + dv[2] * geo.rowDir[2]) / geo.spacing[0]);
      const j = Math.round((dv[0] * geo.colDir[0] + dv[1] * geo.colDir[1] + dv[2] * geo.colDir[2]) / geo.spacing[1]);
      return raw[best * columns * rows + j * columns + i];
    };
    return { raw, voxel };
  }

  test('sign in, paint a 3D sphere, measure, place a landmark, answer, undo/redo, save, reload', async () => {
    if (auth) {
      await page.goto(`${app}/`);
      await signIn(page);
    } else {
      test.todo?.('this server has no accounts (GET /api/v1/auth/me is 404): sign-in not tested');
    }
    await open(page, studies.CT, 'mpr');

    // 3D sphere brush, radius 5 mm, label "Lung nodule" (segment 1), in the left lung.
    await page.click('[data-testid=label-lung-nodule]');
    await page.click('[data-testid=atool-SphereBrush]');
    await page.locator('[data-testid=brush-size]').fill('5');
    const centre = [54, 0, 0];
    const c = await at(page, 'axial', centre);
    await drag(page, c, [c[0] + 1, c[1]]);
    await page.waitForTimeout(300);
    await shot('annotate-sphere-brush');

    // Length between two known points 80 mm apart on the axial slice z = 0.
    await page.keyboard.press('l');
    await drag(page, await at(page, 'axial', [-40, -20, 0]), await at(page, 'axial', [40, -20, 0]));
    const liveLength = async () => parseFloat(await page.locator('[data-testid=item-length] [data-testid=item-stats]').innerText().catch(() => 'NaN'));
    await waitFor('the live length of 80 mm', async () => Math.abs((await liveLength()) - 80) <= 0.5, 10_000).catch(() => {});
    const live = await liveLength();
    assert.ok(Math.abs(live - 80) <= 0.5, `live length ${live} mm, want 80 ± 0.5`);
    await shot('annotate-length');

    // A landmark on the soft tissue in front of the spine.
    await page.keyboard.press('k');
    const lm = await at(page, 'axial', [0, -60, 0]);
    await page.mouse.click(...lm);
    await page.locator('[data-testid=item-landmark]').waitFor();

    // A study-level classification answer; undo takes it back, redo again.
    await page.keyboard.press('Escape');
    await page.click('[data-testid=q-quality] input[type=radio] >> nth=0');
    assert.ok(await page.locator('[data-testid=q-quality] input[type=radio] >> nth=0').isChecked());
    await page.mouse.move(...c);
    await page.keyboard.press('Control+z');
    await waitFor('undo of the answer', async () => !(await page.locator('[data-testid=q-quality] input[type=radio] >> nth=0').isChecked()));
    await page.keyboard.press('Control+y');
    await waitFor('redo of the answer', () => page.locator('[data-testid=q-quality] input[type=radio] >> nth=0').isChecked());
    // Undo/redo of a drawing: the landmark goes and comes back.
    await page.click('[data-testid=undo]');
    await page.click('[data-testid=undo]');
    await waitFor('undo of the landmark', async () => (await page.locator('[data-testid=item-landmark]').count()) === 0);
    await page.click('[data-testid=redo]');
    await page.click('[data-testid=redo]');
    await page.locator('[data-testid=item-landmark]').waitFor();
    await shot('annotate-classification');

    const head = await saveNow(page, 'sphere, length, landmark, answer');
    assert.ok(head);

    // What the server stored.
    const rev = await headRevision();
    assert.equal(rev.id, head);
    const items = rev.content.items;
    const seg = items.find((i) => i.kind === 'segmentation');
    assert.deepEqual(seg?.segment, { layer: 0, value: 1 });
    assert.equal(seg.label, 'lung-nodule');
    const length = items.find((i) => i.kind === 'length');
    const landmark = items.find((i) => i.kind === 'landmark');
    assert.ok(length && landmark, JSON.stringify(items));
    for (let a = 0; a < 3; a++) assert.ok(Math.abs(landmark.lps[0][a] - [0, -60, 0][a]) <= 1.5, `landmark at ${landmark.lps[0]}`);
    assert.deepEqual(rev.content.answers.map((a) => [a.question, a.choices]), [['quality', ['diagnostic']]]);
    const ms = await (await api(`/revisions/${head}/measurements`)).json();
    const lenM = ms.find((m) => m.item === length.id).length.value;
    assert.ok(Math.abs(lenM - 80) <= 0.5 && Math.abs(lenM - live) < 0.01, `server length ${lenM}, live ${live}`);

    // The labelmap through the API: the sphere's voxels around the LPS centre.
    const { raw, voxel } = await storedLabelmap(head);
    assert.equal(voxel(centre), 1, 'the sphere centre is labelled');
    assert.equal(voxel([54, 0, 2]), 1, 'one slice above (a sphere, not a circle)');
    assert.equal(voxel([54, 0, -2]), 1, 'one slice below');
    assert.equal(voxel([54, 0, 10]), 0, '10 mm above is outside a 5 mm sphere');
    assert.equal(voxel([64, 0, 0]), 0, '10 mm to the side is outside');
    let count = 0;
    for (const v of raw) if (v) count++;
    assert.ok(count > 20 && count < 200, `a 5 mm sphere of 2 mm voxels has ~65 voxels, got ${count}`);

    // Reload: everything comes back from the head revision.
    await page.reload();
    await open(page, studies.CT, 'mpr');
    await page.locator('[data-testid=item-length]').waitFor();
    await page.locator('[data-testid=item-landmark]').waitFor();
    assert.ok(await page.locator('[data-testid=q-quality] input[type=radio] >> nth=0').isChecked());
    const restored = await page.evaluate(() => {
      const bytes = window.radmark.annotation.controller.labelmapBytes();
      let n = 0;
      for (const v of bytes) if (v) n++;
      return n;
    });
    assert.equal(restored, count, 'the labelmap is restored voxel for voxel');
    await page.waitForTimeout(1000);
    assert.equal(await page.getAttribute('[data-testid=save-status]', 'data-dirty'), '0', 'a reload is not an edit');
    await shot('annotate-reloaded');
  });

  test('a 3D box drawn on the axial view, its depth set on the coronal view, undo/redo, saved in LPS mm', async () => {
    await open(page, studies.CT, 'mpr');
    await page.click('[data-testid=label-lung-nodule]');
    await page.keyboard.press('O');
    // Zoomed in, as a reader would for a precise box (and a mouse pixel is then well under 0.5 mm).
    await zoom(page, ['axial', 'coronal'], 3);
    // 40 × 40 mm on the axial slice z = 0: the box is as deep as it is wide, z −20…20.
    await drag(page, await at(page, 'axial', [-20, -10, 0]), await at(page, 'axial', [20, 30, 0]));
    await page.locator('[data-testid=item-box3d]').waitFor();
    // On the coronal view (plane y = 10, inside the box) the top edge (S) goes from 20 to 10 mm.
    await moveTo(page, 'coronal', [0, 10, 0]);
    await drag(page, await at(page, 'coronal', [20, 10, 20]), await at(page, 'coronal', [20, 10, 10]));
    const boxesNow = () => page.evaluate(() => window.radmark.annotation.controller.shownItems().filter((s) => s.item.kind === 'box3d').map((s) => s.item.lps));
    const hasBox = async (lps) => (await boxesNow()).some((b) => near(b, lps));
    const want = [[-20, -10, -20], [20, 30, 10]];
    await waitFor('the box edited on the coronal view', async () => await hasBox(want), 10_000);
    await shot('annotate-box3d');
    // Undo takes the depth edit back; redo brings it again.
    await page.click('[data-testid=undo]');
    await waitFor('undo of the depth', async () => await hasBox([[-20, -10, -20], [20, 30, 20]]), 10_000);
    await page.click('[data-testid=redo]');
    await waitFor('redo of the depth', async () => await hasBox(want), 10_000);
    assert.match(await page.locator('[data-testid=item-box3d] [data-testid=item-stats]').innerText(), /40\.\d × 40\.\d × (29\.[5-9]|30\.[0-4]) mm/);
    // A box dragged past the edge of the volume (y 127 mm: the last voxel centre, 126, plus half a voxel) is kept on it.
    await zoom(page, ['axial'], 1);
    await drag(page, await at(page, 'axial', [60, 100, 0]), await at(page, 'axial', [100, 140, 0]));
    await page.locator('[data-testid=item-box3d] >> nth=1').waitFor();

    const head = await saveNow(page, '3d box');
    const rev = await (await api(`/revisions/${head}`)).json();
    const boxes = rev.content.items.filter((i) => i.kind === 'box3d');
    const box = boxes.find((b) => near(b.lps, want));
    assert.ok(box && box.label === 'lung-nodule' && !box.image, `no box at ${JSON.stringify(want)} ± 0.5 mm in ${JSON.stringify(boxes)}`);
    const edge = boxes.find((b) => b !== box);
    assert.ok(edge && Math.abs(edge.lps[1][1] - 127) < 0.01 && Math.abs(edge.lps[0][1] - 100) <= 0.5, `the box past the edge: ${JSON.stringify(edge?.lps)}`);
    const m = (await (await api(`/revisions/${head}/measurements`)).json()).find((x) => x.item === box.id);
    assert.ok(Math.abs(m.width.value - 40) <= 1 && Math.abs(m.height.value - 40) <= 1 && Math.abs(m.depth.value - 30) <= 1, JSON.stringify(m));

    // A reload shows the box again, on every view that cuts it.
    await page.reload();
    await open(page, studies.CT, 'mpr');
    await page.locator('[data-testid=item-box3d] >> nth=1').waitFor();
    assert.ok(await hasBox(want));
  });

  test('fill between slices: a segment painted on two slices 10 mm apart fills the four slices between', async () => {
    await open(page, studies.CT, 'mpr');
    const start = await page.getAttribute('[data-testid=save-status]', 'data-head');
    await page.click('[data-testid=label-liver]');
    await page.click('[data-testid=atool-Brush]');
    await page.locator('[data-testid=brush-size]').fill('6');
    const liver = 2; // the schema's second segmentation label
    const painted = await paintDiscs(page, 'axial', [[-50, -10, -50], [-50, -10, -40]], liver);
    await page.keyboard.press('Escape');
    await page.keyboard.press('I');
    await waitFor('the fill', async () => (await liveCount(page, liver)) >= painted * 2.5, 30_000).catch(async (err) => {
      throw new Error(`${err.message}; painted ${painted}; messages: ${(await page.locator('.notice').allInnerTexts()).join(' | ')}`);
    });
    const filled = await liveCount(page, liver);
    // Two equal discs: the four slices between get the same disc.
    assert.ok(Math.abs(filled - 3 * painted) <= painted * 0.2, `painted ${painted} voxels on 2 slices, ${filled} after the fill (want about 3×)`);
    await shot('annotate-interpolation');
    await page.click('[data-testid=undo]');
    await waitFor('undo of the fill', async () => (await liveCount(page, liver)) === painted, 10_000);
    await page.click('[data-testid=redo]');
    await waitFor('redo of the fill', async () => (await liveCount(page, liver)) === filled, 10_000);

    const head = await autosaved(page, start);
    const { voxel } = await storedLabelmap(head);
    for (const z of [-50, -48, -46, -44, -42, -40]) assert.equal(voxel([-50, -10, z]), liver, `z = ${z} is filled`);
    assert.equal(voxel([-50, -10, -52]), 0, 'below the lower painted slice: nothing');
    assert.equal(voxel([-50, -10, -38]), 0, 'above the upper painted slice: nothing');
    assert.equal(voxel([-50, 2, -45 + 1]), 0, '12 mm to the side of the 6 mm discs: nothing');

    // On the coronal view the fill goes across coronal planes: discs at y = 40 and 50 (in a vertebral body, z = −40) fill y = 42…48.
    await page.click('[data-testid=label-vertebra]');
    await page.keyboard.press('b');
    const vertebra = 5;
    const onCoronal = await paintDiscs(page, 'coronal', [[0, 40, -40], [0, 50, -40]], vertebra);
    await page.keyboard.press('Escape');
    await page.keyboard.press('I');
    await waitFor('the fill across coronal planes', async () => Math.abs((await liveCount(page, vertebra)) - 3 * onCoronal) <= onCoronal * 0.2, 30_000);
    const { voxel: afterFill } = await storedLabelmap(await autosaved(page, head));
    for (const y of [40, 42, 44, 46, 48, 50]) assert.equal(afterFill([0, y, -40]), vertebra, `y = ${y} is filled`);
    assert.equal(afterFill([0, 54, -40]), 0, 'behind the back disc: nothing');
  });

  test('region growing from a seed in the phantom\'s lung nodule fills the nodule and nothing outside', async () => {
    await open(page, studies.CT, 'mpr');
    const start = await page.getAttribute('[data-testid=save-status]', 'data-head');
    await page.click('[data-testid=label-mass]');
    const mass = 4; // the schema's fourth segmentation label
    await page.keyboard.press('R');
    await page.locator('[data-testid=hu-low]').fill('-100');
    await page.locator('[data-testid=hu-high]').fill('200');
    await page.locator('[data-testid=grow-radius]').fill('30');
    // Lesion 0 of the phantom: centre (−56, 0, 42), radius 10 mm, 30 HU, in the lung (−850 HU).
    const centre = [-56, 0, 42];
    await moveTo(page, 'axial', centre);
    await page.mouse.click(...(await at(page, 'axial', centre)));
    await waitFor('the grown region', async () => (await liveCount(page, mass)) > 0, 10_000);
    const grown = await liveCount(page, mass);
    // 4/3·π·10³ mm³ in 2 mm voxels: about 524.
    assert.ok(grown > 450 && grown < 600, `grew ${grown} voxels, want about 524 (a 10 mm sphere of 2 mm voxels)`);
    await shot('annotate-region-growing');
    await page.click('[data-testid=undo]');
    await waitFor('undo of the grow', async () => (await liveCount(page, mass)) === 0, 10_000);
    await page.click('[data-testid=redo]');
    await waitFor('redo of the grow', async () => (await liveCount(page, mass)) === grown, 10_000);

    const head = await autosaved(page, start);
    const { voxel } = await storedLabelmap(head);
    for (const d of [[0, 0, 0], [8, 0, 0], [-8, 0, 0], [0, 8, 0], [0, 0, 8], [0, 0, -8]]) assert.equal(voxel([centre[0] + d[0], centre[1] + d[1], centre[2] + d[2]]), mass, `${d} from the centre is in the nodule`);
    for (const d of [[12, 0, 0], [-12, 0, 0], [0, 12, 0], [0, 0, 12], [0, 0, -12]]) assert.equal(voxel([centre[0] + d[0], centre[1] + d[1], centre[2] + d[2]]), 0, `${d} from the centre is lung, not nodule`);
  });

  test('a 2D box on the chest X-ray', async () => {
    await open(page, studies.DX, 'stack');
    await page.click('[data-testid=label-mass]');
    await page.keyboard.press('o');
    const box = await page.locator('[data-testid=viewport-stack] .vp-el').boundingBox();
    await drag(page, [box.x + box.width * 0.4, box.y + box.height * 0.4], [box.x + box.width * 0.6, box.y + box.height * 0.55]);
    await page.locator('[data-testid=item-box2d]').waitFor();
    await saveNow(page, 'box on the x-ray');
    const sets = await (await api(`/annotation-sets?project=${project.id}&study=${studies.DX}`)).json();
    const rev = await (await api(`/revisions/${sets.find((s) => s.head).head}`)).json();
    const b = rev.content.items.find((i) => i.kind === 'box2d');
    assert.ok(b?.image?.sopInstanceUID && b.points.length === 2, JSON.stringify(rev.content.items));
    assert.ok(b.points[1][0] > b.points[0][0] && b.points[1][1] > b.points[0][1]);
    await shot('annotate-xray-box');
  });

  test('a concurrent save from a second browser shows the conflict view', async () => {
    const other = await launchBrowser();
    try {
      await open(page, studies.CT, 'mpr');
      await open(other.page, studies.CT, 'mpr');
      // The other browser saves first.
      const landmarksBefore = await other.page.locator('[data-testid=item-landmark]').count();
      await other.page.click('[data-testid=atool-Landmark]');
      await other.page.mouse.click(...(await at(other.page, 'axial', [-30, 10, 0])));
      await waitFor('the second reader\'s landmark', async () => (await other.page.locator('[data-testid=item-landmark]').count()) === landmarksBefore + 1, 10_000);
      await saveNow(other.page, 'second reader');
      // This one, still on the old head, then saves.
      await page.click('[data-testid=atool-Landmark]');
      await page.mouse.click(...(await at(page, 'axial', [30, 10, 0])));
      await page.fill('[data-testid=save-message]', 'first reader');
      await page.click('[data-testid=save]');
      await page.locator('[data-testid=conflict]').waitFor({ timeout: 30_000 });
      assert.match(await page.locator('[data-testid=conflict]').innerText(), /saved first[\s\S]*second reader/);
      assert.match(await page.locator('[data-testid=conflict-diff]').innerText(), /added landmark/);
      await shot('annotate-conflict');
      // Nothing was overwritten: the head is the other browser's.
      assert.equal((await headRevision()).message, 'second reader');
    } finally {
      await other.close();
    }
  });
});
