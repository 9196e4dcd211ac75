package ontology

import (
	"slices"
	"strings"
	"testing"
	"testing/quick"
)

type hit struct{ scheme, code string }

func TestSearchRanking(t *testing.T) {
	ix := Default()
	for _, tc := range []struct {
		query string
		first []hit  // the results must start with these, in order
		has   []hit  // and include these somewhere in the first 20
		match string // the first result's match ("" = any)
		none  bool   // no results at all
		opts  *SearchOptions
	}{
		// An exact meaning wins; among equal meanings SNOMED CT (DICOM's
		// CID 7151) comes before RadLex.
		{query: "liver", first: []hit{{"SCT", "10200004"}, {"RADLEX", "RID58"}}, match: "exact"},
		{query: "LIVER", first: []hit{{"SCT", "10200004"}}, match: "exact"},
		{query: "  liver  ", first: []hit{{"SCT", "10200004"}}, match: "exact"},
		// Direct word matches before matches through an alias (hepatic).
		{query: "liver", has: []hit{{"RADLEX", "RID74"}, {"I10", "K70-K77"}, {"SCT", "8993003"}}},
		// Prefix typing: "lung nod" finds the pulmonary nodule (lung is
		// pulmonary), and the shortest first.
		{query: "lung nod", first: []hit{{"RADLEX", "RID50149"}}, match: "word",
			has: []hit{{"RADLEX", "RID50151"}, {"RADLEX", "RID50152"}, {"RADLEX", "RID50153"}}},
		{query: "pulm nod", first: []hit{{"RADLEX", "RID50149"}}, match: "word"},
		{query: "pulmonary nod", first: []hit{{"RADLEX", "RID50149"}}, match: "prefix"},
		{query: "nodule", first: []hit{{"SCT", "27925004"}, {"RADLEX", "RID3875"}}, match: "exact"},
		// Meaning prefix beats word prefix.
		{query: "chest", first: []hit{{"SCT", "51185008"}, {"DCM", "112173"}}},
		{query: "left", first: []hit{{"SCT", "7771000"}}, match: "exact", has: []hit{{"RADLEX", "RID1326"}}},
		// Synonyms: PS3.16's other wording of a code.
		{query: "thorax", first: []hit{{"SCT", "51185008"}, {"RADLEX", "RID1243"}}, match: "exact"},
		// Codes.
		{query: "123037004", first: []hit{{"SCT", "123037004"}}, match: "code"},
		{query: "RID58", first: []hit{{"RADLEX", "RID58"}}, match: "code", has: []hit{{"RADLEX", "RID580"}}},
		{query: "rid5352", first: []hit{{"RADLEX", "RID5352"}}, match: "code"},
		{query: "C30-C39", first: []hit{{"I10", "C30-C39"}}, match: "code"},
		// ICD-10 codes fall in block ranges, the narrowest first.
		{query: "C34", first: []hit{{"I10", "C30-C39"}, {"I10", "C00-C75"}, {"I10", "C00-C97"}, {"I10", "C00-D48"}}, match: "code"},
		{query: "c34.1", first: []hit{{"I10", "C30-C39"}}, match: "code"},
		{query: "S72", first: []hit{{"I10", "S70-S79"}}, match: "code"},
		{query: "R91", first: []hit{{"I10", "R90-R94"}}, match: "code"},
		// Roman numerals name chapters.
		{query: "chapter ii", first: []hit{{"I10", "C00-D48"}}, match: "exact"},
		// British and American spellings meet; accents do not matter.
		{query: "haemorrhage", first: []hit{{"SCT", "50960005"}, {"RADLEX", "RID4700"}}, match: "exact"},
		{query: "ischemic heart", first: []hit{{"I10", "I20-I25"}}, match: "prefix"},
		{query: "oedema", first: []hit{{"SCT", "79654002"}}, match: "exact"},
		{query: "tumour", has: []hit{{"RADLEX", "RID3957"}}},
		{query: "hémorragie sous-arachnoïdienne", none: true},
		{query: "pneumothôrax", first: []hit{{"RADLEX", "RID5352"}}, match: "exact"},
		// Words are ANDed, in any order.
		{query: "kidney left", first: []hit{{"RADLEX", "RID29663"}}, match: "word"},
		{query: "left kidney", first: []hit{{"RADLEX", "RID29663"}}, match: "exact"},
		{query: "artery kidney", first: []hit{{"SCT", "274143007"}}, match: "word",
			has: []hit{{"SCT", "274231001"}, {"SCT", "15763003"}, {"RADLEX", "RID936"}}},
		{query: "liver zebra", none: true},
		// Substrings of words, for three letters or more, rank last.
		{query: "thorax", has: []hit{{"RADLEX", "RID5352"}}},
		{query: "thorax", opts: &SearchOptions{Schemes: []string{"RADLEX"}, Limit: 50},
			first: []hit{{"RADLEX", "RID1243"}}, has: []hit{{"RADLEX", "RID5352"}, {"RADLEX", "RID34595"}}},
		// Hyphens and apostrophes.
		{query: "non-solid", first: []hit{{"RADLEX", "RID50153"}}},
		{query: "non solid", first: []hit{{"RADLEX", "RID50153"}}},
		{query: "ground glass", first: []hit{{"RADLEX", "RID28531"}}, match: "prefix"},
		// Nothing to search for.
		{query: "", none: true},
		{query: "   ", none: true},
		{query: "-- ,, ..", none: true},
	} {
		opts := SearchOptions{}
		if tc.opts != nil {
			opts = *tc.opts
		}
		res := ix.Search(tc.query, opts)
		if tc.none {
			if len(res) != 0 {
				t.Errorf("Search(%q) = %s, want nothing", tc.query, show(res))
			}
			continue
		}
		if len(res) == 0 {
			t.Errorf("Search(%q) found nothing", tc.query)
			continue
		}
		got := hits(res)
		if len(got) < len(tc.first) || !slices.Equal(got[:len(tc.first)], tc.first) {
			t.Errorf("Search(%q) starts %s, want %v", tc.query, show(res), tc.first)
		}
		for _, h := range tc.has {
			if !slices.Contains(got, h) {
				t.Errorf("Search(%q) = %s, missing %v", tc.query, show(res), h)
			}
		}
		if tc.match != "" && res[0].Match.String() != tc.match {
			t.Errorf("Search(%q): first result matched %v, want %v", tc.query, res[0].Match, tc.match)
		}
		// Ranked by match, and the same every time.
		if !slices.IsSortedFunc(res, func(a, b Result) int { return int(a.Match) - int(b.Match) }) {
			t.Errorf("Search(%q) is not ranked by match: %s", tc.query, show(res))
		}
		if again := ix.Search(tc.query, opts); !slices.Equal(hits(again), got) {
			t.Errorf("Search(%q) is not stable", tc.query)
		}
	}
}

