package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
)

// column says how a matching key is stored.
type column struct {
	expr string
	// fold: the column holds Fold of the value, and matching ignores case
	// (person names and descriptions).
	fold bool
	// numeric: an integer column (IS values), matched as numbers.
	numeric bool
	// patient: the expression needs the patient table joined.
	patient bool
}

// Table aliases: p patient, st study, se series, i instance.
var columns = map[radmark.Key]column{
	radmark.KeyStudyInstanceUID:       {expr: "st.uid"},
	radmark.KeyPatientName:            {expr: "p.name_lc", fold: true, patient: true},
	radmark.KeyPatientID:              {expr: "p.patient_id", patient: true},
	radmark.KeyIssuerOfPatientID:      {expr: "p.issuer", patient: true},
	radmark.KeyPatientBirthDate:       {expr: "p.birth_date", patient: true},
	radmark.KeyPatientSex:             {expr: "p.sex", patient: true},
	radmark.KeyStudyDate:              {expr: "st.study_date"},
	radmark.KeyStudyTime:              {expr: "st.study_time"},
	radmark.KeyAccessionNumber:        {expr: "st.accession_number"},
	radmark.KeyStudyID:                {expr: "st.study_id"},
	radmark.KeyStudyDescription:       {expr: "st.study_description_lc", fold: true},
	radmark.KeyReferringPhysicianName: {expr: "st.referring_physician_name_lc", fold: true},
	// Matched against the modality of any series of the study.
	radmark.KeyModalitiesInStudy: {expr: "ms.modality"},

	radmark.KeySeriesInstanceUID:               {expr: "se.uid"},
	radmark.KeyModality:                        {expr: "se.modality"},
	radmark.KeySeriesNumber:                    {expr: "se.series_number", numeric: true},
	radmark.KeySeriesDescription:               {expr: "se.series_description_lc", fold: true},
	radmark.KeyBodyPartExamined:                {expr: "se.body_part_examined"},
	radmark.KeyPerformedProcedureStepStartDate: {expr: "se.performed_start_date"},
	radmark.KeyPerformedProcedureStepStartTime: {expr: "se.performed_start_time"},

	radmark.KeySOPInstanceUID: {expr: "i.sop_uid"},
	radmark.KeySOPClassUID:    {expr: "i.sop_class_uid"},
	radmark.KeyInstanceNumber: {expr: "i.instance_number", numeric: true},
}

// where collects the conditions of a query and their arguments.
type where struct {
	conds       []string
	args        []any
	needPatient bool
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return "\nWHERE " + strings.Join(w.conds, "\n\tAND ")
}

// build checks q for a query at level and turns its scope and filters into
// conditions.
//
// Matching rules (PS3.4 C.2.2.2): MatchSingle is equality, MatchList
// membership, MatchWildcard a pattern with '*' (any run of characters) and
// '?' (one character), MatchRange Lo <= value <= Hi with either bound open,
// compared as strings (DA and TM values compare correctly that way). An
// empty single value, or a pattern of only '*', is universal matching. A
// value that is empty in the index matches no range. PatientName,
// StudyDescription, SeriesDescription and ReferringPhysicianName ignore case
// in every kind; all other keys are case-sensitive. SeriesNumber and
// InstanceNumber compare as integers and take no wildcards. A key may be of
// the query's level or a higher one; anything else is EINVALID.
func (s *Store) build(q radmark.Query, level radmark.Level) (*where, error) {
	if q.Level != 0 && q.Level != level {
		return nil, radmark.Errorf(radmark.EINVALID, "a %s query was asked of the %s index", q.Level, level)
	}
	if q.Limit < 0 || q.Offset < 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "limit and offset must not be negative (got %d, %d)", q.Limit, q.Offset)
	}
	w := &where{}
	if q.StudyUID != "" {
		w.add("st.uid = ?", string(q.StudyUID))
	}
	if q.SeriesUID != "" {
		if level == radmark.StudyLevel {
			return nil, radmark.Errorf(radmark.EINVALID, "a study query cannot be scoped to series %s", q.SeriesUID)
		}
		w.add("se.uid = ?", string(q.SeriesUID))
	}
	for _, f := range q.Filters {
		kl := radmark.KeyLevel(f.Key)
		if kl == 0 {
			return nil, radmark.Errorf(radmark.EINVALID, "%q is not a matching key", f.Key)
		}
		if kl > level {
			return nil, radmark.Errorf(radmark.EINVALID, "%s is a %s-level key and cannot filter %s-level results", f.Key, kl, level)
		}
		col := columns[f.Key]
		cond, args, err := s.predicate(f, col)
		if err != nil {
			return nil, err
		}
		if cond == "" {
			continue
		}
		if f.Key == radmark.KeyModalitiesInStudy {
			cond = "EXISTS (SELECT 1 FROM series ms WHERE ms.study_pk = st.pk AND " + cond + ")"
		}
		w.needPatient = w.needPatient || col.patient
		w.add(cond, args...)
	}
	return w, nil
}

