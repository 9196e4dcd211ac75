#!/usr/bin/env node
// Opens a study in the real OHIF viewer (@ohif/app) in headless Chromium,
// loads a DICOM SEG of the study into the viewport as a user does (double
// click on its thumbnail), goes to a given slice and checks in a screenshot
// that the segment's colour covers the lesion's known pixel box on that
// slice and appears nowhere else in the viewport. Prints a JSON report. See
// README.md.

import path from 'node:path';

import { check, CheckError, note, onInterrupt, parseBaseURL, parseUID, runCheck, UsageError } from './lib/cli.mjs';
import { CHROMIUM_FLAGS, DEFAULT_CHROMIUM, launchChromium } from './lib/chromium.mjs';
import { describeState, poll, saveScreenshot, stalled, summarize, viewportState, watchPage } from './lib/ohif-page.mjs';
import { startOhifServer } from './lib/ohif-server.mjs';
import { segmentPixels, SEGMENT_CRITERIA } from './lib/pixels.mjs';

const spec = {
  dicomweb: { required: true, meta: 'url', help: 'DICOMweb base URL, e.g. http://127.0.0.1:8080/dicomweb' },
  study: { required: true, meta: 'uid', help: 'StudyInstanceUID of the study (image series and SEG) on the server' },
  'seg-series': { required: true, meta: 'uid', help: 'SeriesInstanceUID of the SEG' },
  'image-sop': { required: true, meta: 'uid', help: 'SOPInstanceUID of the image slice to check' },
  box: { required: true, meta: 'c0,r0,c1,r1', help: "the lesion's pixel box on that slice: first and last column and row (0-based, inclusive)" },
  screenshot: { required: true, meta: 'file.png', help: 'where to write the viewer screenshot (PNG)' },
  mode: { default: 'proxy', choices: ['proxy', 'cors'], meta: 'proxy|cors', help: 'as in ohif-check.mjs' },
  timeout: { default: '120', meta: 'seconds', help: 'deadline for the whole check' },
  chromium: { default: DEFAULT_CHROMIUM, meta: 'path', help: 'Chromium executable' },
  token: { meta: 'token', help: 'personal API token the browser sends as a Bearer token with every request' },
};

function parseBox(v) {
  const n = String(v).split(',').map((x) => Number(x.trim()));
  if (n.length !== 4 || n.some((x) => !Number.isInteger(x) || x < 0) || n[2] < n[0] || n[3] < n[1]) {
    throw new UsageError(`--box must be c0,r0,c1,r1 with 0 <= c0 <= c1 and 0 <= r0 <= r1, got ${v}`);
  }
  return { c0: n[0], r0: n[1], c1: n[2], r1: n[3] };
}

/** The SEG's display set once OHIF has it, with the active viewport's id. */
async function segDisplaySet(page, segSeries) {
  return page.evaluate((uid) => {
    const s = window.services;
    if (!s?.displaySetService) return null;
    const ds = s.displaySetService.getActiveDisplaySets().find((d) => d.SeriesInstanceUID === uid);
    if (!ds) return null;
    return { displaySetInstanceUID: ds.displaySetInstanceUID, modality: ds.Modality, activeViewportId: s.viewportGridService.getActiveViewportId() };
  }, segSeries);
}

/** Double-clicks the SEG's thumbnail in the study browser; false when there is none to click. */
async function openSegFromThumbnail(page, displaySetInstanceUID, remaining) {
  const thumb = page.locator(`[data-cy^="study-browser-thumbnail"][id="thumbnail-${displaySetInstanceUID}"], ` +
    `[data-cy^="study-browser-thumbnail"]:has-text("SEG")`).first();
  try {
    await thumb.waitFor({ state: 'visible', timeout: Math.min(15_000, remaining()) });
    await thumb.dblclick({ timeout: Math.min(10_000, remaining()) });
    return true;
  } catch (err) {
    note(`could not double-click the SEG thumbnail (${err.message.split('\n')[0]})`);
    return false;
  }
}

/** The segmentations OHIF holds and which viewports show them. */
async function segmentationState(page) {
  return page.evaluate(() => {
    const s = window.services?.segmentationService;
    if (!s) return null;
    const segs = s.getSegmentations?.() ?? [];
    const out = { segmentations: [] };
    for (const seg of segs) {
      const id = seg.segmentationId ?? seg.id;
      const segments = Object.entries(seg.segments ?? {}).filter(([, v]) => v).map(([k, v]) => ({ index: Number(k), label: v.label ?? null }));
      out.segmentations.push({ id, label: seg.label ?? null, segments });
    }
    return out;
  });
}

/**
 * Shows the slice of imageSop in the viewport that shows the SEG and
 * returns that viewport's id, the segment colour and the lesion box in page
 * pixels (from Cornerstone's own world-to-canvas transform).
 */
