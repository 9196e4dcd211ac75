package dicom

import (
	"encoding/binary"
	"math"
	"sort"
	"strconv"
	"strings"
)

// UndefinedLength is the value length 0xFFFFFFFF: a sequence, item or
// encapsulated pixel data ended by a delimiter instead of a byte count.
const UndefinedLength = 0xFFFFFFFF

// Element is one data element. Binary values are held little-endian whatever
// the byte order of the source, so accessors and writers need not care.
type Element struct {
	Tag Tag
	VR  VR
	// Value holds the value bytes for everything but sequences and
	// encapsulated data. It is nil when the value was not loaded (Bulk).
	Value []byte
	// Items are the items of a sequence (VR SQ, or UN holding a sequence).
	Items []*Dataset
	// Fragments hold encapsulated data (PS3.5 A.4), Fragments[0] being the
	// Basic Offset Table item.
	Fragments []Fragment
	// Encapsulated reports that the value is a sequence of fragments.
	Encapsulated bool
	// Offset is the position of the value's first byte in the source (for
	// encapsulated data, of the first item tag); Length the declared value
	// length, UndefinedLength for undefined.
	Offset int64
	Length uint32
	// Bulk reports that the value was located but not loaded (see
	// ParseOptions.BulkDataThreshold and StopAtPixelData).
	Bulk bool
}

// Fragment is one item of encapsulated data.
type Fragment struct {
	Offset int64  // position of the fragment's bytes in the source
	Length uint32 // their count
	Data   []byte // nil when not loaded
	Head   []byte // the first (up to 4) bytes, kept even when Data is not loaded
}

// Dataset is an ordered collection of elements; the items of sequences are
// datasets too.
type Dataset struct {
	Elements []Element
	// charset decodes the text of this dataset; items inherit their
	// parent's unless they carry their own Specific Character Set.
	charset *Charset
	// unsorted is set when the source listed tags out of order, so look-ups
	// cannot binary-search.
	unsorted bool
}

// Get returns the element with tag t, or nil.
func (ds *Dataset) Get(t Tag) *Element {
	if ds == nil {
		return nil
	}
	if ds.unsorted || len(ds.Elements) < 8 {
		for i := range ds.Elements {
			if ds.Elements[i].Tag == t {
				return &ds.Elements[i]
			}
		}
		return nil
	}
	i := sort.Search(len(ds.Elements), func(i int) bool { return ds.Elements[i].Tag >= t })
	if i < len(ds.Elements) && ds.Elements[i].Tag == t {
		return &ds.Elements[i]
	}
	return nil
}

// Has reports whether the dataset holds tag t.
func (ds *Dataset) Has(t Tag) bool { return ds.Get(t) != nil }

// Charset returns the character set that decodes this dataset's text.
func (ds *Dataset) Charset() *Charset {
	if ds == nil || ds.charset == nil {
		return defaultCharset
	}
	return ds.charset
}

// Put adds or replaces an element, keeping tags in ascending order.
func (ds *Dataset) Put(e Element) {
	i := sort.Search(len(ds.Elements), func(i int) bool { return ds.Elements[i].Tag >= e.Tag })
	if ds.unsorted {
		for j := range ds.Elements {
			if ds.Elements[j].Tag == e.Tag {
				ds.Elements[j] = e
				return
			}
		}
		ds.Elements = append(ds.Elements, e)
		ds.sortElements()
		return
	}
	if i < len(ds.Elements) && ds.Elements[i].Tag == e.Tag {
		ds.Elements[i] = e
		return
	}
	ds.Elements = append(ds.Elements, Element{})
	copy(ds.Elements[i+1:], ds.Elements[i:])
	ds.Elements[i] = e
}

// Remove deletes the element with tag t, if any.
func (ds *Dataset) Remove(t Tag) {
	for i := range ds.Elements {
		if ds.Elements[i].Tag == t {
			ds.Elements = append(ds.Elements[:i], ds.Elements[i+1:]...)
			return
		}
	}
}

func (ds *Dataset) sortElements() {
	sort.SliceStable(ds.Elements, func(i, j int) bool { return ds.Elements[i].Tag < ds.Elements[j].Tag })
	ds.unsorted = false
}

