package dicom

import (
	"fmt"
	"strconv"

	dcmtag "github.com/suyashkumar/dicom/pkg/tag"
)

// Tag is a DICOM attribute tag, group in the high 16 bits.
type Tag uint32

// NewTag builds a tag from its group and element numbers.
func NewTag(group, element uint16) Tag { return Tag(uint32(group)<<16 | uint32(element)) }

// Group returns the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element returns the tag's element number.
func (t Tag) Element() uint16 { return uint16(t) }

// IsPrivate reports whether the tag is in an odd (private) group.
func (t Tag) IsPrivate() bool { return t.Group()%2 == 1 && t.Group() > 0x0008 }

// IsPrivateCreator reports whether the tag reserves a private block,
// (gggg,0010)-(gggg,00FF) in an odd group.
func (t Tag) IsPrivateCreator() bool {
	return t.IsPrivate() && t.Element() >= 0x0010 && t.Element() <= 0x00FF
}

// String formats the tag as (GGGG,EEEE).
func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", t.Group(), t.Element()) }

// Hex formats the tag as GGGGEEEE, the form DICOM JSON and DICOMweb use.
func (t Tag) Hex() string { return fmt.Sprintf("%08X", uint32(t)) }

// ParseTag parses "GGGGEEEE", "(GGGG,EEEE)" or "GGGG,EEEE" (hexadecimal).
func ParseTag(s string) (Tag, error) {
	clean := make([]byte, 0, 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '(', ')', ',':
		default:
			clean = append(clean, c)
		}
	}
	if len(clean) != 8 {
		return 0, fmt.Errorf("tag %q: want 8 hexadecimal digits", s)
	}
	v, err := strconv.ParseUint(string(clean), 16, 32)
	if err != nil {
		return 0, fmt.Errorf("tag %q: %w", s, err)
	}
	return Tag(v), nil
}

// TagInfo is what the data dictionary says about a tag.
type TagInfo struct {
	Tag     Tag
	VR      VR // the first VR the standard allows for it
	VRs     []VR
	Keyword string
	Name    string
	VM      string
	Retired bool
}

// dictionaryKey maps tags of repeating groups (curves 50xx, overlays 60xx)
// to the group the dictionary lists them under.
func dictionaryKey(t Tag) Tag {
	g := t.Group()
	if (g&0xFF00 == 0x5000 || g&0xFF00 == 0x6000) && g%2 == 0 {
		return NewTag(g&0xFF00, t.Element())
	}
	return t
}

// LookupTag returns the dictionary entry of t. The dictionary is the one of
// github.com/suyashkumar/dicom (generated from the standard); repeating
// groups and generic group lengths are resolved here.
func LookupTag(t Tag) (TagInfo, bool) {
	if t.Element() == 0 {
		return TagInfo{Tag: t, VR: UL, VRs: []VR{UL}, Keyword: "GenericGroupLength", Name: "Group Length", VM: "1"}, true
	}
	if t.IsPrivateCreator() {
		return TagInfo{Tag: t, VR: LO, VRs: []VR{LO}, Keyword: "PrivateCreator", Name: "Private Creator", VM: "1"}, true
	}
	k := dictionaryKey(t)
	info, err := dcmtag.Find(dcmtag.Tag{Group: k.Group(), Element: k.Element()})
	if err != nil {
		return TagInfo{}, false
	}
	ti := TagInfo{Tag: t, Keyword: info.Keyword, Name: info.Name, VM: info.VM, Retired: info.Retired}
	for _, s := range info.VRs {
		if len(s) == 2 {
			ti.VRs = append(ti.VRs, vrFromBytes(s[0], s[1]))
		}
	}
	if len(ti.VRs) == 0 {
		ti.VRs = []VR{UN}
	}
	ti.VR = ti.VRs[0]
	return ti, true
}

// TagForKeyword returns the tag whose dictionary keyword is kw (for example
// "PatientName"), as DICOMweb query parameters may name attributes by keyword.
func TagForKeyword(kw string) (Tag, bool) {
	info, err := dcmtag.FindByKeyword(kw)
	if err != nil {
		return 0, false
	}
	return NewTag(info.Tag.Group, info.Tag.Element), true
}

// Keyword returns the dictionary keyword of t, or "" for unknown tags.
func (t Tag) Keyword() string {
	info, ok := LookupTag(t)
	if !ok {
		return ""
	}
	return info.Keyword
}
