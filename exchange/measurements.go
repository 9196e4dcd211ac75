package exchange

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
)

// MeasurementRow is one measured quantity of one item, or one answer
// to a classification question, of a set's head revision. Values are the
// server's (annotation.Service.Measurements), units UCUM.
type MeasurementRow struct {
	Study    radmark.UID `json:"studyUID"`
	Series   radmark.UID `json:"seriesUID,omitempty"`
	Set      radmark.ID  `json:"setId"`
	Reader   string      `json:"reader"`
	Revision radmark.ID  `json:"revisionId"`
	Item     string      `json:"item,omitempty"`
	Kind     string      `json:"kind,omitempty"`
	Label    string      `json:"label,omitempty"`
	Code     string      `json:"code,omitempty"` // the label's type, SCHEME:VALUE
	Image    radmark.UID `json:"sopInstanceUID,omitempty"`
	Question string      `json:"question,omitempty"`
	// Quantity names what Value is: length, angle, longAxis, shortAxis,
	// width, height, depth, area, volume, value, mean, sd, min, max,
	// count, x, y, z (a landmark's or centroid's LPS mm), or answer.
	Quantity string `json:"quantity"`
	Value    string `json:"value"`
	// Number is Value when it is a number.
	Number *float64 `json:"number,omitempty"`
	Unit   string   `json:"unit,omitempty"`
}

// MeasurementColumns are the CSV header, in order.
var MeasurementColumns = []string{"study_uid", "series_uid", "set_id", "reader", "revision_id", "item", "kind", "label", "code", "sop_instance_uid", "question", "quantity", "value", "unit"}

func (r *MeasurementRow) fields() []string {
	return []string{string(r.Study), string(r.Series), string(r.Set), r.Reader, string(r.Revision), r.Item, r.Kind, r.Label, r.Code, string(r.Image), r.Question, r.Quantity, r.Value, r.Unit}
}

// Measurements tabulates the measurements and classification answers of
// the head revision of every annotation set of a project, in a stable
// order (study, series, reader, set; items and answers in revision order).
func (s *Service) Measurements(ctx context.Context, op annotation.Op, project radmark.ID) ([]MeasurementRow, error) {
	_, _, sets, err := s.projectSets(ctx, project)
	if err != nil {
		return nil, err
	}
	rows := []MeasurementRow{}
	for _, set := range sets {
		if set.Head == "" {
			continue
		}
		more, err := s.RevisionMeasurements(ctx, op, set, set.Head)
		if err != nil {
			return nil, err
		}
		rows = append(rows, more...)
	}
	return rows, nil
}

