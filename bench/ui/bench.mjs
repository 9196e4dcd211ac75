#!/usr/bin/env node
// Benchmark: how soon radmark's web UI shows the first image of the
// 512×512×300 phantom CT, and the whole volume in MPR, against the OHIF
// viewer (npm @ohif/app, as e2e/ serves it) on the same radmark server, in
// the same run, in headless Chromium (WebGL on the CPU through SwiftShader).
//
//   make bench-ui                      (builds, then runs this)
//   RADMARK_BIN=bin/radmark node bench/ui/bench.mjs [--runs 3] [--out bench/results/ui.json]
//
// Each measurement opens the viewer URL of the study in a fresh browser
// (new profile, cold cache) and reads times from Cornerstone's own events,
// in ms after navigation start, the same way for both apps:
//   first image  = the first CORNERSTONE_IMAGE_RENDERED after pixel data
//                  arrived (CORNERSTONE_IMAGE_LOADED or _IMAGE_VOLUME_MODIFIED);
//   full volume  = the first CORNERSTONE_IMAGE_RENDERED after
//                  CORNERSTONE_IMAGE_VOLUME_LOADING_COMPLETED: the loaded
//                  volume on screen (radmark shows a stack preview while the
//                  volume streams and makes the MPR viewports after it has
//                  loaded, so the event alone would flatter it);
//                  volumeLoadedMs keeps the event's own time.
// radmark opens a CT in MPR (first image = the middle axial slice, shown
// in a stack viewport while the volume streams in). OHIF is measured twice: its default viewer (one stack
// viewport) for the first image, and its MPR hanging protocol
// (&hangingprotocolId=mpr) for the first image and the full volume.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { browserUnavailable, launchBrowser, login, repoDir, servesApp, signInContext, startAppProxy, startRadmark, waitFor } from '../../ui/e2e/harness.mjs';
import { startOhifServer } from '../../e2e/lib/ohif-server.mjs';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    out: { type: 'string', default: path.join(repoDir, 'bench', 'results', 'ui.json') },
    timeout: { type: 'string', default: '300' },
  },
});
const runs = Number(opts.runs);
const timeoutMs = Number(opts.timeout) * 1000;

const INSTRUMENT = () => {
  const t = {};
  window.benchTimes = t;
  let pixels = false;
  const mark = (k) => {
    if (t[k] === undefined) t[k] = performance.now();
  };
  window.addEventListener(
    'CORNERSTONE_IMAGE_RENDERED',
    () => {
      if (pixels) mark('firstImage');
      if (t.volumeLoaded !== undefined) mark('volumeShown');
    },
    true,
  );
  const attach = () => {
    const et = window.cornerstone?.eventTarget;
    if (!et) return void setTimeout(attach, 5);
    const got = () => {
      pixels = true;
      mark('firstPixels');
    };
    et.addEventListener('CORNERSTONE_IMAGE_LOADED', got);
    et.addEventListener('CORNERSTONE_IMAGE_VOLUME_MODIFIED', got);
    et.addEventListener('CORNERSTONE_IMAGE_VOLUME_LOADING_COMPLETED', () => mark('volumeLoaded'));
  };
  attach();
};

// The server requires sign-in: each fresh browser profile signs in first
// (the session cookie is per host, so OHIF's proxy on another port sends it
// on too). Signing in is not timed.
let signInUrl;

async function measure(url, { volume, shot }) {
  const b = await launchBrowser({ viewport: { width: 1400, height: 900 } });
  try {
    const { page } = b;
    if (signInUrl) await signInContext(b.context, signInUrl);
    await page.addInitScript(INSTRUMENT);
    // OHIF shows an onboarding tour to a new user; a returning user has seen it.
    await page.addInitScript(() => localStorage.setItem('shownTours', JSON.stringify(['basicViewerTour'])));
    await page.goto(url, { waitUntil: 'commit' });
    const key = volume ? 'volumeShown' : 'firstImage';
    await waitFor(`${key} on ${url}`, () => page.evaluate((k) => window.benchTimes?.[k] !== undefined && window.benchTimes, key), timeoutMs, 50);
    const t = await page.evaluate(() => window.benchTimes);
    if (shot) await page.screenshot({ path: shot });
    return { firstImageMs: round(t.firstImage), fullVolumeMs: volume ? round(t.volumeShown) : undefined, volumeLoadedMs: volume ? round(t.volumeLoaded) : undefined, firstPixelsMs: round(t.firstPixels), pageErrors: b.errors };
  } finally {
    await b.close();
  }
}

