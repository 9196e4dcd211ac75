package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
)

// Search is a parsed QIDO-RS request.
type Search struct {
	Query radmark.Query
	// IncludeAll is includefield=all; Include lists other requested tags.
	IncludeAll bool
	Include    map[dicom.Tag]bool
	// Warnings list what was ignored (PS3.18 says to report it in a
	// Warning header rather than fail).
	Warnings []string
	// DefaultLimit is set when the client gave no limit and DefaultLimit
	// applies.
	DefaultLimit bool
}

// DefaultLimit caps results when the client gives no limit.
const DefaultLimit = 1000

// ParseSearch turns QIDO-RS query parameters into a Search at the given
// level. studyUID and seriesUID come from the request path.
func ParseSearch(level radmark.Level, studyUID, seriesUID radmark.UID, params url.Values) (*Search, error) {
	s := &Search{Query: radmark.Query{Level: level, StudyUID: studyUID, SeriesUID: seriesUID, Limit: DefaultLimit}, Include: map[dicom.Tag]bool{}, DefaultLimit: true}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, name := range keys {
		for _, value := range params[name] {
			if err := s.param(name, value); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func (s *Search) param(name, value string) error {
	switch strings.ToLower(name) {
	case "limit":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return radmark.Errorf(radmark.EINVALID, "limit %q is not a non-negative integer", value)
		}
		if n > 0 {
			s.Query.Limit = n
			s.DefaultLimit = false
		}
		return nil
	case "offset":
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 {
			return radmark.Errorf(radmark.EINVALID, "offset %q is not a non-negative integer", value)
		}
		s.Query.Offset = n
		return nil
	case "includefield":
		for _, f := range strings.Split(value, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if strings.EqualFold(f, "all") {
				s.IncludeAll = true
				continue
			}
			t, err := attributeTag(f)
			if err != nil {
				return err
			}
			s.Include[t] = true
		}
		return nil
	case "fuzzymatching":
		if value == "true" {
			s.Warnings = append(s.Warnings, "fuzzymatching is not supported; exact and wildcard matching were used")
		}
		return nil
	case "emptyvalue", "_", "charset", "accept":
		return nil
	}
	t, err := attributeTag(name)
	if err != nil {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the parameter %s is not supported and was ignored", name))
		return nil
	}
	if value == "" || value == "*" {
		return nil // universal matching
	}
	key := radmark.Key(t.Keyword())
	lvl := radmark.KeyLevel(key)
	if lvl == 0 {
		s.Warnings = append(s.Warnings, fmt.Sprintf("matching on %s is not supported; it was ignored", name))
		return nil
	}
	if lvl > s.Query.Level {
		return radmark.Errorf(radmark.EINVALID, "%s is an attribute of a lower level than the %s level searched", name, s.Query.Level)
	}
	f, err := filterFor(key, value)
	if err != nil {
		return err
	}
	s.Query.Filters = append(s.Query.Filters, f)
	return nil
}

// attributeTag resolves a QIDO attribute given as a keyword or as GGGGEEEE.
func attributeTag(name string) (dicom.Tag, error) {
	if t, ok := dicom.TagForKeyword(name); ok {
		return t, nil
	}
	if len(name) == 8 {
		if t, err := dicom.ParseTag(name); err == nil {
			return t, nil
		}
	}
	return 0, radmark.Errorf(radmark.EINVALID, "%q is neither a DICOM keyword nor a tag", name)
}

// filterFor builds the matching for one key from its QIDO value
// (PS3.18 8.3.4, PS3.4 C.2.2.2).
func filterFor(key radmark.Key, value string) (radmark.Filter, error) {
	switch key {
	case radmark.KeyStudyInstanceUID, radmark.KeySeriesInstanceUID, radmark.KeySOPInstanceUID, radmark.KeySOPClassUID:
		uids := splitList(value)
		for _, u := range uids {
			if !plausibleUID(u) {
				return radmark.Filter{}, radmark.Errorf(radmark.EINVALID, "%s value %q is not a UID", key, u)
			}
		}
		return listOrSingle(key, uids), nil
	case radmark.KeyModalitiesInStudy, radmark.KeyModality:
		return listOrSingle(key, splitList(value)), nil
	case radmark.KeyStudyDate, radmark.KeyPatientBirthDate, radmark.KeyPerformedProcedureStepStartDate:
		return rangeFilter(key, value, normaliseDate)
	case radmark.KeyStudyTime, radmark.KeyPerformedProcedureStepStartTime:
		return rangeFilter(key, value, normaliseTime)
	case radmark.KeySeriesNumber, radmark.KeyInstanceNumber:
		if lo, hi, ok := strings.Cut(value, "-"); ok && lo != "" {
			for _, n := range []string{lo, hi} {
				if _, err := strconv.Atoi(n); err != nil && n != "" {
					return radmark.Filter{}, radmark.Errorf(radmark.EINVALID, "%s range %q is not numeric", key, value)
				}
			}
			return radmark.Filter{Key: key, Kind: radmark.MatchRange, Lo: lo, Hi: hi}, nil
		}
		vals := splitList(value)
		for _, v := range vals {
			if _, err := strconv.Atoi(v); err != nil {
				return radmark.Filter{}, radmark.Errorf(radmark.EINVALID, "%s value %q is not an integer", key, v)
			}
		}
		return listOrSingle(key, vals), nil
	}
	if strings.ContainsAny(value, "*?") {
		return radmark.Filter{Key: key, Kind: radmark.MatchWildcard, Values: []string{value}}, nil
	}
	return radmark.Filter{Key: key, Kind: radmark.MatchSingle, Values: []string{value}}, nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\\' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func listOrSingle(key radmark.Key, vals []string) radmark.Filter {
	if len(vals) == 1 {
		return radmark.Filter{Key: key, Kind: radmark.MatchSingle, Values: vals}
	}
	return radmark.Filter{Key: key, Kind: radmark.MatchList, Values: vals}
}

func rangeFilter(key radmark.Key, value string, norm func(string) (string, bool)) (radmark.Filter, error) {
	lo, hi, isRange := cutRange(value)
	if !isRange {
		v, ok := norm(value)
		if !ok {
			return radmark.Filter{}, radmark.Errorf(radmark.EINVALID, "%s value %q is not valid", key, value)
		}
		return radmark.Filter{Key: key, Kind: radmark.MatchSingle, Values: []string{v}}, nil
	}
	f := radmark.Filter{Key: key, Kind: radmark.MatchRange}
	var ok bool
	if lo != "" {
		if f.Lo, ok = norm(lo); !ok {
			return f, radmark.Errorf(radmark.EINVALID, "%s range start %q is not valid", key, lo)
		}
	}
	if hi != "" {
		if f.Hi, ok = norm(hi); !ok {
			return f, radmark.Errorf(radmark.EINVALID, "%s range end %q is not valid", key, hi)
		}
		if len(hi) < 6 && (key == radmark.KeyStudyTime || key == radmark.KeyPerformedProcedureStepStartTime) {
			// "-1030" includes everything up to 10:30:59.999999.
			f.Hi += strings.Repeat("9", 6-len(f.Hi)) + ".999999"
		}
	}
	if f.Lo != "" && f.Hi != "" && f.Lo > f.Hi {
		return f, radmark.Errorf(radmark.EINVALID, "%s range %q ends before it starts", key, value)
	}
	return f, nil
}

// cutRange splits "A-B", "-B" and "A-" (a date written YYYY-MM-DD is not
// a range).
func cutRange(v string) (lo, hi string, ok bool) {
	if len(v) == 10 && v[4] == '-' && v[7] == '-' {
		return "", "", false
	}
	i := strings.Index(v, "-")
	if i < 0 {
		return "", "", false
	}
	return strings.TrimSpace(v[:i]), strings.TrimSpace(v[i+1:]), true
}

func normaliseDate(s string) (string, bool) {
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		s = s[:4] + s[5:7] + s[8:]
	}
	if len(s) == 10 && s[4] == '.' && s[7] == '.' {
		s = s[:4] + s[5:7] + s[8:]
	}
	if len(s) != 8 {
		return "", false
	}
	for i := 0; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	m, _ := strconv.Atoi(s[4:6])
	d, _ := strconv.Atoi(s[6:8])
	return s, m >= 1 && m <= 12 && d >= 1 && d <= 31
}

func normaliseTime(s string) (string, bool) {
	s = strings.ReplaceAll(s, ":", "")
	if len(s) < 2 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && !(s[i] == '.' && i >= 6) {
			return "", false
		}
	}
	return s, true
}

