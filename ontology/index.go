package ontology

import (
	"cmp"
	"embed"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/radmark/radmark"
)

//go:embed data/*.tsv
var dataFS embed.FS

// Index holds a set of concepts and what finds them fast. It is immutable
// once built, so one Index serves any number of goroutines.
type Index struct {
	concepts []Concept
	key      map[string]int32 // scheme "\x00" code
	foldKey  map[string]int32 // the same, upper-cased, for forgiving look-ups

	lists    []ListInfo
	listIdx  map[string]int // listKey(name) -> index in lists
	members  [][]int32      // per list, in List order
	listBits []bitset
	schemes  map[string]bitset // upper-cased scheme -> concepts

	// Search structures: see search.go.
	ord      []int32    // rank of each concept among otherwise equal matches
	phrases  [][]string // per concept: folded meaning, then folded synonyms
	vocab    []string   // sorted distinct folded words of meanings and synonyms
	postings [][]int32  // per vocab word, the concepts using it, ascending
	codes    []codeRef  // folded codes, sorted
	ranges   []codeRange
}

type codeRef struct {
	code string
	id   int32
}

var (
	defaultOnce = sync.OnceValues(func() (*Index, error) { return loadEmbedded() })
)

// Default returns the index of the shipped data. It is built on first use,
// once, and shared. The data is validated when it is built (and by the
// package's tests), so a failure here means a broken build: it panics.
func Default() *Index {
	ix, err := defaultOnce()
	if err != nil {
		panic("ontology: shipped data is invalid: " + err.Error())
	}
	return ix
}

// NewIndex validates concepts and indexes them. The same scheme and code may
// appear more than once only with the same meaning; such entries are merged.
// Categories and Parent must refer to concepts in the set (their meanings
// are filled in from it). Errors are radmark.EINVALID.
func NewIndex(concepts []Concept) (*Index, error) {
	return build(concepts, nil)
}

func invalid(format string, args ...any) error {
	return radmark.Errorf(radmark.EINVALID, "ontology: "+format, args...)
}

func conceptKey(scheme, code string) string { return scheme + "\x00" + code }

func checkText(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("%s %q has leading or trailing space", what, s)
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == '\uFFFD' {
			return fmt.Errorf("%s %q has a control or invalid character", what, s)
		}
	}
	return nil
}

func build(in []Concept, declared []ListInfo) (*Index, error) {
	ix := &Index{key: map[string]int32{}, foldKey: map[string]int32{}}

	// Validate and merge.
	for i, c := range in {
		for _, f := range []struct{ what, v string }{{"code", c.Code}, {"scheme", c.Scheme}, {"meaning", c.Meaning}} {
			if err := checkText(f.what, f.v); err != nil {
				return nil, invalid("concept %d (%s %s): %v", i+1, c.Scheme, c.Code, err)
			}
		}
		if len(c.Lists) == 0 {
			return nil, invalid("%s %s %q belongs to no list", c.Scheme, c.Code, c.Meaning)
		}
		for _, l := range c.Lists {
			if err := checkText("list name", l); err != nil || listKey(l) == "" {
				return nil, invalid("%s %s: bad list name %q", c.Scheme, c.Code, l)
			}
		}
		for _, s := range c.Synonyms {
			if err := checkText("synonym", s); err != nil {
				return nil, invalid("%s %s: %v", c.Scheme, c.Code, err)
			}
		}
		for l, m := range c.ListMeanings {
			if err := checkText("list meaning", m); err != nil {
				return nil, invalid("%s %s in %s: %v", c.Scheme, c.Code, l, err)
			}
		}
		k := conceptKey(c.Scheme, c.Code)
		fk := upperASCII(k)
		if j, ok := ix.key[k]; ok {
			if err := merge(&ix.concepts[j], c); err != nil {
				return nil, err
			}
			continue
		}
		if j, ok := ix.foldKey[fk]; ok {
			o := ix.concepts[j]
			return nil, invalid("%s %s and %s %s differ only in letter case", o.Scheme, o.Code, c.Scheme, c.Code)
		}
		id := int32(len(ix.concepts))
		ix.concepts = append(ix.concepts, c.clone())
		ix.key[k], ix.foldKey[fk] = id, id
	}

	// Resolve references now that every concept is known.
	for i := range ix.concepts {
		c := &ix.concepts[i]
		for j, ref := range c.Categories {
			r, err := ix.resolve(*c, "category", ref)
			if err != nil {
				return nil, err
			}
			c.Categories[j] = r
		}
		if c.Parent != nil {
			r, err := ix.resolve(*c, "parent", *c.Parent)
			if err != nil {
				return nil, err
			}
			*c.Parent = r
		}
	}

	ix.buildLists(declared)
	ix.buildSearch()
	return ix, nil
}