async function gotoSlice(page, imageSop, box) {
  return page.evaluate(async ({ imageSop, box }) => {
    const cs = window.cornerstone;
    const segService = window.services.segmentationService;
    const segIds = (segService.getSegmentations?.() ?? []).map((s) => s.segmentationId ?? s.id);
    for (const engine of cs.getRenderingEngines()) {
      for (const vp of engine.getViewports()) {
        const reps = segIds.flatMap((id) => segService.getSegmentationRepresentations?.(vp.id, { segmentationId: id }) ?? []);
        if (!reps.length) continue;
        const ids = vp.getImageIds?.() ?? [];
        const index = ids.findIndex((id) => id.includes(`/instances/${imageSop}/`));
        if (index < 0) return { error: `viewport ${vp.id} shows the SEG but not image ${imageSop} (${ids.length} images)` };
        const before = vp.getCurrentImageId?.();
        if (!before?.includes(imageSop)) {
          await cs.utilities.jumpToSlice(vp.element, { imageIndex: index });
        }
        let current = vp.getCurrentImageId?.() ?? '';
        if (!current.includes(imageSop) && vp.getNumberOfSlices) {
          // A volume viewport counts slices along its normal, which may run the other way.
          await cs.utilities.jumpToSlice(vp.element, { imageIndex: vp.getNumberOfSlices() - 1 - index });
          current = vp.getCurrentImageId?.() ?? '';
        }
        vp.render();
        const plane = cs.metaData.get('imagePlaneModule', ids[index]);
        const world = (c, r) => [0, 1, 2].map((i) => plane.imagePositionPatient[i] +
          c * plane.columnPixelSpacing * plane.rowCosines[i] + r * plane.rowPixelSpacing * plane.columnCosines[i]);
        const rect = vp.canvas.getBoundingClientRect();
        const corners = [[box.c0 - 0.5, box.r0 - 0.5], [box.c1 + 0.5, box.r0 - 0.5], [box.c0 - 0.5, box.r1 + 0.5], [box.c1 + 0.5, box.r1 + 0.5]]
          .map(([c, r]) => vp.worldToCanvas(world(c, r)));
        const xs = corners.map((p) => p[0] + rect.x);
        const ys = corners.map((p) => p[1] + rect.y);
        const pixelWorld = vp.worldToCanvas(world(box.c0 + 1, box.r0));
        const pixelSize = Math.hypot(pixelWorld[0] - vp.worldToCanvas(world(box.c0, box.r0))[0], pixelWorld[1] - vp.worldToCanvas(world(box.c0, box.r0))[1]);
        let color = null;
        const segmentationId = reps[0].segmentationId;
        try {
          color = segService.getSegmentColor?.(vp.id, segmentationId, 1) ?? null;
        } catch {
          color = null;
        }
        return {
          viewportId: vp.id, viewportType: vp.type, imageIndex: index, currentImageId: current, onSlice: current.includes(imageSop),
          segmentationId, color: color ? [...color].slice(0, 3) : null,
          boxOnPage: { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs), y1: Math.max(...ys) },
          canvas: { x: rect.x, y: rect.y, width: rect.width, height: rect.height },
          screenPixelsPerImagePixel: pixelSize,
        };
      }
    }
    return null;
  }, { imageSop, box });
}