// SearchResult is one QIDO-RS result, a DICOM JSON object.
type SearchResult = []byte

// URLs builds the URLs results refer to (RetrieveURL, BulkDataURI).
type URLs struct {
	// Base is the absolute DICOMweb root, e.g. http://host/dicomweb.
	Base string
}

func (u URLs) Study(study radmark.UID) string { return u.Base + "/studies/" + string(study) }
func (u URLs) Series(study, series radmark.UID) string {
	return u.Study(study) + "/series/" + string(series)
}
func (u URLs) Instance(study, series, sop radmark.UID) string {
	return u.Series(study, series) + "/instances/" + string(sop)
}

// SearchStudies answers a study-level search.
func (s *Service) SearchStudies(ctx context.Context, q *Search, urls URLs) ([]SearchResult, error) {
	studies, err := s.Store.FindStudies(ctx, q.Query)
	if err != nil {
		return nil, err
	}
	out := make([]SearchResult, 0, len(studies))
	for _, st := range studies {
		obj, err := decodeObject(st.Attributes)
		if err != nil {
			return nil, err
		}
		if !q.IncludeAll {
			obj = keepTags(obj, studyLevelTags, q.Include)
		}
		setStrings(obj, dicom.TagModalitiesInStudy, "CS", st.ModalitiesInStudy...)
		setInt(obj, dicom.TagNumberOfStudyRelatedSeries, "IS", st.NumSeries)
		setInt(obj, dicom.TagNumberOfStudyRelatedInstances, "IS", st.NumInstances)
		setStrings(obj, dicom.TagRetrieveURL, "UR", urls.Study(st.UID))
		setStrings(obj, dicom.TagInstanceAvailability, "CS", "ONLINE")
		out = append(out, encodeObject(obj))
	}
	return out, nil
}

