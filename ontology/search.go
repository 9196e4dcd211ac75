package ontology

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Match says how a result matched the query, best first. Results are ranked
// by it, then by the length of their meaning (shorter first), then by scheme
// (SCT, DCM, other DICOM schemes, RADLEX, I10), meaning and code.
type Match int

const (
	MatchExact     Match = iota // the meaning (or a synonym) is the query
	MatchPrefix                 // the meaning (or a synonym) starts with the query
	MatchWord                   // every query word starts a word of the meaning or a synonym
	MatchCode                   // a query word is the code, starts it, or (ICD-10) falls in its range
	MatchSubstring              // a query word only occurs inside a word
)

var matchNames = [...]string{"exact", "prefix", "word", "code", "substring"}

func (m Match) String() string {
	if m >= 0 && int(m) < len(matchNames) {
		return matchNames[m]
	}
	return "unknown"
}

// MarshalText writes the match's name, for JSON.
func (m Match) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads a match's name, so Go clients can decode results.
func (m *Match) UnmarshalText(b []byte) error {
	for i, n := range matchNames {
		if n == string(b) {
			*m = Match(i)
			return nil
		}
	}
	return fmt.Errorf("ontology: unknown match kind %q", b)
}

// Result is one search hit.
type Result struct {
	Concept Concept `json:"concept"`
	Match   Match   `json:"match"`
}

// SearchOptions narrow a search. Empty filters match everything.
type SearchOptions struct {
	// Limit is the most results returned: DefaultLimit when 0 or less, at
	// most MaxLimit.
	Limit int
	// Schemes keeps concepts of any of these coding schemes ("SCT",
	// "RADLEX"); letter case is ignored.
	Schemes []string
	// Lists keeps concepts in any of these lists ("CID 7151", "RadLex").
	// When it names one list, results carry that list's wording of their
	// meaning.
	Lists []string
}

const (
	DefaultLimit = 20
	MaxLimit     = 500

	// Bounds on the work one query can ask for: longer queries are cut.
	maxQueryBytes = 256
	maxQueryWords = 8
	// Words shorter than this match codes only exactly and never as
	// substrings, so "a" does not return everything.
	minInfix = 3
)

// schemeRank orders otherwise equal results: DICOM's own lists first, as
// SEG and SR want them, then RadLex, then ICD-10.
func schemeRank(s string) int {
	switch s {
	case SchemeSNOMED:
		return 0
	case SchemeDICOM:
		return 1
	case SchemeRadLex:
		return 3
	case SchemeICD10:
		return 4
	}
	return 2
}

// codeRange is an ICD-10 range code ("C30-C39") as numbers: letter*100+nn.
type codeRange struct {
	lo, hi int
	id     int32
}

