// Launches Debian's Chromium headless through playwright-core.
//
// playwright-core downloads no browser; it drives the system Chromium given by
// executablePath. WebGL2 comes from SwiftShader (no GPU here): without it
// Cornerstone3D, and so OHIF, shows a black viewport.

import { rmSync } from 'node:fs';
import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { CheckError, onInterrupt } from './cli.mjs';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/** The flags the project runs Chromium with (see shared/DESIGN.md, "Real peers"). */
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
 * Starts Chromium with CHROMIUM_FLAGS and a fresh temporary profile
 * (--user-data-dir, which playwright-core passes for a persistent context).
 * Resolves to { context, userDataDir, commandLine, version, close() };
 * close() ends the browser and removes the profile.
 *
 * headless is set through the flag list, not Playwright's option, so that
 * Playwright adds none of its own headless switches; it still adds the
 * automation switches it needs (--remote-debugging-pipe and others).
 */
export async function launchChromium({ executablePath = DEFAULT_CHROMIUM, viewport = { width: 1280, height: 800 }, timeoutMs = 30_000 } = {}) {
  try {
    await access(executablePath, constants.X_OK);
  } catch {
    throw new CheckError(`Chromium not found or not executable at ${executablePath} (on Debian: apt-get install -y chromium)`);
  }
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'radmark-e2e-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: false,
      args: [...CHROMIUM_FLAGS],
      viewport,
      deviceScaleFactor: 1,
      serviceWorkers: 'block',
      timeout: timeoutMs,
      // The check's own signal handling closes the browser (onInterrupt below).
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw new CheckError(`cannot start Chromium (${executablePath}): ${err.message}`);
  }
  // The real command line (Playwright's switches, ours and those Debian's
  // /usr/bin/chromium wrapper adds) is shown on chrome://version.
  let commandLine = null;
  let version = null;
  try {
    const page = await context.newPage();
    await page.goto('chrome://version', { timeout: 10_000 });
    commandLine = (await page.locator('#command_line').innerText({ timeout: 5_000 })).trim();
    version = (await page.locator('#version').innerText({ timeout: 5_000 })).trim().replace(/\s+/g, ' ');
    await page.close();
  } catch {
    // Only informative.
  }
  // If the script exits without close(), the profile is still removed.
  const removeOnExit = () => rmSync(userDataDir, { recursive: true, force: true });
  process.once('exit', removeOnExit);
  let unregister = () => {};
  const close = async () => {
    unregister();
    await context.close().catch(() => {});
    await rm(userDataDir, { recursive: true, force: true, maxRetries: 3 });
    process.off('exit', removeOnExit);
  };
  unregister = onInterrupt(close);
  return { context, userDataDir, commandLine, version, close };
}
