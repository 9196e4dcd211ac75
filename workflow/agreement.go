package workflow

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/labelmap"
)

// Default agreement bounds, used where a configuration leaves one at 0.
const (
	DefaultDice       = 0.8
	DefaultIoU        = 0.5
	DefaultLandmarkMM = 5.0
)

// Finding is one way two reads disagree.
type Finding struct {
	Kind    string  `json:"kind"` // "answer", "segment", "box", "landmark"
	Label   string  `json:"label,omitempty"`
	Value   float64 `json:"value"` // the metric (Dice, IoU, mm; 0 for answers)
	Message string  `json:"message"`
}

// Volumes loads a labelmap layer of a revision's content.
type Volumes func(ctx context.Context, m *radmark.Labelmap) (*labelmap.Volume, error)

// Compare lists where reads a and b disagree beyond the bounds of agree:
// classification answers that differ; per label, a segmentation Dice
// below agree.Dice (the union of the label's segments in each read); 2D
// boxes (per image) and 3D boxes matched one to one by best IoU, with an
// unmatched box or an IoU below agree.IoU; landmarks matched by nearest
// distance, with an unmatched one or one farther than agree.LandmarkMM.
// Other kinds (lengths, contours...) do not count yet. The metrics are
// exact: voxel counts, axis-aligned box volumes, Euclidean LPS distances.
func Compare(ctx context.Context, a, b *radmark.Content, agree radmark.Agreement, load Volumes) ([]Finding, error) {
	agree = withDefaults(agree)
	var out []Finding
	out = append(out, compareAnswers(a, b)...)
	seg, err := compareSegments(ctx, a, b, agree.Dice, load)
	if err != nil {
		return nil, err
	}
	out = append(out, seg...)
	out = append(out, compareBoxes(a, b, agree.IoU)...)
	out = append(out, compareLandmarks(a, b, agree.LandmarkMM)...)
	return out, nil
}

func withDefaults(a radmark.Agreement) radmark.Agreement {
	if a.Dice == 0 {
		a.Dice = DefaultDice
	}
	if a.IoU == 0 {
		a.IoU = DefaultIoU
	}
	if a.LandmarkMM == 0 {
		a.LandmarkMM = DefaultLandmarkMM
	}
	return a
}

// answerKey names what an answer answers.
func answerKey(an *radmark.Answer) string {
	k := an.Question + "|" + string(an.SeriesUID) + "|" + an.Item
	if an.Image != nil {
		k += "|" + string(an.Image.SOPInstanceUID) + "#" + strconv.Itoa(an.Image.Frame)
	}
	return k
}

func answerValue(an *radmark.Answer) string {
	if an == nil {
		return "(no answer)"
	}
	var parts []string
	if len(an.Choices) > 0 {
		c := slices.Clone(an.Choices)
		sort.Strings(c)
		parts = append(parts, strings.Join(c, ","))
	}
	if an.Number != nil {
		parts = append(parts, strconv.FormatFloat(*an.Number, 'g', -1, 64))
	}
	if t := strings.TrimSpace(an.Text); t != "" {
		parts = append(parts, strconv.Quote(t))
	}
	if len(parts) == 0 {
		return "(empty)"
	}
	return strings.Join(parts, " ")
}