const round = (v) => (v === undefined ? undefined : Math.round(v));
const median = (xs) => {
  const s = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : undefined;
};

async function main() {
  const why = await browserUnavailable();
  if (why) throw new Error(why);
  const started = Date.now();
  console.error('radmark demo (512×512×300 CT) and serve…');
  const server = await startRadmark({ large: true });
  const cleanups = [() => server.close()];
  try {
    signInUrl = server.url;
    const cookie = await login(server.url);
    const res = await fetch(`${server.url}/dicomweb/studies?ModalitiesInStudy=CT&includefield=00201208`, { headers: cookie ? { Cookie: cookie } : {} });
    const ct = (await res.json()).find((s) => s['00201208']?.Value?.[0] === 300);
    if (!ct) throw new Error('no 300-image CT study on the server');
    const study = ct['0020000D'].Value[0];
    const embedded = await servesApp(server.url);
    let appOrigin = server.url;
    if (!embedded) {
      const proxy = await startAppProxy(server.url);
      cleanups.push(() => proxy.close());
      appOrigin = proxy.url;
    }
    const ohif = await startOhifServer({ target: `${server.url}/dicomweb`, mode: 'proxy' });
    cleanups.push(() => ohif.close());
    const shots = path.join(path.dirname(opts.out), 'ui-shots');
    await mkdir(shots, { recursive: true });

    const cases = {
      radmark: { url: `${appOrigin}/studies/${study}`, volume: true },
      ohifDefault: { url: `${ohif.origin}/viewer?StudyInstanceUIDs=${study}`, volume: false },
      ohifMPR: { url: `${ohif.origin}/viewer?StudyInstanceUIDs=${study}&hangingprotocolId=mpr`, volume: true },
    };
    const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
    for (let r = 1; r <= runs; r++) {
      for (const [name, c] of Object.entries(cases)) {
        const m = await measure(c.url, { volume: c.volume, shot: r === runs ? path.join(shots, `${name}.png`) : undefined });
        results[name].push(m);
        console.error(`run ${r} ${name}: first image ${m.firstImageMs} ms${c.volume ? `, full volume ${m.fullVolumeMs} ms` : ''}`);
      }
    }
    const med = (name, k) => median(results[name].map((m) => m[k]));
    const summary = {
      radmarkFirstImageMs: med('radmark', 'firstImageMs'),
      radmarkFullVolumeMs: med('radmark', 'fullVolumeMs'),
      ohifFirstImageMs: med('ohifDefault', 'firstImageMs'),
      ohifMPRFirstImageMs: med('ohifMPR', 'firstImageMs'),
      ohifFullVolumeMs: med('ohifMPR', 'fullVolumeMs'),
    };
    summary.firstImageSpeedup = +(summary.ohifFirstImageMs / summary.radmarkFirstImageMs).toFixed(2);
    summary.firstImageSpeedupVsOhifMPR = +(summary.ohifMPRFirstImageMs / summary.radmarkFirstImageMs).toFixed(2);
    summary.fullVolumeRatio = +(summary.radmarkFullVolumeMs / summary.ohifFullVolumeMs).toFixed(2);
    summary.targets = {
      firstImage2xSooner: summary.firstImageSpeedup >= 2,
      fullVolumeNoSlower: summary.radmarkFullVolumeMs <= summary.ohifFullVolumeMs,
    };
    const report = {
      date: new Date().toISOString(),
      study,
      runs,
      radmarkServesApp: embedded,
      ohifVersion: ohif.distVersion,
      summary,
      results,
      durationS: Math.round((Date.now() - started) / 1000),
    };
    await mkdir(path.dirname(opts.out), { recursive: true });
    await writeFile(opts.out, JSON.stringify(report, null, 2) + '\n');
    console.log(JSON.stringify(summary, null, 2));
    console.error(`report: ${opts.out}`);
  } finally {
    for (const c of cleanups.toReversed()) await c().catch(() => {});
  }
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
