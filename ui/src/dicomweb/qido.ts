// QIDO-RS and WADO-RS through radmark's /dicomweb: study search, series
// lists and series metadata, as the study list and the viewer need them.
import { type DicomJson, Tag, formatPersonName, num, str, strs, toDicomDate } from './json.ts';

export interface StudyQuery {
  patientName?: string;
  patientId?: string;
  accession?: string;
  modality?: string;
  /** ISO dates (yyyy-mm-dd), inclusive; either may be empty. */
  dateFrom?: string;
  dateTo?: string;
  limit?: number;
  offset?: number;
}

export interface StudySummary {
  studyUID: string;
  patientName: string;
  patientId: string;
  birthDate: string;
  sex: string;
  studyDate: string;
  studyTime: string;
  accession: string;
  description: string;
  modalities: string[];
  seriesCount?: number;
  instanceCount?: number;
}

export interface SeriesSummary {
  studyUID: string;
  seriesUID: string;
  modality: string;
  number?: number;
  description: string;
  bodyPart: string;
  instanceCount?: number;
}

/** Extra attributes asked of QIDO so the study list can show them. */
const studyFields = [Tag.StudyDescription, Tag.ModalitiesInStudy, Tag.NumberOfStudyRelatedSeries, Tag.NumberOfStudyRelatedInstances, Tag.PatientBirthDate, Tag.PatientSex];
const seriesFields = [Tag.SeriesDescription, Tag.SeriesNumber, Tag.BodyPartExamined, Tag.NumberOfSeriesRelatedInstances];

/**
 * The QIDO-RS query string for a study search. Names and IDs match as
 * prefixes (a trailing `*` is added unless the user wrote a wildcard);
 * dates become a DICOM range (`from-`, `-to` or `from-to`).
 */
export function studySearchParams(q: StudyQuery): URLSearchParams {
  const p = new URLSearchParams();
  const name = q.patientName?.trim();
  if (name) p.set('PatientName', prefix(name));
  const id = q.patientId?.trim();
  if (id) p.set('PatientID', prefix(id));
  const acc = q.accession?.trim();
  if (acc) p.set('AccessionNumber', prefix(acc));
  const mod = q.modality?.trim().toUpperCase();
  if (mod) p.set('ModalitiesInStudy', mod);
  const from = q.dateFrom ? toDicomDate(q.dateFrom) : '';
  const to = q.dateTo ? toDicomDate(q.dateTo) : '';
  if (from && to && from > to) throw new Error(`the date range is empty: ${q.dateFrom} is after ${q.dateTo}`);
  if (from || to) p.set('StudyDate', from === to ? from : `${from}-${to}`);
  p.set('includefield', studyFields.join(','));
  if (q.limit !== undefined) p.set('limit', String(q.limit));
  if (q.offset) p.set('offset', String(q.offset));
  return p;
}

function prefix(v: string): string {
  return /[*?]/.test(v) ? v : v + '*';
}

export function studySummary(ds: DicomJson): StudySummary {
  return {
    studyUID: str(ds, Tag.StudyInstanceUID),
    patientName: formatPersonName(str(ds, Tag.PatientName)),
    patientId: str(ds, Tag.PatientID),
    birthDate: str(ds, Tag.PatientBirthDate),
    sex: str(ds, Tag.PatientSex),
    studyDate: str(ds, Tag.StudyDate),
    studyTime: str(ds, Tag.StudyTime),
    accession: str(ds, Tag.AccessionNumber),
    description: str(ds, Tag.StudyDescription),
    modalities: strs(ds, Tag.ModalitiesInStudy),
    seriesCount: num(ds, Tag.NumberOfStudyRelatedSeries),
    instanceCount: num(ds, Tag.NumberOfStudyRelatedInstances),
  };
}

export function seriesSummary(ds: DicomJson): SeriesSummary {
  return {
    studyUID: str(ds, Tag.StudyInstanceUID),
    seriesUID: str(ds, Tag.SeriesInstanceUID),
    modality: str(ds, Tag.Modality),
    number: num(ds, Tag.SeriesNumber),
    description: str(ds, Tag.SeriesDescription),
    bodyPart: str(ds, Tag.BodyPartExamined),
    instanceCount: num(ds, Tag.NumberOfSeriesRelatedInstances),
  };
}

