// Shared set-up of the end-to-end tests and the benchmark: a real `radmark
// serve` with phantom studies on a free loopback port, and Debian's
// Chromium driven by playwright-core (no browser download).
//
// Environment:
//   RADMARK_BIN   the radmark binary (make test passes bin/radmark); when
//                 unset, the tests build one from ../cmd/radmark.
//   CHROMIUM      the browser (default /usr/bin/chromium). With CI=true a
//                 missing browser fails the tests; otherwise they skip.
import { spawn, execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { access, constants, copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export const uiDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = path.resolve(uiDir, '..');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** The flags the project runs Chromium with (shared/DESIGN.md, "Real peers"). */
export const CHROMIUM_FLAGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
]);

/**
 * Why the browser tests cannot run here, or undefined when they can. With
 * CI=true this throws instead: CI must never skip them.
 */
export async function browserUnavailable() {
  try {
    await access(CHROMIUM, constants.X_OK);
  } catch {
    const why = `Chromium not found at ${CHROMIUM} (apt-get install -y chromium)`;
    if (process.env.CI === 'true') throw new Error(`${why}; CI=true, so the UI end-to-end tests fail instead of skipping`);
    return why;
  }
  if (!existsSync(path.join(uiDir, 'dist', 'app', 'index.html'))) {
    const why = 'the UI is not built (ui/dist/app/index.html missing; run npm run build in ui/ or make build)';
    if (process.env.CI === 'true') throw new Error(why);
    return why;
  }
  return undefined;
}

let builtBinary;

/** The radmark binary: RADMARK_BIN, or one built once per process from the repository. */
export function radmarkBinary() {
  if (process.env.RADMARK_BIN) return path.resolve(uiDir, process.env.RADMARK_BIN);
  if (builtBinary) return builtBinary;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'radmark-ui-bin-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'radmark');
  execFileSync('go', ['build', '-o', out, './cmd/radmark'], { cwd: repoDir, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, PATH: `/usr/local/go/bin:${process.env.PATH}` } });
  builtBinary = out;
  return out;
}

