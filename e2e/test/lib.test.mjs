// Unit tests of the shared code in lib/ (no browser, no DICOMweb server).
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

import { parseBaseURL, parseCli, parseUID, UsageError } from '../lib/cli.mjs';
import { pick, pixelDataForm, readPart10Meta, value } from '../lib/dicom.mjs';
import { closeServer, freePort, listenLoopback } from '../lib/net.mjs';
import { startOhifServer } from '../lib/ohif-server.mjs';
import { blankReasons } from '../lib/pixels.mjs';
import { makeXMLHttpRequest } from '../lib/xhr.mjs';

/** Builds a Part 10 preamble + file meta group (explicit VR little endian). */
function part10(meta, body = new Uint8Array(0)) {
  const els = [];
  const el = (elem, vr, str) => {
    let v = new TextEncoder().encode(str);
    if (v.length % 2) v = Uint8Array.of(...v, 0);
    const h = new Uint8Array(8);
    const dv = new DataView(h.buffer);
    dv.setUint16(0, 2, true);
    dv.setUint16(2, elem, true);
    h[4] = vr.charCodeAt(0);
    h[5] = vr.charCodeAt(1);
    dv.setUint16(6, v.length, true);
    els.push(h, v);
  };
  el(0x0002, 'UI', meta.sopClass);
  el(0x0003, 'UI', meta.sop);
  el(0x0010, 'UI', meta.ts);
  const group = Buffer.concat(els);
  const len = new Uint8Array(12);
  const dv = new DataView(len.buffer);
  dv.setUint16(0, 2, true);
  len[4] = 'U'.charCodeAt(0);
  len[5] = 'L'.charCodeAt(0);
  dv.setUint16(6, 4, true);
  dv.setUint32(8, group.length, true);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), len, group, body]);
}

test('readPart10Meta reads the file meta group', () => {
  const bytes = part10({ sopClass: '1.2.840.10008.5.1.4.1.1.2', sop: '1.2.3.4', ts: '1.2.840.10008.1.2.1' }, Buffer.from([8, 0, 0x18, 0]));
  const m = readPart10Meta(new Uint8Array(bytes));
  assert.equal(m.mediaStorageSOPInstanceUID, '1.2.3.4');
  assert.equal(m.mediaStorageSOPClassUID, '1.2.840.10008.5.1.4.1.1.2');
  assert.equal(m.transferSyntaxUID, '1.2.840.10008.1.2.1');
  assert.equal(m.metaEnd, bytes.length - 4);
});

test('readPart10Meta rejects what is not Part 10', () => {
  assert.throws(() => readPart10Meta(new Uint8Array(10)), /only 10 bytes/);
  assert.throws(() => readPart10Meta(new Uint8Array(200)), /no "DICM"/);
  const truncated = part10({ sopClass: '1.2', sop: '1.2.3', ts: '1.2.840.10008.1.2' }).subarray(0, 150);
  assert.throws(() => readPart10Meta(new Uint8Array(truncated)), /truncated|lacks/);
});

test('value and pick read DICOM JSON', () => {
  const d = {
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^Jane' }] },
    '00080061': { vr: 'CS', Value: ['CT', 'SEG'] },
    '00080050': { vr: 'SH' },
    '00201208': { vr: 'IS', Value: [30] },
    '7FE00010': { vr: 'OW', BulkDataURI: 'http://x/bulk' },
  };
  assert.equal(value(d, 'PatientName'), 'Doe^Jane');
  assert.deepEqual(value(d, 'ModalitiesInStudy'), ['CT', 'SEG']);
  assert.equal(value(d, 'AccessionNumber'), null);
  assert.equal(value(d, 'StudyDate'), undefined);
  assert.deepEqual(pick(d, ['NumberOfStudyRelatedInstances', 'StudyDate']), { NumberOfStudyRelatedInstances: 30 });
  assert.equal(pixelDataForm(d), 'BulkDataURI');
  assert.throws(() => value(d, 'NoSuchKeyword'), /unknown keyword/);
});

test('parseCli checks required options and choices', () => {
  const spec = { url: { required: true }, mode: { default: 'proxy', choices: ['proxy', 'cors'] } };
  assert.deepEqual({ ...parseCli(spec, ['--url', 'http://x']) }, { url: 'http://x', mode: 'proxy' });
  assert.throws(() => parseCli(spec, []), (e) => e instanceof UsageError && /--url/.test(e.message));
  assert.throws(() => parseCli(spec, ['--url', 'x', '--mode', 'y']), /must be one of/);
  assert.throws(() => parseCli(spec, ['--url', 'x', '--nope']), UsageError);
  assert.equal(parseBaseURL('u', 'http://127.0.0.1:1/dicomweb/'), 'http://127.0.0.1:1/dicomweb');
  assert.throws(() => parseBaseURL('u', 'ftp://x'), /http or https/);
  assert.throws(() => parseUID('study', '1.2.a'), /not a DICOM UID/);
});