// String returns the first value of a text element, decoded to UTF-8 and
// trimmed of padding, or "" if absent.
func (ds *Dataset) String(t Tag) string {
	e := ds.Get(t)
	if e == nil {
		return ""
	}
	v := e.Strings(ds.Charset())
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Strings returns all values of a text element, decoded and trimmed.
func (ds *Dataset) Strings(t Tag) []string {
	e := ds.Get(t)
	if e == nil {
		return nil
	}
	return e.Strings(ds.Charset())
}

// Int returns the first value of an integer element (IS, US, SS, UL, SL, SV,
// UV) and whether there was a valid one.
func (ds *Dataset) Int(t Tag) (int, bool) {
	e := ds.Get(t)
	if e == nil {
		return 0, false
	}
	v := e.Ints()
	if len(v) == 0 {
		return 0, false
	}
	return int(v[0]), true
}

// IntOr returns Int's value, or def when there is none.
func (ds *Dataset) IntOr(t Tag, def int) int {
	if v, ok := ds.Int(t); ok {
		return v
	}
	return def
}

// Float returns the first value of a numeric element (DS, FL, FD, or any
// integer VR) and whether there was a valid one.
func (ds *Dataset) Float(t Tag) (float64, bool) {
	v := ds.Floats(t)
	if len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

// Floats returns all values of a numeric element; values that do not parse
// are left out.
func (ds *Dataset) Floats(t Tag) []float64 {
	e := ds.Get(t)
	if e == nil {
		return nil
	}
	return e.Floats()
}

// Items returns the items of a sequence element.
func (ds *Dataset) Items(t Tag) []*Dataset {
	e := ds.Get(t)
	if e == nil {
		return nil
	}
	return e.Items
}

// StringsDeep returns the first value of element t wherever it occurs:
// in ds and in the items of its sequences, at any depth, in the order of
// the data set. Referenced SOP Instance UIDs sit so, inside nested
// reference sequences.
func (ds *Dataset) StringsDeep(t Tag) []string {
	var out []string
	for i := range ds.Elements {
		e := &ds.Elements[i]
		if e.Tag == t {
			out = append(out, ds.String(t))
		}
		for _, it := range e.Items {
			out = append(out, it.StringsDeep(t)...)
		}
	}
	return out
}

// Strings decodes the element's text values with cs, splits multiple values
// and trims the padding the VR allows.
func (e *Element) Strings(cs *Charset) []string {
	if len(e.Value) == 0 {
		return nil
	}
	var s string
	if e.VR.usesCharset() {
		s = cs.Decode(e.Value, e.VR)
	} else {
		s = string(e.Value)
	}
	var vals []string
	if e.VR.singleValued() {
		vals = []string{s}
	} else {
		vals = splitValues(s)
	}
	for i, v := range vals {
		vals[i] = trimValue(e.VR, v)
	}
	return vals
}

func splitValues(s string) []string { return strings.Split(s, `\`) }

// trimValue removes padding: trailing spaces (and NULs, which some writers
// use) everywhere; leading spaces too where the VR says they are
// insignificant (PS3.5 6.2). LT/ST/UT keep leading spaces.
func trimValue(vr VR, s string) string {
	s = strings.TrimRight(s, " \x00")
	switch vr {
	case LT, ST, UT, UR:
		return s
	}
	return strings.TrimLeft(s, " ")
}

func asciiTrim(s string) string { return strings.Trim(s, " \x00") }

// Ints returns the element's values as integers: binary integer VRs are
// read directly, IS (and DS holding integers) is parsed.
func (e *Element) Ints() []int64 {
	b := e.Value
	switch e.VR {
	case US, OW:
		out := make([]int64, len(b)/2)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out
	case SS:
		out := make([]int64, len(b)/2)
		for i := range out {
			out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
		return out
	case UL, OL:
		out := make([]int64, len(b)/4)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	case SL:
		out := make([]int64, len(b)/4)
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
		return out
	case SV, UV, OV:
		out := make([]int64, len(b)/8)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return out
	case IS, DS:
		var out []int64
		for _, s := range splitValues(string(b)) {
			s = asciiTrim(s)
			if s == "" {
				continue
			}
			if v, err := strconv.ParseInt(s, 10, 64); err == nil {
				out = append(out, v)
			} else if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				out = append(out, int64(f))
			}
		}
		return out
	}
	return nil
}

// Uints returns unsigned 64-bit values (UV, OV); other VRs as Ints.
func (e *Element) Uints() []uint64 {
	switch e.VR {
	case UV, OV:
		out := make([]uint64, len(e.Value)/8)
		for i := range out {
			out[i] = binary.LittleEndian.Uint64(e.Value[8*i:])
		}
		return out
	}
	ints := e.Ints()
	out := make([]uint64, len(ints))
	for i, v := range ints {
		out[i] = uint64(v)
	}
	return out
}

// Floats returns the element's values as float64.
func (e *Element) Floats() []float64 {
	b := e.Value
	switch e.VR {
	case FL, OF:
		out := make([]float64, len(b)/4)
		for i := range out {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
		return out
	case FD, OD:
		out := make([]float64, len(b)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return out
	case DS, IS:
		var out []float64
		for _, s := range splitValues(string(b)) {
			s = asciiTrim(s)
			if s == "" {
				continue
			}
			if v, err := strconv.ParseFloat(s, 64); err == nil {
				out = append(out, v)
			}
		}
		return out
	}
	ints := e.Ints()
	if ints == nil {
		return nil
	}
	out := make([]float64, len(ints))
	for i, v := range ints {
		out[i] = float64(v)
	}
	return out
}

// Tags returns the values of an AT element.
func (e *Element) Tags() []Tag {
	out := make([]Tag, len(e.Value)/4)
	for i := range out {
		out[i] = NewTag(binary.LittleEndian.Uint16(e.Value[4*i:]), binary.LittleEndian.Uint16(e.Value[4*i+2:]))
	}
	return out
}
