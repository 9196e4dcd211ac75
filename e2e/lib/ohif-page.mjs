// The parts of the OHIF checks (ohif-check.mjs, ohif-seg-check.mjs) that
// watch the viewer's page: its DICOMweb traffic and errors, Cornerstone's
// viewports, screenshots.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { CheckError } from './cli.mjs';

export const STALL_MS = 10_000;

/**
 * Gives up early, with the failed requests in the message, when DICOMweb
 * requests failed and none has succeeded for STALL_MS (the viewer would only
 * sit there until the deadline).
 */
export function stalled(traffic, what, detail) {
  const bad = traffic.dicomweb.filter((r) => r.failure || r.status >= 400);
  if (!bad.length || Date.now() - traffic.lastActivity() < STALL_MS) return;
  const first = bad[0];
  let msg = `${what} is stuck: ${bad.length} DICOMweb request(s) failed and none succeeded for ${STALL_MS / 1000} s; first: ` +
    `${first.method} ${first.url} -> ${first.failure ?? `HTTP ${first.status}`}`;
  if (first.failure && traffic.consoleErrors.some((e) => /CORS policy/.test(e.text))) {
    msg += ' (blocked by CORS: in cors mode the server must answer with Access-Control-Allow-Origin)';
  }
  if (detail) msg += `; viewport: ${detail}`;
  throw new CheckError(msg);
}

/** Calls fn every `everyMs` until it returns something other than undefined or time runs out. */
export async function poll(remaining, fn, everyMs = 250) {
  for (;;) {
    let v;
    try {
      v = await fn();
    } catch (err) {
      // A page that is navigating makes evaluate() fail: try again. Our own
      // verdicts and programming errors end the check.
      if (err instanceof CheckError || err instanceof TypeError || err instanceof ReferenceError || remaining() <= 0) throw err;
    }
    if (v !== undefined) return v;
    if (remaining() <= everyMs) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Records the page's console errors, uncaught exceptions, failed requests and
 * every request to the DICOMweb root (with its Accept header), and keeps the
 * parsed bodies of QIDO-RS study queries.
 */
export function watchPage(page, root) {
  const consoleErrors = [];
  const pageErrors = [];
  const failed = [];
  const dicomweb = [];
  const studyQueries = [];
  const pending = new Map();
  let lastActivity = Date.now();
  const isDicomweb = (u) => u === root || u.startsWith(`${root}/`) || u.startsWith(`${root}?`);
  const isStudyQuery = (u) => {
    if (!isDicomweb(u)) return false;
    const rest = u.slice(root.length);
    return rest === '/studies' || rest.startsWith('/studies?');
  };
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const loc = msg.location();
    if (consoleErrors.length < 100) consoleErrors.push({ text: msg.text().slice(0, 1000), url: loc?.url || undefined });
  });
  page.on('pageerror', (err) => {
    if (pageErrors.length < 50) pageErrors.push(String(err?.stack ?? err).slice(0, 2000));
  });
  page.on('request', (req) => {
    if (!isDicomweb(req.url())) return;
    const entry = { method: req.method(), url: req.url(), resourceType: req.resourceType(), started: Date.now() };
    pending.set(req, entry);
    dicomweb.push(entry);
    req.allHeaders().then((h) => { entry.accept = h.accept ?? null; }).catch(() => {});
    if (isStudyQuery(req.url())) studyQueries.push(entry.query = { url: req.url() });
  });
  page.on('requestfinished', async (req) => {
    const entry = pending.get(req);
    pending.delete(req);
    const res = await req.response().catch(() => null);
    if (!entry) {
      if (res && res.status() >= 400) failed.push({ method: req.method(), url: req.url(), status: res.status(), resourceType: req.resourceType() });
      return;
    }
    entry.ms = Date.now() - entry.started;
    if (res) {
      entry.status = res.status();
      if (entry.status < 400) lastActivity = Date.now();
      const h = await res.allHeaders().catch(() => ({}));
      entry.contentType = h['content-type'] ?? null;
      const sizes = await req.sizes().catch(() => null);
      // As transferred: compressed when the server compresses.
      if (sizes) entry.transferBytes = sizes.responseBodySize;
      if (entry.status >= 400) failed.push({ method: entry.method, url: entry.url, status: entry.status, resourceType: entry.resourceType });
      if (entry.query) {
        entry.query.status = entry.status;
        try {
          const body = await res.json();
          entry.query.body = Array.isArray(body) ? body : null;
          entry.query.count = Array.isArray(body) ? body.length : undefined;
        } catch (err) {
          entry.query.error = `response is not JSON: ${err.message}`;
        }
      }
    }
    if (entry.query) entry.query.done = true;
  });
  page.on('requestfailed', (req) => {
    const entry = pending.get(req);
    pending.delete(req);
    const failure = req.failure()?.errorText ?? 'failed';
    failed.push({ method: req.method(), url: req.url(), failure, resourceType: req.resourceType() });
    if (entry) {
      entry.failure = failure;
      entry.ms = Date.now() - entry.started;
      if (entry.query) Object.assign(entry.query, { error: failure, done: true });
    }
  });
  return {
    consoleErrors, pageErrors, failed, studyQueries, dicomweb,
    inFlight: () => pending.size,
    lastActivity: () => lastActivity,
    // Drops the helper fields before the report is printed.
    finish: () => dicomweb.forEach((e) => { delete e.started; delete e.query; }),
  };
}

