package dicom

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Charset decodes text values according to a Specific Character Set
// (0008,0005), including ISO 2022 code extensions (PS3.3 C.12.1.1.2,
// PS3.5 6.1). It is written here because the DICOM library we depend on
// panics on some terms (ISO_IR 166) and mishandles escape sequences and
// per-item character sets.
type Charset struct {
	terms []string
	// single is the decoder when no code extension is used.
	single func([]byte) string
	// iso2022 mode: the code elements designated at the start of every
	// value, line and delimited component.
	iso2022     bool
	initialG0   *codeElement
	initialG1   *codeElement
	unknownTerm string
}

// codeElement is one graphic character set that can be designated to G0
// (7-bit bytes) or G1 (bytes with the high bit set).
type codeElement struct {
	name    string
	twoByte bool
	decode  func(b []byte) string // decodes bytes (already in the right 7/8-bit form)
	toHigh  bool                  // two-byte G0 sets are decoded via their EUC form: set the high bits
	prefix  []byte                // prepended per character in the EUC form (JIS X 0212: 0x8F)
}

var defaultCharset = &Charset{single: decodeDefault}

// Terms returns the defined terms the charset was built from.
func (cs *Charset) Terms() []string { return cs.terms }

// Unknown returns a term radmark did not recognise ("" if none); its text
// is decoded as UTF-8 when valid and as Latin-1 otherwise.
func (cs *Charset) Unknown() string { return cs.unknownTerm }

func charmapDecoder(cm *charmap.Charmap) func([]byte) string {
	return func(b []byte) string { return decodeWith(cm, b) }
}

func decodeWith(enc encoding.Encoding, b []byte) string {
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}

// decodeDefault decodes the default repertoire. Bytes above 0x7F are not
// allowed there, but files carry them anyway: keep valid UTF-8 as is and
// read anything else as Latin-1, the most common undeclared set.
func decodeDefault(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return decodeWith(charmap.ISO8859_1, b)
}

func decodeUTF8(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// decodeJISX0201 maps the Roman half as ASCII (as dcmtk and pydicom do, so
// that 0x5C stays the value delimiter) and 0xA1-0xDF to half-width katakana.
func decodeJISX0201(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		switch {
		case c < 0x80:
			sb.WriteByte(c)
		case c >= 0xA1 && c <= 0xDF:
			sb.WriteRune(rune(0xFF61 + int(c) - 0xA1))
		default:
			sb.WriteRune(utf8.RuneError)
		}
	}
	return sb.String()
}

// singleByteSets maps the ISO 8859 family terms to their decoders.
var singleByteSets = map[string]func([]byte) string{
	"IR 100": charmapDecoder(charmap.ISO8859_1),
	"IR 101": charmapDecoder(charmap.ISO8859_2),
	"IR 109": charmapDecoder(charmap.ISO8859_3),
	"IR 110": charmapDecoder(charmap.ISO8859_4),
	"IR 144": charmapDecoder(charmap.ISO8859_5),
	"IR 127": charmapDecoder(charmap.ISO8859_6),
	"IR 126": charmapDecoder(charmap.ISO8859_7),
	"IR 138": charmapDecoder(charmap.ISO8859_8),
	"IR 148": charmapDecoder(charmap.ISO8859_9),
	"IR 203": charmapDecoder(charmap.ISO8859_15),
	// TIS 620-2533; Windows-874 is a superset that agrees on every TIS-620
	// byte.
	"IR 166": charmapDecoder(charmap.Windows874),
	"IR 13":  decodeJISX0201,
}

// g1SingleByte: ISO 8859 sets as G1 code elements. In code-extension mode
// only their upper half is used, and decoding the byte with the full set
// gives the right character.
func g1SingleByte(ir string) *codeElement {
	if ir == "IR 13" {
		return &codeElement{name: "IR 13", decode: decodeJISX0201}
	}
	return &codeElement{name: ir, decode: singleByteSets[ir]}
}

var (
	ceASCII   = &codeElement{name: "IR 6", decode: func(b []byte) string { return string(b) }}
	ceRomaji  = &codeElement{name: "IR 13 (romaji)", decode: func(b []byte) string { return string(b) }}
	ceJISX208 = &codeElement{name: "IR 87", twoByte: true, toHigh: true, decode: func(b []byte) string { return decodeWith(japanese.EUCJP, b) }}
	ceJISX212 = &codeElement{name: "IR 159", twoByte: true, toHigh: true, prefix: []byte{0x8F}, decode: func(b []byte) string { return decodeWith(japanese.EUCJP, b) }}
	ceKSX1001 = &codeElement{name: "IR 149", twoByte: true, decode: func(b []byte) string { return decodeWith(korean.EUCKR, b) }}
	ceGB2312  = &codeElement{name: "IR 58", twoByte: true, decode: func(b []byte) string { return decodeWith(simplifiedchinese.GBK, b) }}
)

// escapes maps ISO 2022 escape sequences (without the ESC) to the code
// element they designate and whether it goes to G1.
var escapes = []struct {
	seq string
	ce  *codeElement
	g1  bool
}{
	{"(B", ceASCII, false},
	{"(J", ceRomaji, false},
	{")I", g1SingleByte("IR 13"), true},
	{"$B", ceJISX208, false},
	{"$@", ceJISX208, false},
	{"$(D", ceJISX212, false},
	{"$)C", ceKSX1001, true},
	{"$)A", ceGB2312, true},
	{"-A", g1SingleByte("IR 100"), true},
	{"-B", g1SingleByte("IR 101"), true},
	{"-C", g1SingleByte("IR 109"), true},
	{"-D", g1SingleByte("IR 110"), true},
	{"-L", g1SingleByte("IR 144"), true},
	{"-G", g1SingleByte("IR 127"), true},
	{"-F", g1SingleByte("IR 126"), true},
	{"-H", g1SingleByte("IR 138"), true},
	{"-M", g1SingleByte("IR 148"), true},
	{"-T", g1SingleByte("IR 166"), true},
	{"-b", g1SingleByte("IR 203"), true},
}

