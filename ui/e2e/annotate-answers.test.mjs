// End-to-end tests of the classification form at every level the label
// schema has (study, series, image and annotation item, a painted segment
// among them), checked through the API. Phantom facts as in viewer.test.mjs: CTSmall is 128×128×64
// voxels of 2 mm, middle axial slice z = 0, lungs around (±55, 0, 70).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { apiToken, browserUnavailable, waitFor } from './harness.mjs';
import { at, drag, moveTo, paintDiscs, saveNow, annotationSuite } from './annotate-helpers.mjs';

const skip = await browserUnavailable();
const key = (a) => JSON.stringify([a.question, a.image ?? '', a.item ?? '']);

describe('classification answers per study, image and annotation', { skip, timeout: 300_000 }, () => {
  const suite = annotationSuite();
  let fx, page;

  before(async () => {
    ({ fx, page } = suite);
    // The demo schema plus an image-level question (the demo has study, series and annotation ones).
    const token = await apiToken(fx.server.url);
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const schema = await (await fx.api(`/projects/${fx.project.id}/schema`)).json();
    const artefact = { id: 'artefact', text: 'Artefact on this image', type: 'single', level: 'image', options: [{ value: 'none' }, { value: 'motion' }, { value: 'metal' }] };
    const res = await fetch(`${fx.server.url}/api/v1/projects/${fx.project.id}/schema`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ baseVersion: schema.version, labels: schema.labels, questions: [...(schema.questions ?? []), artefact] }),
    });
    assert.equal(res.status, 201, await res.text());
  });

  /** The SOP Instance UID of the CT slice at z (through the API's series geometry). */
  async function sopAtZ(seriesUID, z) {
    const geo = await (await fx.api(`/studies/${fx.studies.CT}/series/${seriesUID}/geometry`)).json();
    const im = geo.images.find((x) => Math.abs(x.position[2] - z) < 0.01);
    assert.ok(im, `no slice at z = ${z}`);
    return im.sopInstanceUID;
  }

  const radio = (q, value) => page.locator(`[data-testid=q-${q}]`).getByRole('radio', { name: value, exact: true });

  test('image-level answers follow the slice; annotation-level ones the item picked in the list', async () => {
    await fx.open(page, fx.studies.CT, 'mpr');
    const seriesUID = await page.evaluate(() => window.radmark.annotation.controller.seriesUID);

    // Study level: as before.
    await radio('quality', 'diagnostic').check();

    // Image level, on the axial slice z = 0, then on z = 10 (a different answer).
    await moveTo(page, 'axial', [0, 0, 0]);
    const sop0 = await sopAtZ(seriesUID, 0);
    await waitFor('the image question on slice z = 0', async () => (await page.getAttribute('[data-testid=q-artefact]', 'data-target'))?.includes(sop0));
    assert.match(await page.locator('[data-testid=q-artefact]').innerText(), /image \d+/);
    await radio('artefact', 'motion').check();
    await moveTo(page, 'axial', [0, 0, 10]);
    const sop10 = await sopAtZ(seriesUID, 10);
    await waitFor('the image question on slice z = 10', async () => (await page.getAttribute('[data-testid=q-artefact]', 'data-target'))?.includes(sop10));
    assert.equal(await radio('artefact', 'motion').isChecked(), false, 'slice z = 10 has no answer yet');
    await radio('artefact', 'none').check();

    // Annotation level: Lung-RADS is asked of lung nodules; no item picked, no form.
    assert.equal(await page.locator('[data-testid=q-lung-rads] input').count(), 0);
    assert.match(await page.locator('[data-testid=q-lung-rads]').innerText(), /pick an annotation of Lung nodule/);
    await page.click('[data-testid=label-lung-nodule]');
    await page.keyboard.press('e');
    await drag(page, await at(page, 'axial', [-70, -10, 10]), await at(page, 'axial', [-40, 10, 10]));
    await page.locator('[data-testid=item-ellipse_roi]').waitFor();
    await page.keyboard.press('Escape');
    await page.click('[data-testid=item-ellipse_roi]');
    await radio('lung-rads', '4A').check();

    // A second nodule, painted: picking its segment among the labels makes it what the question is about.
    await page.click('[data-testid=atool-Brush]');
    await page.locator('[data-testid=brush-size]').fill('6');
    await paintDiscs(page, 'axial', [[50, -10, 10]], 1); // lung nodule: the first segmentation label, value 1
    await page.click('[data-testid=label-lung-nodule]');
    await waitFor('the question about the painted nodule', async () => /segmentation · Lung nodule/.test(await page.locator('[data-testid=q-lung-rads]').innerText()));
    assert.equal(await radio('lung-rads', '4A').isChecked(), false, 'the segment has no answer yet');
    await radio('lung-rads', '3').check();
    await page.click('[data-testid=item-ellipse_roi]');
    await waitFor('the ellipse picked again', () => radio('lung-rads', '4A').isChecked());

    const head = await saveNow(page, 'answers at three levels');
    const rev = await (await fx.api(`/revisions/${head}`)).json();
    const roi = rev.content.items.find((i) => i.kind === 'ellipse_roi');
    const painted = rev.content.items.find((i) => i.kind === 'segmentation' && i.label === 'lung-nodule');
    assert.ok(roi && painted, JSON.stringify(rev.content.items));
    const got = rev.content.answers.map((a) => ({ question: a.question, choices: a.choices, ...(a.image ? { image: a.image.sopInstanceUID } : {}), ...(a.item ? { item: a.item } : {}) }));
    const want = [
      { question: 'quality', choices: ['diagnostic'] },
      { question: 'artefact', choices: ['motion'], image: sop0 },
      { question: 'artefact', choices: ['none'], image: sop10 },
      { question: 'lung-rads', choices: ['4A'], item: roi.id },
      { question: 'lung-rads', choices: ['3'], item: painted.id },
    ];
    assert.deepEqual(got.toSorted((a, b) => key(a).localeCompare(key(b))), want.toSorted((a, b) => key(a).localeCompare(key(b))));

    // A reload shows each answer again where it belongs.
    await page.reload();
    await fx.open(page, fx.studies.CT, 'mpr');
    await moveTo(page, 'axial', [0, 0, 0]);
    await waitFor('motion on slice z = 0', () => radio('artefact', 'motion').isChecked(), 10_000);
    await moveTo(page, 'axial', [0, 0, 10]);
    await waitFor('none on slice z = 10', () => radio('artefact', 'none').isChecked(), 10_000);
    await page.click('[data-testid=item-ellipse_roi]');
    await waitFor('4A on the nodule', () => radio('lung-rads', '4A').isChecked(), 10_000);
    await page.click('[data-testid=label-lung-nodule]');
    await waitFor('3 on the painted nodule', () => radio('lung-rads', '3').isChecked(), 10_000);
    assert.equal(await page.getAttribute('[data-testid=save-status]', 'data-dirty'), '0', 'a reload is not an edit');

    // Deleting the item takes its answer with it (the server refuses an answer about an item that is gone);
    // the segment's stays.
    await page.evaluate((id) => {
      window.radmark.annotation.controller.loadItems(window.radmark.annotation.controller.shownItems().map((s) => s.item).filter((it) => it.id !== id));
    }, roi.id);
    const head2 = await saveNow(page, 'nodule removed');
    const rev2 = await (await fx.api(`/revisions/${head2}`)).json();
    assert.deepEqual(rev2.content.answers.filter((a) => a.item).map((a) => [a.item, a.choices]), [[painted.id, ['3']]]);
    assert.equal(rev2.content.answers.length, 4);
  });
});
