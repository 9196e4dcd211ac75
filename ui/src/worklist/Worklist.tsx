import { type FormEvent, useState } from 'react';
import { formatDate } from '../dicomweb/json.ts';
import type { SeriesSummary, StudyQuery, StudySummary } from '../dicomweb/qido.ts';
import { PAGE_SIZE, urlFor } from '../state/store.ts';
import { useLoad } from '../state/useLoad.ts';
import { useAppState, useServices } from '../state/useStore.ts';

const MODALITIES = ['', 'CT', 'MR', 'CR', 'DX', 'MG', 'US', 'PT', 'NM', 'XA', 'SEG', 'SR'];

/** The study list: a QIDO-RS search with filters, and each study's series. */
export function Worklist() {
  const { store, dicomweb, navigate } = useServices();
  const query = useAppState((s) => s.query);
  const projectId = useAppState((s) => s.projectId);
  const [expanded, setExpanded] = useState<string | undefined>();
  // One more than a page tells whether there is a next page.
  const studies = useLoad<StudySummary[]>(JSON.stringify(query), (signal) => dicomweb.searchStudies({ ...query, limit: PAGE_SIZE + 1 }, signal));

  const search = (q: StudyQuery) => {
    navigate(urlFor({ page: 'worklist' }, { ...q, offset: undefined }, projectId));
  };
  const open = (studyUID: string, seriesUID?: string) => navigate(urlFor({ page: 'viewer', studyUID, seriesUID }, query, projectId));
  const page = Math.floor((query.offset ?? 0) / PAGE_SIZE) + 1;
  const rows = studies.state === 'done' ? studies.value.slice(0, PAGE_SIZE) : [];
  const more = studies.state === 'done' && studies.value.length > PAGE_SIZE;

  return (
    <div className="worklist">
      <SearchForm query={query} onSearch={search} />
      {studies.state === 'error' && (
        <div className="notice notice-error" data-testid="search-error">
          {studies.message}
        </div>
      )}
      <table className="studies" data-testid="study-table">
        <thead>
          <tr>
            <th>Patient</th>
            <th>Patient ID</th>
            <th>Date</th>
            <th>Modalities</th>
            <th>Description</th>
            <th>Accession</th>
            <th className="num">Series</th>
            <th className="num">Images</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {studies.state === 'loading' && (
            <tr>
              <td colSpan={9} className="muted">
                Searching…
              </td>
            </tr>
          )}
          {studies.state === 'done' && rows.length === 0 && (
            <tr>
              <td colSpan={9} className="muted">
                No study matches these filters.
              </td>
            </tr>
          )}
          {rows.map((st) => (
            <StudyRow
              key={st.studyUID}
              study={st}
              expanded={expanded === st.studyUID}
              onToggle={() => setExpanded(expanded === st.studyUID ? undefined : st.studyUID)}
              onOpen={open}
            />
          ))}
        </tbody>
      </table>
      <div className="pager">
        <button type="button" disabled={page <= 1} onClick={() => store.dispatch({ type: 'setQuery', query: { ...query, offset: (page - 2) * PAGE_SIZE } })}>
          ← Previous
        </button>
        <span>Page {page}</span>
        <button type="button" disabled={!more} onClick={() => store.dispatch({ type: 'setQuery', query: { ...query, offset: page * PAGE_SIZE } })}>
          Next →
        </button>
      </div>
    </div>
  );
}

function SearchForm({ query, onSearch }: { query: StudyQuery; onSearch: (q: StudyQuery) => void }) {
  // The form edits a copy of the search; a new search from outside (Back,
  // Clear) replaces it.
  const [edit, setEdit] = useState<{ base: StudyQuery; q: StudyQuery }>({ base: query, q: query });
  const q = edit.base === query ? edit.q : query;
  const setQ = (next: StudyQuery) => setEdit({ base: query, q: next });
  const [error, setError] = useState<string | undefined>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (q.dateFrom && q.dateTo && q.dateFrom > q.dateTo) {
      setError(`The date range is empty: ${q.dateFrom} is after ${q.dateTo}.`);
      return;
    }
    setError(undefined);
    onSearch(q);
  };
  const field = (k: keyof StudyQuery) => ({
    value: (q[k] as string | undefined) ?? '',
    onChange: (e: { target: { value: string } }) => setQ({ ...q, [k]: e.target.value }),
  });
  return (
    <form className="search" onSubmit={submit} data-testid="search-form">
      <label>
        Patient name
        <input name="patientName" placeholder="Doe^J*" {...field('patientName')} />
      </label>
      <label>
        Patient ID
        <input name="patientId" {...field('patientId')} />
      </label>
      <label>
        Accession
        <input name="accession" {...field('accession')} />
      </label>
      <label>
        Modality
        <select name="modality" {...field('modality')}>
          {MODALITIES.map((m) => (
            <option key={m} value={m}>
              {m || 'any'}
            </option>
          ))}
        </select>
      </label>
      <label>
        From
        <input type="date" name="dateFrom" {...field('dateFrom')} />
      </label>
      <label>
        To
        <input type="date" name="dateTo" {...field('dateTo')} />
      </label>
      <button type="submit">Search</button>
      <button
        type="button"
        className="link"
        onClick={() => {
          setQ({});
          onSearch({});
        }}
      >
        Clear
      </button>
      {error && <span className="form-error">{error}</span>}
    </form>
  );
}

