package ontology

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// latinFold maps U+00C0..U+017F (Latin-1 Supplement letters and Latin
// Extended-A) to lower-case ASCII. "" means "not a letter" (× and ÷).
var latinFold = [...]string{
	// U+00C0..U+00FF
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "ss",
	"a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "y",
	// U+0100..U+017F
	"a", "a", "a", "a", "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d",
	"d", "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g",
	"g", "g", "g", "g", "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i",
	"i", "i", "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l",
	"l", "l", "l", "n", "n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o",
	"o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s", "s", "s", "s",
	"s", "s", "t", "t", "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u",
	"u", "u", "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s",
}

// appendFolded appends r to b lower-cased and without accents, and reports
// whether r is part of a word (a letter or digit). Combining marks, as in
// decomposed input, are dropped but keep the word going.
func appendFolded(b []byte, r rune) ([]byte, bool) {
	switch {
	case r < utf8.RuneSelf:
		c := byte(r)
		switch {
		case 'A' <= c && c <= 'Z':
			return append(b, c+'a'-'A'), true
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			return append(b, c), true
		}
		return b, false
	case 0xC0 <= r && r <= 0x17F:
		s := latinFold[r-0xC0]
		return append(b, s...), s != ""
	case unicode.Is(unicode.Mn, r):
		return b, true
	case r == 'µ' || r == 'μ':
		return append(b, 'u'), true
	case unicode.IsLetter(r) || unicode.IsDigit(r):
		return utf8.AppendRune(b, unicode.ToLower(r)), true
	}
	return b, false
}

// isApostrophe reports runes that join a word rather than split it:
// "Bird's beak" is "birds beak", so "bird" still finds it by prefix.
func isApostrophe(r rune) bool { return r == '\'' || r == '’' || r == 'ʼ' }

// tokens splits s into folded words (runs of letters and digits), each in
// its canonical spelling.
func tokens(s string) []string {
	var out []string
	var b []byte
	flush := func() {
		if len(b) > 0 {
			out = append(out, canonicalSpelling(string(b)))
			b = b[:0]
		}
	}
	for _, r := range s {
		if isApostrophe(r) {
			continue
		}
		var word bool
		b, word = appendFolded(b, r)
		if !word {
			flush()
		}
	}
	flush()
	return out
}

// foldCode folds a code for matching: lower case, accents and spaces gone,
// other punctuation ("C30-C39", "C34.1") kept.
func foldCode(s string) string {
	var b []byte
	for _, r := range s {
		var word bool
		b, word = appendFolded(b, r)
		if !word && r < utf8.RuneSelf && r > ' ' {
			b = append(b, byte(r))
		}
	}
	return string(b)
}

// britishSpellings rewrites British medical spellings to the American ones
// SNOMED CT and RadLex use, so "haemorrhage" (ICD-10) and "hemorrhage" meet.
// Each rule is narrow enough not to merge unrelated words.
var britishSpellings = []struct{ from, to string }{
	{"aem", "em"}, // haemorrhage, anaemia, ischaemia, leukaemia
	{"paed", "ped"},
	{"aetiol", "etiol"},
	{"gynaec", "gynec"},
	{"foet", "fet"},
	{"oesoph", "esoph"},
}

func canonicalSpelling(w string) string {
	if len(w) < 4 {
		return w
	}
	for _, r := range britishSpellings {
		if strings.Contains(w, r.from) {
			w = strings.ReplaceAll(w, r.from, r.to)
		}
	}
	if strings.HasPrefix(w, "oed") || strings.HasPrefix(w, "oestr") { // oedema, oestrogen
		w = w[1:]
	}
	if a, ok := britishWords[w]; ok {
		w = a
	}
	return w
}

// britishWords are whole words whose spelling differs at the end, where a
// rule would also catch unrelated words ("contour").
var britishWords = map[string]string{
	"tumour": "tumor", "tumours": "tumors", "behaviour": "behavior", "colour": "color",
	"centre": "center", "fibre": "fiber", "litre": "liter", "millilitre": "milliliter",
	"metre": "meter", "millimetre": "millimeter", "centimetre": "centimeter",
}

// aliases are radiology equivalents a reader types interchangeably. A query
// word equal to a key also matches concepts that have one of its values as a
// word; such matches rank after direct ones. They widen search only: no
// concept, code or meaning comes from this table.
var aliases = map[string][]string{
	"lung": {"pulmonary"}, "pulmonary": {"lung"},
	"kidney": {"renal"}, "renal": {"kidney"},
	"liver": {"hepatic"}, "hepatic": {"liver"},
	"heart": {"cardiac"}, "cardiac": {"heart"},
	"brain": {"cerebral"}, "cerebral": {"brain"},
	"stomach": {"gastric"}, "gastric": {"stomach"},
	"spleen": {"splenic"}, "splenic": {"spleen"},
	"bowel": {"intestine", "intestinal"}, "intestine": {"bowel"}, "intestinal": {"bowel"},
	"chest": {"thorax", "thoracic"}, "thorax": {"chest"}, "thoracic": {"chest"},
	"bone": {"osseous"}, "osseous": {"bone"},
	"tumor":  {"neoplasm", "neoplasms", "mass"},
	"cancer": {"carcinoma", "malignant"},
	"bleed":  {"hemorrhage"}, "bleeding": {"hemorrhage"},
	"clot":  {"thrombus", "thrombosis"},
	"stone": {"calculus", "lithiasis", "gallstone"},
	"fat":   {"adipose"},
}

// listKey folds a list name so "CID 7151", "cid7151" and "7151" are one key.
func listKey(name string) string {
	var b []byte
	for _, r := range name {
		b, _ = appendFolded(b, r)
	}
	digits := len(b) > 0
	for _, c := range b {
		if c < '0' || c > '9' {
			digits = false
			break
		}
	}
	if digits {
		return "cid" + string(b)
	}
	return string(b)
}
