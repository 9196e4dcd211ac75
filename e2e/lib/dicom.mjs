// Small DICOM helpers for the checks: the DICOM JSON model (PS3.18 F.2) and
// the Part 10 file meta information (PS3.10 7.1).
//
// Only group 0002 of a Part 10 file is parsed here, to name the written files
// by their SOP Instance UID and to report their transfer syntax; the full
// datasets are checked by dcmdump and pydicom in the Go tests. That is a few
// dozen lines, so no DICOM parser (dcmjs is 12 MB with core-js) is pulled in.

/** Keyword -> tag (8 hex digits, upper case) of the attributes the reports show. */
export const TAGS = {
  TransferSyntaxUID: '00020010',
  SpecificCharacterSet: '00080005',
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  SeriesDate: '00080021',
  StudyTime: '00080030',
  AccessionNumber: '00080050',
  Modality: '00080060',
  ModalitiesInStudy: '00080061',
  ReferringPhysicianName: '00080090',
  RetrieveURL: '00081190',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  PatientName: '00100010',
  PatientID: '00100020',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  SliceThickness: '00180050',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  StudyID: '00200010',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  SamplesPerPixel: '00280002',
  PhotometricInterpretation: '00280004',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  PixelSpacing: '00280030',
  BitsAllocated: '00280100',
  BitsStored: '00280101',
  HighBit: '00280102',
  PixelRepresentation: '00280103',
  WindowCenter: '00281050',
  WindowWidth: '00281051',
  RescaleIntercept: '00281052',
  RescaleSlope: '00281053',
  PixelData: '7FE00010',
};

export const STUDY_KEYS = [
  'StudyInstanceUID', 'StudyDate', 'StudyTime', 'AccessionNumber', 'ModalitiesInStudy',
  'ReferringPhysicianName', 'StudyDescription', 'PatientName', 'PatientID', 'PatientBirthDate',
  'PatientSex', 'StudyID', 'NumberOfStudyRelatedSeries', 'NumberOfStudyRelatedInstances', 'RetrieveURL',
];
export const SERIES_KEYS = [
  'SeriesInstanceUID', 'Modality', 'SeriesNumber', 'SeriesDescription', 'SeriesDate',
  'NumberOfSeriesRelatedInstances', 'RetrieveURL',
];
export const INSTANCE_KEYS = [
  'SOPInstanceUID', 'SOPClassUID', 'InstanceNumber', 'Rows', 'Columns', 'NumberOfFrames', 'RetrieveURL',
];
export const METADATA_KEYS = [
  'SOPInstanceUID', 'SOPClassUID', 'TransferSyntaxUID', 'InstanceNumber', 'Rows', 'Columns',
  'NumberOfFrames', 'SamplesPerPixel', 'PhotometricInterpretation', 'BitsAllocated', 'BitsStored',
  'HighBit', 'PixelRepresentation', 'RescaleIntercept', 'RescaleSlope', 'WindowCenter', 'WindowWidth',
  'PixelSpacing', 'SliceThickness', 'ImagePositionPatient', 'ImageOrientationPatient',
];

/** Turns one DICOM JSON element's values into plain JSON: PN -> Alphabetic string. */
function plainValues(el) {
  if (!el || !Array.isArray(el.Value)) return null;
  return el.Value.map((v) => (el.vr === 'PN' && v && typeof v === 'object' ? v.Alphabetic ?? null : v));
}

/**
 * Returns the attribute's value from a DICOM JSON dataset: undefined when the
 * attribute is absent, null when present without a value, a scalar for one
 * value, an array for several.
 */
export function value(dataset, keyword) {
  const tag = TAGS[keyword];
  if (!tag) throw new Error(`unknown keyword ${keyword}`);
  const el = dataset?.[tag] ?? dataset?.[tag.toLowerCase()];
  if (el === undefined) return undefined;
  const vals = plainValues(el);
  if (vals === null || vals.length === 0) return null;
  return vals.length === 1 ? vals[0] : vals;
}

/** Picks the listed keywords from a DICOM JSON dataset (absent ones are left out). */
export function pick(dataset, keywords) {
  const out = {};
  for (const k of keywords) {
    const v = value(dataset, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** How a DICOM JSON dataset carries Pixel Data: "BulkDataURI", "InlineBinary", "Value" or "absent". */
export function pixelDataForm(dataset) {
  const el = dataset?.[TAGS.PixelData] ?? dataset?.[TAGS.PixelData.toLowerCase()];
  if (!el) return 'absent';
  for (const k of ['BulkDataURI', 'InlineBinary', 'Value']) if (k in el) return k;
  return 'empty';
}

/** Checks that a QIDO/WADO JSON response is an array of DICOM JSON datasets. */
export function isDicomJsonArray(x) {
  return Array.isArray(x) && x.every((d) => d && typeof d === 'object' && !Array.isArray(d));
}

// VRs whose explicit-VR little-endian header has 2 reserved bytes and a 4-byte length.
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/**
 * Parses the File Meta Information of a DICOM Part 10 file.
 *
 * @param {Uint8Array} bytes
 * @returns {{ transferSyntaxUID: string, mediaStorageSOPClassUID: string,
 *   mediaStorageSOPInstanceUID: string, implementationClassUID?: string, metaEnd: number }}
 * @throws {Error} when the bytes are not a Part 10 file
 */
export function readPart10Meta(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (b.length < 132) throw new Error(`not a DICOM Part 10 file: only ${b.length} bytes`);
  const magic = String.fromCharCode(b[128], b[129], b[130], b[131]);
  if (magic !== 'DICM') throw new Error('not a DICOM Part 10 file: no "DICM" prefix at offset 128');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = {};
  let off = 132;
  let metaEnd;
  while (off + 8 <= b.length) {
    const group = view.getUint16(off, true);
    if (group !== 0x0002) break;
    const elem = view.getUint16(off + 2, true);
    const vr = String.fromCharCode(b[off + 4], b[off + 5]);
    let len;
    let hdr;
    if (LONG_VRS.has(vr)) {
      if (off + 12 > b.length) throw new Error('truncated file meta element header');
      len = view.getUint32(off + 8, true);
      hdr = 12;
    } else if (/^[A-Z]{2}$/.test(vr)) {
      len = view.getUint16(off + 6, true);
      hdr = 8;
    } else {
      throw new Error(`file meta element (0002,${elem.toString(16).padStart(4, '0')}) has no explicit VR`);
    }
    const start = off + hdr;
    if (start + len > b.length) throw new Error('truncated file meta information');
    const str = () => new TextDecoder('latin1').decode(b.subarray(start, start + len)).replace(/[\0 ]+$/, '');
    switch (elem) {
      case 0x0000:
        metaEnd = start + len + view.getUint32(start, true);
        break;
      case 0x0002:
        out.mediaStorageSOPClassUID = str();
        break;
      case 0x0003:
        out.mediaStorageSOPInstanceUID = str();
        break;
      case 0x0010:
        out.transferSyntaxUID = str();
        break;
      case 0x0012:
        out.implementationClassUID = str();
        break;
      default:
    }
    off = start + len;
  }
  out.metaEnd = metaEnd ?? off;
  for (const k of ['transferSyntaxUID', 'mediaStorageSOPInstanceUID', 'mediaStorageSOPClassUID']) {
    if (!out[k]) throw new Error(`file meta information lacks ${k}`);
  }
  return out;
}

/** Transfer syntaxes whose frames are native (uncompressed) pixels. */
export const NATIVE_TRANSFER_SYNTAXES = new Set([
  '1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2', '1.2.840.10008.1.2.1.99',
]);
