#!/usr/bin/env node
// Exercises a DICOMweb server with the dicomweb-client npm package (the client
// OHIF's data source is built on): QIDO-RS searches, WADO-RS metadata,
// instance, study and frame retrieval. Every retrieved instance is written as
// <out>/<SOPInstanceUID>.dcm for dcmdump/pydicom to check, and a JSON report
// of what was seen goes to stdout. See README.md.

import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { api } from 'dicomweb-client';

import { check, CheckError, note, parseBaseURL, parseUID, runCheck } from './lib/cli.mjs';
import {
  INSTANCE_KEYS, isDicomJsonArray, METADATA_KEYS, NATIVE_TRANSFER_SYNTAXES, pick, pixelDataForm,
  readPart10Meta, SERIES_KEYS, STUDY_KEYS, value,
} from './lib/dicom.mjs';
import { installXMLHttpRequest } from './lib/xhr.mjs';

const spec = {
  url: { required: true, meta: 'url', help: 'DICOMweb base URL, e.g. http://127.0.0.1:8080/dicomweb' },
  study: { required: true, meta: 'uid', help: 'StudyInstanceUID of a study stored on the server' },
  out: { required: true, meta: 'dir', help: 'directory for the retrieved instances (created if missing)' },
  token: { meta: 'token', help: 'personal API token sent as a Bearer token (radmark token create NAME)' },
  'wado-uri': {
    meta: 'url',
    help: 'WADO-URI endpoint (e.g. http://127.0.0.1:8080/dicomweb/wado); when given, every instance is also retrieved with WADO-URI and compared',
  },
};

/** Request headers for every call: the Bearer token when one is given. */
let authHeaders = {};

/** GETs a URL through XMLHttpRequest (so it is logged like the client's calls) and resolves to the body. */
function getArrayBuffer(href) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('GET', href);
    for (const [k, v] of Object.entries(authHeaders)) xhr.setRequestHeader(k, v);
    xhr.responseType = 'arraybuffer';
    xhr.onloadend = () => {
      if (xhr.status === 200) resolve(xhr.response);
      else reject(Object.assign(new Error(`HTTP ${xhr.status}`), { status: xhr.status }));
    };
    xhr.send();
  });
}

/**
 * Finds the value of an uncompressed Pixel Data element (7FE0,0010) of the
 * given length in a little-endian Part 10 file, or returns null when it
 * cannot be located unambiguously (then frames are only size-checked).
 */
function nativePixelData(bytes, length) {
  if (!bytes) return null;
  const meta = readPart10Meta(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = bytes.length - length - 8; i >= meta.metaEnd; i--) {
    if (bytes[i] !== 0xe0 || bytes[i + 1] !== 0x7f || bytes[i + 2] !== 0x10 || bytes[i + 3] !== 0x00) continue;
    if (meta.transferSyntaxUID === '1.2.840.10008.1.2') {
      if (view.getUint32(i + 4, true) === length) return bytes.subarray(i + 8, i + 8 + length);
    } else if (meta.transferSyntaxUID === '1.2.840.10008.1.2.1') {
      const vr = String.fromCharCode(bytes[i + 4], bytes[i + 5]);
      if ((vr === 'OW' || vr === 'OB') && i + 12 + length <= bytes.length && view.getUint32(i + 8, true) === length) {
        return bytes.subarray(i + 12, i + 12 + length);
      }
    } else {
      return null;
    }
  }
  return null;
}