// merge folds a repeated entry of the same scheme and code into c.
func merge(c *Concept, o Concept) error {
	if o.Meaning != c.Meaning {
		return invalid("%s %s has two meanings: %q and %q", c.Scheme, c.Code, c.Meaning, o.Meaning)
	}
	if o.Parent != nil {
		if c.Parent != nil && (c.Parent.Scheme != o.Parent.Scheme || c.Parent.Value != o.Parent.Value) {
			return invalid("%s %s has two parents", c.Scheme, c.Code)
		}
		p := *o.Parent
		c.Parent = &p
	}
	for _, l := range o.Lists {
		if !slices.Contains(c.Lists, l) {
			c.Lists = append(c.Lists, l)
		}
	}
	for _, s := range o.Synonyms {
		if !slices.Contains(c.Synonyms, s) {
			c.Synonyms = append(c.Synonyms, s)
		}
	}
	for _, r := range o.Categories {
		if !slices.ContainsFunc(c.Categories, func(x radmark.Code) bool { return x.Scheme == r.Scheme && x.Value == r.Value }) {
			c.Categories = append(c.Categories, r)
		}
	}
	for l, m := range o.ListMeanings {
		if c.ListMeanings == nil {
			c.ListMeanings = map[string]string{}
		}
		if old, ok := c.ListMeanings[l]; ok && old != m {
			return invalid("%s %s has two meanings in %s", c.Scheme, c.Code, l)
		}
		c.ListMeanings[l] = m
	}
	return nil
}

func (ix *Index) resolve(c Concept, what string, ref radmark.Code) (radmark.Code, error) {
	id, ok := ix.key[conceptKey(ref.Scheme, ref.Value)]
	if !ok {
		return radmark.Code{}, invalid("%s %s: %s %s %s is not in the set", c.Scheme, c.Code, what, ref.Scheme, ref.Value)
	}
	t := ix.concepts[id]
	if ref.Meaning != "" && ref.Meaning != t.Meaning {
		return radmark.Code{}, invalid("%s %s: %s %s %s is %q, not %q", c.Scheme, c.Code, what, ref.Scheme, ref.Value, t.Meaning, ref.Meaning)
	}
	// A category may be its own type (CID 7150 and CID 7191 both hold SCT
	// 85756007 Tissue); a concept cannot be its own parent.
	if what == "parent" && t.Scheme == c.Scheme && t.Code == c.Code {
		return radmark.Code{}, invalid("%s %s is its own parent", c.Scheme, c.Code)
	}
	return radmark.Code{Value: t.Code, Scheme: t.Scheme, Meaning: t.Meaning}, nil
}

