package release

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
)

// The three parts of a release.
const (
	Train      = "train"
	Validation = "validation"
	Test       = "test"
)

// Splits lists the parts in order.
var Splits = []string{Train, Validation, Test}

// Fractions are the shares of patients that go to training, validation
// and test.
type Fractions struct {
	Train      float64 `json:"train"`
	Validation float64 `json:"validation"`
	Test       float64 `json:"test"`
}

// DefaultFractions is 70/15/15.
var DefaultFractions = Fractions{Train: 0.7, Validation: 0.15, Test: 0.15}

func (f Fractions) list() [3]float64 { return [3]float64{f.Train, f.Validation, f.Test} }

// Validate checks that every fraction lies in [0, 1], that they add up to
// 1 and that training gets some.
func (f Fractions) Validate() error {
	sum := 0.0
	for i, v := range f.list() {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return radmark.Errorf(radmark.EINVALID, "split fraction of %s is %v; each must lie in [0, 1]", Splits[i], v)
		}
		sum += v
	}
	if math.Abs(sum-1) > 1e-6 {
		return radmark.Errorf(radmark.EINVALID, "split fractions %v, %v, %v add up to %v, not 1", f.Train, f.Validation, f.Test, sum)
	}
	if f.Train == 0 {
		return radmark.Errorf(radmark.EINVALID, "the training fraction is 0")
	}
	return nil
}

// ParseFractions reads "0.7,0.15,0.15" (train, validation, test).
func ParseFractions(s string) (Fractions, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return Fractions{}, radmark.Errorf(radmark.EINVALID, "split %q: want three fractions, train,validation,test (e.g. 0.7,0.15,0.15)", s)
	}
	var v [3]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return Fractions{}, radmark.Errorf(radmark.EINVALID, "split %q: %q is not a number", s, p)
		}
		v[i] = f
	}
	f := Fractions{Train: v[0], Validation: v[1], Test: v[2]}
	return f, f.Validate()
}

// Patient is one unit of the split: every case of a patient goes to the
// same part, so that no patient's images leak from training into test.
type Patient struct {
	// Key identifies the patient (issuer and patient ID); it never leaves
	// the server, the manifest names patients by number.
	Key string
	// Labels are the labels annotated in the patient's cases, the stratum
	// when the split is stratified.
	Labels []string
}

// SplitPatients assigns every patient to train, validation or test.
//
// Patients are ordered by a hash of the seed and their key: the order is
// random-looking, depends only on the seed and the patients (not on the
// order they are given in), and is the same on every machine and Go
// version. The number of patients of each part is the
// largest-remainder rounding of its fraction. Patients are then dealt to
// the parts in that order by smooth weighted round robin (weights = the
// counts), which meets the counts exactly and spreads every run of
// patients over the parts in proportion. Stratified, the order puts the
// patients of one stratum (the same set of annotated labels) together, so
// each stratum is shared out in proportion too (within about one patient
// per part).
func SplitPatients(patients []Patient, f Fractions, seed int64, stratify bool) (map[string]string, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	type ranked struct {
		key     string
		stratum string
		rank    [32]byte
	}
	seen := map[string]bool{}
	list := make([]ranked, 0, len(patients))
	for _, p := range patients {
		if seen[p.Key] {
			return nil, radmark.Errorf(radmark.EINVALID, "patient %q is listed twice", p.Key)
		}
		seen[p.Key] = true
		r := ranked{key: p.Key, rank: rankOf(seed, p.Key)}
		if stratify {
			labels := slices.Clone(p.Labels)
			slices.Sort(labels)
			r.stratum = strings.Join(slices.Compact(labels), "\x00")
		}
		list = append(list, r)
	}
	slices.SortFunc(list, func(a, b ranked) int {
		if c := strings.Compare(a.stratum, b.stratum); c != 0 {
			return c
		}
		if c := slices.Compare(a.rank[:], b.rank[:]); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	counts := apportion(len(list), f.list())
	out := make(map[string]string, len(list))
	var current [3]int
	for _, p := range list {
		best := -1
		for i := range current {
			current[i] += counts[i]
			if counts[i] > 0 && (best < 0 || current[i] > current[best]) {
				best = i
			}
		}
		current[best] -= len(list)
		out[p.key] = Splits[best]
	}
	return out, nil
}

// rankOf orders patients for a seed.
func rankOf(seed int64, key string) [32]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seed))
	h := sha256.New()
	h.Write([]byte("radmark release split\x00"))
	h.Write(b[:])
	h.Write([]byte(key))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// apportion shares n out by the fractions, largest remainder first (ties
// to the earlier part).
func apportion(n int, f [3]float64) [3]int {
	var counts [3]int
	var rest [3]float64
	sum := f[0] + f[1] + f[2]
	given := 0
	for i, v := range f {
		exact := v / sum * float64(n)
		counts[i] = min(int(math.Floor(exact+1e-9)), n-given)
		rest[i] = exact - float64(counts[i])
		given += counts[i]
	}
	for ; given < n; given++ {
		best := -1
		for i := range rest {
			if f[i] > 0 && (best < 0 || rest[i] > rest[best]+1e-12) {
				best = i
			}
		}
		counts[best]++
		rest[best] = -1
	}
	return counts
}

// String gives the fractions as ParseFractions reads them.
func (f Fractions) String() string {
	return fmt.Sprintf("%s,%s,%s", strconv.FormatFloat(f.Train, 'g', -1, 64),
		strconv.FormatFloat(f.Validation, 'g', -1, 64), strconv.FormatFloat(f.Test, 'g', -1, 64))
}
