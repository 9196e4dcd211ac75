import { describe, expect, it } from 'vitest';
import { formatDate, formatPersonName, nums, str, type DicomJson } from './json.ts';
import { DicomWebClient, DicomWebError, sortSeries, studySearchParams, studySummary } from './qido.ts';
import { layoutSeries, wadorsImageId } from './series.ts';

describe('DICOM JSON', () => {
  it('formats person names and dates', () => {
    expect(formatPersonName('Doe^Jane^^Dr')).toBe('Doe, Dr Jane');
    expect(formatPersonName('PHANTOM^CT')).toBe('PHANTOM, CT');
    expect(formatPersonName('Anonymous')).toBe('Anonymous');
    expect(formatPersonName('')).toBe('');
    expect(formatDate('20240102')).toBe('2024-01-02');
    expect(formatDate('2024')).toBe('2024');
  });
  it('reads numbers given as numbers or strings, and rejects garbage', () => {
    const ds: DicomJson = { '00200032': { vr: 'DS', Value: ['-128', -64.5, ' 2 '] }, '00280030': { vr: 'DS', Value: ['x'] } };
    expect(nums(ds, '00200032')).toEqual([-128, -64.5, 2]);
    expect(nums(ds, '00280030')).toEqual([]);
    expect(str({ '00100010': { vr: 'PN', Value: [{ Alphabetic: 'A^B' }] } }, '00100010')).toBe('A^B');
  });
});