func hits(res []Result) []hit {
	out := make([]hit, len(res))
	for i, r := range res {
		out[i] = hit{r.Concept.Scheme, r.Concept.Code}
	}
	return out
}

func show(res []Result) string {
	var b strings.Builder
	for i, r := range res {
		if i == 6 {
			b.WriteString(" ...")
			break
		}
		b.WriteString(" [" + r.Match.String() + " " + r.Concept.Scheme + " " + r.Concept.Code + " " + r.Concept.Meaning + "]")
	}
	return b.String()
}

func TestSearchFilters(t *testing.T) {
	ix := Default()
	for _, tc := range []struct {
		name string
		q    string
		opts SearchOptions
		ok   func(Concept) bool
		min  int
	}{
		{"scheme", "liver", SearchOptions{Schemes: []string{"RADLEX"}}, func(c Concept) bool { return c.Scheme == "RADLEX" }, 3},
		{"scheme any case", "liver", SearchOptions{Schemes: []string{"radlex", "i10"}},
			func(c Concept) bool { return c.Scheme == "RADLEX" || c.Scheme == "I10" }, 4},
		{"list", "artery", SearchOptions{Lists: []string{"CID 7151"}}, func(c Concept) bool { return c.In("CID 7151") }, 20},
		{"list by number", "ventricle", SearchOptions{Lists: []string{"7152"}}, func(c Concept) bool { return c.In("CID 7152") }, 2},
		{"lists", "l", SearchOptions{Lists: []string{"CID 244", "CID 245"}, Limit: 100},
			func(c Concept) bool { return c.In("CID 244") || c.In("CID 245") }, 1},
		{"list and scheme", "left", SearchOptions{Lists: []string{"CID 245"}, Schemes: []string{"DCM"}},
			func(c Concept) bool { return false }, 0},
		{"icd blocks", "neoplasm", SearchOptions{Lists: []string{"ICD-10 block"}}, func(c Concept) bool { return c.In("ICD-10 block") }, 5},
		{"unknown list", "liver", SearchOptions{Lists: []string{"nope"}}, func(Concept) bool { return false }, 0},
		{"unknown scheme", "liver", SearchOptions{Schemes: []string{"LN"}}, func(Concept) bool { return false }, 0},
		{"limit", "a", SearchOptions{Limit: 3}, func(Concept) bool { return true }, 3},
	} {
		res := ix.Search(tc.q, tc.opts)
		if len(res) < tc.min {
			t.Errorf("%s: %d results, want at least %d", tc.name, len(res), tc.min)
		}
		limit := tc.opts.Limit
		if limit == 0 {
			limit = DefaultLimit
		}
		if len(res) > limit {
			t.Errorf("%s: %d results, over the limit %d", tc.name, len(res), limit)
		}
		for _, r := range res {
			if !tc.ok(r.Concept) {
				t.Errorf("%s: %s %s %q passed the filter", tc.name, r.Concept.Scheme, r.Concept.Code, r.Concept.Meaning)
			}
		}
	}
	// One list filter gives that list's wording.
	res := ix.Search("chest", SearchOptions{Lists: []string{"CID 7155"}})
	if len(res) == 0 || res[0].Concept.Code != "51185008" || res[0].Concept.Meaning != "Thorax" {
		t.Errorf("chest in CID 7155: %s, want SCT 51185008 worded Thorax", show(res))
	}
	// The limit is capped.
	if n := len(ix.Search("a", SearchOptions{Limit: 1 << 20})); n > MaxLimit {
		t.Errorf("%d results, over MaxLimit", n)
	}
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Liver", []string{"liver"}},
		{"Beam-hardening artifact", []string{"beam", "hardening", "artifact"}},
		{"Bird's beak", []string{"birds", "beak"}},
		{"Sjögren’s syndrome", []string{"sjogrens", "syndrome"}},
		{"CAFÉ Œdème Straße", []string{"cafe", "edeme", "strasse"}},
		{"Cafe\u0301", []string{"cafe"}}, // decomposed accent
		{"Haemorrhage, oedema, tumours", []string{"hemorrhage", "edema", "tumors"}},
		{"paediatric ischaemia", []string{"pediatric", "ischemia"}},
		{"contour", []string{"contour"}},
		{"1st Marginal T1", []string{"1st", "marginal", "t1"}},
		{"ΑΒΓ", []string{"αβγ"}},
		{"", nil},
		{"\xff\xfe", nil},
	} {
		got := tokens(tc.in)
		if !slices.Equal(got, tc.want) {
			t.Errorf("tokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for in, want := range map[string]string{"C34.1": "c34.1", "RID 58": "rid58", "C30-C39": "c30-c39", "123037004": "123037004"} {
		if got := foldCode(in); got != want {
			t.Errorf("foldCode(%q) = %q, want %q", in, got, want)
		}
	}
	if err := quick.Check(func(s string) bool {
		for _, tok := range tokens(s) {
			if tok == "" || strings.ContainsAny(tok, " \t-") {
				return false
			}
		}
		return true
	}, nil); err != nil {
		t.Error(err)
	}
}

// TestIndexSize bounds the index's size and a query's work, so a data or
// code change that would make search slow fails here; the speed itself is
// measured by BenchmarkSearch.
func TestIndexSize(t *testing.T) {
	ix := Default()
	if n := ix.Len(); n < 1200 || n > 5000 {
		t.Errorf("%d concepts; the shipped set should be 1200..5000", n)
	}
	postings, longest := 0, 0
	for _, p := range ix.postings {
		postings += len(p)
		longest = max(longest, len(p))
	}
	if len(ix.vocab) > 5000 || postings > 20000 || longest > ix.Len()/2 {
		t.Errorf("index too large: %d words, %d postings, longest %d", len(ix.vocab), postings, longest)
	}
	if !slices.IsSorted(ix.vocab) {
		t.Error("vocabulary not sorted")
	}
	for _, q := range []string{"liver", "lung nod", "C34", "a", "thorax", "left kidney lower pole artery vein nerve"} {
		allocs := testing.AllocsPerRun(20, func() { ix.Search(q, SearchOptions{}) })
		if allocs > 400 {
			t.Errorf("Search(%q) allocates %.0f times; want at most 400", q, allocs)
		}
	}
}