// Run last: the helpers above must be initialised before the check starts.
await runCheck({
  script: 'dicomweb-client-check.mjs',
  summary: 'Runs QIDO-RS and WADO-RS calls of the dicomweb-client package against a DICOMweb server,\n' +
    'writes every retrieved instance to <out>/<SOPInstanceUID>.dcm and prints a JSON report.',
  spec,
  body: async (opts, report) => {
    const url = parseBaseURL('url', opts.url);
    const studyUID = parseUID('study', opts.study);
    const outDir = path.resolve(opts.out);
    const wadoURI = opts['wado-uri'] ? parseBaseURL('wado-uri', opts['wado-uri']) : null;
    report.target = { url, study: studyUID, out: outDir, ...(wadoURI ? { wadoURI } : {}) };
    const requests = installXMLHttpRequest();
    report.requests = requests;
    await mkdir(outDir, { recursive: true });

    if (opts.token) authHeaders = { Authorization: `Bearer ${opts.token}` };
    const client = new api.DICOMwebClient({ url, verbose: false, headers: authHeaders });
    const call = async (what, fn) => {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof CheckError) throw err;
        const last = requests.at(-1);
        let why = String(err?.message ?? err);
        if (err?.status !== undefined && last) {
          const status = last.error && !last.status ? `network error (${last.error})` : `HTTP ${err.status}`;
          why = `${status} for ${last.method} ${last.url} (Accept: ${last.accept})`;
        }
        throw new CheckError(`${what} failed: ${why}`);
      }
    };
    const jsonArray = (what, x) => {
      check(isDicomJsonArray(x), `${what}: expected a JSON array of DICOM JSON datasets, got ${JSON.stringify(x)?.slice(0, 200)}`);
      return x;
    };

    // --- QIDO-RS: studies -------------------------------------------------
    note('QIDO studies');
    const qido = (report.qido = { studies: {} });
    const all = jsonArray('searchForStudies()', await call('searchForStudies()', () => client.searchForStudies()));
    qido.studies.all = { count: all.length, containsStudy: all.some((d) => value(d, 'StudyInstanceUID') === studyUID) };
    check(all.length >= 1, 'searchForStudies() returned no study');

    const byUIDQuery = { StudyInstanceUID: studyUID };
    const byUID = jsonArray('searchForStudies(StudyInstanceUID)',
      await call('searchForStudies(StudyInstanceUID)', () => client.searchForStudies({ queryParams: byUIDQuery })));
    check(byUID.length === 1, `searchForStudies(StudyInstanceUID=${studyUID}) returned ${byUID.length} studies, want 1`);
    const study = pick(byUID[0], STUDY_KEYS);
    qido.studies.byStudyInstanceUID = { query: byUIDQuery, count: byUID.length, study };
    check(study.StudyInstanceUID === studyUID, `the study found has StudyInstanceUID ${study.StudyInstanceUID}, want ${studyUID}`);

    const studyQuery = async (label, queryParams, matches) => {
      const res = jsonArray(`searchForStudies(${label})`,
        await call(`searchForStudies(${label})`, () => client.searchForStudies({ queryParams })));
      const r = { query: queryParams, count: res.length, containsStudy: res.some((d) => value(d, 'StudyInstanceUID') === studyUID) };
      const wrong = res.filter((d) => !matches(d)).map((d) => value(d, 'StudyInstanceUID'));
      if (wrong.length) r.nonMatching = wrong;
      check(r.containsStudy, `searchForStudies(${JSON.stringify(queryParams)}) did not return study ${studyUID} (got ${res.length} studies)`);
      check(!wrong.length, `searchForStudies(${JSON.stringify(queryParams)}) returned studies that do not match: ${wrong.join(', ')}`);
      return r;
    };
    if (typeof study.PatientID === 'string' && study.PatientID !== '') {
      qido.studies.byPatientID = await studyQuery('PatientID', { PatientID: study.PatientID },
        (d) => value(d, 'PatientID') === study.PatientID);
    } else {
      qido.studies.byPatientID = { skipped: 'the study has no PatientID' };
    }
    if (typeof study.PatientName === 'string' && study.PatientName !== '') {
      qido.studies.byPatientName = await studyQuery('PatientName', { PatientName: study.PatientName },
        (d) => value(d, 'PatientName') === study.PatientName);
      const prefix = study.PatientName.slice(0, Math.min(4, study.PatientName.length));
      qido.studies.byPatientNameWildcard = await studyQuery('PatientName wildcard', { PatientName: `${prefix}*` },
        (d) => String(value(d, 'PatientName') ?? '').toUpperCase().startsWith(prefix.toUpperCase()));
    } else {
      qido.studies.byPatientName = { skipped: 'the study has no PatientName' };
    }

    // --- QIDO-RS: series and instances -----------------------------------
    note('QIDO series and instances');
    const seriesRes = jsonArray('searchForSeries',
      await call('searchForSeries', () => client.searchForSeries({ studyInstanceUID: studyUID })));
    check(seriesRes.length >= 1, `searchForSeries(study ${studyUID}) returned no series`);
    qido.series = seriesRes.map((d) => pick(d, SERIES_KEYS));
    const seriesUIDs = qido.series.map((s) => s.SeriesInstanceUID);
    check(seriesUIDs.every((u) => typeof u === 'string' && u), 'a series in searchForSeries has no SeriesInstanceUID');
    check(new Set(seriesUIDs).size === seriesUIDs.length, `searchForSeries returned duplicate series: ${seriesUIDs.join(', ')}`);
    if (typeof study.NumberOfStudyRelatedSeries === 'number') {
      check(study.NumberOfStudyRelatedSeries === seriesUIDs.length,
        `NumberOfStudyRelatedSeries is ${study.NumberOfStudyRelatedSeries} but searchForSeries returned ${seriesUIDs.length} series`);
    }

    qido.instances = [];
    const instancesBySeries = new Map(); // series UID -> [{SOPInstanceUID, ...}]
    for (const [i, seriesUID] of seriesUIDs.entries()) {
      const res = jsonArray('searchForInstances',
        await call('searchForInstances', () => client.searchForInstances({ studyInstanceUID: studyUID, seriesInstanceUID: seriesUID })));
      const instances = res.map((d) => pick(d, INSTANCE_KEYS));
      const uids = instances.map((x) => x.SOPInstanceUID);
      check(uids.length >= 1, `searchForInstances(series ${seriesUID}) returned no instance`);
      check(uids.every((u) => typeof u === 'string' && u), `an instance of series ${seriesUID} has no SOPInstanceUID`);
      check(new Set(uids).size === uids.length, `searchForInstances(series ${seriesUID}) returned duplicate instances`);
      const declared = qido.series[i].NumberOfSeriesRelatedInstances;
      if (typeof declared === 'number') {
        check(declared === uids.length,
          `series ${seriesUID}: NumberOfSeriesRelatedInstances is ${declared} but searchForInstances returned ${uids.length}`);
      }
      instancesBySeries.set(seriesUID, instances);
      qido.instances.push({ seriesInstanceUID: seriesUID, count: instances.length, instances });
    }
    const allInstances = [...instancesBySeries.values()].flat();
    const allSOPs = new Set(allInstances.map((x) => x.SOPInstanceUID));
    if (typeof study.NumberOfStudyRelatedInstances === 'number') {
      check(study.NumberOfStudyRelatedInstances === allSOPs.size,
        `NumberOfStudyRelatedInstances is ${study.NumberOfStudyRelatedInstances} but the series hold ${allSOPs.size} instances`);
    }
    const studyLevel = jsonArray('searchForInstances(study)',
      await call('searchForInstances(study)', () => client.searchForInstances({ studyInstanceUID: studyUID })));
    qido.studyLevelInstances = { count: studyLevel.length };
    check(studyLevel.length === allSOPs.size && studyLevel.every((d) => allSOPs.has(value(d, 'SOPInstanceUID'))),
      `searchForInstances(study) returned ${studyLevel.length} instances, want the ${allSOPs.size} found series by series`);

    // --- WADO-RS: series metadata ------------------------------------------
    note('WADO-RS series metadata');
    report.metadata = [];
    const metaBySOP = new Map();
    for (const seriesUID of seriesUIDs) {
      const res = jsonArray('retrieveSeriesMetadata', await call('retrieveSeriesMetadata',
        () => client.retrieveSeriesMetadata({ studyInstanceUID: studyUID, seriesInstanceUID: seriesUID })));
      const want = new Set(instancesBySeries.get(seriesUID).map((x) => x.SOPInstanceUID));
      const instances = res.map((d) => ({ ...pick(d, METADATA_KEYS), PixelData: pixelDataForm(d) }));
      for (const [j, d] of res.entries()) {
        const sop = value(d, 'SOPInstanceUID');
        check(want.has(sop), `series ${seriesUID} metadata has instance ${sop}, which QIDO did not list`);
        check(value(d, 'StudyInstanceUID') === studyUID && value(d, 'SeriesInstanceUID') === seriesUID,
          `metadata of ${sop} has StudyInstanceUID ${value(d, 'StudyInstanceUID')} / SeriesInstanceUID ${value(d, 'SeriesInstanceUID')}`);
        metaBySOP.set(sop, instances[j]);
      }
      check(res.length === want.size, `series ${seriesUID} metadata has ${res.length} instances, QIDO listed ${want.size}`);
      report.metadata.push({ seriesInstanceUID: seriesUID, count: res.length, instances });
    }

    // --- WADO-RS: instances and the study as application/dicom --------------
    note('WADO-RS retrieveStudy');
    const files = (report.files = []);
    const written = new Map(); // SOP UID -> sha256
    const writeInstance = async (buf, source) => {
      const bytes = new Uint8Array(buf);
      let meta;
      try {
        meta = readPart10Meta(bytes);
      } catch (err) {
        throw new CheckError(`${source}: a part is not a DICOM Part 10 file (${err.message})`);
      }
      const sop = meta.mediaStorageSOPInstanceUID;
      check(allSOPs.has(sop), `${source}: returned instance ${sop}, which QIDO did not list`);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (written.has(sop)) {
        // Copies in the same transfer syntax must be byte-identical. A copy
        // in another syntax (dicomweb-client asks WADO-RS for the default,
        // Explicit VR Little Endian, and WADO-URI for transferSyntax=*) is
        // a transcoding, compared by SOP Instance UID only.
        const before = files.find((f) => f.sopInstanceUID === sop);
        if (!before || before.transferSyntaxUID === meta.transferSyntaxUID) {
          check(written.get(sop) === sha256, `${source}: instance ${sop} differs from the copy retrieved before`);
        }
        return { sop, sha256, meta, bytes };
      }
      const file = path.join(outDir, `${sop}.dcm`);
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, bytes);
      await rename(tmp, file);
      written.set(sop, sha256);
      files.push({
        path: file, sopInstanceUID: sop, sopClassUID: meta.mediaStorageSOPClassUID,
        transferSyntaxUID: meta.transferSyntaxUID, bytes: bytes.length, sha256, source,
      });
      return { sop, sha256, meta, bytes };
    };

    const retrieve = (report.retrieve = {});
    const studyParts = await call('retrieveStudy', () => client.retrieveStudy({ studyInstanceUID: studyUID }));
    check(Array.isArray(studyParts), 'retrieveStudy did not return multipart parts');
    const studyBytes = studyParts.reduce((n, p) => n + p.byteLength, 0);
    const partBySOP = new Map();
    for (const part of studyParts) {
      const { sop, bytes } = await writeInstance(part, 'retrieveStudy');
      check(!partBySOP.has(sop), `retrieveStudy returned instance ${sop} twice`);
      partBySOP.set(sop, bytes);
    }
    retrieve.study = {
      parts: studyParts.length, bytes: studyBytes,
      partContentType: studyParts[0]?.contentType ?? null,
      responseContentType: requests.at(-1)?.contentType ?? null,
    };
    const missing = [...allSOPs].filter((u) => !partBySOP.has(u));
    check(!missing.length, `retrieveStudy lacks ${missing.length} of ${allSOPs.size} instances, e.g. ${missing[0]}`);

    note('WADO-RS retrieveInstance');
    retrieve.instances = [];
    for (const [seriesUID, instances] of instancesBySeries) {
      const sopUID = instances[0].SOPInstanceUID;
      const buf = await call('retrieveInstance',
        () => client.retrieveInstance({ studyInstanceUID: studyUID, seriesInstanceUID: seriesUID, sopInstanceUID: sopUID }));
      check(buf instanceof ArrayBuffer, `retrieveInstance(${sopUID}) returned no multipart part`);
      const { sop, sha256, meta } = await writeInstance(buf, 'retrieveInstance');
      check(sop === sopUID, `retrieveInstance(${sopUID}) returned instance ${sop}`);
      retrieve.instances.push({
        seriesInstanceUID: seriesUID, sopInstanceUID: sop, bytes: buf.byteLength, sha256,
        transferSyntaxUID: meta.transferSyntaxUID, partContentType: buf.contentType ?? null,
        responseContentType: requests.at(-1)?.contentType ?? null,
      });
    }

    // --- WADO-RS: frames ----------------------------------------------------
    note('WADO-RS retrieveInstanceFrames');
    const frames = (retrieve.frames = {
      requests: 0, frames: 0, bytes: 0, partContentTypes: [], transferSyntaxUIDs: [],
      comparedWithPixelData: 0, instances: [],
    });
    for (const [seriesUID, instances] of instancesBySeries) {
      for (const inst of instances) {
        const sop = inst.SOPInstanceUID;
        const meta = metaBySOP.get(sop) ?? {};
        // Instances without pixel data (RTSTRUCT, SR, GSPS...) have no frames.
        if (!meta.Rows && !inst.Rows) continue;
        const n = Number(meta.NumberOfFrames ?? inst.NumberOfFrames ?? 1) || 1;
        const frameNumbers = Array.from({ length: n }, (_, k) => k + 1);
        const parts = await call(`retrieveInstanceFrames(${sop}, frames ${n === 1 ? 1 : `1-${n}`})`,
          () => client.retrieveInstanceFrames({
            studyInstanceUID: studyUID, seriesInstanceUID: seriesUID, sopInstanceUID: sop, frameNumbers,
          }));
        frames.requests += 1;
        check(Array.isArray(parts) && parts.length === n,
          `retrieveInstanceFrames(${sop}) returned ${Array.isArray(parts) ? parts.length : 'no'} parts for ${n} frames`);
        const bytes = parts.reduce((s, p) => s + p.byteLength, 0);
        frames.frames += n;
        frames.bytes += bytes;
        const ct = parts[0].contentType ?? null;
        const ts = parts[0].transferSyntaxUID ?? null;
        if (!frames.partContentTypes.includes(ct)) frames.partContentTypes.push(ct);
        if (!frames.transferSyntaxUIDs.includes(ts)) frames.transferSyntaxUIDs.push(ts);
        const entry = { sopInstanceUID: sop, frames: n, bytes };
        // Uncompressed frames must be exactly Rows x Columns x SamplesPerPixel x BitsAllocated/8
        // bytes and equal the instance's Pixel Data.
        const native = ct === 'application/octet-stream' && (ts === null || NATIVE_TRANSFER_SYNTAXES.has(ts));
        const { Rows: rows, Columns: cols, BitsAllocated: bits } = meta;
        const spp = meta.SamplesPerPixel ?? 1;
        if (native && rows && cols && bits) {
          const want = (rows * cols * spp * bits) / 8;
          check(parts.every((p) => p.byteLength === want),
            `retrieveInstanceFrames(${sop}): uncompressed frame sizes ${parts.map((p) => p.byteLength).join(',')}, want ${want} (${rows}x${cols}x${spp}x${bits} bits)`);
          const pixelData = nativePixelData(partBySOP.get(sop), want * n);
          if (pixelData) {
            const joined = Buffer.concat(parts.map((p) => Buffer.from(p)));
            check(Buffer.compare(joined, Buffer.from(pixelData)) === 0,
              `retrieveInstanceFrames(${sop}): frame bytes differ from the Pixel Data of the retrieved instance`);
            frames.comparedWithPixelData += 1;
            entry.matchesPixelData = true;
          }
        }
        frames.instances.push(entry);
      }
    }

    // --- WADO-URI (optional): the same bytes as WADO-RS --------------------------
    if (wadoURI) {
      note('WADO-URI');
      const uriClient = new api.DICOMwebClient({ url: wadoURI, verbose: false, headers: authHeaders });
      const uri = (retrieve.wadoURI = { requests: 0, bytes: 0, sameAsWadoRs: 0 });
      for (const [seriesUID, instances] of instancesBySeries) {
        for (const inst of instances) {
          const href = uriClient.buildInstanceWadoURIUrl({
            studyInstanceUID: studyUID, seriesInstanceUID: seriesUID, sopInstanceUID: inst.SOPInstanceUID,
          });
          const buf = await call(`WADO-URI ${inst.SOPInstanceUID}`, () => getArrayBuffer(href));
          uri.requests += 1;
          uri.bytes += buf.byteLength;
          const { sop, sha256, meta } = await writeInstance(buf, 'WADO-URI');
          check(sop === inst.SOPInstanceUID, `WADO-URI for ${inst.SOPInstanceUID} returned instance ${sop}`);
          uri.sameAsWadoRs += sha256 === written.get(sop) ? 1 : 0;
          uri.transferSyntaxes = [...new Set([...(uri.transferSyntaxes ?? []), meta.transferSyntaxUID])];
        }
      }
      uri.contentType = requests.at(-1)?.contentType ?? null;
    }

    report.totals = {
      bytesRetrieved: requests.reduce((s, r) => s + (r.bytes ?? 0), 0),
      instanceBytesRetrieved: studyBytes + retrieve.instances.reduce((s, r) => s + r.bytes, 0),
      framesRetrieved: frames.frames,
      frameBytesRetrieved: frames.bytes,
      filesWritten: files.length,
      requests: requests.length,
    };
    const failed = requests.filter((r) => r.error || !(r.status >= 200 && r.status < 300));
    check(!failed.length, `${failed.length} requests failed, e.g. ${JSON.stringify(failed[0])}`);
    note(`ok: ${files.length} files, ${frames.frames} frames, ${report.totals.bytesRetrieved} bytes`);
  },
});
