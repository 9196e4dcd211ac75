package annotation

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/radmark/radmark"
)

// Limits on one revision, so a request cannot make the server hold or
// store without bound.
const (
	maxItems    = 100000
	maxPoints   = 100000
	maxLayers   = 16
	maxTextLen  = 10000
	maxIDLength = 64
)

// pointsByKind is how many points each kind takes: exact, or a minimum
// when atLeast is set.
var pointsByKind = map[radmark.Kind]struct {
	n       int
	atLeast bool
}{
	radmark.KindBox2D:         {2, false},
	radmark.KindEllipseROI:    {2, false},
	radmark.KindRectangleROI:  {2, false},
	radmark.KindContour:       {2, true},
	radmark.KindLength:        {2, false},
	radmark.KindAngle:         {3, false},
	radmark.KindBidirectional: {4, false},
}

func finite(vals ...float64) bool {
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// ValidateContent checks a revision's content against its schema: every
// item is well formed for its kind and carries a label the schema allows
// with that kind; answers answer the schema's questions with values of the
// right type; segment references point into the labelmaps. Geometry is
// checked separately (CheckGeometry). With submit, required questions must
// be answered too.
func ValidateContent(c *radmark.Content, schema *radmark.LabelSchema, submit bool) error {
	if len(c.Items) > maxItems {
		return invalid("%d items exceed the limit of %d per revision", len(c.Items), maxItems)
	}
	if c.SchemaVersion != schema.Version {
		return invalid("content says schema version %d, validated against version %d", c.SchemaVersion, schema.Version)
	}
	layers := map[int]bool{}
	for i, lm := range c.Labelmaps {
		switch {
		case lm.Layer < 0 || lm.Layer >= maxLayers:
			return invalid("labelmap %d: layer %d is outside 0..%d", i+1, lm.Layer, maxLayers-1)
		case layers[lm.Layer]:
			return invalid("labelmap %d: layer %d appears twice", i+1, lm.Layer)
		case lm.Columns <= 0 || lm.Rows <= 0 || lm.Slices <= 0 || len(lm.Chunks) != lm.Slices:
			return invalid("labelmap layer %d: grid %dx%dx%d with %d chunks is not a volume", lm.Layer, lm.Columns, lm.Rows, lm.Slices, len(lm.Chunks))
		}
		layers[lm.Layer] = true
	}
	ids := map[string]*radmark.Item{}
	segments := map[radmark.SegmentRef]string{}
	for i := range c.Items {
		it := &c.Items[i]
		what := fmt.Sprintf("item %d (%q)", i+1, it.ID)
		if it.ID == "" || len(it.ID) > maxIDLength {
			return invalid("%s: id must be 1-%d characters", what, maxIDLength)
		}
		if ids[it.ID] != nil {
			return invalid("%s: id is used twice", what)
		}
		ids[it.ID] = it
		if err := validateItem(it, schema, layers); err != nil {
			return invalid("%s: %v", what, radmark.ErrorMessage(err))
		}
		if it.Segment != nil {
			if other, dup := segments[*it.Segment]; dup {
				return invalid("%s: layer %d value %d already belongs to item %q", what, it.Segment.Layer, it.Segment.Value, other)
			}
			segments[*it.Segment] = it.ID
		}
	}
	answered := map[string]bool{}
	for i := range c.Answers {
		a := &c.Answers[i]
		q, ok := schema.Question(a.Question)
		what := fmt.Sprintf("answer %d (question %q)", i+1, a.Question)
		if !ok {
			return invalid("%s: the schema has no such question", what)
		}
		key, err := answerTarget(a, q, ids)
		if err != nil {
			return invalid("%s: %v", what, radmark.ErrorMessage(err))
		}
		if answered[key] {
			return invalid("%s: answered twice for the same target", what)
		}
		answered[key] = true
		if err := checkAnswerValue(a, q); err != nil {
			return invalid("%s: %v", what, radmark.ErrorMessage(err))
		}
	}
	if submit {
		return checkRequired(c, schema, answered)
	}
	return nil
}

func validateItem(it *radmark.Item, schema *radmark.LabelSchema, layers map[int]bool) error {
	if !slices.Contains(radmark.Kinds, it.Kind) {
		return invalid("unknown kind %q", it.Kind)
	}
	label, ok := schema.Label(it.Label)
	if !ok {
		return invalid("label %q is not in schema version %d", it.Label, schema.Version)
	}
	if !slices.Contains(label.Kinds, it.Kind) {
		return invalid("label %q does not allow %s annotations (it allows %v)", it.Label, it.Kind, label.Kinds)
	}
	switch it.Source.Type {
	case "human":
	case "model":
		if it.Source.Name == "" || it.Source.Version == "" {
			return invalid("a model source needs the model's name and version")
		}
	default:
		return invalid("source type %q is not human or model", it.Source.Type)
	}
	if it.Confidence != nil && (!finite(*it.Confidence) || *it.Confidence < 0 || *it.Confidence > 1) {
		return invalid("confidence %v is outside 0..1", *it.Confidence)
	}
	if len(it.Note) > maxTextLen {
		return invalid("note longer than %d characters", maxTextLen)
	}
	if len(it.Points) > maxPoints || len(it.LPS) > maxPoints {
		return invalid("more than %d points", maxPoints)
	}
	for _, p := range it.Points {
		if !finite(p[0], p[1]) {
			return invalid("a point is not a finite number")
		}
	}
	for _, p := range it.LPS {
		if !finite(p[0], p[1], p[2]) {
			return invalid("a patient point is not a finite number")
		}
	}
	switch it.Kind {
	case radmark.KindSegmentation:
		switch {
		case it.Segment == nil:
			return invalid("a segmentation needs its segment (layer and value)")
		case it.Segment.Value < 1 || it.Segment.Value > 255:
			return invalid("segment value %d is outside 1..255", it.Segment.Value)
		case !layers[it.Segment.Layer]:
			return invalid("segment layer %d has no labelmap", it.Segment.Layer)
		case it.Image != nil || len(it.Points) > 0 || len(it.LPS) > 0:
			return invalid("a segmentation has voxels, not points")
		}
		return nil
	case radmark.KindClassification:
		if it.Image != nil || len(it.Points) > 0 || len(it.LPS) > 0 || it.Segment != nil {
			return invalid("a classification item has no geometry; its answers carry the values")
		}
		return nil
	case radmark.KindLandmark:
		if len(it.LPS) != 1 || it.Image == nil || len(it.Points) != 0 {
			return invalid("a landmark is one patient (LPS) point with the image it was placed on")
		}
		return nil
	case radmark.KindBox3D:
		if len(it.LPS) != 2 || it.Image != nil || len(it.Points) != 0 {
			return invalid("a 3D box is two opposite patient (LPS) corners")
		}
		a, b := it.LPS[0], it.LPS[1]
		if a[0] == b[0] || a[1] == b[1] || a[2] == b[2] {
			return invalid("a 3D box needs an extent in all three axes")
		}
		return nil
	}
	if it.Segment != nil {
		return invalid("only segmentations have a segment")
	}
	want := pointsByKind[it.Kind]
	n := len(it.Points)
	twoD := n > 0
	if !twoD {
		n = len(it.LPS)
		if it.Kind != radmark.KindLength && it.Kind != radmark.KindAngle && it.Kind != radmark.KindBidirectional {
			return invalid("a %s is drawn on an image: give image and points", it.Kind)
		}
	}
	if twoD && len(it.LPS) > 0 {
		return invalid("give image points or patient points, not both")
	}
	if twoD && it.Image == nil {
		return invalid("image points need the image they are on")
	}
	if !twoD && it.Image != nil && it.Kind != radmark.KindLength && it.Kind != radmark.KindAngle && it.Kind != radmark.KindBidirectional {
		return invalid("patient points need no image")
	}
	if want.atLeast {
		min := want.n
		if it.Closed {
			min = 3
		}
		if n < min {
			return invalid("a %s needs at least %d points, got %d", map[bool]string{true: "closed contour", false: "polyline"}[it.Closed], min, n)
		}
	} else if n != want.n {
		return invalid("a %s takes %d points, got %d", it.Kind, want.n, n)
	}
	if it.Kind == radmark.KindBox2D || it.Kind == radmark.KindEllipseROI || it.Kind == radmark.KindRectangleROI {
		a, b := it.Points[0], it.Points[1]
		if a[0] == b[0] || a[1] == b[1] {
			return invalid("a %s needs a width and a height", it.Kind)
		}
	}
	return nil
}

// answerTarget returns a key naming what the answer is about, checking the
// target matches the question's level.
func answerTarget(a *radmark.Answer, q radmark.Question, items map[string]*radmark.Item) (string, error) {
	key := a.Question + "|"
	switch q.Level {
	case radmark.LevelStudy:
		if a.SeriesUID != "" || a.Image != nil || a.Item != "" {
			return "", invalid("a study-level answer names no series, image or item")
		}
		return key, nil
	case radmark.LevelSeries:
		if a.SeriesUID == "" || a.Image != nil || a.Item != "" {
			return "", invalid("a series-level answer names its series (seriesUID) only")
		}
		return key + string(a.SeriesUID), nil
	case radmark.LevelImage:
		if a.Image == nil || a.SeriesUID != "" || a.Item != "" {
			return "", invalid("an image-level answer names its image only")
		}
		return fmt.Sprintf("%s%s/%d", key, a.Image.SOPInstanceUID, a.Image.Frame), nil
	case radmark.LevelAnnotation:
		it := items[a.Item]
		if it == nil || a.SeriesUID != "" || a.Image != nil {
			return "", invalid("an annotation-level answer names an item of this revision (item %q is not one)", a.Item)
		}
		if len(q.Labels) > 0 && !slices.Contains(q.Labels, it.Label) {
			return "", invalid("the question is asked of labels %v, and item %q is a %q", q.Labels, a.Item, it.Label)
		}
		return key + "item:" + a.Item, nil
	}
	return "", invalid("question level %q", q.Level)
}

func checkAnswerValue(a *radmark.Answer, q radmark.Question) error {
	switch q.Type {
	case radmark.QuestionSingle, radmark.QuestionMultiple:
		if a.Number != nil || a.Text != "" {
			return invalid("a choice answer gives choices only")
		}
		if len(a.Choices) == 0 || (q.Type == radmark.QuestionSingle && len(a.Choices) != 1) {
			return invalid("a %s-choice question takes %s", q.Type, map[bool]string{true: "exactly one choice", false: "one or more choices"}[q.Type == radmark.QuestionSingle])
		}
		seen := map[string]bool{}
		for _, c := range a.Choices {
			if seen[c] {
				return invalid("choice %q given twice", c)
			}
			seen[c] = true
			if !slices.ContainsFunc(q.Options, func(o radmark.Option) bool { return o.Value == c }) {
				return invalid("%q is not one of the question's options", c)
			}
		}
	case radmark.QuestionNumber:
		if a.Number == nil || len(a.Choices) > 0 || a.Text != "" {
			return invalid("a number question takes a number")
		}
		v := *a.Number
		if !finite(v) || (q.Min != nil && v < *q.Min) || (q.Max != nil && v > *q.Max) {
			return invalid("%v is outside the allowed range%s", v, rangeText(q))
		}
	case radmark.QuestionText:
		if strings.TrimSpace(a.Text) == "" || a.Number != nil || len(a.Choices) > 0 {
			return invalid("a text question takes non-empty text")
		}
		if len(a.Text) > maxTextLen {
			return invalid("text longer than %d characters", maxTextLen)
		}
	}
	return nil
}

func rangeText(q radmark.Question) string {
	switch {
	case q.Min != nil && q.Max != nil:
		return fmt.Sprintf(" %g..%g", *q.Min, *q.Max)
	case q.Min != nil:
		return fmt.Sprintf(" >= %g", *q.Min)
	case q.Max != nil:
		return fmt.Sprintf(" <= %g", *q.Max)
	}
	return ""
}

// checkRequired enforces required questions at submission: a study-level
// question once; a series-level one for every series the content touches
// (at least one answer when it touches none); an image-level one for every
// image an item is drawn on; an annotation-level one for every item of the
// labels it applies to.
func checkRequired(c *radmark.Content, schema *radmark.LabelSchema, answered map[string]bool) error {
	for _, q := range schema.Questions {
		if !q.Required {
			continue
		}
		switch q.Level {
		case radmark.LevelStudy:
			if !answered[q.ID+"|"] {
				return invalid("required question %q (%s) is not answered", q.ID, q.Text)
			}
		case radmark.LevelSeries:
			answeredAny := false
			for k := range answered {
				if strings.HasPrefix(k, q.ID+"|") {
					answeredAny = true
				}
			}
			for _, lm := range c.Labelmaps {
				if !answered[q.ID+"|"+string(lm.SeriesUID)] {
					return invalid("required question %q (%s) is not answered for series %s", q.ID, q.Text, lm.SeriesUID)
				}
			}
			if !answeredAny {
				return invalid("required question %q (%s) is not answered", q.ID, q.Text)
			}
		case radmark.LevelImage:
			for _, it := range c.Items {
				if it.Image != nil && !answered[fmt.Sprintf("%s|%s/%d", q.ID, it.Image.SOPInstanceUID, it.Image.Frame)] {
					return invalid("required question %q (%s) is not answered for image %s (annotated by item %q)", q.ID, q.Text, it.Image.SOPInstanceUID, it.ID)
				}
			}
		case radmark.LevelAnnotation:
			for _, it := range c.Items {
				if (len(q.Labels) == 0 || slices.Contains(q.Labels, it.Label)) && !answered[q.ID+"|item:"+it.ID] {
					return invalid("required question %q (%s) is not answered for item %q", q.ID, q.Text, it.ID)
				}
			}
		}
	}
	return nil
}
