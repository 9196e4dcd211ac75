// Reading the DICOM JSON model (PS3.18 F.2) that QIDO-RS and WADO-RS
// metadata return: attributes keyed by 8-hex-digit tags.

export interface DicomAttribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, DicomAttribute | undefined>;

export const Tag = {
  SOPClassUID: '00080016',
  SOPInstanceUID: '00080018',
  StudyDate: '00080020',
  StudyTime: '00080030',
  AccessionNumber: '00080050',
  Modality: '00080060',
  ModalitiesInStudy: '00080061',
  StudyDescription: '00081030',
  SeriesDescription: '0008103E',
  PatientName: '00100010',
  PatientID: '00100020',
  PatientBirthDate: '00100030',
  PatientSex: '00100040',
  BodyPartExamined: '00180015',
  SliceThickness: '00180050',
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  StudyID: '00200010',
  SeriesNumber: '00200011',
  InstanceNumber: '00200013',
  PatientOrientation: '00200020',
  ImagePositionPatient: '00200032',
  ImageOrientationPatient: '00200037',
  NumberOfStudyRelatedSeries: '00201206',
  NumberOfStudyRelatedInstances: '00201208',
  NumberOfSeriesRelatedInstances: '00201209',
  NumberOfFrames: '00280008',
  Rows: '00280010',
  Columns: '00280011',
  PixelSpacing: '00280030',
  WindowCenter: '00281050',
  WindowWidth: '00281051',
  RescaleIntercept: '00281052',
  RescaleSlope: '00281053',
} as const;

/** All values of an attribute (empty when absent or empty). */
export function values(ds: DicomJson, tag: string): unknown[] {
  return ds[tag]?.Value ?? [];
}

/** The first value as a string ('' when absent). Person names give their Alphabetic form. */
export function str(ds: DicomJson, tag: string): string {
  const v = values(ds, tag)[0];
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return String((v as { Alphabetic?: unknown }).Alphabetic ?? '');
  return String(v);
}

/** The first value as a number (undefined when absent or not a number). */
export function num(ds: DicomJson, tag: string): number | undefined {
  return nums(ds, tag)[0];
}

/** All values as numbers; DS and IS values may come as strings. */
export function nums(ds: DicomJson, tag: string): number[] {
  const out: number[] = [];
  for (const v of values(ds, tag)) {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v.trim()) : NaN;
    if (!Number.isFinite(n)) return [];
    out.push(n);
  }
  return out;
}

/** Strings of a multi-valued attribute (ModalitiesInStudy: ["CT", "SR"]). */
export function strs(ds: DicomJson, tag: string): string[] {
  return values(ds, tag).filter((v) => v !== null && v !== undefined).map((v) => String(v));
}

/** "Doe^Jane^^Dr" → "Doe, Jane Dr": the way viewers show a person name. */
export function formatPersonName(pn: string): string {
  if (!pn) return '';
  const [family = '', given = '', middle = '', prefix = '', suffix = ''] = pn.split('=')[0].split('^');
  const rest = [prefix, given, middle, suffix].filter(Boolean).join(' ');
  return family && rest ? `${family}, ${rest}` : family || rest;
}

/** "20240102" → "2024-01-02" (anything else unchanged). */
export function formatDate(da: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(da);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : da;
}

/** "2024-01-02" (an <input type=date> value) → "20240102". */
export function toDicomDate(iso: string): string {
  return iso.replaceAll('-', '');
}
