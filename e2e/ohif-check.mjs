#!/usr/bin/env node
// Opens a study from a DICOMweb server in the real OHIF viewer (the prebuilt
// @ohif/app package) in headless Chromium: the study list must show the
// study's row, and the viewer must render an image that is not blank. Prints
// a JSON report with the texts seen, pixel statistics, timings, console
// errors and every DICOMweb request the viewer made. See README.md.

import path from 'node:path';

import { check, CheckError, note, onInterrupt, parseBaseURL, parseUID, runCheck, UsageError } from './lib/cli.mjs';
import { CHROMIUM_FLAGS, DEFAULT_CHROMIUM, launchChromium } from './lib/chromium.mjs';
import { value } from './lib/dicom.mjs';
import { describeState, poll, saveScreenshot, stalled, summarize, viewportState, watchPage } from './lib/ohif-page.mjs';
import { startOhifServer } from './lib/ohif-server.mjs';
import { blankReasons, NOT_BLANK, regionStats } from './lib/pixels.mjs';

const spec = {
  dicomweb: { required: true, meta: 'url', help: 'DICOMweb base URL, e.g. http://127.0.0.1:8080/dicomweb' },
  study: { required: true, meta: 'uid', help: 'StudyInstanceUID of a study stored on the server' },
  screenshot: { required: true, meta: 'file.png', help: 'where to write the viewer screenshot (PNG)' },
  mode: {
    default: 'proxy', choices: ['proxy', 'cors'], meta: 'proxy|cors',
    help: 'proxy: the viewer reaches the server through /dicomweb on its own origin; cors: directly (the server must send CORS headers)',
  },
  timeout: { default: '120', meta: 'seconds', help: 'deadline for the whole check' },
  chromium: { default: DEFAULT_CHROMIUM, meta: 'path', help: 'Chromium executable' },
  token: { meta: 'token', help: 'personal API token the browser sends as a Bearer token with every request (radmark token create NAME)' },
  'datasource-json': { meta: 'json', help: 'JSON object merged into the OHIF data source configuration, e.g. {"qidoSupportsIncludeField":true}' },
};

/** Returns the study attributes OHIF's own QIDO responses gave for the study, null if none had it, undefined while waiting. */
function findStudyInQidoResponses(queries, studyUID) {
  const done = queries.filter((q) => q.done && q.body);
  for (const q of [...done].reverse()) {
    const d = q.body.find((x) => value(x, 'StudyInstanceUID') === studyUID);
    if (d) {
      const out = {};
      for (const k of ['PatientName', 'PatientID', 'StudyDate', 'ModalitiesInStudy', 'StudyDescription', 'NumberOfStudyRelatedInstances', 'AccessionNumber']) {
        const v = value(d, k);
        if (v !== undefined && v !== null) out[k] = v;
      }
      return out;
    }
  }
  return done.length ? null : undefined;
}

/** Texts of the study list's result rows (rows carry aria-selected in OHIF's study list table). */
async function rowTexts(page) {
  return page.evaluate(() => [...document.querySelectorAll('tbody tr[aria-selected]')]
    .map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim())));
}

async function headerTexts(page) {
  return page.evaluate(() => [...(document.querySelector('thead tr')?.querySelectorAll('th') ?? [])].map((th) => th.innerText.trim()));
}

function norm(s) {
  return String(s ?? '').toLowerCase().split(/[^0-9a-z]+/).filter(Boolean).sort().join(' ');
}

/**
 * Finds the row that shows the study: the patient cell (the column headed
 * "Patient"; any cell if there is no such header) must show the patient's
 * name, compared as word sets because OHIF rewrites "^" as ", "; and when
 * the QIDO response has them, some cell must show the study date's year, the
 * modalities and the number of instances. Returns the first such row, with
 * how many rows matched, or null.
 */