describe('QIDO-RS study search', () => {
  it('builds prefix matches, a date range and the extra fields', () => {
    const p = studySearchParams({ patientName: ' doe ', patientId: 'P1*', modality: 'ct', dateFrom: '2024-01-01', dateTo: '2024-12-31', limit: 51, offset: 50 });
    expect(p.get('PatientName')).toBe('doe*');
    expect(p.get('PatientID')).toBe('P1*');
    expect(p.get('ModalitiesInStudy')).toBe('CT');
    expect(p.get('StudyDate')).toBe('20240101-20241231');
    expect(p.get('limit')).toBe('51');
    expect(p.get('offset')).toBe('50');
    expect(p.get('includefield')).toContain('00081030');
  });
  it('makes open-ended and single-day ranges', () => {
    expect(studySearchParams({ dateFrom: '2024-01-01' }).get('StudyDate')).toBe('20240101-');
    expect(studySearchParams({ dateTo: '2024-01-01' }).get('StudyDate')).toBe('-20240101');
    expect(studySearchParams({ dateFrom: '2024-01-01', dateTo: '2024-01-01' }).get('StudyDate')).toBe('20240101');
    expect(studySearchParams({}).has('StudyDate')).toBe(false);
    expect(studySearchParams({}).has('PatientName')).toBe(false);
  });
  it('refuses an empty date range', () => {
    expect(() => studySearchParams({ dateFrom: '2024-02-01', dateTo: '2024-01-01' })).toThrow(/empty/);
  });
  it('summarises a study', () => {
    const s = studySummary({
      '0020000D': { vr: 'UI', Value: ['1.2.3'] }, '00100010': { vr: 'PN', Value: [{ Alphabetic: 'PHANTOM^CT' }] },
      '00080061': { vr: 'CS', Value: ['CT', 'SR'] }, '00201208': { vr: 'IS', Value: [64] }, '00080020': { vr: 'DA', Value: ['20240102'] },
    });
    expect(s).toMatchObject({ studyUID: '1.2.3', patientName: 'PHANTOM, CT', modalities: ['CT', 'SR'], instanceCount: 64, studyDate: '20240102' });
  });
  const mk = (n: number | undefined, d: string) => ({ studyUID: '', seriesUID: d, modality: 'CT', number: n, description: d, bodyPart: '' });
  it('sorts series by number', () => {
    expect(sortSeries([mk(3, 'c'), mk(undefined, 'z'), mk(1, 'a')]).map((s) => s.seriesUID)).toEqual(['a', 'c', 'z']);
  });
  it('surfaces the server error detail', async () => {
    const fetchFn = (async () => new Response(JSON.stringify({ detail: 'bad StudyDate' }), { status: 400 })) as unknown as typeof fetch;
    const c = new DicomWebClient('http://h/dicomweb/', fetchFn);
    const err = await c.searchStudies({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DicomWebError);
    expect((err as Error).message).toBe('the study search failed: HTTP 400 — bad StudyDate');
  });
  it('says plainly that a study may not be opened (403), with the archive\'s reason', async () => {
    const fetchFn = (async () => new Response(JSON.stringify({ error: { code: 'forbidden', message: 'archive.search needs a role in a project' } }), { status: 403 })) as unknown as typeof fetch;
    const err = await new DicomWebClient('http://h/dicomweb', fetchFn).searchSeries('1.2.3').catch((e: unknown) => e);
    expect((err as DicomWebError).status).toBe(403);
    expect((err as Error).message).toBe('You may not open this: the series list of study 1.2.3 was refused (archive.search needs a role in a project). Ask a manager of a project that holds the study to give you a role there.');
  });
  it('reads an empty 204 answer as no studies', async () => {
    const calls: string[] = [];
    const fetchFn = (async (u: string) => {
      calls.push(u);
      return new Response(null, { status: 204 });
    }) as unknown as typeof fetch;
    await expect(new DicomWebClient('http://h/dicomweb', fetchFn).searchStudies({ modality: 'MR' })).resolves.toEqual([]);
    expect(calls[0]).toMatch(/^http:\/\/h\/dicomweb\/studies\?ModalitiesInStudy=MR&includefield=/);
  });
});

function ct(sop: string, z: number, n: number, iop = [1, 0, 0, 0, 1, 0], rows = 128): DicomJson {
  return {
    '00080018': { vr: 'UI', Value: [sop] }, '00080060': { vr: 'CS', Value: ['CT'] },
    '00200013': { vr: 'IS', Value: [n] }, '00200032': { vr: 'DS', Value: [-128, -128, z] },
    '00200037': { vr: 'DS', Value: iop }, '00280010': { vr: 'US', Value: [rows] }, '00280011': { vr: 'US', Value: [128] },
  };
}

describe('series layout', () => {
  it('builds wadors image ids', () => {
    expect(wadorsImageId('http://h/dicomweb/', '1', '2', '3', 1)).toBe('wadors:http://h/dicomweb/studies/1/series/2/instances/3/frames/1');
  });
  it('sorts a CT along the slice normal, not by instance number, and shows it as a volume', () => {
    const l = layoutSeries('http://h/dicomweb', 's', 'se', [ct('a', 4, 1), ct('b', 0, 3), ct('c', 2, 2)]);
    expect(l.images.map((i) => i.sopInstanceUID)).toEqual(['b', 'c', 'a']);
    expect(l.volume).toBe(true);
    expect(l.images[0].frame).toBe(0);
  });
  it('sorts feet-first order along the normal too', () => {
    // IOP whose normal points to the feet: row (1,0,0) × col (0,-1,0) = (0,0,-1).
    const l = layoutSeries('r', 's', 'se', [ct('a', 0, 1, [1, 0, 0, 0, -1, 0]), ct('b', 4, 2, [1, 0, 0, 0, -1, 0]), ct('c', 2, 3, [1, 0, 0, 0, -1, 0])]);
    expect(l.images.map((i) => i.sopInstanceUID)).toEqual(['b', 'c', 'a']);
  });
  it('shows mixed orientations, sizes or too few slices as a stack, saying why', () => {
    expect(layoutSeries('r', 's', 'se', [ct('a', 0, 1), ct('b', 1, 2)]).stackReason).toMatch(/too few/);
    expect(layoutSeries('r', 's', 'se', [ct('a', 0, 1), ct('b', 1, 2), ct('c', 2, 3, [0, 1, 0, 0, 0, -1])]).stackReason).toMatch(/orientation/);
    expect(layoutSeries('r', 's', 'se', [ct('a', 0, 1), ct('b', 1, 2), ct('c', 2, 3, undefined, 64)]).stackReason).toMatch(/sizes/);
  });
  it('shows a radiograph as a stack and expands multi-frame instances', () => {
    const dx: DicomJson = { '00080018': { vr: 'UI', Value: ['x'] }, '00080060': { vr: 'CS', Value: ['DX'] }, '00280008': { vr: 'IS', Value: ['3'] } };
    const l = layoutSeries('r', 's', 'se', [dx]);
    expect(l.volume).toBe(false);
    expect(l.stackReason).toMatch(/DX/);
    expect(l.images.map((i) => [i.frame, i.imageId.endsWith(`/frames/${i.frame}`)])).toEqual([[1, true], [2, true], [3, true]]);
  });
});