// ParseCharset builds a decoder from the values of Specific Character Set.
// Unknown terms never fail: their text falls back to UTF-8 or Latin-1.
func ParseCharset(terms []string) *Charset {
	for i := range terms {
		terms[i] = asciiTrim(terms[i])
	}
	cs := &Charset{terms: terms}
	uses2022 := false
	for _, t := range terms {
		if strings.HasPrefix(t, "ISO 2022") {
			uses2022 = true
		}
	}
	first := ""
	if len(terms) > 0 {
		first = terms[0]
	}
	if !uses2022 {
		switch {
		case first == "" || first == "ISO_IR 6":
			cs.single = decodeDefault
		case first == "ISO_IR 192":
			cs.single = decodeUTF8
		case first == "GB18030":
			cs.single = func(b []byte) string { return decodeWith(simplifiedchinese.GB18030, b) }
		case first == "GBK":
			cs.single = func(b []byte) string { return decodeWith(simplifiedchinese.GBK, b) }
		case strings.HasPrefix(first, "ISO_IR "):
			if dec, ok := singleByteSets[strings.TrimPrefix(first, "ISO_")]; ok {
				cs.single = dec
			}
		}
		if cs.single == nil {
			cs.unknownTerm = first
			cs.single = decodeDefault
		}
		return cs
	}
	cs.iso2022 = true
	cs.initialG0 = ceASCII
	ir := strings.TrimPrefix(strings.TrimPrefix(first, "ISO 2022 "), "ISO_")
	switch ir {
	case "", "IR 6":
	case "IR 13":
		cs.initialG0 = ceRomaji
		cs.initialG1 = g1SingleByte("IR 13")
	case "IR 87":
		cs.initialG0 = ceJISX208
	case "IR 159":
		cs.initialG0 = ceJISX212
	case "IR 149":
		cs.initialG1 = ceKSX1001
	case "IR 58":
		cs.initialG1 = ceGB2312
	default:
		if _, ok := singleByteSets[ir]; ok {
			cs.initialG1 = g1SingleByte(ir)
		} else {
			cs.unknownTerm = first
		}
	}
	for _, t := range terms[1:] {
		ir := strings.TrimPrefix(t, "ISO 2022 ")
		if _, ok := singleByteSets[ir]; !ok && ir != "IR 6" && ir != "IR 87" && ir != "IR 159" && ir != "IR 149" && ir != "IR 58" && cs.unknownTerm == "" {
			cs.unknownTerm = t
		}
	}
	return cs
}

// Decode converts the raw bytes of a value of the given VR to UTF-8.
func (cs *Charset) Decode(b []byte, vr VR) string {
	if isPlainASCII(b) {
		return string(b)
	}
	if !cs.iso2022 {
		return cs.single(b)
	}
	return cs.decode2022(b, vr)
}

func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || c == 0x1B {
			return false
		}
	}
	return true
}

// decode2022 walks the bytes, switching code elements at escape sequences
// and returning to the initial ones after delimiters and control characters
// (PS3.5 6.1.2.5.3).
func (cs *Charset) decode2022(b []byte, vr VR) string {
	var sb strings.Builder
	g0, g1 := cs.initialG0, cs.initialG1
	var run []byte
	var runCE *codeElement
	flush := func() {
		if len(run) > 0 && runCE != nil {
			sb.WriteString(runCE.decode(run))
		}
		run = run[:0]
	}
	emit := func(ce *codeElement, bytes ...byte) {
		if ce != runCE {
			flush()
			runCE = ce
		}
		run = append(run, bytes...)
	}
	isDelimiter := func(c byte) bool {
		switch c {
		case '\\', '\r', '\n', '\t', '\f':
			return true
		case '^', '=':
			return vr == PN
		}
		return false
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == 0x1B:
			matched := false
			for _, esc := range escapes {
				if i+1+len(esc.seq) <= len(b) && string(b[i+1:i+1+len(esc.seq)]) == esc.seq {
					if esc.g1 {
						g1 = esc.ce
					} else {
						g0 = esc.ce
					}
					i += 1 + len(esc.seq)
					matched = true
					break
				}
			}
			if !matched {
				flush()
				sb.WriteRune(utf8.RuneError)
				i++
			}
		case c < 0x80:
			if g0.twoByte && c > 0x20 && c < 0x7F && i+1 < len(b) && b[i+1] > 0x20 && b[i+1] < 0x7F {
				pair := append(append([]byte{}, g0.prefix...), c|0x80, b[i+1]|0x80)
				emit(g0, pair...)
				i += 2
				continue
			}
			emit(ceASCII, c)
			i++
			if c < 0x20 || isDelimiter(c) {
				g0, g1 = cs.initialG0, cs.initialG1
			}
		default:
			switch {
			case g1 == nil:
				flush()
				runCE = nil
				sb.WriteString(decodeDefault([]byte{c}))
				i++
			case g1.twoByte:
				if i+1 < len(b) && b[i+1] >= 0x80 {
					emit(g1, c, b[i+1])
					i += 2
				} else {
					flush()
					sb.WriteRune(utf8.RuneError)
					i++
				}
			default:
				emit(g1, c)
				i++
			}
		}
	}
	flush()
	return sb.String()
}