// predicate returns the condition for one filter, or "" for universal
// matching.
func (s *Store) predicate(f radmark.Filter, col column) (string, []any, error) {
	value := func(v string) (any, error) {
		switch {
		case col.numeric:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil, radmark.Errorf(radmark.EINVALID, "%s: %q is not an integer", f.Key, v)
			}
			return n, nil
		case col.fold:
			return Fold(v), nil
		}
		return v, nil
	}
	switch f.Kind {
	case radmark.MatchSingle:
		if len(f.Values) != 1 {
			return "", nil, radmark.Errorf(radmark.EINVALID, "%s: single value matching takes one value, got %d", f.Key, len(f.Values))
		}
		if f.Values[0] == "" {
			return "", nil, nil
		}
		v, err := value(f.Values[0])
		if err != nil {
			return "", nil, err
		}
		return col.expr + " = ?", []any{v}, nil

	case radmark.MatchList:
		if len(f.Values) == 0 {
			return "", nil, radmark.Errorf(radmark.EINVALID, "%s: list matching needs at least one value", f.Key)
		}
		args := make([]any, len(f.Values))
		for i, s := range f.Values {
			v, err := value(s)
			if err != nil {
				return "", nil, err
			}
			args[i] = v
		}
		return col.expr + " IN (" + placeholders(len(args)) + ")", args, nil

	case radmark.MatchWildcard:
		if len(f.Values) != 1 {
			return "", nil, radmark.Errorf(radmark.EINVALID, "%s: wildcard matching takes one pattern, got %d", f.Key, len(f.Values))
		}
		if col.numeric {
			return "", nil, radmark.Errorf(radmark.EINVALID, "%s is numeric and cannot be matched with wildcards", f.Key)
		}
		pattern := f.Values[0]
		if col.fold {
			pattern = Fold(pattern)
		}
		if strings.Trim(pattern, "*") == "" {
			return "", nil, nil
		}
		if !strings.ContainsAny(pattern, "*?") {
			return col.expr + " = ?", []any{pattern}, nil
		}
		if s.dialect == SQLite {
			// GLOB is case-sensitive, unlike SQLite's LIKE, and shares the
			// DICOM wildcards; only '[' needs escaping.
			return col.expr + " GLOB ?", []any{globPattern(pattern)}, nil
		}
		return col.expr + ` LIKE ? ESCAPE '\'`, []any{likePattern(pattern)}, nil

	case radmark.MatchRange:
		if f.Lo == "" && f.Hi == "" {
			return "", nil, radmark.Errorf(radmark.EINVALID, "%s: range matching needs a lower or an upper bound", f.Key)
		}
		var conds []string
		var args []any
		if f.Lo != "" {
			v, err := value(f.Lo)
			if err != nil {
				return "", nil, err
			}
			conds, args = append(conds, col.expr+" >= ?"), append(args, v)
		} else if !col.numeric {
			conds = append(conds, col.expr+" <> ''")
		}
		if f.Hi != "" {
			v, err := value(f.Hi)
			if err != nil {
				return "", nil, err
			}
			conds, args = append(conds, col.expr+" <= ?"), append(args, v)
		}
		return strings.Join(conds, " AND "), args, nil
	}
	return "", nil, radmark.Errorf(radmark.EINVALID, "%s: unknown match kind %d", f.Key, f.Kind)
}

func globPattern(p string) string {
	return strings.ReplaceAll(p, "[", "[[]")
}