function matchRow(rows, headers, exp) {
  const name = norm(exp.PatientName);
  const patientCol = headers.findIndex((h) => /patient/i.test(h));
  const year = typeof exp.StudyDate === 'string' && exp.StudyDate.length >= 4 ? exp.StudyDate.slice(0, 4) : null;
  const modalities = [exp.ModalitiesInStudy].flat().filter(Boolean);
  const instances = exp.NumberOfStudyRelatedInstances !== undefined ? String(exp.NumberOfStudyRelatedInstances) : null;
  const matches = [];
  for (const [index, cells] of rows.entries()) {
    const patientName = patientCol >= 0 && patientCol < cells.length
      ? (norm(cells[patientCol]) === name ? cells[patientCol] : undefined)
      : cells.find((c) => norm(c) === name);
    if (patientName === undefined) continue;
    const row = {
      index,
      cells,
      patientName,
      studyDate: year ? cells.find((c) => c.includes(year)) ?? null : undefined,
      modalities: modalities.length ? cells.find((c) => modalities.every((m) => c.includes(m))) ?? null : undefined,
      instances: instances !== null ? cells.find((c) => c === instances) ?? null : undefined,
    };
    if (row.studyDate === null || row.modalities === null || row.instances === null) continue;
    for (const k of ['studyDate', 'modalities', 'instances']) if (row[k] === undefined) delete row[k];
    matches.push(row);
  }
  if (!matches.length) return null;
  return { ...matches[0], matchingRows: matches.length };
}

/** Clicks the row, then the first mode button; returns 'study-list' when that opened the viewer. */
async function openViewerFromList(page, index, remaining) {
  try {
    await page.locator('tbody tr[aria-selected]').nth(index).click({ timeout: Math.min(10_000, remaining()) });
    const button = page.getByRole('button', { name: 'Basic Viewer', exact: true });
    await button.waitFor({ state: 'visible', timeout: Math.min(15_000, remaining()) });
    await Promise.all([
      page.waitForURL(/\/viewer\?/, { timeout: Math.min(15_000, remaining()) }),
      button.click({ timeout: Math.min(10_000, remaining()) }),
    ]);
    return 'study-list';
  } catch (err) {
    note(`could not open the viewer from the study list (${err.message.split('\n')[0]}); opening its URL`);
    return 'direct-url';
  }
}