function run(bin, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(bin)} ${args.join(' ')} exited ${code}:\n${out.slice(-2000)}`))));
  });
}

/**
 * Makes a data directory with `radmark demo` (small phantoms unless
 * large) and starts `radmark serve` on a free port. Resolves to
 * { url, dataDir, close() }.
 */
export async function startRadmark({ large = false, dataDir } = {}) {
  const bin = radmarkBinary();
  const ownDir = !dataDir;
  dataDir ??= await mkdtemp(path.join(os.tmpdir(), 'radmark-ui-data-'));
  await run(bin, ['demo', ...(large ? [] : ['--small']), '--data', dataDir]);
  const proc = spawn(bin, ['serve', '--data', dataDir, '--addr', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => (log = (log + d).slice(-20000)));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`radmark serve did not start within 30 s:\n${log}`)), 30_000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`radmark serve exited ${code}:\n${log}`));
    });
  });
  const close = async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
  };
  process.once('exit', () => proc.exitCode === null && proc.kill('SIGKILL'));
  return { url, dataDir, close, log: () => log };
}

/** Whether a radmark serves the built app at / (cmd/radmark wires ui.Handler()). */
export async function servesApp(url) {
  const res = await fetch(url + '/');
  const text = await res.text();
  return res.ok && text.includes('id="root"') && text.includes('/assets/');
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.json': 'application/json' };

/**
 * Serves ui/dist/app from Node with /dicomweb and /api forwarded to a
 * radmark: for a radmark binary that does not embed the app (yet).
 */
export async function startAppProxy(target) {
  const root = path.join(uiDir, 'dist', 'app');
  const t = new URL(target);
  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname.startsWith('/dicomweb') || u.pathname.startsWith('/api/')) {
      const p = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: { ...req.headers, host: t.host } }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      p.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      req.pipe(p);
      return;
    }
    let file = path.join(root, path.normalize(u.pathname).replace(/^(\.\.[/\\])+/, ''));
    let st = await stat(file).catch(() => null);
    if (!st || st.isDirectory()) {
      file = path.join(root, 'index.html');
      st = await stat(file);
    }
    res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': st.size });
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/** Starts Chromium with the project's flags and a fresh profile; resolves to { context, page, close() }. */
export async function launchBrowser({ viewport = { width: 1400, height: 900 } } = {}) {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'radmark-ui-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: false,
    args: [...CHROMIUM_FLAGS],
    viewport,
    deviceScaleFactor: 1,
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  const close = async () => {
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true, maxRetries: 3 });
  };
  return { context, page, errors, close };
}

/** Polls fn until it returns a value other than undefined/false, or throws after timeoutMs. */
export async function waitFor(what, fn, timeoutMs = 60_000, everyMs = 100) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false && v !== null) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * The demo account the tests and the benchmark sign in with (radmark demo
 * makes it). The site admin: the demo annotators see only the studies
 * that are cases of a project of theirs (the workflow demo project's).
 */
export const DEMO_ACCOUNT = Object.freeze({ name: 'admin', password: 'admin-radmark-demo' });

/**
 * Signs in over the API; resolves to the Cookie header value (empty when
 * the server has no accounts: GET /api/v1/auth/me answers 404).
 */
export async function login(url, account = DEMO_ACCOUNT) {
  const me = await fetch(`${url}/api/v1/auth/me`);
  if (me.status === 404) return '';
  const res = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(account) });
  if (res.status !== 200) throw new Error(`sign-in as ${account.name} failed: ${res.status} ${await res.text()}`);
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

/** Signs a browser context in (its cookie jar), so pages open without the sign-in page. */
export async function signInContext(context, url, account = DEMO_ACCOUNT) {
  const me = await context.request.get(`${url}/api/v1/auth/me`);
  if (me.status() === 404) return;
  const res = await context.request.post(`${url}/api/v1/auth/login`, { data: account });
  if (res.status() !== 200) throw new Error(`sign-in as ${account.name} failed: ${res.status()} ${await res.text()}`);
}

/** A personal API token of a demo account (for `radmark ingest --server`); '' without accounts. */
export async function apiToken(url, account = { name: 'admin', password: 'admin-radmark-demo' }) {
  const me = await fetch(`${url}/api/v1/auth/me`);
  if (me.status === 404) return '';
  const res = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(account) });
  if (res.status !== 200) throw new Error(`sign-in as ${account.name} failed: ${res.status} ${await res.text()}`);
  const { csrfToken } = await res.json();
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const t = await fetch(`${url}/api/v1/tokens`, { method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: cookie, 'X-CSRF-Token': csrfToken }, body: JSON.stringify({ name: `e2e-${Date.now()}` }) });
  if (t.status !== 201) throw new Error(`token for ${account.name}: ${t.status} ${await t.text()}`);
  return (await t.json()).token;
}

/**
 * A radmark with the demo data and the app: served by the binary itself, or
 * through startAppProxy when it does not embed the app. Resolves to
 * { server, app (the app's URL), close() }.
 */
export async function startApp(opts) {
  const server = await startRadmark(opts);
  let proxy;
  if (!(await servesApp(server.url))) proxy = await startAppProxy(server.url);
  return {
    server,
    app: proxy ? proxy.url : server.url,
    close: async () => {
      await proxy?.close();
      await server.close();
    },
  };
}

/**
 * Saves a screenshot of the page as ui/test-results/<name>.png and, with
 * UPDATE_SCREENSHOTS=1, as docs/screenshots/<name>.png (the pictures in the docs).
 */
export async function screenshot(page, name) {
  const dir = path.join(uiDir, 'test-results');
  await mkdir(dir, { recursive: true });
  await page.mouse.move(0, 0);
  await page.waitForTimeout(200);
  const file = path.join(dir, `${name}.png`);
  await page.screenshot({ path: file });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    const docs = path.join(repoDir, 'docs', 'screenshots');
    await mkdir(docs, { recursive: true });
    await copyFile(file, path.join(docs, `${name}.png`));
  }
}