test('blankReasons tells flat regions from images', () => {
  assert.deepEqual(blankReasons({ pixels: 100, stdDevLuma: 60, distinctLevels: 256, brightFraction: 0.2 }), []);
  assert.equal(blankReasons({ pixels: 100, stdDevLuma: 13, distinctLevels: 209, brightFraction: 0.008 }).length, 2);
  assert.deepEqual(blankReasons({ pixels: 0 }), ['the region is empty']);
});

/** A stand-in DICOMweb server for the transport tests. */
async function fakeServer(handler) {
  const server = http.createServer(handler);
  const port = await listenLoopback(server);
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}

test('the fetch-based XMLHttpRequest logs exchanges and decodes bodies', async () => {
  const srv = await fakeServer((req, res) => {
    if (req.url === '/json') res.writeHead(200, { 'content-type': 'application/dicom+json' }).end('[{"00100010":{"vr":"PN"}}]');
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('nope');
  });
  try {
    const log = [];
    const XHR = makeXMLHttpRequest(log);
    const get = (path, responseType) => new Promise((resolve) => {
      const x = new XHR();
      x.open('get', srv.url + path);
      x.responseType = responseType;
      x.setRequestHeader('Accept', 'application/dicom+json');
      x.onreadystatechange = () => { if (x.readyState === 4) resolve(x); };
      x.send();
    });
    const ok = await get('/json', 'json');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.response, [{ '00100010': { vr: 'PN' } }]);
    assert.equal(ok.getResponseHeader('Content-Type'), 'application/dicom+json');
    const missing = await get('/missing', 'arraybuffer');
    assert.equal(missing.status, 404);
    assert.ok(missing.response instanceof ArrayBuffer);
    assert.equal(log.length, 2);
    assert.deepEqual({ ...log[0], ms: 0 }, {
      method: 'GET', url: `${srv.url}/json`, accept: 'application/dicom+json', status: 200,
      contentType: 'application/dicom+json', bytes: 26, ms: 0,
    });
    const port = await freePort(); // nothing listens there any more
    const dead = await new Promise((resolve) => {
      const x = new XHR();
      x.open('GET', `http://127.0.0.1:${port}/`);
      x.onloadend = () => resolve(x);
      x.send();
    });
    assert.equal(dead.status, 0);
    assert.match(log.at(-1).error, /ECONNREFUSED|fetch failed/);
  } finally {
    await srv.close();
  }
});

test('the OHIF server serves the viewer, its config and proxies /dicomweb', async () => {
  const seen = [];
  const upstream = await fakeServer((req, res) => {
    seen.push({ url: req.url, accept: req.headers.accept, host: req.headers['x-forwarded-host'] });
    res.writeHead(200, { 'content-type': 'application/dicom+json' }).end('[]');
  });
  const srv = await startOhifServer({ target: `${upstream.url}/dicomweb/`, mode: 'proxy', dataSourceOverrides: { supportsFuzzyMatching: true } });
  try {
    const index = await fetch(`${srv.origin}/viewer?StudyInstanceUIDs=1.2.3`);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /app-config\.js/);
    const cfg = await (await fetch(`${srv.origin}/app-config.js`)).text();
    assert.match(cfg, /window\.config = /);
    const conf = JSON.parse(cfg.slice(cfg.indexOf('{'), cfg.lastIndexOf('}') + 1)).dataSources[0].configuration;
    assert.equal(conf.qidoRoot, `${srv.origin}/dicomweb`);
    assert.equal(conf.wadoRoot, `${srv.origin}/dicomweb`);
    assert.equal(conf.supportsFuzzyMatching, true);
    assert.equal((await fetch(`${srv.origin}/no-such-file.js`)).status, 404);
    assert.equal((await fetch(`${srv.origin}/%2e%2e/package.json`)).status, 404);
    const q = await fetch(`${srv.origin}/dicomweb/studies?PatientID=X`, { headers: { accept: 'application/dicom+json' } });
    assert.equal(q.status, 200);
    assert.deepEqual(await q.json(), []);
    assert.deepEqual(seen, [{ url: '/dicomweb/studies?PatientID=X', accept: 'application/dicom+json', host: new URL(srv.origin).host }]);
    assert.equal(srv.proxied.length, 1);
  } finally {
    await srv.close();
    await upstream.close();
  }
});

test('the OHIF server in cors mode points the viewer at the server itself', async () => {
  const srv = await startOhifServer({ target: 'http://127.0.0.1:9/dicomweb', mode: 'cors' });
  try {
    assert.equal(srv.dicomwebRoot, 'http://127.0.0.1:9/dicomweb');
    assert.equal((await fetch(`${srv.origin}/dicomweb/studies`)).headers.get('content-type'), 'text/html; charset=utf-8');
  } finally {
    await srv.close();
  }
});