// icdNumber reads "c34" (and "c34.1", "c341") as 234; ok is false for
// anything that does not start like an ICD-10 code.
func icdNumber(s string) (int, bool) {
	if len(s) < 3 || s[0] < 'a' || s[0] > 'z' || !isDigit(s[1]) || !isDigit(s[2]) {
		return 0, false
	}
	rest := strings.TrimPrefix(s[3:], ".")
	for i := 0; i < len(rest); i++ {
		if !isDigit(rest[i]) {
			return 0, false
		}
	}
	return int(s[0]-'a')*100 + int(s[1]-'0')*10 + int(s[2]-'0'), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (ix *Index) buildSearch() {
	n := len(ix.concepts)
	ix.ord = make([]int32, n)
	ix.phrases = make([][]string, n)
	byOrder := make([]int32, n)
	words := map[string][]int32{}
	for i := range ix.concepts {
		id := int32(i)
		c := ix.concepts[i]
		byOrder[i] = id
		for _, text := range append([]string{c.Meaning}, c.Synonyms...) {
			toks := tokens(text)
			ix.phrases[i] = append(ix.phrases[i], strings.Join(toks, " "))
			for _, t := range toks {
				p := words[t]
				if len(p) == 0 || p[len(p)-1] != id {
					words[t] = append(p, id)
				}
			}
		}
		ix.codes = append(ix.codes, codeRef{foldCode(c.Code), id})
		if c.Scheme == SchemeICD10 {
			lo, hi, ok := strings.Cut(foldCode(c.Code), "-")
			l, ok1 := icdNumber(lo)
			h, ok2 := icdNumber(hi)
			if ok && ok1 && ok2 && l <= h {
				ix.ranges = append(ix.ranges, codeRange{l, h, id})
			}
		}
	}
	type orderKey struct {
		length, rank  int
		scheme, lower string
		code          string
	}
	keys := make([]orderKey, n)
	for i, c := range ix.concepts {
		keys[i] = orderKey{utf8.RuneCountInString(c.Meaning), schemeRank(c.Scheme), c.Scheme, strings.ToLower(c.Meaning), c.Code}
	}
	slices.SortFunc(byOrder, func(a, b int32) int {
		ka, kb := &keys[a], &keys[b]
		return cmp.Or(
			cmp.Compare(ka.length, kb.length),
			cmp.Compare(ka.rank, kb.rank),
			cmp.Compare(ka.scheme, kb.scheme),
			cmp.Compare(ka.lower, kb.lower),
			cmp.Compare(ka.code, kb.code))
	})
	for rank, id := range byOrder {
		ix.ord[id] = int32(rank)
	}
	ix.vocab = make([]string, 0, len(words))
	for w := range words {
		ix.vocab = append(ix.vocab, w)
	}
	slices.Sort(ix.vocab)
	ix.postings = make([][]int32, len(ix.vocab))
	for i, w := range ix.vocab {
		ix.postings[i] = words[w]
	}
	slices.SortFunc(ix.codes, func(a, b codeRef) int {
		return cmp.Or(strings.Compare(a.code, b.code), cmp.Compare(a.id, b.id))
	})
}

// queryWord is one whitespace-separated word of a query: it matches a
// concept by code, or when each of its tokens does (a word such as
// "non-solid" has two).
type queryWord struct {
	code string   // folded, as codes are
	toks []string // folded words
	// What each way of matching found.
	codeExact, codePrefix bitset
	rangeWidth            map[int32]int // ICD-10 range hits: id -> width
	direct, alias, infix  []bitset      // per token
	any                   bitset
}

// Search finds concepts for a query typed into a label picker. Every query
// word must match (AND): as the start of a word of the meaning or a synonym
// ("lung nod"), through a radiology equivalent ("kidney" finds "renal"), as
// a code or the start of one ("123037004", "RID58"), as an ICD-10 code in a
// block's range ("C34" finds C30-C39), or, for words of three or more
// letters, inside a word ("thorax" finds "pneumothorax"). Case, accents and
// British spellings do not matter. Results are ranked as Match says; equal
// ranks keep a fixed order, so the same query always gives the same list.
func (ix *Index) Search(q string, opts SearchOptions) []Result {
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	if len(q) > maxQueryBytes {
		i := maxQueryBytes
		for i > 0 && !utf8.RuneStart(q[i]) {
			i--
		}
		q = q[:i]
	}

	var words []*queryWord
	var all []string
	for _, raw := range strings.Fields(q) {
		if len(words) == maxQueryWords {
			break
		}
		w := &queryWord{code: strings.Trim(foldCode(raw), ".,;:()[]{}\"'"), toks: tokens(raw)}
		if len(w.toks) == 0 { // punctuation only: every code has a letter or digit
			continue
		}
		words = append(words, w)
		all = append(all, w.toks...)
	}
	if len(words) == 0 {
		return nil
	}
	phrase := strings.Join(all, " ")

	cand := ix.filter(opts)
	if cand == nil {
		cand = newBitset(len(ix.concepts))
		for i := range cand {
			cand[i] = ^uint64(0)
		}
	}
	for _, w := range words {
		ix.matchWord(w)
		cand.and(w.any)
		if cand.empty() {
			return nil
		}
	}

	type hit struct {
		id    int32
		match Match
		sub   int
	}
	var hits []hit
	cand.each(func(id int32) {
		if int(id) >= len(ix.concepts) {
			return
		}
		m, sub := ix.rank(id, phrase, words)
		hits = append(hits, hit{id, m, sub})
	})
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(cmp.Compare(a.match, b.match), cmp.Compare(a.sub, b.sub), cmp.Compare(ix.ord[a.id], ix.ord[b.id]))
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	list := ""
	if len(opts.Lists) == 1 {
		if i, ok := ix.listIdx[listKey(opts.Lists[0])]; ok {
			list = ix.lists[i].Name
		}
	}
	out := make([]Result, len(hits))
	for i, h := range hits {
		c := ix.concepts[h.id].clone()
		if list != "" {
			c.Meaning = c.MeaningIn(list)
		}
		out[i] = Result{Concept: c, Match: h.match}
	}
	return out
}

// filter returns the concepts the options allow, or nil for all.
func (ix *Index) filter(opts SearchOptions) bitset {
	var keep bitset
	if len(opts.Schemes) > 0 {
		keep = newBitset(len(ix.concepts))
		for _, s := range opts.Schemes {
			if b, ok := ix.schemes[upperASCII(strings.TrimSpace(s))]; ok {
				keep.or(b)
			}
		}
	}
	if len(opts.Lists) > 0 {
		in := newBitset(len(ix.concepts))
		for _, l := range opts.Lists {
			if i, ok := ix.listIdx[listKey(l)]; ok {
				in.or(ix.listBits[i])
			}
		}
		if keep == nil {
			keep = in
		} else {
			keep.and(in)
		}
	}
	return keep
}

// matchWord fills in what w matches.
func (ix *Index) matchWord(w *queryWord) {
	n := len(ix.concepts)
	w.codeExact, w.codePrefix, w.any = newBitset(n), newBitset(n), newBitset(n)
	if w.code != "" {
		i := sort.Search(len(ix.codes), func(i int) bool { return ix.codes[i].code >= w.code })
		for ; i < len(ix.codes) && strings.HasPrefix(ix.codes[i].code, w.code); i++ {
			switch {
			case ix.codes[i].code == w.code:
				w.codeExact.set(ix.codes[i].id)
			case len(w.code) >= minInfix:
				w.codePrefix.set(ix.codes[i].id)
			}
		}
		if v, ok := icdNumber(w.code); ok {
			for _, r := range ix.ranges {
				if r.lo <= v && v <= r.hi {
					if w.rangeWidth == nil {
						w.rangeWidth = map[int32]int{}
					}
					w.rangeWidth[r.id] = r.hi - r.lo
					w.codePrefix.set(r.id)
				}
			}
		}
	}
	var toks bitset
	for _, t := range w.toks {
		direct, alias, infix := newBitset(n), newBitset(n), newBitset(n)
		lo := sort.SearchStrings(ix.vocab, t)
		for i := lo; i < len(ix.vocab) && strings.HasPrefix(ix.vocab[i], t); i++ {
			for _, id := range ix.postings[i] {
				direct.set(id)
			}
		}
		for _, a := range aliases[t] {
			a = canonicalSpelling(a)
			if i := sort.SearchStrings(ix.vocab, a); i < len(ix.vocab) && ix.vocab[i] == a {
				for _, id := range ix.postings[i] {
					alias.set(id)
				}
			}
		}
		if len(t) >= minInfix {
			for i, v := range ix.vocab {
				if len(v) > len(t) && !strings.HasPrefix(v, t) && strings.Contains(v, t) {
					for _, id := range ix.postings[i] {
						infix.set(id)
					}
				}
			}
		}
		w.direct, w.alias, w.infix = append(w.direct, direct), append(w.alias, alias), append(w.infix, infix)
		m := newBitset(n)
		m.or(direct)
		m.or(alias)
		m.or(infix)
		if toks == nil {
			toks = m
		} else {
			toks.and(m)
		}
	}
	w.any.or(w.codeExact)
	w.any.or(w.codePrefix)
	if toks != nil {
		w.any.or(toks)
	}
}

// rank says how concept id matched: the best of its phrases for the whole
// query, else the weakest of its per-word matches. sub orders results within
// a Match: direct word matches before ones through an alias, exact codes
// before prefixes, narrow ICD-10 ranges before wide ones.
func (ix *Index) rank(id int32, phrase string, words []*queryWord) (Match, int) {
	if phrase != "" {
		prefix := false
		for _, p := range ix.phrases[id] {
			if p == phrase {
				return MatchExact, 0
			}
			prefix = prefix || strings.HasPrefix(p, phrase)
		}
		if prefix {
			return MatchPrefix, 0
		}
	}
	worst, sub := MatchWord, 0
	for _, w := range words {
		m, s := w.matchOf(id)
		if m > worst || (m == worst && s > sub) {
			worst, sub = m, s
		}
	}
	return worst, sub
}

func (w *queryWord) matchOf(id int32) (Match, int) {
	if len(w.toks) > 0 {
		direct, viaAlias := true, false
		for i := range w.toks {
			switch {
			case w.direct[i].has(id):
			case w.alias[i].has(id):
				viaAlias = true
			default:
				direct = false
			}
		}
		if direct {
			if viaAlias {
				return MatchWord, 1
			}
			return MatchWord, 0
		}
	}
	switch {
	case w.codeExact.has(id):
		return MatchCode, 0
	case w.codePrefix.has(id):
		if width, ok := w.rangeWidth[id]; ok {
			return MatchCode, 2 + width
		}
		return MatchCode, 1
	}
	return MatchSubstring, 0
}