function StudyRow({ study, expanded, onToggle, onOpen }: { study: StudySummary; expanded: boolean; onToggle: () => void; onOpen: (study: string, series?: string) => void }) {
  return (
    <>
      <tr
        className={expanded ? 'study expanded' : 'study'}
        data-testid="study-row"
        data-study-uid={study.studyUID}
        onClick={onToggle}
        onDoubleClick={() => onOpen(study.studyUID)}
      >
        <td>{study.patientName || <span className="muted">(no name)</span>}</td>
        <td>{study.patientId}</td>
        <td>{formatDate(study.studyDate)}</td>
        <td>{study.modalities.join(', ')}</td>
        <td>{study.description}</td>
        <td>{study.accession}</td>
        <td className="num">{study.seriesCount ?? ''}</td>
        <td className="num">{study.instanceCount ?? ''}</td>
        <td>
          <button
            type="button"
            data-testid="open-study"
            onClick={(e) => {
              e.stopPropagation();
              onOpen(study.studyUID);
            }}
          >
            Open
          </button>
        </td>
      </tr>
      {expanded && (
        <tr className="series-row">
          <td colSpan={9}>
            <SeriesStrip studyUID={study.studyUID} onOpen={(series) => onOpen(study.studyUID, series)} />
          </td>
        </tr>
      )}
    </>
  );
}

/** Thumbnails of a study's series (from WADO-RS /thumbnail); a click opens one. */
export function SeriesStrip({ studyUID, onOpen, selected }: { studyUID: string; onOpen: (seriesUID: string) => void; selected?: string }) {
  const { dicomweb } = useServices();
  const series = useLoad<SeriesSummary[]>(studyUID, (signal) => dicomweb.searchSeries(studyUID, signal));
  if (series.state === 'loading') return <div className="muted">Loading series…</div>;
  if (series.state === 'error') return <div className="notice notice-error">{series.message}</div>;
  return <SeriesThumbs series={series.value} onOpen={onOpen} selected={selected} />;
}

export function SeriesThumbs({ series, onOpen, selected, vertical }: { series: SeriesSummary[]; onOpen: (seriesUID: string) => void; selected?: string; vertical?: boolean }) {
  const { dicomweb } = useServices();
  if (!series.length) return <div className="muted">This study has no series.</div>;
  return (
    <div className={vertical ? 'thumbs vertical' : 'thumbs'} data-testid="series-thumbs">
      {series.map((se) => (
        <button
          type="button"
          key={se.seriesUID}
          className={se.seriesUID === selected ? 'thumb selected' : 'thumb'}
          data-testid="series-thumb"
          data-series-uid={se.seriesUID}
          title={se.seriesUID}
          onClick={() => onOpen(se.seriesUID)}
        >
          <Thumbnail src={dicomweb.thumbnailUrl(se.studyUID, se.seriesUID)} />
          <span className="thumb-label">
            <b>{se.modality}</b> {se.number !== undefined ? `#${se.number}` : ''} {se.description}
            <span className="muted"> {se.instanceCount !== undefined ? `${se.instanceCount} img` : ''}</span>
          </span>
        </button>
      ))}
    </div>
  );
}

function Thumbnail({ src }: { src: string }) {
  const [failed, setFailed] = useState(false);
  if (failed) return <span className="thumb-img thumb-missing">no preview</span>;
  return <img className="thumb-img" src={src} alt="" loading="lazy" onError={() => setFailed(true)} />;
}
