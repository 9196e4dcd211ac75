// End-to-end test of labelmap layers beyond 0: a segment painted over
// another goes on a layer of its own (neither loses voxels), is saved as
// its own layer, comes back on reload, and a revision written elsewhere
// (as an import from DICOM SEG or RTSTRUCT writes them: its own layers,
// values and item ids) is shown and saved back as it is. Phantom facts as
// in viewer.test.mjs: CTSmall is 128×128×64 voxels of 2 mm, z = 0 the
// middle axial slice.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { apiToken, browserUnavailable, waitFor } from './harness.mjs';
import { annotationSuite, at, paintDiscs, saveNow } from './annotate-helpers.mjs';

const skip = await browserUnavailable();

/** How many voxels of a labelmap layer in the viewer hold a value. */
const layerCount = (p, layer, value) =>
  p.evaluate(([l, v]) => {
    let n = 0;
    for (const x of window.radmark.annotation.controller.labelmapBytes(l) ?? []) if (x === v) n++;
    return n;
  }, [layer, value]);

describe('overlapping segments on labelmap layers', { skip, timeout: 300_000 }, () => {
  const suite = annotationSuite();
  let fx, page;

  before(() => {
    ({ fx, page } = suite);
  });

  /** A stored labelmap layer's value at an LPS point (nearest voxel), through the API. */
  async function storedVoxel(revision, layer, lps) {
    const [lm] = (await (await fx.api(`/revisions/${revision}/labelmaps`)).json()).filter((l) => l.layer === layer);
    assert.ok(lm, `revision ${revision} has no layer ${layer}`);
    const geo = await (await fx.api(`/studies/${fx.studies.CT}/series/${lm.seriesUID}/geometry`)).json();
    const raw = new Uint8Array(await (await fx.api(`/revisions/${revision}/labelmaps/${layer}`, { headers: { Accept: 'application/octet-stream' } })).arrayBuffer());
    const k = geo.images.findIndex((im) => Math.abs(im.position[2] - lps[2]) < 0.01);
    const p = geo.images[k].position;
    const i = Math.round((lps[0] - p[0]) / geo.spacing[0]);
    const j = Math.round((lps[1] - p[1]) / geo.spacing[1]);
    return raw[k * geo.columns * geo.rows + j * geo.columns + i];
  }

  test('a nodule painted over the lung goes on layer 1; both are saved, reloaded, and a revision made elsewhere is kept as it is', async () => {
    await fx.open(page, fx.studies.CT, 'mpr');
    const centre = [-50, -10, 0];
    const lung = 3; // the schema's third segmentation label

    // The lung on layer 0, a 12 mm disc.
    await page.click('[data-testid=label-lung]');
    await page.click('[data-testid=atool-Brush]');
    await page.locator('[data-testid=brush-size]').fill('12');
    const lungVoxels = await paintDiscs(page, 'axial', [centre], lung);

    // A nodule inside it on a layer of its own: a 4 mm disc at the same centre.
    await page.click('[data-testid=overlap-lung-nodule]');
    await page.locator('[data-testid=segment-lung-nodule-1-1]').waitFor();
    await page.locator('[data-testid=brush-size]').fill('4');
    const c = await at(page, 'axial', centre);
    await page.mouse.move(...c);
    await page.mouse.down();
    await page.mouse.move(c[0] + 1, c[1], { steps: 2 });
    await page.mouse.up();
    const nodule = await waitFor('the nodule on layer 1', async () => (await layerCount(page, 1, 1)) || undefined, 10_000);
    assert.ok(nodule > 0 && nodule < lungVoxels / 3, `nodule ${nodule} voxels, lung ${lungVoxels}`);
    assert.equal(await layerCount(page, 0, lung), lungVoxels, 'the lung keeps every voxel under the nodule');
    assert.equal(await layerCount(page, 0, 1), 0, 'nothing of the nodule on layer 0');

    const head = await saveNow(page, 'nodule over the lung');
    const rev = await (await fx.api(`/revisions/${head}`)).json();
    const segs = rev.content.items.filter((i) => i.kind === 'segmentation').map((i) => [i.id, i.label, i.segment.layer, i.segment.value]);
    assert.deepEqual(segs.toSorted(), [['seg-lung', 'lung', 0, lung], ['seg-lung-nodule-layer1', 'lung-nodule', 1, 1]]);
    assert.deepEqual(rev.content.labelmaps.map((l) => l.layer).toSorted(), [0, 1]);
    assert.equal(await storedVoxel(head, 0, centre), lung, 'layer 0 at the centre: lung');
    assert.equal(await storedVoxel(head, 1, centre), 1, 'layer 1 at the centre: nodule');
    assert.equal(await storedVoxel(head, 1, [centre[0] + 10, centre[1], 0]), 0, 'layer 1 10 mm out: nothing');
    assert.equal(await storedVoxel(head, 0, [centre[0] + 10, centre[1], 0]), lung, 'layer 0 10 mm out: lung');

    // Reload: both layers voxel for voxel; the nodule's one segment is the one on layer 1; no edit.
    await page.reload();
    await fx.open(page, fx.studies.CT, 'mpr');
    await waitFor('the nodule on layer 1 in the list', async () => /layer 1 · 1/.test(await page.locator('[data-testid=label-lung-nodule]').innerText()), 10_000);
    assert.equal(await layerCount(page, 0, lung), lungVoxels);
    assert.equal(await layerCount(page, 1, 1), nodule);
    await page.waitForTimeout(1000);
    assert.equal(await page.getAttribute('[data-testid=save-status]', 'data-dirty'), '0', 'a reload is not an edit');

    // A revision written elsewhere (as an import names them): layer 1 value 1 is a mass, with the import's item ids.
    const sets = await (await fx.api(`/annotation-sets?project=${fx.project.id}&study=${fx.studies.CT}`)).json();
    const set = sets.find((s) => s.head === head);
    const token = await apiToken(fx.server.url);
    const items = [
      { id: 'segment-0-3', kind: 'segmentation', label: 'lung', source: { type: 'human' }, segment: { layer: 0, value: lung } },
      { id: 'segment-1-1', kind: 'segmentation', label: 'mass', source: { type: 'human' }, segment: { layer: 1, value: 1 } },
    ];
    const res = await fetch(`${fx.server.url}/api/v1/annotation-sets/${set.id}/revisions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'If-Match': `"${head}"` },
      body: JSON.stringify({ parent: head, message: 'imported', items, answers: [] }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const imported = (await res.json()).id;
    await page.reload();
    await fx.open(page, fx.studies.CT, 'mpr');
    // The mass's one segment is on layer 1; the nodule has no segment in the revision, so a fresh one on layer 0.
    await waitFor('the mass on layer 1', async () => /layer 1 · 1/.test(await page.locator('[data-testid=label-mass]').innerText()), 10_000);
    assert.match(await page.locator('[data-testid=label-lung-nodule]').innerText(), /\(1\)/);
    assert.equal(await layerCount(page, 1, 1), nodule);

    // An edit and a save keep the import's segments as they are.
    await page.keyboard.press('Escape');
    await page.keyboard.press('k');
    await page.mouse.click(...(await at(page, 'axial', [0, -60, 0])));
    await page.locator('[data-testid=item-landmark]').waitFor();
    const after = await saveNow(page, 'a landmark on the imported segments');
    assert.notEqual(after, imported);
    const rev2 = await (await fx.api(`/revisions/${after}`)).json();
    assert.deepEqual(rev2.content.items.filter((i) => i.kind === 'segmentation').map((i) => [i.id, i.label, i.segment.layer, i.segment.value]).toSorted(), [['segment-0-3', 'lung', 0, lung], ['segment-1-1', 'mass', 1, 1]]);
    assert.equal(await storedVoxel(after, 1, centre), 1);
  });
});
