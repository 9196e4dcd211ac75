// Command-line and report plumbing shared by the check scripts.
//
// Every check prints exactly one JSON document on stdout: the report. It has
// "ok": true and exit code 0 when every check passed, or "ok": false, an
// "error" message and whatever was measured before the failure, with exit
// code 1. A bad command line gives exit code 2 and a usage text on stderr
// (and a JSON report with "ok": false on stdout, so callers can always parse
// stdout). Progress notes go to stderr, never to stdout.

import { parseArgs } from 'node:util';

export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** A wrong command line. */
export class UsageError extends Error {}

/** A failed check: the message says what was expected and what was seen. */
export class CheckError extends Error {}

/**
 * Parses process.argv with node:util parseArgs.
 *
 * @param {object} spec - name -> { type, required?, default?, choices?, help }
 * @param {string[]} [argv]
 * @returns {object} option values
 */
export function parseCli(spec, argv = process.argv.slice(2)) {
  const options = {};
  for (const [name, o] of Object.entries(spec)) {
    options[name] = { type: o.type ?? 'string' };
    if (o.default !== undefined) options[name].default = o.default;
  }
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError(err.message);
  }
  if (values.help) return values;
  for (const [name, o] of Object.entries(spec)) {
    if (o.required && (values[name] === undefined || values[name] === '')) {
      throw new UsageError(`missing required option --${name}`);
    }
    if (o.choices && values[name] !== undefined && !o.choices.includes(values[name])) {
      throw new UsageError(`--${name} must be one of ${o.choices.join(', ')}, got ${JSON.stringify(values[name])}`);
    }
  }
  return values;
}

/** Formats a usage text from the same spec parseCli takes. */
export function usageText(script, summary, spec) {
  const lines = [`usage: node ${script} [options]`, '', summary, '', 'options:'];
  for (const [name, o] of Object.entries(spec)) {
    const arg = o.type === 'boolean' ? '' : ` <${o.meta ?? 'value'}>`;
    const extra = o.required ? ' (required)' : o.default !== undefined ? ` (default: ${o.default})` : '';
    lines.push(`  --${name}${arg}`.padEnd(30) + ` ${o.help ?? ''}${extra}`);
  }
  return lines.join('\n');
}

/** Parses an http(s) base URL given on the command line; drops a trailing slash. */
export function parseBaseURL(name, value) {
  let u;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`--${name} is not a URL: ${JSON.stringify(value)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`--${name} must be an http or https URL, got ${JSON.stringify(value)}`);
  }
  if (u.search || u.hash) throw new UsageError(`--${name} must not have a query or fragment: ${JSON.stringify(value)}`);
  return u.href.replace(/\/+$/, '');
}

const UID_RE = /^[0-9]+(\.[0-9]+)*$/;

/** Checks a DICOM UID given on the command line (PS3.5 9.1: digits and dots, at most 64 chars). */
export function parseUID(name, value) {
  if (!UID_RE.test(value) || value.length > 64) {
    throw new UsageError(`--${name} is not a DICOM UID (digits and dots, at most 64 characters): ${JSON.stringify(value)}`);
  }
  return value;
}

/** Writes a progress note to stderr. */
export function note(...parts) {
  process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${parts.join(' ')}\n`);
}

/** Throws a CheckError unless cond holds. */
export function check(cond, message) {
  if (!cond) throw new CheckError(message);
}

const interruptHooks = new Set();

/**
 * Registers fn (async) to run when the script is interrupted by a signal,
 * e.g. to close a browser; returns a function that unregisters it.
 */
export function onInterrupt(fn) {
  interruptHooks.add(fn);
  return () => interruptHooks.delete(fn);
}

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/**
 * Runs a check script: parses the command line, runs body(opts, report),
 * prints the report and exits. body fills `report` as it goes, so a failure
 * still reports what was measured before it. On SIGINT, SIGTERM or SIGHUP
 * the interrupt hooks run, the report so far is printed with ok false, and
 * the exit code is 128 + the signal number.
 */
export async function runCheck({ script, summary, spec, body }) {
  const started = Date.now();
  // stdout carries the JSON report only: libraries that log with
  // console.log/info/debug are sent to stderr.
  console.log = console.info = console.debug = (...args) => console.error(...args);
  const report = { check: script.replace(/\.mjs$/, ''), ok: false };
  let finished = false;
  const finish = async (code) => {
    if (finished) return;
    finished = true;
    report.durationMs = Date.now() - started;
    // ok and error first, the (long) request log last.
    const { check: name, ok, error, durationMs, requests, ...rest } = report;
    const out = { check: name, ok, ...(error ? { error } : {}), durationMs, ...rest, ...(requests ? { requests } : {}) };
    await new Promise((resolve) => process.stdout.write(JSON.stringify(out, null, 2) + '\n', resolve));
    process.exit(code);
  };
  for (const [sig, num] of Object.entries(SIGNALS)) {
    process.once(sig, async () => {
      report.ok = false;
      report.error = `interrupted by ${sig}`;
      process.stderr.write(`${script}: interrupted by ${sig}\n`);
      for (const fn of interruptHooks) await fn().catch(() => {});
      await finish(128 + num);
    });
  }
  let code = 0;
  try {
    const opts = parseCli({ ...spec, help: { type: 'boolean', help: 'show this help' } });
    if (opts.help) {
      process.stdout.write(usageText(script, summary, spec) + '\n');
      return process.exit(0);
    }
    await body(opts, report);
    report.ok = true;
  } catch (err) {
    report.ok = false;
    report.error = err instanceof UsageError || err instanceof CheckError ? err.message : String(err?.stack ?? err);
    code = err instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
    if (err instanceof UsageError) process.stderr.write(`${script}: ${err.message}\n\n${usageText(script, summary, spec)}\n`);
    else process.stderr.write(`${script}: FAILED: ${report.error}\n`);
  }
  await finish(code);
}
