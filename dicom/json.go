package dicom

import (
	"bytes"
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSONOptions control the DICOM JSON encoding (PS3.18 F.2).
type JSONOptions struct {
	// BulkDataURI, if set, is asked for every binary element (OB, OD, OF, OL,
	// OV, OW, UN); a non-empty answer is written as its BulkDataURI instead
	// of the InlineBinary value. path names the element from the top
	// ("7FE00010", or "00400275/0/00081155" inside sequence items).
	// Elements whose values were not loaded are written with a BulkDataURI
	// or, if none is given, with no value.
	BulkDataURI func(path string, e *Element) string
	// Keep, if set, selects the top-level elements to write.
	Keep func(t Tag) bool
}

// AppendJSON appends the DICOM JSON object of ds to buf. File meta
// (group 0002) and group length elements are never written: PS3.18 leaves
// them out of the JSON model.
func AppendJSON(buf *bytes.Buffer, ds *Dataset, opts JSONOptions) {
	enc := jsonEncoder{buf: buf, opts: opts}
	enc.dataset(ds, "", true)
}

// MarshalJSON returns the DICOM JSON object of ds.
func MarshalJSON(ds *Dataset, opts JSONOptions) []byte {
	var buf bytes.Buffer
	AppendJSON(&buf, ds, opts)
	return buf.Bytes()
}

type jsonEncoder struct {
	buf  *bytes.Buffer
	opts JSONOptions
}

func (j *jsonEncoder) dataset(ds *Dataset, path string, top bool) {
	j.buf.WriteByte('{')
	first := true
	for i := range ds.Elements {
		e := &ds.Elements[i]
		if e.Tag.Element() == 0 || e.Tag.Group() == 0x0002 || e.Tag.Group() == 0xFFFE {
			continue
		}
		if top && j.opts.Keep != nil && !j.opts.Keep(e.Tag) {
			continue
		}
		if !first {
			j.buf.WriteByte(',')
		}
		first = false
		hex := e.Tag.Hex()
		j.buf.WriteByte('"')
		j.buf.WriteString(hex)
		j.buf.WriteString(`":`)
		p := hex
		if path != "" {
			p = path + "/" + hex
		}
		j.element(ds, e, p)
	}
	j.buf.WriteByte('}')
}

func (j *jsonEncoder) element(ds *Dataset, e *Element, path string) {
	vr := e.VR
	j.buf.WriteString(`{"vr":"`)
	j.buf.WriteString(vr.String())
	j.buf.WriteByte('"')
	defer j.buf.WriteByte('}')
	if vr == SQ {
		if len(e.Items) == 0 {
			return
		}
		j.buf.WriteString(`,"Value":[`)
		for i, item := range e.Items {
			if i > 0 {
				j.buf.WriteByte(',')
			}
			j.dataset(item, path+"/"+strconv.Itoa(i), false)
		}
		j.buf.WriteByte(']')
		return
	}
	if vr.IsBulk() || e.Encapsulated || e.Bulk {
		uri := ""
		if j.opts.BulkDataURI != nil {
			uri = j.opts.BulkDataURI(path, e)
		}
		switch {
		case uri != "":
			j.buf.WriteString(`,"BulkDataURI":`)
			j.str(uri)
		case e.Bulk || e.Encapsulated:
			// Not in memory and no URI to point at: leave the value out.
		case len(e.Value) > 0:
			j.buf.WriteString(`,"InlineBinary":"`)
			enc := base64.NewEncoder(base64.StdEncoding, j.buf)
			_, _ = enc.Write(e.Value)
			_ = enc.Close()
			j.buf.WriteByte('"')
		}
		return
	}
	if len(e.Value) == 0 {
		return
	}
	switch vr {
	case PN:
		vals := e.Strings(ds.Charset())
		empty := true
		for i, v := range vals {
			vals[i] = strings.TrimRight(v, "^= ")
			if vals[i] != "" {
				empty = false
			}
		}
		if empty {
			return
		}
		j.buf.WriteString(`,"Value":[`)
		for i, v := range vals {
			if i > 0 {
				j.buf.WriteByte(',')
			}
			if v == "" {
				j.buf.WriteString("null")
				continue
			}
			j.personName(v)
		}
		j.buf.WriteByte(']')
	case DS, IS:
		j.buf.WriteString(`,"Value":[`)
		for i, s := range splitValues(string(e.Value)) {
			if i > 0 {
				j.buf.WriteByte(',')
			}
			s = asciiTrim(s)
			if s == "" {
				j.buf.WriteString("null")
				continue
			}
			j.number(s, vr == IS)
		}
		j.buf.WriteByte(']')
	case US, SS, UL, SL, SV, UV:
		j.buf.WriteString(`,"Value":[`)
		if vr == UV {
			for i, v := range e.Uints() {
				if i > 0 {
					j.buf.WriteByte(',')
				}
				j.buf.WriteString(strconv.FormatUint(v, 10))
			}
		} else {
			for i, v := range e.Ints() {
				if i > 0 {
					j.buf.WriteByte(',')
				}
				j.buf.WriteString(strconv.FormatInt(v, 10))
			}
		}
		j.buf.WriteByte(']')
	case FL, FD:
		j.buf.WriteString(`,"Value":[`)
		bits := 64
		if vr == FL {
			bits = 32
		}
		for i, v := range e.Floats() {
			if i > 0 {
				j.buf.WriteByte(',')
			}
			j.float(v, bits)
		}
		j.buf.WriteByte(']')
	case AT:
		j.buf.WriteString(`,"Value":[`)
		for i, t := range e.Tags() {
			if i > 0 {
				j.buf.WriteByte(',')
			}
			j.buf.WriteByte('"')
			j.buf.WriteString(t.Hex())
			j.buf.WriteByte('"')
		}
		j.buf.WriteByte(']')
	default:
		vals := e.Strings(ds.Charset())
		j.buf.WriteString(`,"Value":[`)
		for i, v := range vals {
			if i > 0 {
				j.buf.WriteByte(',')
			}
			if v == "" && len(vals) > 1 {
				j.buf.WriteString("null")
				continue
			}
			j.str(v)
		}
		j.buf.WriteByte(']')
	}
}

// number writes a DS or IS value as a JSON number when it is one, and as a
// string otherwise, so a malformed value is kept rather than lost.
func (j *jsonEncoder) number(s string, integer bool) {
	if integer {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			j.buf.WriteString(strconv.FormatInt(v, 10))
			return
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		j.str(s)
		return
	}
	j.float(v, 64)
}

func (j *jsonEncoder) float(v float64, bits int) {
	switch {
	case math.IsNaN(v):
		j.str("NaN")
	case math.IsInf(v, 1):
		j.str("Infinity")
	case math.IsInf(v, -1):
		j.str("-Infinity")
	default:
		j.buf.WriteString(strconv.FormatFloat(v, 'g', -1, bits))
	}
}

func (j *jsonEncoder) personName(v string) {
	groups := strings.SplitN(v, "=", 3)
	names := [3]string{"Alphabetic", "Ideographic", "Phonetic"}
	j.buf.WriteByte('{')
	first := true
	for i, g := range groups {
		g = strings.TrimRight(g, " ^")
		if g == "" {
			continue
		}
		if !first {
			j.buf.WriteByte(',')
		}
		first = false
		j.buf.WriteByte('"')
		j.buf.WriteString(names[i])
		j.buf.WriteString(`":`)
		j.str(g)
	}
	j.buf.WriteByte('}')
}

// str writes a JSON string, escaping what JSON requires.
func (j *jsonEncoder) str(s string) {
	const hexDigits = "0123456789abcdef"
	j.buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				j.buf.WriteByte('\\')
				j.buf.WriteByte(c)
			case c == '\n':
				j.buf.WriteString(`\n`)
			case c == '\r':
				j.buf.WriteString(`\r`)
			case c == '\t':
				j.buf.WriteString(`\t`)
			case c < 0x20 || c == 0x7F:
				j.buf.WriteString(`\u00`)
				j.buf.WriteByte(hexDigits[c>>4])
				j.buf.WriteByte(hexDigits[c&0xF])
			default:
				j.buf.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			j.buf.WriteString(`\ufffd`)
		} else if r == '\u2028' || r == '\u2029' {
			j.buf.WriteString(`\u202`)
			j.buf.WriteByte(hexDigits[r&0xF])
		} else {
			j.buf.WriteString(s[i : i+size])
		}
		i += size
	}
	j.buf.WriteByte('"')
}
