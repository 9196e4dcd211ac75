package ontology

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/radmark/radmark"
)

// TestShippedData validates the embedded data as it is loaded (every field
// present, one meaning per scheme and code, references resolved) and checks
// the counts and structure each source promises.
func TestShippedData(t *testing.T) {
	ix, err := loadEmbedded()
	if err != nil {
		t.Fatalf("loading the shipped data: %v", err)
	}
	size := map[string]int{}
	for _, l := range ix.Lists() {
		size[l.Name] = l.Size
		if l.Title == "" || l.Title == l.Name && strings.HasPrefix(l.Name, "CID") {
			t.Errorf("list %s has no title", l.Name)
		}
	}
	for _, c := range []struct {
		list     string
		min, max int
	}{
		{"CID 7150", 8, 8},
		{"CID 7151", 800, 1000},
		{"CID 7152", 5, 50},
		{"CID 7153", 50, 100},
		{"CID 7154", 10, 50},
		{"CID 7157", 20, 60},
		{"CID 7158", 3, 20},
		{"CID 7159", 10, 40},
		{"CID 7160", 10, 40},
		{"CID 4031", 100, 200},
		{"CID 244", 4, 4},
		{"CID 245", 5, 5},
		{"CID 2", 40, 80},
		{"RadLex", 300, 1000},
		{"RadLex anatomy", 100, 500},
		{"RadLex finding", 100, 500},
		{"ICD-10 chapter", 22, 22},
		{"ICD-10 block", 100, 300},
	} {
		if n := size[c.list]; n < c.min || n > c.max {
			t.Errorf("list %s has %d concepts, want %d..%d", c.list, n, c.min, c.max)
		}
	}

	rid := regexp.MustCompile(`^RID[0-9]+$`)
	sct := regexp.MustCompile(`^[0-9]{6,18}$`)
	icd := regexp.MustCompile(`^[A-Z][0-9]{2}-[A-Z][0-9]{2}$`)
	categories := map[string]bool{}
	for _, c := range ix.List("CID 7150") {
		categories[c.Scheme+":"+c.Code] = true
	}
	for _, c := range ix.concepts {
		switch c.Scheme {
		case SchemeRadLex:
			if !rid.MatchString(c.Code) {
				t.Errorf("RadLex code %q is not a RadLex ID", c.Code)
			}
		case SchemeSNOMED:
			if !sct.MatchString(c.Code) {
				t.Errorf("SNOMED CT code %q is not an SCTID", c.Code)
			}
		case SchemeICD10:
			if !icd.MatchString(c.Code) {
				t.Errorf("ICD-10 code %q is not a range", c.Code)
			}
			if c.In("ICD-10 block") && c.Parent == nil {
				t.Errorf("ICD-10 block %s has no parent", c.Code)
			}
		}
		if c.In("CID 7151") && c.Scheme != "DCM" && len(c.Categories) == 0 {
			t.Errorf("segmentation type %s %s %q has no category", c.Scheme, c.Code, c.Meaning)
		}
		for _, cat := range c.Categories {
			if !categories[cat.Scheme+":"+cat.Value] {
				t.Errorf("%s %s: category %v is not in CID 7150", c.Scheme, c.Code, cat)
			}
		}
	}
	// Every CID 7151 type, DCM ones included, pairs with a category: PS3.16
	// builds CID 7151 from CIDs 7191-7198.
	for _, c := range ix.List("CID 7151") {
		if len(c.Categories) == 0 {
			t.Errorf("CID 7151 %s %s %q has no CID 7150 category", c.Scheme, c.Code, c.Meaning)
		}
	}
	// ICD-10 parents lead to a chapter.
	for _, c := range ix.List("ICD-10 block") {
		p, seen := c, 0
		for p.Parent != nil && seen < 5 {
			var ok bool
			if p, ok = ix.Lookup(p.Parent.Scheme, p.Parent.Value); !ok {
				t.Fatalf("%s: parent %v not found", c.Code, c.Parent)
			}
			seen++
		}
		if !p.In("ICD-10 chapter") {
			t.Errorf("ICD-10 block %s does not lead to a chapter", c.Code)
		}
	}
}