/** Series in reading order: by Series Number, then description. */
export function sortSeries(list: SeriesSummary[]): SeriesSummary[] {
  return list.toSorted((a, b) => (a.number ?? Infinity) - (b.number ?? Infinity) || a.description.localeCompare(b.description));
}

/** A DICOMweb request that failed, with what the server said. */
export class DicomWebError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'DicomWebError';
    this.status = status;
  }
}

export class DicomWebClient {
  /** Absolute root, e.g. http://host/dicomweb (the image loader needs absolute URLs). */
  readonly root: string;
  private readonly fetchFn: typeof fetch;

  constructor(root: string, fetchFn?: typeof fetch) {
    this.root = root.replace(/\/+$/, '');
    this.fetchFn = fetchFn ?? ((input, init) => globalThis.fetch(input, init));
  }

  private async json(path: string, what: string, signal?: AbortSignal): Promise<DicomJson[]> {
    const url = this.root + path;
    let res: Response;
    try {
      res = await this.fetchFn(url, { headers: { Accept: 'application/dicom+json' }, signal });
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err;
      throw new DicomWebError(`cannot reach the archive for ${what}: ${err instanceof Error ? err.message : String(err)}`, 0);
    }
    if (res.status === 204) return [];
    const text = await res.text();
    if (!res.ok) {
      let detail = text.replace(/\s+/g, ' ').trim().slice(0, 300);
      try {
        // problem+json (detail) or the archive's own error document (error.message)
        const p = JSON.parse(text) as { detail?: string; error?: { message?: string } };
        if (p && typeof p.detail === 'string') detail = p.detail;
        else if (p && typeof p.error?.message === 'string') detail = p.error.message;
      } catch {
        // plain text error
      }
      if (res.status === 403) {
        throw new DicomWebError(`You may not open this: ${what} was refused (${detail || 'HTTP 403'}). Ask a manager of a project that holds the study to give you a role there.`, 403);
      }
      throw new DicomWebError(`${what} failed: HTTP ${res.status}${detail ? ` — ${detail}` : ''}`, res.status);
    }
    if (!text.trim()) return [];
    try {
      const v = JSON.parse(text) as unknown;
      if (!Array.isArray(v)) throw new Error('not an array');
      return v as DicomJson[];
    } catch (err) {
      throw new DicomWebError(`${what}: the archive's answer is not DICOM JSON (${err instanceof Error ? err.message : String(err)})`, res.status);
    }
  }

  async searchStudies(q: StudyQuery, signal?: AbortSignal): Promise<StudySummary[]> {
    const list = await this.json(`/studies?${studySearchParams(q)}`, 'the study search', signal);
    return list.map(studySummary);
  }

  async study(studyUID: string, signal?: AbortSignal): Promise<StudySummary | undefined> {
    const p = new URLSearchParams({ StudyInstanceUID: studyUID, includefield: studyFields.join(',') });
    const list = await this.json(`/studies?${p}`, `the search for study ${studyUID}`, signal);
    return list.length ? studySummary(list[0]) : undefined;
  }

  async searchSeries(studyUID: string, signal?: AbortSignal): Promise<SeriesSummary[]> {
    const p = new URLSearchParams({ includefield: seriesFields.join(',') });
    const list = await this.json(`/studies/${encodeURIComponent(studyUID)}/series?${p}`, `the series list of study ${studyUID}`, signal);
    return sortSeries(list.map((ds) => ({ ...seriesSummary(ds), studyUID: str(ds, Tag.StudyInstanceUID) || studyUID })));
  }

  seriesMetadata(studyUID: string, seriesUID: string, signal?: AbortSignal): Promise<DicomJson[]> {
    return this.json(`/studies/${encodeURIComponent(studyUID)}/series/${encodeURIComponent(seriesUID)}/metadata`, `the metadata of series ${seriesUID}`, signal);
  }

  thumbnailUrl(studyUID: string, seriesUID: string): string {
    return `${this.root}/studies/${encodeURIComponent(studyUID)}/series/${encodeURIComponent(seriesUID)}/thumbnail`;
  }
}