// SearchSeries answers a series-level search.
func (s *Service) SearchSeries(ctx context.Context, q *Search, urls URLs) ([]SearchResult, error) {
	series, err := s.Store.FindSeries(ctx, q.Query)
	if err != nil {
		return nil, err
	}
	out := make([]SearchResult, 0, len(series))
	studyAttrs := map[radmark.UID]map[string]json.RawMessage{}
	for _, se := range series {
		obj, err := decodeObject(se.Attributes)
		if err != nil {
			return nil, err
		}
		if !q.IncludeAll {
			obj = keepTags(obj, seriesLevelTags, q.Include)
		}
		// Study attributes asked for by includefield, and the study UID
		// that ties a series to its study.
		if q.IncludeAll || len(q.Include) > 0 {
			sa, ok := studyAttrs[se.StudyUID]
			if !ok {
				if studies, err := s.Store.FindStudies(ctx, radmark.Query{Level: radmark.StudyLevel, StudyUID: se.StudyUID, Limit: 1}); err == nil && len(studies) == 1 {
					sa, _ = decodeObject(studies[0].Attributes)
				}
				studyAttrs[se.StudyUID] = sa
			}
			for k, v := range sa {
				if t, err := dicom.ParseTag(k); err == nil && (q.IncludeAll || q.Include[t]) {
					if _, exists := obj[k]; !exists {
						obj[k] = v
					}
				}
			}
		}
		setStrings(obj, dicom.TagStudyInstanceUID, "UI", string(se.StudyUID))
		setInt(obj, dicom.TagNumberOfSeriesRelatedInstances, "IS", se.NumInstances)
		setStrings(obj, dicom.TagRetrieveURL, "UR", urls.Series(se.StudyUID, se.UID))
		setStrings(obj, dicom.TagInstanceAvailability, "CS", "ONLINE")
		out = append(out, encodeObject(obj))
	}
	return out, nil
}

// SearchInstances answers an instance-level search.
func (s *Service) SearchInstances(ctx context.Context, q *Search, urls URLs) ([]SearchResult, error) {
	instances, err := s.Store.FindInstances(ctx, q.Query)
	if err != nil {
		return nil, err
	}
	out := make([]SearchResult, 0, len(instances))
	for _, in := range instances {
		raw, err := DecodeMetadata(in.Metadata, urls.Instance(in.StudyUID, in.SeriesUID, in.SOPInstanceUID)+"/bulkdata/")
		if err != nil {
			return nil, err
		}
		obj, err := decodeObject(raw)
		if err != nil {
			return nil, err
		}
		if !q.IncludeAll {
			obj = keepTags(obj, instanceQIDOTags, q.Include)
		}
		setStrings(obj, dicom.TagRetrieveURL, "UR", urls.Instance(in.StudyUID, in.SeriesUID, in.SOPInstanceUID))
		setStrings(obj, dicom.TagInstanceAvailability, "CS", "ONLINE")
		out = append(out, encodeObject(obj))
	}
	return out, nil
}

func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if len(b) == 0 {
		return obj, nil
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("stored attributes: %w", err)
	}
	return obj, nil
}

func keepTags(obj map[string]json.RawMessage, base, extra map[dicom.Tag]bool) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(obj))
	for k, v := range obj {
		t, err := dicom.ParseTag(k)
		if err == nil && (base[t] || extra[t]) {
			out[k] = v
		}
	}
	return out
}

func setStrings(obj map[string]json.RawMessage, t dicom.Tag, vr string, values ...string) {
	if len(values) == 0 {
		// Left out rather than sent empty: OHIF 3 reads Value of
		// ModalitiesInStudy without checking it is there.
		delete(obj, t.Hex())
		return
	}
	el := map[string]any{"vr": vr, "Value": values}
	b, _ := json.Marshal(el)
	obj[t.Hex()] = b
}

func setInt(obj map[string]json.RawMessage, t dicom.Tag, vr string, v int) {
	obj[t.Hex()] = json.RawMessage(`{"vr":"` + vr + `","Value":[` + strconv.Itoa(v) + `]}`)
}

// encodeObject writes a DICOM JSON object with its attributes in tag order.
func encodeObject(obj map[string]json.RawMessage) json.RawMessage {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('"')
		buf.WriteString(k)
		buf.WriteString(`":`)
		buf.Write(obj[k])
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