// RevisionMeasurements tabulates one revision of a set (its items in
// order, then its answers), as Measurements does for head revisions.
func (s *Service) RevisionMeasurements(ctx context.Context, op annotation.Op, set *radmark.AnnotationSet, rev radmark.ID) ([]MeasurementRow, error) {
	var rows []MeasurementRow
	r, err := s.revision(ctx, op, rev)
	if err != nil {
		return nil, err
	}
	if r.rev.SetID != set.ID {
		return nil, radmark.Errorf(radmark.EINVALID, "revision %s is not of annotation set %s", rev, set.ID)
	}
	ms, err := s.Annotations.Measurements(ctx, op, rev)
	if err != nil {
		return nil, fmt.Errorf("revision %s: %w", rev, err)
	}
	base := MeasurementRow{Study: set.StudyUID, Series: set.SeriesUID, Set: set.ID, Reader: set.Reader, Revision: rev}
	items := map[string]*radmark.Item{}
	for i := range r.rev.Content.Items {
		items[r.rev.Content.Items[i].ID] = &r.rev.Content.Items[i]
	}
	for _, m := range ms {
		row := base
		row.Item, row.Kind, row.Label = m.Item, string(m.Kind), m.Label
		if l, ok := labelOf(r.schema, m.Label); ok {
			row.Code = codeString(l.Type)
		}
		if it := items[m.Item]; it != nil && it.Image != nil {
			row.Image = it.Image.SOPInstanceUID
		}
		rows = append(rows, quantityRows(row, &m)...)
	}
	for _, a := range r.rev.Content.Answers {
		row := base
		row.Question, row.Quantity, row.Item = a.Question, "answer", a.Item
		if a.SeriesUID != "" {
			row.Series = a.SeriesUID
		}
		if a.Image != nil {
			row.Image = a.Image.SOPInstanceUID
		}
		var q *radmark.Question
		for i := range r.schema.Questions {
			if r.schema.Questions[i].ID == a.Question {
				q = &r.schema.Questions[i]
			}
		}
		switch {
		case len(a.Choices) > 0:
			row.Value = strings.Join(a.Choices, ";")
		case a.Number != nil:
			row.Value, row.Number = formatNumber(*a.Number), a.Number
			if q != nil && q.Unit != nil {
				row.Unit = q.Unit.Value
			}
		default:
			row.Value = a.Text
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// projectSets loads a project, its current schema and its annotation
// sets in a stable order (study, series, reader, id).
func (s *Service) projectSets(ctx context.Context, project radmark.ID) (*radmark.Project, *radmark.LabelSchema, []*radmark.AnnotationSet, error) {
	p, err := s.Annotations.Project(ctx, project)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("project %s: %w", project, err)
	}
	schema, err := s.Annotations.Schema(ctx, project, 0)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("project %s: %w", project, err)
	}
	sets, err := s.Annotations.Sets(ctx, radmark.SetFilter{ProjectID: project})
	if err != nil {
		return nil, nil, nil, err
	}
	sortSets(sets)
	return p, schema, sets, nil
}

func sortSets(sets []*radmark.AnnotationSet) {
	sort.Slice(sets, func(a, b int) bool {
		x, y := sets[a], sets[b]
		if x.StudyUID != y.StudyUID {
			return x.StudyUID < y.StudyUID
		}
		if x.SeriesUID != y.SeriesUID {
			return x.SeriesUID < y.SeriesUID
		}
		if x.Reader != y.Reader {
			return x.Reader < y.Reader
		}
		return x.ID < y.ID
	})
}

func codeString(c radmark.Code) string {
	if c.Value == "" {
		return ""
	}
	return c.Scheme + ":" + c.Value
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// quantityRows spreads one item's measurement over rows.
func quantityRows(base MeasurementRow, m *annotation.Measurement) []MeasurementRow {
	var out []MeasurementRow
	add := func(name string, v float64, unit string) {
		r := base
		r.Quantity, r.Value, r.Number, r.Unit = name, formatNumber(v), &v, unit
		out = append(out, r)
	}
	for _, q := range []struct {
		name string
		q    *annotation.Quantity
	}{{"length", m.Length}, {"angle", m.Angle}, {"longAxis", m.LongAxis}, {"shortAxis", m.ShortAxis},
		{"width", m.Width}, {"height", m.Height}, {"depth", m.Depth}, {"area", m.Area}, {"volume", m.Volume}, {"value", m.Value}} {
		if q.q != nil {
			add(q.name, q.q.Value, q.q.Unit)
		}
	}
	if m.Position != nil {
		add("x", m.Position[0], "mm")
		add("y", m.Position[1], "mm")
		add("z", m.Position[2], "mm")
	}
	if st := m.Stats; st != nil {
		add("count", float64(st.Count), "{pixels}")
		add("mean", st.Mean, st.Unit)
		add("sd", st.SD, st.Unit)
		add("min", st.Min, st.Unit)
		add("max", st.Max, st.Unit)
	}
	return out
}

// WriteMeasurementsCSV writes rows as CSV with a header (RFC 4180).
func WriteMeasurementsCSV(w io.Writer, rows []MeasurementRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(MeasurementColumns); err != nil {
		return err
	}
	for i := range rows {
		if err := cw.Write(rows[i].fields()); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteMeasurementsJSON writes rows as a JSON array.
func WriteMeasurementsJSON(w io.Writer, rows []MeasurementRow) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}