/** What the page shows: the viewport canvas and Cornerstone's viewports (OHIF exposes window.cornerstone). */
export async function viewportState(page) {
  return page.evaluate(() => {
    const canvases = [...document.querySelectorAll('canvas.cornerstone-canvas')]
      .map((c) => ({ c, r: c.getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && r.height > 0)
      .sort((a, b) => b.r.width * b.r.height - a.r.width * a.r.height);
    const first = canvases[0];
    const state = {
      canvas: first ? { x: Math.round(first.r.x), y: Math.round(first.r.y), width: Math.floor(first.r.width), height: Math.floor(first.r.height) } : null,
      canvasCount: canvases.length,
      viewports: [],
    };
    const cs = window.cornerstone;
    try {
      state.webglRenderer = JSON.parse(localStorage.getItem('cornerstone3D.renderingCapabilities') ?? 'null')?.renderer ?? null;
    } catch {
      state.webglRenderer = null;
    }
    if (cs) {
      try {
        state.cpuRendering = !!cs.getConfiguration?.()?.rendering?.useCPURendering;
        for (const engine of cs.getRenderingEngines?.() ?? []) {
          for (const vp of engine.getViewports()) {
            const ids = vp.getImageIds?.() ?? [];
            state.viewports.push({
              id: vp.id,
              type: vp.type,
              imageId: vp.getCurrentImageId?.() ?? null,
              imageIndex: vp.getCurrentImageIdIndex?.() ?? null,
              imageCount: ids.length,
            });
          }
        }
      } catch (err) {
        state.error = String(err);
      }
    }
    const loading = document.querySelector('[data-cy="loading-indicator"], .loading-indicator');
    state.loadingIndicator = !!loading;
    return state;
  });
}

export function describeState(s) {
  if (!s) return 'the viewer page never answered';
  if (!s.canvas) return 'no Cornerstone canvas on the page';
  if (!s.viewports.some((v) => v.imageId)) return `a canvas of ${s.canvas.width}x${s.canvas.height} but no viewport has an image`;
  return 'the viewport stayed blank';
}

export async function saveScreenshot(page, file, report) {
  const png = await page.screenshot({ timeout: 10_000 });
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, png);
  await rename(tmp, file);
  const vp = page.viewportSize();
  report.screenshot = { path: file, bytes: png.length, width: vp?.width, height: vp?.height };
  return png;
}

/** Groups the viewer's DICOMweb requests by kind, with the Accept headers and content types seen. */
export function summarize(requests) {
  const kinds = {};
  for (const r of requests) {
    const p = new URL(r.url).pathname;
    let kind = 'other';
    if (/\/frames\/[^/]+$/.test(p)) kind = 'WADO-RS frames';
    else if (/\/metadata$/.test(p)) kind = 'WADO-RS metadata';
    else if (/\/rendered$|\/thumbnail$/.test(p)) kind = 'WADO-RS rendered/thumbnail';
    else if (/\/bulk/.test(p)) kind = 'WADO-RS bulkdata';
    else if (/\/studies$/.test(p)) kind = 'QIDO-RS studies';
    else if (/\/series$/.test(p)) kind = 'QIDO-RS series';
    else if (/\/instances$/.test(p)) kind = 'QIDO-RS instances';
    const k = (kinds[kind] ??= { count: 0, transferBytes: 0, accept: [], contentTypes: [], statuses: {} });
    k.count += 1;
    k.transferBytes += r.transferBytes ?? 0;
    if (!k.accept.includes(r.accept ?? null)) k.accept.push(r.accept ?? null);
    const ct = r.contentType?.replace(/boundary=[^;]+/, 'boundary=…') ?? null;
    if (!k.contentTypes.includes(ct)) k.contentTypes.push(ct);
    const st = r.failure ? `failed: ${r.failure}` : String(r.status);
    k.statuses[st] = (k.statuses[st] ?? 0) + 1;
  }
  return kinds;
}
