package ontology

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSearch feeds Search arbitrary queries and filters: it must not panic,
// must respect the limit and the filters, and must rank by match.
func FuzzSearch(f *testing.F) {
	for _, seed := range []string{"liver", "lung nod", "C34", "c34.1", "RID58", "123037004", "a", "",
		"non-solid", "Bird's", "haemorrhage", "pneumothôrax", "\xff\xfe", "C00-D48", "z99.9",
		"left kidney lower pole artery vein nerve tissue fat bone muscle", "---", "é́́́"} {
		f.Add(seed, "", "", 0)
	}
	f.Add("artery", "CID 7151", "SCT", 5)
	f.Add("x", "7150", "radlex", -1)
	ix := Default()
	f.Fuzz(func(t *testing.T, q, list, scheme string, limit int) {
		var opts SearchOptions
		opts.Limit = limit
		if list != "" {
			opts.Lists = []string{list}
		}
		if scheme != "" {
			opts.Schemes = []string{scheme}
		}
		res := ix.Search(q, opts)
		want := limit
		if want <= 0 {
			want = DefaultLimit
		}
		if len(res) > min(want, MaxLimit) {
			t.Fatalf("%d results for limit %d", len(res), limit)
		}
		if !slices.IsSortedFunc(res, func(a, b Result) int { return int(a.Match) - int(b.Match) }) {
			t.Fatalf("results not ranked: %v", res)
		}
		for _, r := range res {
			c := r.Concept
			if list != "" && !c.In(list) {
				t.Fatalf("%s %s is not in list %q", c.Scheme, c.Code, list)
			}
			if scheme != "" && !equalFoldASCII(c.Scheme, scheme) {
				t.Fatalf("%s %s is not in scheme %q", c.Scheme, c.Code, scheme)
			}
			if !utf8.ValidString(c.Meaning) || c.Meaning == "" {
				t.Fatalf("bad meaning %q", c.Meaning)
			}
		}
	})
}

func equalFoldASCII(a, b string) bool {
	return upperASCII(a) == upperASCII(strings.TrimSpace(b))
}