func compareAnswers(a, b *radmark.Content) []Finding {
	am, bm := map[string]*radmark.Answer{}, map[string]*radmark.Answer{}
	var keys []string
	for i := range a.Answers {
		k := answerKey(&a.Answers[i])
		am[k] = &a.Answers[i]
		keys = append(keys, k)
	}
	for i := range b.Answers {
		k := answerKey(&b.Answers[i])
		bm[k] = &b.Answers[i]
		if am[k] == nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []Finding
	for _, k := range keys {
		va, vb := answerValue(am[k]), answerValue(bm[k])
		if va != vb {
			q, _, _ := strings.Cut(k, "|")
			out = append(out, Finding{Kind: "answer", Label: q, Message: fmt.Sprintf("question %s: %s vs %s", q, va, vb)})
		}
	}
	return out
}

// segmentsByLabel maps each label to the (layer, value) pairs of its
// segmentation items.
func segmentsByLabel(c *radmark.Content) map[string][]radmark.SegmentRef {
	out := map[string][]radmark.SegmentRef{}
	for _, it := range c.Items {
		if it.Kind == radmark.KindSegmentation && it.Segment != nil {
			out[it.Label] = append(out[it.Label], *it.Segment)
		}
	}
	return out
}

// mask counts, per voxel index, whether any of refs labels it.
type maskSource struct {
	ctx  context.Context
	c    *radmark.Content
	load Volumes
	vols map[int]*labelmap.Volume
}

func (m *maskSource) layer(l int) (*labelmap.Volume, error) {
	if v, ok := m.vols[l]; ok {
		return v, nil
	}
	for i := range m.c.Labelmaps {
		if m.c.Labelmaps[i].Layer == l {
			v, err := m.load(m.ctx, &m.c.Labelmaps[i])
			if err != nil {
				return nil, err
			}
			m.vols[l] = v
			return v, nil
		}
	}
	m.vols[l] = nil
	return nil, nil
}

// mask returns the set of voxel indices labelled by refs, as a bitmap
// over the grid (nil: no voxel), and the grid size.
func (m *maskSource) mask(refs []radmark.SegmentRef) ([]bool, error) {
	var out []bool
	for _, r := range refs {
		v, err := m.layer(r.Layer)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		if out == nil {
			out = make([]bool, len(v.Voxels))
		}
		if len(v.Voxels) != len(out) {
			return nil, radmark.Errorf(radmark.EINVALID, "segments of one label lie on different grids")
		}
		val := uint8(r.Value)
		for i, x := range v.Voxels {
			if x == val {
				out[i] = true
			}
		}
	}
	return out, nil
}

// Dice returns 2|A∩B| / (|A|+|B|) of two voxel masks (1 when both are
// empty); masks of different sizes (different grids) have Dice 0.
func Dice(a, b []bool) float64 {
	na, nb, both := 0, 0, 0
	if a != nil && b != nil && len(a) != len(b) {
		return 0
	}
	for i := range max(len(a), len(b)) {
		x := i < len(a) && a[i]
		y := i < len(b) && b[i]
		if x {
			na++
		}
		if y {
			nb++
		}
		if x && y {
			both++
		}
	}
	if na+nb == 0 {
		return 1
	}
	return 2 * float64(both) / float64(na+nb)
}

func compareSegments(ctx context.Context, a, b *radmark.Content, least float64, load Volumes) ([]Finding, error) {
	sa, sb := segmentsByLabel(a), segmentsByLabel(b)
	labels := map[string]bool{}
	for l := range sa {
		labels[l] = true
	}
	for l := range sb {
		labels[l] = true
	}
	if len(labels) == 0 {
		return nil, nil
	}
	ma := &maskSource{ctx: ctx, c: a, load: load, vols: map[int]*labelmap.Volume{}}
	mb := &maskSource{ctx: ctx, c: b, load: load, vols: map[int]*labelmap.Volume{}}
	var out []Finding
	for _, l := range slices.Sorted(func(yield func(string) bool) {
		for l := range labels {
			if !yield(l) {
				return
			}
		}
	}) {
		x, err := ma.mask(sa[l])
		if err != nil {
			return nil, err
		}
		y, err := mb.mask(sb[l])
		if err != nil {
			return nil, err
		}
		if d := Dice(x, y); d < least {
			out = append(out, Finding{Kind: "segment", Label: l, Value: d,
				Message: fmt.Sprintf("segmentation of %s: Dice %.3f < %.3f", l, d, least)})
		}
	}
	return out, nil
}

// box is an axis-aligned box: 2D boxes have zero Z extent flagged by dim.
type box struct {
	key      string // label and, for 2D boxes, the image
	lo, hi   [3]float64
	dim      int
	describe string
}

func (b box) volume() float64 {
	v := 1.0
	for d := range b.dim {
		v *= b.hi[d] - b.lo[d]
	}
	return v
}

// IoU returns the intersection over union of two axis-aligned boxes of
// the same dimension.
func IoU(a, b box) float64 {
	inter := 1.0
	for d := range a.dim {
		lo, hi := math.Max(a.lo[d], b.lo[d]), math.Min(a.hi[d], b.hi[d])
		if hi <= lo {
			return 0
		}
		inter *= hi - lo
	}
	union := a.volume() + b.volume() - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

func boxesOf(c *radmark.Content) []box {
	var out []box
	for _, it := range c.Items {
		switch {
		case it.Kind == radmark.KindBox2D && len(it.Points) == 2 && it.Image != nil:
			p, q := it.Points[0], it.Points[1]
			out = append(out, box{key: it.Label + "|" + string(it.Image.SOPInstanceUID) + "#" + strconv.Itoa(it.Image.Frame),
				lo: [3]float64{math.Min(p[0], q[0]), math.Min(p[1], q[1])}, hi: [3]float64{math.Max(p[0], q[0]), math.Max(p[1], q[1])},
				dim: 2, describe: "2D box of " + it.Label})
		case it.Kind == radmark.KindBox3D && len(it.LPS) == 2:
			p, q := it.LPS[0], it.LPS[1]
			var b box
			for d := range 3 {
				b.lo[d], b.hi[d] = math.Min(p[d], q[d]), math.Max(p[d], q[d])
			}
			b.key, b.dim, b.describe = it.Label+"|3d", 3, "3D box of "+it.Label
			out = append(out, b)
		}
	}
	return out
}

// match pairs items of a and b with the same key, best score first, and
// returns the scores of the pairs and how many were left unpaired on
// each key. better reports whether score x beats y.
func match[T any](a, b []T, key func(T) string, score func(x, y T) float64, better func(x, y float64) bool) (pairs map[string][]float64, unmatched map[string]int) {
	pairs, unmatched = map[string][]float64{}, map[string]int{}
	type cand struct {
		i, j int
		s    float64
	}
	var cands []cand
	for i := range a {
		for j := range b {
			if key(a[i]) == key(b[j]) {
				cands = append(cands, cand{i, j, score(a[i], b[j])})
			}
		}
	}
	sort.SliceStable(cands, func(x, y int) bool { return better(cands[x].s, cands[y].s) })
	usedA, usedB := map[int]bool{}, map[int]bool{}
	for _, c := range cands {
		if usedA[c.i] || usedB[c.j] {
			continue
		}
		usedA[c.i], usedB[c.j] = true, true
		k := key(a[c.i])
		pairs[k] = append(pairs[k], c.s)
	}
	for i := range a {
		if !usedA[i] {
			unmatched[key(a[i])]++
		}
	}
	for j := range b {
		if !usedB[j] {
			unmatched[key(b[j])]++
		}
	}
	return pairs, unmatched
}

func labelOfKey(k string) string { l, _, _ := strings.Cut(k, "|"); return l }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func compareBoxes(a, b *radmark.Content, least float64) []Finding {
	pairs, unmatched := match(boxesOf(a), boxesOf(b), func(x box) string { return x.key }, IoU,
		func(x, y float64) bool { return x > y })
	var out []Finding
	for _, k := range sortedKeys(pairs) {
		for _, s := range pairs[k] {
			if s < least {
				out = append(out, Finding{Kind: "box", Label: labelOfKey(k), Value: s,
					Message: fmt.Sprintf("boxes of %s: IoU %.3f < %.3f", labelOfKey(k), s, least)})
			}
		}
	}
	for _, k := range sortedKeys(unmatched) {
		out = append(out, Finding{Kind: "box", Label: labelOfKey(k),
			Message: fmt.Sprintf("boxes of %s: %d found by one read only", labelOfKey(k), unmatched[k])})
	}
	return out
}

type landmark struct {
	label string
	p     [3]float64
}

// Distance is the Euclidean distance of two LPS points (mm).
func Distance(p, q [3]float64) float64 {
	return math.Sqrt((p[0]-q[0])*(p[0]-q[0]) + (p[1]-q[1])*(p[1]-q[1]) + (p[2]-q[2])*(p[2]-q[2]))
}

func landmarksOf(c *radmark.Content) []landmark {
	var out []landmark
	for _, it := range c.Items {
		if it.Kind == radmark.KindLandmark && len(it.LPS) == 1 {
			out = append(out, landmark{it.Label, it.LPS[0]})
		}
	}
	return out
}

func compareLandmarks(a, b *radmark.Content, most float64) []Finding {
	pairs, unmatched := match(landmarksOf(a), landmarksOf(b), func(x landmark) string { return x.label },
		func(x, y landmark) float64 { return Distance(x.p, y.p) }, func(x, y float64) bool { return x < y })
	var out []Finding
	for _, k := range sortedKeys(pairs) {
		for _, s := range pairs[k] {
			if s > most {
				out = append(out, Finding{Kind: "landmark", Label: k, Value: s,
					Message: fmt.Sprintf("landmarks %s: %.2f mm apart > %.2f mm", k, s, most)})
			}
		}
	}
	for _, k := range sortedKeys(unmatched) {
		out = append(out, Finding{Kind: "landmark", Label: k,
			Message: fmt.Sprintf("landmarks %s: %d placed by one read only", k, unmatched[k])})
	}
	return out
}