// Run last: the helpers above must be initialised before the check starts.
await runCheck({
  script: 'ohif-check.mjs',
  summary: 'Serves the OHIF viewer from @ohif/app against a DICOMweb server, opens the study list and the\n' +
    'study in headless Chromium, checks that the study row is shown and an image is rendered, writes a\n' +
    'screenshot and prints a JSON report.',
  spec,
  body: async (opts, report) => {
    const dicomweb = parseBaseURL('dicomweb', opts.dicomweb);
    const studyUID = parseUID('study', opts.study);
    const screenshot = path.resolve(opts.screenshot);
    if (!screenshot.endsWith('.png')) throw new UsageError('--screenshot must name a .png file');
    const timeoutS = Number(opts.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout must be a positive number of seconds, got ${opts.timeout}`);
    let overrides = {};
    if (opts['datasource-json']) {
      try {
        overrides = JSON.parse(opts['datasource-json']);
      } catch (err) {
        throw new UsageError(`--datasource-json is not JSON: ${err.message}`);
      }
      if (!overrides || typeof overrides !== 'object' || Array.isArray(overrides)) throw new UsageError('--datasource-json must be a JSON object');
    }
    const started = Date.now();
    const deadline = started + timeoutS * 1000;
    const remaining = () => Math.max(0, deadline - Date.now());
    report.target = { dicomweb, study: studyUID, mode: opts.mode };
    report.timings = {};

    const cleanups = [];
    let traffic;
    try {
      // --- the viewer's server ---------------------------------------------
      const srv = await startOhifServer({ target: dicomweb, mode: opts.mode, dataSourceOverrides: overrides });
      cleanups.push(() => srv.close());
      const root = srv.dicomwebRoot;
      report.ohif = {
        version: srv.distVersion, origin: srv.origin, dicomwebRoot: root,
        dataSource: JSON.parse(srv.appConfig.slice(srv.appConfig.indexOf('{'), srv.appConfig.lastIndexOf('}') + 1)).dataSources[0].configuration,
      };
      note(`OHIF ${srv.distVersion} on ${srv.origin}, DICOMweb root ${root} (${opts.mode} mode)`);

      // --- the browser ---------------------------------------------------------
      let t0 = Date.now();
      const browser = await launchChromium({ executablePath: opts.chromium, timeoutMs: Math.min(60_000, remaining()) });
      cleanups.push(() => browser.close());
      report.chromium = {
        executable: opts.chromium, version: browser.version, flags: [...CHROMIUM_FLAGS], commandLine: browser.commandLine,
      };
      report.timings.browserStartMs = Date.now() - t0;
      // As a site's gateway or single sign-on would, the browser sends the
      // user's credentials with every request (CORS lets the header through).
      if (opts.token) await browser.context.setExtraHTTPHeaders({ Authorization: `Bearer ${opts.token}` });
      const page = browser.context.pages()[0] ?? (await browser.context.newPage());
      page.setDefaultTimeout(30_000);
      // OHIF shows an onboarding tour over the first viewer it opens; a returning user has seen it.
      await page.addInitScript(() => {
        try {
          localStorage.setItem('shownTours', JSON.stringify(['basicViewerTour']));
        } catch {
          // storage unavailable: the tour then just shows
        }
      });
      traffic = watchPage(page, root);
      onInterrupt(async () => traffic.finish());
      report.consoleErrors = traffic.consoleErrors;
      report.pageErrors = traffic.pageErrors;
      report.failedRequests = traffic.failed;
      report.requests = traffic.dicomweb;

      // --- the study list -----------------------------------------------------
      note('study list');
      t0 = Date.now();
      const list = (report.studyList = { url: `${srv.origin}/` });
      await page.goto(list.url, { timeout: remaining(), waitUntil: 'domcontentloaded' });
      const found = await poll(remaining, async () => {
        stalled(traffic, 'the study list');
        const rows = await rowTexts(page);
        const expected = findStudyInQidoResponses(traffic.studyQueries, studyUID);
        if (rows.length && expected) return { rows, expected };
        if (expected === null && traffic.studyQueries.some((q) => q.done) && rows.length) {
          return { rows, expected: null };
        }
        return undefined;
      });
      if (!found) {
        const q = traffic.studyQueries.at(-1);
        throw new CheckError(`the study list showed no study row within the deadline; ${q
          ? `OHIF's last study query ${q.url} got ${[q.status && `HTTP ${q.status}`, q.error].filter(Boolean).join(', ') || 'no response'} (${q.count ?? '?'} studies)`
          : 'OHIF sent no QIDO-RS study query'}`);
      }
      const lastQuery = traffic.studyQueries.filter((q) => q.done).at(-1);
      list.query = { url: lastQuery?.url, status: lastQuery?.status, studies: lastQuery?.count };
      list.headers = await headerTexts(page);
      list.rowCount = found.rows.length;
      check(found.expected, `OHIF's study query ${lastQuery?.url} returned ${lastQuery?.count} studies, none with StudyInstanceUID ${studyUID}`);
      const exp = found.expected;
      list.expected = exp;
      const match = matchRow(found.rows, list.headers, exp);
      check(match, `no study row shows the study (patient ${JSON.stringify(exp.PatientName ?? '')}, date ${exp.StudyDate ?? '-'}, ` +
        `modalities ${[exp.ModalitiesInStudy].flat().join('\\') || '-'}, ${exp.NumberOfStudyRelatedInstances ?? '?'} instances); ` +
        `rows seen: ${JSON.stringify(found.rows.slice(0, 10))}`);
      list.row = match;
      list.ms = Date.now() - t0;
      report.timings.studyListMs = list.ms;
      note(`study row: ${JSON.stringify(match.cells)}`);

      // --- the viewer ------------------------------------------------------
      // A person clicks the row, then a mode ("Basic Viewer"); that must open
      // /viewer?StudyInstanceUIDs=<uid>. If this OHIF build has no such
      // button, the viewer URL is opened directly (the report says which).
      note('viewer');
      t0 = Date.now();
      const viewer = (report.viewer = {});
      viewer.openedBy = await openViewerFromList(page, match.index, remaining);
      if (viewer.openedBy !== 'study-list') {
        await page.goto(`${srv.origin}/viewer?StudyInstanceUIDs=${encodeURIComponent(studyUID)}`, { timeout: remaining(), waitUntil: 'domcontentloaded' });
      }
      viewer.url = page.url();
      const uids = new URL(viewer.url).searchParams.get('StudyInstanceUIDs');
      check(uids?.split(',').includes(studyUID), `the viewer opened ${viewer.url}, not study ${studyUID}`);

      let lastStats = null;
      let lastState = null;
      let rendered;
      try {
        rendered = await poll(remaining, async () => {
          stalled(traffic, 'the viewer', lastStats ? blankReasons(lastStats).join('; ') : null);
          lastState = await viewportState(page);
          const c = lastState.canvas;
          if (!c || c.width < 16 || c.height < 16 || !lastState.viewports.some((v) => v.imageId)) return undefined;
          const png = await page.screenshot({ clip: c, timeout: Math.min(15_000, remaining()) });
          lastStats = await regionStats(page, png);
          return blankReasons(lastStats).length === 0 ? true : undefined;
        }, 1000);
        if (!rendered) {
          const why = lastStats ? blankReasons(lastStats).join('; ') : describeState(lastState);
          throw new CheckError(`no image was rendered in the viewport within the deadline (${why})`);
        }
      } catch (err) {
        // Keep what the viewer showed, for debugging the server.
        viewer.state = lastState;
        viewer.lastCanvasPixelStats = lastStats;
        await saveScreenshot(page, screenshot, report).catch(() => {});
        throw err;
      }
      viewer.firstImageMs = Date.now() - t0;
      report.timings.viewerFirstImageMs = viewer.firstImageMs;
      note(`image rendered after ${viewer.firstImageMs} ms`);

      // Let the remaining frame requests finish (bounded), so the request log
      // is complete and late failures count.
      const settleBy = Math.min(deadline, Date.now() + 20_000);
      await poll(() => Math.max(0, settleBy - Date.now()), async () => (traffic.inFlight() === 0 ? true : undefined), 500);
      await page.waitForTimeout(Math.min(500, remaining()));

      // --- screenshot and its statistics ----------------------------------------
      viewer.state = await viewportState(page);
      const png = await saveScreenshot(page, screenshot, report);
      const rect = viewer.state.canvas;
      check(rect, `the viewport canvas disappeared before the screenshot (${describeState(viewer.state)})`);
      const stats = await regionStats(page, png, rect);
      viewer.canvasPixelStats = stats;
      viewer.notBlankCriteria = NOT_BLANK;
      const why = blankReasons(stats);
      check(!why.length, `the viewport in the screenshot looks blank: ${why.join('; ')}`);

      // --- DICOMweb traffic ---------------------------------------------------
      report.dicomwebSummary = summarize(traffic.dicomweb);
      if (srv.proxied.length) report.proxiedRequests = srv.proxied.length;
      const bad = traffic.dicomweb.filter((r) => r.failure || r.status >= 400);
      check(!bad.length, `${bad.length} DICOMweb requests of the viewer failed, e.g. ${bad[0]?.method} ${bad[0]?.url}: ${bad[0]?.failure ?? `HTTP ${bad[0]?.status}`}`);
    } finally {
      for (const c of cleanups.reverse()) await c().catch(() => {});
      traffic?.finish();
      report.timings.totalMs = Date.now() - started;
    }
  },
});