// TestDataFilesCiteSources keeps provenance with the data: every file says
// where it comes from, and SOURCES.md covers every file.
func TestDataFilesCiteSources(t *testing.T) {
	sources, err := os.ReadFile("SOURCES.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range dataFiles {
		b, err := dataFS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "#source\t") {
			t.Errorf("%s does not start with #source lines", f)
		}
		if !strings.Contains(string(sources), f) {
			t.Errorf("SOURCES.md does not mention %s", f)
		}
	}
}

func TestNewIndexRejects(t *testing.T) {
	ok := Concept{Scheme: "SCT", Code: "10200004", Meaning: "Liver", Lists: []string{"L"}}
	with := func(f func(*Concept)) Concept { c := ok.clone(); f(&c); return c }
	for _, tc := range []struct {
		name     string
		concepts []Concept
		want     string
	}{
		{"empty code", []Concept{with(func(c *Concept) { c.Code = "" })}, "code is empty"},
		{"empty scheme", []Concept{with(func(c *Concept) { c.Scheme = "" })}, "scheme is empty"},
		{"empty meaning", []Concept{with(func(c *Concept) { c.Meaning = "" })}, "meaning is empty"},
		{"padded meaning", []Concept{with(func(c *Concept) { c.Meaning = "Liver " })}, "leading or trailing space"},
		{"control character", []Concept{with(func(c *Concept) { c.Meaning = "Li\tver" })}, "control"},
		{"no list", []Concept{with(func(c *Concept) { c.Lists = nil })}, "no list"},
		{"empty list name", []Concept{with(func(c *Concept) { c.Lists = []string{""} })}, "bad list name"},
		{"empty synonym", []Concept{with(func(c *Concept) { c.Synonyms = []string{""} })}, "synonym is empty"},
		{"two meanings", []Concept{ok, with(func(c *Concept) { c.Meaning = "Hepar" })}, "two meanings"},
		{"case-only duplicate", []Concept{
			{Scheme: "RADLEX", Code: "RID58", Meaning: "liver", Lists: []string{"L"}},
			{Scheme: "RADLEX", Code: "rid58", Meaning: "liver", Lists: []string{"L"}}}, "letter case"},
		{"unknown category", []Concept{with(func(c *Concept) { c.Categories = []radmark.Code{{Scheme: "SCT", Value: "1"}} })}, "not in the set"},
		{"own parent", []Concept{with(func(c *Concept) { c.Parent = &radmark.Code{Scheme: "SCT", Value: "10200004"} })}, "own parent"},
		{"wrong parent meaning", []Concept{ok, {Scheme: "SCT", Code: "1", Meaning: "x", Lists: []string{"L"},
			Parent: &radmark.Code{Scheme: "SCT", Value: "10200004", Meaning: "Lung"}}}, `is "Liver", not "Lung"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewIndex(tc.concepts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewIndex: got %v, want an error containing %q", err, tc.want)
			}
			if radmark.ErrorCode(err) != radmark.EINVALID {
				t.Errorf("error code %q, want %q", radmark.ErrorCode(err), radmark.EINVALID)
			}
		})
	}
}

func TestNewIndexMerges(t *testing.T) {
	ix, err := NewIndex([]Concept{
		{Scheme: "SCT", Code: "10200004", Meaning: "Liver", Lists: []string{"A"}},
		{Scheme: "SCT", Code: "123037004", Meaning: "Anatomical Structure", Lists: []string{"Cat"}},
		{Scheme: "SCT", Code: "10200004", Meaning: "Liver", Lists: []string{"B", "A"}, Synonyms: []string{"Hepar"},
			Categories: []radmark.Code{{Scheme: "SCT", Value: "123037004"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := ix.Lookup("SCT", "10200004")
	if !ok {
		t.Fatal("merged concept not found")
	}
	want := Concept{Scheme: "SCT", Code: "10200004", Meaning: "Liver", Lists: []string{"A", "B"}, Synonyms: []string{"Hepar"},
		Categories: []radmark.Code{{Scheme: "SCT", Value: "123037004", Meaning: "Anatomical Structure"}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("merged concept (-want +got):\n%s", d)
	}
	if ix.Len() != 2 {
		t.Errorf("Len = %d, want 2", ix.Len())
	}
}

func TestLookup(t *testing.T) {
	ix := Default()
	for _, tc := range []struct {
		scheme, code string
		meaning      string // "" = not found
	}{
		{"SCT", "10200004", "Liver"},
		{"SCT", "123037004", "Anatomical Structure"},
		{"SCT", "7771000", "Left"},
		{"DCM", "130290", "Median"},
		{"RADLEX", "RID58", "liver"},
		{"radlex", "rid58", "liver"}, // forgiving about case
		{" RADLEX ", "RID58", "liver"},
		{"RADLEX", "RID50149", "pulmonary nodule"},
		{"RADLEX", "RID5352", "pneumothorax"},
		{"I10", "C30-C39", "Malignant neoplasms of respiratory and intrathoracic organs"},
		{"I10", "C00-D48", "Neoplasms"},
		{"SCT", "0", ""},
		{"DCM", "10200004", ""},
		{"", "", ""},
	} {
		c, ok := ix.Lookup(tc.scheme, tc.code)
		if ok != (tc.meaning != "") || c.Meaning != tc.meaning {
			t.Errorf("Lookup(%q, %q) = %q, %v; want %q", tc.scheme, tc.code, c.Meaning, ok, tc.meaning)
		}
	}
	// A segmentation type knows its category.
	liver, _ := ix.Lookup("SCT", "10200004")
	if d := cmp.Diff([]radmark.Code{{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"}}, liver.Categories); d != "" {
		t.Errorf("Liver's categories (-want +got):\n%s", d)
	}
	// Results are copies: changing one does not change the index.
	liver.Lists[0] = "changed"
	liver.Categories[0].Meaning = "changed"
	again, _ := ix.Lookup("SCT", "10200004")
	if again.Lists[0] == "changed" || again.Categories[0].Meaning == "changed" {
		t.Error("Lookup returned shared slices")
	}
}

func TestList(t *testing.T) {
	ix := Default()
	cats := ix.List("CID 7150")
	var got []string
	for _, c := range cats {
		got = append(got, c.Meaning)
	}
	want := []string{"Anatomical Structure", "Body Substance", "Function", "Morphologically Abnormal Structure",
		"Physical object", "Spatial and Relational Concept", "Substance", "Tissue"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("CID 7150 (-want +got):\n%s", d)
	}
	// Names are forgiving.
	for _, name := range []string{"cid 7150", "CID7150", "7150", "CID-7150"} {
		if n := len(ix.List(name)); n != 8 {
			t.Errorf("List(%q) has %d concepts, want 8", name, n)
		}
	}
	if ix.List("CID 99999") != nil || ix.List("") != nil {
		t.Error("an unknown list is not empty")
	}
	lat := ix.List("CID 244")
	var codes []string
	for _, c := range lat {
		codes = append(codes, c.Code+" "+c.Meaning)
	}
	if d := cmp.Diff([]string{"51440002 Bilateral", "7771000 Left", "24028007 Right", "66459002 Unilateral"}, codes); d != "" {
		t.Errorf("CID 244 (-want +got):\n%s", d)
	}
	// A list gives its own wording: SCT 51185008 is "Chest" in CID 4031 and
	// "Thorax" in CID 7155.
	meaningIn := func(list string) string {
		for _, c := range ix.List(list) {
			if c.Code == "51185008" {
				return c.Meaning
			}
		}
		return ""
	}
	if m := meaningIn("CID 4031"); m != "Chest" {
		t.Errorf("51185008 in CID 4031 is %q, want Chest", m)
	}
	if m := meaningIn("CID 7155"); m != "Thorax" {
		t.Errorf("51185008 in CID 7155 is %q, want Thorax", m)
	}
	// Lists are sorted by meaning and stable.
	for _, l := range ix.Lists() {
		cs := ix.List(l.Name)
		if len(cs) != l.Size {
			t.Errorf("List(%s) has %d concepts, ListInfo says %d", l.Name, len(cs), l.Size)
		}
		if !slices.IsSortedFunc(cs, func(a, b Concept) int {
			return strings.Compare(strings.ToLower(a.Meaning), strings.ToLower(b.Meaning))
		}) {
			t.Errorf("List(%s) is not sorted by meaning", l.Name)
		}
	}
}

func TestCoded(t *testing.T) {
	ix := Default()
	for _, c := range ix.concepts {
		code := c.Coded()
		if n := len([]rune(code.Meaning)); n > MaxMeaning {
			t.Errorf("%s %s: coded meaning has %d characters", c.Scheme, c.Code, n)
		}
		if code.Value != c.Code || code.Scheme != c.Scheme || code.Meaning == "" {
			t.Errorf("%s %s: Coded() = %+v", c.Scheme, c.Code, code)
		}
		if len([]rune(c.Meaning)) <= MaxMeaning && code.Meaning != c.Meaning {
			t.Errorf("%s %s: a short meaning was changed to %q", c.Scheme, c.Code, code.Meaning)
		}
	}
	long, _ := ix.Lookup("I10", "C00-C75")
	if got, want := long.Coded().Meaning, "Malignant neoplasms, stated or presumed to be primary, of..."; got != want {
		t.Errorf("shortened meaning %q, want %q", got, want)
	}
}

func TestDefaultConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	results := make([][]Result, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = Default().Search("liver", SearchOptions{})
		}()
	}
	wg.Wait()
	for i := range results {
		if d := cmp.Diff(results[0], results[i]); d != "" {
			t.Fatalf("concurrent searches differ:\n%s", d)
		}
	}
}

func TestParseDataErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"fields", "SCT\t1\tx\n", "3 fields, want 8"},
		{"list line", "#list\tCID 1\n", "needs a name and a title"},
		{"parent", "SCT\t1\tx\tL\tnocolon\t\t\t\n", "not SCHEME:CODE"},
		{"category", "SCT\t1\tx\tL\t\tSCT:\t\t\n", "not SCHEME:CODE"},
		{"list meaning", "SCT\t1\tx\tL\t\t\t\tCID 1\n", "not LIST=MEANING"},
	} {
		_, _, err := parseData("test.tsv", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "test.tsv:1") {
			t.Errorf("%s: got %v, want an error at test.tsv:1 containing %q", tc.name, err, tc.want)
		}
		var e *radmark.Error
		if !errors.As(err, &e) || e.Code != radmark.EINVALID {
			t.Errorf("%s: error %v is not EINVALID", tc.name, err)
		}
	}
}

// TestRadLexAgreesWithRSNA checks shipped RadLex IDs against ones RSNA's
// own RadLex repository uses (RSNA/RadLex, tests/data/search_eval.json,
// built from RadLex 4.x): an independent check of the source tables.
func TestRadLexAgreesWithRSNA(t *testing.T) {
	ix := Default()
	for rid, meaning := range map[string]string{
		"RID34539": "pleural effusion",
		"RID3798":  "lymphadenopathy",
		"RID28504": "centrilobular emphysema",
		"RID171":   "head of pancreas",
		"RID1327":  "upper lobe of left lung",
		"RID5713":  "spiculated margin",
		"RID50149": "pulmonary nodule",
		"RID50152": "part-solid pulmonary nodule",
		"RID28531": "ground-glass opacity",
		"RID3875":  "nodule",
	} {
		c, ok := ix.Lookup(SchemeRadLex, rid)
		if !ok || c.Meaning != meaning {
			t.Errorf("RADLEX %s = %q, %v; RSNA has %q", rid, c.Meaning, ok, meaning)
		}
	}
	// RSNA marks RID5598 "stent" obsolete: it must not be shipped.
	if _, ok := ix.Lookup(SchemeRadLex, "RID5598"); ok {
		t.Error("obsolete RID5598 is shipped")
	}
}
