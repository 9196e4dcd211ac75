// End-to-end tests of ellipse and rectangle ROIs on the MPR: on the
// acquired (axial) plane they are saved on their image and the server's
// stats equal the live numbers; on a reformatted plane (coronal) they are
// refused at once with a message, never left on screen unsaved. Phantom
// facts as in viewer.test.mjs: lesion 0 of CTSmall is a 10 mm sphere of
// 30 HU at (−56, 0, 42) in the lung (−850 HU); voxels of 2 mm.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';

import { browserUnavailable, waitFor } from './harness.mjs';
import { at, drag, moveTo, saveNow, annotationSuite } from './annotate-helpers.mjs';

const skip = await browserUnavailable();

describe('ROIs on the MPR views', { skip, timeout: 300_000 }, () => {
  const suite = annotationSuite();
  let fx, page;

  before(async () => {
    ({ fx, page } = suite);
  });

  const rois = () => page.evaluate(() => window.radmark.annotation.controller.shownItems().filter((s) => s.item.kind.endsWith('_roi')).map((s) => ({ ...s.stats, kind: s.item.kind, id: s.item.id })));

  test('an ROI on the coronal view is refused with a message; on the axial view its stored stats are the live ones', async () => {
    await fx.open(page, fx.studies.CT, 'mpr');
    await page.click('[data-testid=label-mass]');
    await page.keyboard.press('e');

    // Coronal plane y = 0 through the lesion: refused, and nothing stays drawn.
    await moveTo(page, 'coronal', [-56, 0, 42]);
    await drag(page, await at(page, 'coronal', [-68, 0, 34]), await at(page, 'coronal', [-44, 0, 50]));
    const refused = page.locator('.notice', { hasText: /Ellipse ROI not kept.*draw them on the axial view/ });
    await refused.waitFor({ timeout: 10_000 });
    await refused.getByRole('button', { name: 'Dismiss' }).click();
    assert.equal(await page.locator('[data-testid=item-ellipse_roi]').count(), 0);
    assert.equal(await page.evaluate(() => window.radmark.annotation.controller.shownItems().length), 0);

    // Axial slice z = 42 through the lesion's centre: an ellipse and a rectangle that cut its edge (lesion and lung).
    await moveTo(page, 'axial', [-56, 0, 42]);
    await drag(page, await at(page, 'axial', [-68, -9, 42]), await at(page, 'axial', [-47, 7, 42]));
    await page.locator('[data-testid=item-ellipse_roi]').waitFor();
    await page.keyboard.press('q');
    await drag(page, await at(page, 'axial', [-61, -5, 42]), await at(page, 'axial', [-41, 11, 42]));
    await page.locator('[data-testid=item-rectangle_roi]').waitFor();
    // The live numbers once Cornerstone has computed them for the finished shapes (unchanged for half a second).
    const live = await waitFor('the live stats of both ROIs', async () => {
      const r = await rois();
      if (r.length !== 2 || r.some((x) => x.mean === undefined || x.area === undefined)) return undefined;
      await page.waitForTimeout(500);
      return JSON.stringify(await rois()) === JSON.stringify(r) && r;
    }, 10_000);
    // What the panel shows is those numbers.
    for (const r of live) assert.match(await page.locator(`[data-testid=item-${r.kind}] [data-testid=item-stats]`).innerText(), new RegExp(`^${r.area.toFixed(1)} mm² · mean ${r.mean.toFixed(1)} `));
    for (const r of live) assert.ok(r.mean > -800 && r.mean < 0, `${r.kind}: mean ${r.mean} HU is between the lung and the lesion`);

    const head = await saveNow(page, 'ROIs on the axial view');
    const rev = await (await fx.api(`/revisions/${head}`)).json();
    const ms = await (await fx.api(`/revisions/${head}/measurements`)).json();
    for (const r of live) {
      const item = rev.content.items.find((i) => i.id === r.id);
      assert.ok(item?.image?.sopInstanceUID && item.points.length === 2, JSON.stringify(item));
      const m = ms.find((x) => x.item === r.id);
      assert.ok(Math.abs(m.area.value - r.area) <= r.area * 0.01, `${r.kind}: server area ${m.area.value} mm², live ${r.area}`);
      assert.ok(Math.abs(m.stats.mean - r.mean) <= 1, `${r.kind}: server mean ${m.stats.mean} HU, live ${r.mean}`);
      assert.ok(Math.abs(m.stats.sd - r.stdDev) <= 1, `${r.kind}: server SD ${m.stats.sd}, live ${r.stdDev}`);
      assert.equal(m.stats.min, r.min, `${r.kind}: min`);
      assert.equal(m.stats.max, r.max, `${r.kind}: max`);
    }
  });
});