func likePattern(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '\\', '%', '_':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// page appends LIMIT and OFFSET; SQLite needs a LIMIT before any OFFSET.
func (s *Store) page(w *where, q radmark.Query) string {
	var b strings.Builder
	switch {
	case q.Limit > 0:
		b.WriteString("\nLIMIT ?")
		w.args = append(w.args, q.Limit)
	case q.Offset > 0 && s.dialect == SQLite:
		b.WriteString("\nLIMIT -1")
	}
	if q.Offset > 0 {
		b.WriteString(" OFFSET ?")
		w.args = append(w.args, q.Offset)
	}
	return b.String()
}

// FindStudies implements radmark.ArchiveStore.FindStudies: studies ordered
// by StudyDate and StudyTime (newest first), then UID.
func (s *Store) FindStudies(ctx context.Context, q radmark.Query) ([]*radmark.Study, error) {
	w, err := s.build(q, radmark.StudyLevel)
	if err != nil {
		return nil, err
	}
	query := `SELECT st.uid, p.patient_id, p.issuer, p.name, p.birth_date, p.sex, st.study_date,
	st.study_time, st.accession_number, st.study_id, st.study_description, st.referring_physician_name,
	st.modalities, st.num_series, st.num_instances, st.attributes, st.updated_at
FROM study st
JOIN patient p ON p.pk = st.patient_pk` + w.String() + `
ORDER BY st.study_date DESC, st.study_time DESC, st.uid` + s.page(w, q)
	rows, err := s.read.QueryContext(ctx, s.rebind(query), w.args...)
	if err != nil {
		return nil, fmt.Errorf("find studies: %w", err)
	}
	defer rows.Close()
	var out []*radmark.Study
	for rows.Next() {
		var st radmark.Study
		var modalities string
		p := &st.Patient
		if err := rows.Scan((*string)(&st.UID), &p.ID, &p.Issuer, &p.Name, &p.BirthDate, &p.Sex, &st.Date,
			&st.Time, &st.AccessionNumber, &st.StudyID, &st.Description, &st.ReferringPhysicianName,
			&modalities, &st.NumSeries, &st.NumInstances, &st.Attributes, &st.UpdatedAt); err != nil {
			return nil, fmt.Errorf("find studies: %w", err)
		}
		if modalities != "" {
			st.ModalitiesInStudy = strings.Split(modalities, `\`)
		}
		st.UpdatedAt = st.UpdatedAt.UTC()
		out = append(out, &st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find studies: %w", err)
	}
	return out, nil
}

// FindSeries implements radmark.ArchiveStore.FindSeries: series ordered by
// SeriesNumber (absent last), then UID.
func (s *Store) FindSeries(ctx context.Context, q radmark.Query) ([]*radmark.Series, error) {
	w, err := s.build(q, radmark.SeriesLevel)
	if err != nil {
		return nil, err
	}
	query := `SELECT se.uid, st.uid, se.modality, se.series_number, se.series_description,
	se.body_part_examined, se.performed_start_date, se.performed_start_time, se.num_instances,
	se.attributes, se.updated_at
FROM series se
JOIN study st ON st.pk = se.study_pk`
	if w.needPatient {
		query += "\nJOIN patient p ON p.pk = st.patient_pk"
	}
	query += w.String() + "\nORDER BY se.series_number ASC NULLS LAST, se.uid" + s.page(w, q)
	rows, err := s.read.QueryContext(ctx, s.rebind(query), w.args...)
	if err != nil {
		return nil, fmt.Errorf("find series: %w", err)
	}
	defer rows.Close()
	var out []*radmark.Series
	for rows.Next() {
		var se radmark.Series
		var number sql.NullInt64
		if err := rows.Scan((*string)(&se.UID), (*string)(&se.StudyUID), &se.Modality, &number, &se.Description,
			&se.BodyPartExamined, &se.PerformedStartDate, &se.PerformedStartTime, &se.NumInstances,
			&se.Attributes, &se.UpdatedAt); err != nil {
			return nil, fmt.Errorf("find series: %w", err)
		}
		se.Number = intPtr(number)
		se.UpdatedAt = se.UpdatedAt.UTC()
		out = append(out, &se)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find series: %w", err)
	}
	return out, nil
}

// FindInstances implements radmark.ArchiveStore.FindInstances: instances
// ordered by InstanceNumber (absent last), then SOP Instance UID.
func (s *Store) FindInstances(ctx context.Context, q radmark.Query) ([]*radmark.Instance, error) {
	w, err := s.build(q, radmark.InstanceLevel)
	if err != nil {
		return nil, err
	}
	query := instanceSelect
	if w.needPatient {
		query += "\nJOIN patient p ON p.pk = st.patient_pk"
	}
	query += w.String() + "\nORDER BY i.instance_number ASC NULLS LAST, i.sop_uid" + s.page(w, q)
	rows, err := s.read.QueryContext(ctx, s.rebind(query), w.args...)
	if err != nil {
		return nil, fmt.Errorf("find instances: %w", err)
	}
	defer rows.Close()
	var out []*radmark.Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, fmt.Errorf("find instances: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find instances: %w", err)
	}
	return out, nil
}
