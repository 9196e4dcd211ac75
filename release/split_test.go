package release

import (
	"fmt"
	"maps"
	"math"
	"testing"
)

func patients(n int, labelsOf func(i int) []string) []Patient {
	out := make([]Patient, n)
	for i := range out {
		out[i] = Patient{Key: fmt.Sprintf("issuer\x00PID-%04d", i)}
		if labelsOf != nil {
			out[i].Labels = labelsOf(i)
		}
	}
	return out
}

func count(split map[string]string) map[string]int {
	c := map[string]int{}
	for _, s := range split {
		c[s]++
	}
	return c
}

func TestSplitProportions(t *testing.T) {
	tests := []struct {
		n    int
		f    Fractions
		want map[string]int
	}{
		{100, DefaultFractions, map[string]int{Train: 70, Validation: 15, Test: 15}},
		{10, DefaultFractions, map[string]int{Train: 7, Validation: 2, Test: 1}},
		{7, Fractions{0.8, 0.1, 0.1}, map[string]int{Train: 5, Validation: 1, Test: 1}},
		{9, Fractions{0.8, 0.2, 0}, map[string]int{Train: 7, Validation: 2}},
		{3, Fractions{1, 0, 0}, map[string]int{Train: 3}},
		{1, DefaultFractions, map[string]int{Train: 1}},
		{0, DefaultFractions, map[string]int{}},
		{1000, Fractions{0.6, 0.2, 0.2}, map[string]int{Train: 600, Validation: 200, Test: 200}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%v", tt.n, tt.f), func(t *testing.T) {
			for _, stratify := range []bool{false, true} {
				got, err := SplitPatients(patients(tt.n, func(i int) []string { return []string{fmt.Sprint(i % 3)} }), tt.f, 42, stratify)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != tt.n {
					t.Fatalf("%d patients assigned, want %d", len(got), tt.n)
				}
				if c := count(got); !maps.Equal(c, tt.want) {
					t.Errorf("stratify=%v: counts %v, want %v", stratify, c, tt.want)
				}
			}
		})
	}
}

func TestSplitDeterministic(t *testing.T) {
	ps := patients(200, nil)
	a, err := SplitPatients(ps, DefaultFractions, 7, false)
	if err != nil {
		t.Fatal(err)
	}
	// The same seed gives the same split whatever the input order.
	rev := make([]Patient, len(ps))
	for i := range ps {
		rev[len(ps)-1-i] = ps[i]
	}
	b, _ := SplitPatients(rev, DefaultFractions, 7, false)
	if !maps.Equal(a, b) {
		t.Error("the same seed and patients in another order gave another split")
	}
	c, _ := SplitPatients(ps, DefaultFractions, 8, false)
	moved := 0
	for k := range a {
		if a[k] != c[k] {
			moved++
		}
	}
	if moved < 20 {
		t.Errorf("seed 8 moved only %d of 200 patients from seed 7's split", moved)
	}
}

func TestSplitStratified(t *testing.T) {
	// Three strata of very different sizes: every stratum must be shared
	// out in proportion, which an unstratified split does not promise.
	labels := func(i int) []string {
		switch {
		case i < 20:
			return []string{"rare"}
		case i < 80:
			return []string{"liver", "nodule", "liver"}
		}
		return []string{"liver"}
	}
	ps := patients(300, labels)
	f := Fractions{0.6, 0.2, 0.2}
	for seed := int64(0); seed < 20; seed++ {
		got, err := SplitPatients(ps, f, seed, true)
		if err != nil {
			t.Fatal(err)
		}
		strata := map[string]map[string]int{}
		sizes := map[string]int{}
		for i, p := range ps {
			s := fmt.Sprint(labels(i)[0], len(labels(i)))
			if strata[s] == nil {
				strata[s] = map[string]int{}
			}
			strata[s][got[p.Key]]++
			sizes[s]++
		}
		for s, c := range strata {
			for i, part := range Splits {
				want := f.list()[i] * float64(sizes[s])
				if math.Abs(float64(c[part])-want) > 1.5 {
					t.Errorf("seed %d: stratum %s (%d patients) has %d in %s, want %.1f±1.5", seed, s, sizes[s], c[part], part, want)
				}
			}
		}
	}
}

func TestSplitErrors(t *testing.T) {
	for _, f := range []Fractions{{0.5, 0.5, 0.5}, {0, 0.5, 0.5}, {-0.1, 0.6, 0.5}, {math.NaN(), 0, 1}} {
		if _, err := SplitPatients(patients(3, nil), f, 1, false); err == nil {
			t.Errorf("fractions %v accepted", f)
		}
	}
	if _, err := SplitPatients([]Patient{{Key: "a"}, {Key: "a"}}, DefaultFractions, 1, false); err == nil {
		t.Error("a patient listed twice accepted")
	}
	for _, s := range []string{"", "0.7,0.3", "a,b,c", "0.7,0.2,0.2"} {
		if _, err := ParseFractions(s); err == nil {
			t.Errorf("ParseFractions(%q) accepted", s)
		}
	}
	f, err := ParseFractions("0.8, 0.1, 0.1")
	if err != nil || f != (Fractions{0.8, 0.1, 0.1}) || f.String() != "0.8,0.1,0.1" {
		t.Errorf("ParseFractions = %v, %v", f, err)
	}
}
