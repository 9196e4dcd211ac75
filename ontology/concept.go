package ontology

import (
	"strings"

	"github.com/radmark/radmark"
)

// Coding scheme designators of the shipped data (PS3.16 Table 8-1).
const (
	SchemeSNOMED = "SCT"    // SNOMED CT
	SchemeDICOM  = "DCM"    // DICOM controlled terminology
	SchemeRadLex = "RADLEX" // RSNA RadLex
	SchemeICD10  = "I10"    // WHO ICD-10
)

// MaxMeaning is the longest CodeMeaning DICOM allows (VR LO: 64 characters).
const MaxMeaning = 64

// Concept is one coded concept.
type Concept struct {
	Code    string `json:"code"`    // CodeValue
	Scheme  string `json:"scheme"`  // CodingSchemeDesignator
	Meaning string `json:"meaning"` // CodeMeaning
	// Lists names every list the concept belongs to: "CID 7151",
	// "CID 4031", "RadLex", "RadLex finding", "ICD-10 block"...
	Lists []string `json:"lists"`
	// Synonyms are other words for the concept that search also matches;
	// for a DICOM concept, the other wordings PS3.16 uses for its code.
	Synonyms []string `json:"synonyms,omitempty"`
	// ListMeanings holds, for the few lists whose table words the concept
	// differently from Meaning, that wording: PS3.16 calls SCT 51185008
	// "Chest" in CID 7151 and CID 4031 but "Thorax" in CID 7155. See
	// MeaningIn.
	ListMeanings map[string]string `json:"listMeanings,omitempty"`
	// Categories are, for a segmentation property type (CID 7151), the
	// segmentation property categories (CID 7150) PS3.16 pairs it with
	// through CIDs 7191-7198. A DICOM SEG segment coded with this type
	// takes one of them as its category.
	Categories []radmark.Code `json:"categories,omitempty"`
	// Parent is the broader concept in the same scheme, when it is shipped
	// too: an ICD-10 block's chapter or enclosing block, a RadLex term's
	// parent term.
	Parent *radmark.Code `json:"parent,omitempty"`
}

// Coded returns the concept as a code for a label schema, DICOM SEG or SR.
// A meaning longer than DICOM's 64 characters (some ICD-10 block titles) is
// shortened at a word boundary and ends in "...".
func (c Concept) Coded() radmark.Code {
	return radmark.Code{Value: c.Code, Scheme: c.Scheme, Meaning: shorten(c.Meaning, MaxMeaning)}
}

// MeaningIn returns the concept's meaning as the named list words it.
func (c Concept) MeaningIn(list string) string {
	key := listKey(list)
	for l, m := range c.ListMeanings {
		if listKey(l) == key {
			return m
		}
	}
	return c.Meaning
}

// In reports whether the concept belongs to the named list.
func (c Concept) In(list string) bool {
	key := listKey(list)
	for _, l := range c.Lists {
		if listKey(l) == key {
			return true
		}
	}
	return false
}

func (c Concept) clone() Concept {
	c.Lists = append([]string(nil), c.Lists...)
	if c.Synonyms != nil {
		c.Synonyms = append([]string(nil), c.Synonyms...)
	}
	if c.Categories != nil {
		c.Categories = append([]radmark.Code(nil), c.Categories...)
	}
	if c.Parent != nil {
		p := *c.Parent
		c.Parent = &p
	}
	if c.ListMeanings != nil {
		m := make(map[string]string, len(c.ListMeanings))
		for k, v := range c.ListMeanings {
			m[k] = v
		}
		c.ListMeanings = m
	}
	return c
}

// shorten cuts s to at most n characters at a word boundary, marking the cut
// with "...".
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	cut := string(r[:n-3])
	if i := strings.LastIndexByte(cut, ' '); i > 0 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,;:-") + "..."
}

// ListInfo describes one list of concepts.
type ListInfo struct {
	Name  string `json:"name"`  // "CID 7151", "RadLex", "ICD-10 chapter"
	Title string `json:"title"` // "Segmentation Property Types"
	Size  int    `json:"size"`  // number of concepts
}
