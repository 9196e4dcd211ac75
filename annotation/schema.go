package annotation

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/radmark/radmark"
)

var (
	labelIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	colorPattern   = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
)

// invalid builds the EINVALID error for a schema or content problem.
func invalid(format string, args ...any) error {
	return radmark.Errorf(radmark.EINVALID, format, args...)
}

func checkCode(what string, c radmark.Code, required bool) error {
	if c.IsZero() {
		if required {
			return invalid("%s: a code is required (value, scheme and meaning)", what)
		}
		return nil
	}
	switch {
	case strings.TrimSpace(c.Value) == "":
		return invalid("%s: code value is empty", what)
	case strings.TrimSpace(c.Scheme) == "":
		return invalid("%s: coding scheme designator is empty (SCT, RADLEX, DCM, I10...)", what)
	case strings.TrimSpace(c.Meaning) == "":
		return invalid("%s: code meaning is empty", what)
	case len(c.Value) > 64 || len(c.Scheme) > 16 || len(c.Meaning) > 64:
		return invalid("%s: code %q (%s) is longer than DICOM allows (value 64, scheme 16, meaning 64 characters)", what, c.Value, c.Scheme)
	}
	return nil
}

// ValidateSchema checks labels and questions: unique ids, codes complete,
// colours, kinds, question types and options.
func ValidateSchema(labels []radmark.Label, questions []radmark.Question) error {
	seen := map[string]bool{}
	for i, l := range labels {
		what := fmt.Sprintf("label %d (%q)", i+1, l.ID)
		switch {
		case !labelIDPattern.MatchString(l.ID):
			return invalid("%s: id must be 1-64 lower-case letters, digits, '.', '_' or '-'", what)
		case seen[l.ID]:
			return invalid("%s: id is used twice", what)
		case strings.TrimSpace(l.Name) == "":
			return invalid("%s: name is empty", what)
		case !colorPattern.MatchString(l.Color):
			return invalid("%s: color %q is not #rrggbb", what, l.Color)
		case len(l.Kinds) == 0:
			return invalid("%s: allows no annotation kind", what)
		}
		seen[l.ID] = true
		if err := checkCode(what+" category", l.Category, true); err != nil {
			return err
		}
		if err := checkCode(what+" type", l.Type, true); err != nil {
			return err
		}
		optional := []struct {
			name string
			code *radmark.Code
		}{{"type modifier", l.TypeModifier}, {"anatomic region", l.AnatomicRegion}, {"anatomic region modifier", l.AnatomicRegionModifier}}
		for _, o := range optional {
			if o.code != nil {
				if err := checkCode(what+" "+o.name, *o.code, true); err != nil {
					return err
				}
			}
		}
		for _, k := range l.Kinds {
			if !slices.Contains(radmark.Kinds, k) {
				return invalid("%s: unknown annotation kind %q", what, k)
			}
		}
	}
	qseen := map[string]bool{}
	for i, q := range questions {
		what := fmt.Sprintf("question %d (%q)", i+1, q.ID)
		switch {
		case !labelIDPattern.MatchString(q.ID):
			return invalid("%s: id must be 1-64 lower-case letters, digits, '.', '_' or '-'", what)
		case qseen[q.ID]:
			return invalid("%s: id is used twice", what)
		case strings.TrimSpace(q.Text) == "":
			return invalid("%s: text is empty", what)
		}
		qseen[q.ID] = true
		switch q.Level {
		case radmark.LevelStudy, radmark.LevelSeries, radmark.LevelImage, radmark.LevelAnnotation:
		default:
			return invalid("%s: level %q is not study, series, image or annotation", what, q.Level)
		}
		switch q.Type {
		case radmark.QuestionSingle, radmark.QuestionMultiple:
			if len(q.Options) < 1 {
				return invalid("%s: a choice question needs options", what)
			}
			vals := map[string]bool{}
			for _, o := range q.Options {
				if o.Value == "" || vals[o.Value] {
					return invalid("%s: option values must be non-empty and unique (%q)", what, o.Value)
				}
				vals[o.Value] = true
				if o.Code != nil {
					if err := checkCode(what+" option "+o.Value, *o.Code, true); err != nil {
						return err
					}
				}
			}
		case radmark.QuestionNumber:
			if q.Min != nil && q.Max != nil && *q.Min > *q.Max {
				return invalid("%s: min %g is above max %g", what, *q.Min, *q.Max)
			}
		case radmark.QuestionText:
		default:
			return invalid("%s: type %q is not single, multiple, number or text", what, q.Type)
		}
		if q.Type != radmark.QuestionSingle && q.Type != radmark.QuestionMultiple && len(q.Options) > 0 {
			return invalid("%s: only choice questions have options", what)
		}
		for _, l := range q.Labels {
			if !seen[l] {
				return invalid("%s: refers to label %q, which the schema does not define", what, l)
			}
		}
		if len(q.Labels) > 0 && q.Level != radmark.LevelAnnotation {
			return invalid("%s: only annotation-level questions name labels", what)
		}
	}
	return nil
}

// SchemaHash is the sha256 of the schema's labels and questions as
// canonical JSON.
func SchemaHash(labels []radmark.Label, questions []radmark.Question) string {
	return hashJSON(struct {
		Labels    []radmark.Label    `json:"labels"`
		Questions []radmark.Question `json:"questions"`
	}{labels, questions})
}

// hashJSON hashes v's JSON encoding, which encoding/json makes canonical
// for structs (fixed field order) and maps (sorted keys).
func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("annotation: hash of unencodable value: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ContentHash is the sha256 of a revision's content as canonical JSON.
func ContentHash(c *radmark.Content) string { return hashJSON(c) }
