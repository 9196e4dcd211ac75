package deid

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/radmark/radmark/dicom"
)

// tableE11 is PS3.15 Table E.1-1 as shipped data; see the header of the
// file for its source and licence.
//
//go:embed table_e1_1.tsv
var tableE11 string

// Action is one code of Table E.1-1.
type Action string

// The actions of PS3.15 E.1.1 (compound ones such as X/Z are resolved by
// effectiveAction).
const (
	Keep    Action = "K"
	Remove  Action = "X"
	Zero    Action = "Z"
	Dummy   Action = "D"
	Clean   Action = "C"
	NewUID  Action = "U"
	KeepUID Action = "U*" // a sequence whose UIDs are remapped, the rest per profile
)

// Rule is one row of Table E.1-1.
type Rule struct {
	Name  string
	Basic string // the basic profile's action, possibly compound ("X/Z/D")
	// Option columns, "" where the table is blank: RetainSafePrivate,
	// RetainUIDs, RetainDeviceIdentity, RetainInstitutionIdentity,
	// RetainPatientCharacteristics, RetainLongitudinalFullDates,
	// RetainLongitudinalModifiedDates, CleanDescriptors,
	// CleanStructuredContent, CleanGraphics.
	Opt [10]string
}

const (
	colSafePrivate = iota
	colUIDs
	colDeviceID
	colInstitutionID
	colPatientChars
	colFullDates
	colModifiedDates
	colCleanDesc
	colCleanStruct
	colCleanGraphics
)

// table holds the rows by tag; repeating groups (50xx, 60xx) and the private
// row are kept apart.
type table struct {
	byTag   map[dicom.Tag]Rule
	curve   Rule // (50xx,xxxx)
	overlay map[uint16]Rule
	private Rule
}

var profileTable = mustParseTable(tableE11)

func mustParseTable(s string) *table {
	t, err := parseTable(s)
	if err != nil {
		panic(err)
	}
	return t
}

func parseTable(s string) (*table, error) {
	t := &table{byTag: map[dicom.Tag]Rule{}, overlay: map[uint16]Rule{}}
	header := true
	for n, line := range strings.Split(s, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if header {
			header = false
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 13 {
			return nil, fmt.Errorf("deid: table line %d: %d fields", n+1, len(f))
		}
		r := Rule{Basic: f[1], Name: f[12]}
		for i := range r.Opt {
			if f[2+i] != "-" {
				r.Opt[i] = f[2+i]
			}
		}
		switch {
		case f[0] == "PRIVATE":
			t.private = r
		case strings.HasPrefix(f[0], "50xx"):
			t.curve = r
		case strings.HasPrefix(f[0], "60xx"):
			el, err := strconv.ParseUint(f[0][4:], 16, 16)
			if err != nil {
				return nil, fmt.Errorf("deid: table line %d: %w", n+1, err)
			}
			t.overlay[uint16(el)] = r
		default:
			v, err := strconv.ParseUint(f[0], 16, 32)
			if err != nil {
				return nil, fmt.Errorf("deid: table line %d: %w", n+1, err)
			}
			t.byTag[dicom.Tag(v)] = r
		}
	}
	if len(t.byTag) < 500 || t.private.Basic == "" {
		return nil, fmt.Errorf("deid: table E.1-1 incomplete (%d rows)", len(t.byTag))
	}
	return t, nil
}

// rule returns the row that governs tag, if any.
func (t *table) rule(tag dicom.Tag) (Rule, bool) {
	g := tag.Group()
	switch {
	case tag.IsPrivate():
		return t.private, true
	case g&0xFF00 == 0x5000:
		return t.curve, true
	case g&0xFF00 == 0x6000 && g%2 == 0:
		// The whole overlay group goes with its data: an Overlay Plane
		// Module without Overlay Data is invalid, and the table removes it.
		if r, ok := t.overlay[tag.Element()]; ok {
			return r, true
		}
		return Rule{Name: "Overlay Plane Module", Basic: "X", Opt: [10]string{colCleanGraphics: "C"}}, true
	}
	r, ok := t.byTag[tag]
	return r, ok
}