// Run last: the helpers above must be initialised before the check starts.
await runCheck({
  script: 'ohif-seg-check.mjs',
  summary: 'Serves the OHIF viewer from @ohif/app against a DICOMweb server, opens a study in headless\n' +
    'Chromium, loads a DICOM SEG into the viewport, goes to a slice and checks in a screenshot that the\n' +
    "segment's colour covers the lesion's pixel box there and appears nowhere else; prints a JSON report.",
  spec,
  body: async (opts, report) => {
    const dicomweb = parseBaseURL('dicomweb', opts.dicomweb);
    const studyUID = parseUID('study', opts.study);
    const segSeries = parseUID('seg-series', opts['seg-series']);
    const imageSop = parseUID('image-sop', opts['image-sop']);
    const box = parseBox(opts.box);
    const screenshot = path.resolve(opts.screenshot);
    if (!screenshot.endsWith('.png')) throw new UsageError('--screenshot must name a .png file');
    const timeoutS = Number(opts.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got ${opts.timeout}`);
    const started = Date.now();
    const deadline = started + timeoutS * 1000;
    const remaining = () => Math.max(0, deadline - Date.now());
    report.target = { dicomweb, study: studyUID, segSeries, imageSop, box, mode: opts.mode };
    report.timings = {};

    const cleanups = [];
    let traffic;
    try {
      // A SEG put in a viewport is shown at once, without OHIF's "load this segmentation?" prompt.
      const srv = await startOhifServer({ target: dicomweb, mode: opts.mode, appConfigExtra: { disableConfirmationPrompts: true } });
      cleanups.push(() => srv.close());
      report.ohif = { version: srv.distVersion, origin: srv.origin, dicomwebRoot: srv.dicomwebRoot };
      const browser = await launchChromium({ executablePath: opts.chromium, timeoutMs: Math.min(60_000, remaining()) });
      cleanups.push(() => browser.close());
      report.chromium = { executable: opts.chromium, version: browser.version, flags: [...CHROMIUM_FLAGS], commandLine: browser.commandLine };
      if (opts.token) await browser.context.setExtraHTTPHeaders({ Authorization: `Bearer ${opts.token}` });
      const page = browser.context.pages()[0] ?? (await browser.context.newPage());
      page.setDefaultTimeout(30_000);
      await page.addInitScript(() => {
        try {
          localStorage.setItem('shownTours', JSON.stringify(['basicViewerTour']));
        } catch {
          // storage unavailable: the tour then just shows
        }
      });
      traffic = watchPage(page, srv.dicomwebRoot);
      onInterrupt(async () => traffic.finish());
      report.consoleErrors = traffic.consoleErrors;
      report.pageErrors = traffic.pageErrors;
      report.failedRequests = traffic.failed;
      report.requests = traffic.dicomweb;

      // --- the study in the viewer ---------------------------------------------
      note('viewer');
      const viewer = (report.viewer = {});
      await page.goto(`${srv.origin}/viewer?StudyInstanceUIDs=${encodeURIComponent(studyUID)}`, { timeout: remaining(), waitUntil: 'domcontentloaded' });
      let state = null;
      const ready = await poll(remaining, async () => {
        stalled(traffic, 'the viewer');
        state = await viewportState(page);
        if (!state.viewports.some((v) => v.imageId)) return undefined;
        return (await segDisplaySet(page, segSeries)) ?? undefined;
      }, 500);
      if (!ready) {
        throw new CheckError(state?.viewports.some((v) => v.imageId)
          ? `the viewer shows the study but has no display set of SEG series ${segSeries} (is the SEG stored in study ${studyUID}?)`
          : `no image was shown (${describeState(state)})`);
      }
      check(ready.modality === 'SEG', `series ${segSeries} is a ${ready.modality} display set in OHIF, not a SEG`);
      viewer.firstImageMs = Date.now() - started;

      // --- the SEG ---------------------------------------------------------------
      note('loading the SEG');
      const seg = (report.seg = {});
      seg.loadedBy = (await openSegFromThumbnail(page, ready.displaySetInstanceUID, remaining)) ? 'thumbnail' : 'command';
      if (seg.loadedBy === 'command') {
        await page.evaluate(async ({ uid, viewportId }) => {
          const displaySet = window.services.displaySetService.getDisplaySetByUID(uid);
          await window.commandsManager.runCommand('hydrateSecondaryDisplaySet', { displaySet, viewportId });
        }, { uid: ready.displaySetInstanceUID, viewportId: ready.activeViewportId });
      }
      let placed = null;
      const shown = await poll(remaining, async () => {
        stalled(traffic, 'the SEG');
        seg.state = await segmentationState(page);
        if (!seg.state?.segmentations.length) return undefined;
        placed = await gotoSlice(page, imageSop, box);
        if (placed?.error) throw new CheckError(placed.error);
        return placed?.onSlice ? placed : undefined;
      }, 1000);
      if (!shown) {
        throw new CheckError(seg.state?.segmentations.length
          ? `OHIF loaded the SEG but no viewport shows it on image ${imageSop} (${JSON.stringify(placed)})`
          : 'OHIF never loaded the SEG as a segmentation');
      }
      seg.viewport = shown;
      seg.ms = Date.now() - started - viewer.firstImageMs;
      report.timings.segShownMs = seg.ms;

      // Let frames and the labelmap finish loading and render.
      const settleBy = Math.min(deadline, Date.now() + 20_000);
      await poll(() => Math.max(0, settleBy - Date.now()), async () => (traffic.inFlight() === 0 ? true : undefined), 500);
      await page.waitForTimeout(Math.min(1500, remaining()));

      // --- the screenshot: segment colour on the lesion, nowhere else ------------
      const png = await saveScreenshot(page, screenshot, report);
      const measured = await segmentPixels(page, png, shown.canvas, shown.boxOnPage, shown.color, Math.max(2, 2 * shown.screenPixelsPerImagePixel));
      report.overlay = { ...measured, criteria: SEGMENT_CRITERIA };
      check(measured.boxPixels >= 16, `the lesion box is only ${measured.boxPixels} screen pixels: the viewport is too small to judge`);
      check(measured.insideFraction >= SEGMENT_CRITERIA.minInsideFraction,
        `only ${(100 * measured.insideFraction).toFixed(1)} % of the lesion's box shows the segment colour ${JSON.stringify(measured.color)} ` +
        `(want >= ${100 * SEGMENT_CRITERIA.minInsideFraction} %): the SEG is not drawn over the lesion`);
      check(measured.outside <= SEGMENT_CRITERIA.maxOutsideRatio * measured.inside,
        `${measured.outside} segment-coloured pixels lie outside the lesion's box (vs ${measured.inside} inside): the SEG is drawn in the wrong place`);

      report.dicomwebSummary = summarize(traffic.dicomweb);
      const bad = traffic.dicomweb.filter((r) => r.failure || r.status >= 400);
      check(!bad.length, `${bad.length} DICOMweb requests of the viewer failed, e.g. ${bad[0]?.method} ${bad[0]?.url}: ${bad[0]?.failure ?? `HTTP ${bad[0]?.status}`}`);
    } finally {
      for (const c of cleanups.reverse()) await c().catch(() => {});
      traffic?.finish();
      report.timings.totalMs = Date.now() - started;
    }
  },
});