// buildLists indexes list membership. declared names lists with their titles
// (from the data files' #list lines); they come first, in that order.
func (ix *Index) buildLists(declared []ListInfo) {
	ix.listIdx = map[string]int{}
	ix.schemes = map[string]bitset{}
	n := len(ix.concepts)
	add := func(name, title string) int {
		k := listKey(name)
		if i, ok := ix.listIdx[k]; ok {
			return i
		}
		if title == "" {
			title = name
		}
		ix.listIdx[k] = len(ix.lists)
		ix.lists = append(ix.lists, ListInfo{Name: name, Title: title})
		ix.members = append(ix.members, nil)
		ix.listBits = append(ix.listBits, newBitset(n))
		return len(ix.lists) - 1
	}
	// Declared lists first, in declaration order, so Lists reads like the
	// data files.
	for _, l := range declared {
		add(l.Name, l.Title)
	}
	for id, c := range ix.concepts {
		for _, l := range c.Lists {
			i := add(l, "")
			if !ix.listBits[i].has(int32(id)) {
				ix.listBits[i].set(int32(id))
				ix.members[i] = append(ix.members[i], int32(id))
			}
		}
		s := upperASCII(c.Scheme)
		b, ok := ix.schemes[s]
		if !ok {
			b = newBitset(n)
			ix.schemes[s] = b
		}
		b.set(int32(id))
	}
	lower := make([]string, n)
	for id, c := range ix.concepts {
		lower[id] = strings.ToLower(c.Meaning)
	}
	for i, m := range ix.members {
		name := ix.lists[i].Name
		meaning := func(id int32) string {
			if len(ix.concepts[id].ListMeanings) > 0 {
				return strings.ToLower(ix.concepts[id].MeaningIn(name))
			}
			return lower[id]
		}
		slices.SortFunc(m, func(a, b int32) int {
			ca, cb := ix.concepts[a], ix.concepts[b]
			return cmp.Or(
				cmp.Compare(meaning(a), meaning(b)),
				cmp.Compare(ca.Scheme, cb.Scheme),
				cmp.Compare(ca.Code, cb.Code))
		})
		ix.lists[i].Size = len(m)
	}
	// A declared list nothing belongs to is dropped.
	kept := 0
	for i := range ix.lists {
		if ix.lists[i].Size == 0 {
			continue
		}
		ix.lists[kept], ix.members[kept], ix.listBits[kept] = ix.lists[i], ix.members[i], ix.listBits[i]
		kept++
	}
	ix.lists, ix.members, ix.listBits = ix.lists[:kept], ix.members[:kept], ix.listBits[:kept]
	clear(ix.listIdx)
	for i, l := range ix.lists {
		ix.listIdx[listKey(l.Name)] = i
	}
}

// Lookup returns the concept with the given scheme and code. An exact match
// wins; otherwise letter case is ignored ("rid58" finds RADLEX RID58).
func (ix *Index) Lookup(scheme, code string) (Concept, bool) {
	id, ok := ix.key[conceptKey(scheme, code)]
	if !ok {
		id, ok = ix.foldKey[upperASCII(conceptKey(strings.TrimSpace(scheme), strings.TrimSpace(code)))]
	}
	if !ok {
		return Concept{}, false
	}
	return ix.concepts[id].clone(), true
}

// List returns the concepts of the named list ("CID 7150", "7150",
// "RadLex finding", "ICD-10 chapter"), sorted by meaning, each with the
// meaning that list's table gives it. An unknown list is empty.
func (ix *Index) List(name string) []Concept {
	i, ok := ix.listIdx[listKey(name)]
	if !ok {
		return nil
	}
	canonical := ix.lists[i].Name
	out := make([]Concept, len(ix.members[i]))
	for j, id := range ix.members[i] {
		c := ix.concepts[id].clone()
		c.Meaning = c.MeaningIn(canonical)
		out[j] = c
	}
	return out
}

// Lists describes every list in the index.
func (ix *Index) Lists() []ListInfo { return slices.Clone(ix.lists) }

// Len is the number of concepts in the index.
func (ix *Index) Len() int { return len(ix.concepts) }

// upperASCII upper-cases ASCII letters only: coding scheme designators and
// codes are ASCII, and Unicode case mapping would let "ſct" pass for "SCT".
func upperASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'a' <= b[j] && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// bitset is a set of concept ids.
type bitset []uint64

func newBitset(n int) bitset      { return make(bitset, (n+63)/64) }
func (b bitset) set(i int32)      { b[i>>6] |= 1 << (uint(i) & 63) }
func (b bitset) has(i int32) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

func (b bitset) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// each calls f for every member, ascending.
func (b bitset) each(f func(int32)) {
	for i, w := range b {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			f(int32(i*64 + t))
			w &= w - 1
		}
	}
}
