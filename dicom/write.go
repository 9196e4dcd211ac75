package dicom

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ImplementationClassUID identifies radmark as the writer of the files it
// creates (a 2.25 UUID-derived UID, PS3.5 B.2).
const ImplementationClassUID = "2.25.160470116632116316346014425469451958233"

// ImplementationVersionName is written in the file meta information.
const ImplementationVersionName = "RADMARK_1"

// WriteOptions tune WriteFile.
type WriteOptions struct {
	// TransferSyntax of the dataset: Explicit VR Little Endian (default),
	// Implicit VR Little Endian, Deflated Explicit VR Little Endian, or any
	// encapsulated syntax when the pixel data is already encapsulated.
	TransferSyntax string
	// SourceAETitle, if set, is written as (0002,0016).
	SourceAETitle string
}

// WriteFile writes ds as a DICOM Part 10 file: preamble, generated file meta
// information, dataset. It is written here rather than with the DICOM
// library because that writer neither sorts elements nor writes 1-bit or
// deflated data, and damages OF/OD values.
func WriteFile(w io.Writer, ds *Dataset, opts WriteOptions) error {
	tsUID := opts.TransferSyntax
	if tsUID == "" {
		tsUID = ExplicitVRLittleEndian
	}
	ts, ok := LookupTransferSyntax(tsUID)
	if !ok || ts.BigEndian {
		return fmt.Errorf("dicom: cannot write transfer syntax %q", tsUID)
	}
	sopClass := ds.String(TagSOPClassUID)
	sopInstance := ds.String(TagSOPInstanceUID)
	if sopClass == "" || sopInstance == "" {
		return errors.New("dicom: dataset lacks SOPClassUID or SOPInstanceUID")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := WriteFileHeader(bw, FileMeta{SOPClassUID: sopClass, SOPInstanceUID: sopInstance, TransferSyntax: tsUID, SourceAETitle: opts.SourceAETitle}); err != nil {
		return err
	}
	if ts.Deflated {
		fw, err := flate.NewWriter(bw, flate.DefaultCompression)
		if err != nil {
			return err
		}
		dw := &writer{w: bufio.NewWriter(fw)}
		if err := dw.dataset(ds); err != nil {
			return err
		}
		if err := dw.w.Flush(); err != nil {
			return err
		}
		if err := fw.Close(); err != nil {
			return err
		}
		return bw.Flush()
	}
	dw := &writer{w: bw, implicit: !ts.ExplicitVR}
	if err := dw.dataset(ds); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteDataset writes ds without preamble or file meta in explicit or
// implicit VR little endian, as DIMSE messages carry datasets.
func WriteDataset(w io.Writer, ds *Dataset, implicit bool) error {
	bw := bufio.NewWriter(w)
	dw := &writer{w: bw, implicit: implicit}
	if err := dw.dataset(ds); err != nil {
		return err
	}
	return bw.Flush()
}

type writer struct {
	w        *bufio.Writer
	implicit bool
	meta     bool
	scratch  [12]byte
}

func (w *writer) dataset(ds *Dataset) error {
	if ds.unsorted {
		ds.sortElements()
	}
	for i := range ds.Elements {
		if ds.Elements[i].Tag.Group() == 0x0002 && !w.meta {
			continue // file meta belongs in the header WriteFile generates
		}
		if err := w.element(&ds.Elements[i]); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) header(t Tag, vr VR, length uint32) {
	b := w.scratch[:]
	binary.LittleEndian.PutUint16(b[0:], t.Group())
	binary.LittleEndian.PutUint16(b[2:], t.Element())
	switch {
	case w.implicit || t.Group() == 0xFFFE:
		binary.LittleEndian.PutUint32(b[4:], length)
		_, _ = w.w.Write(b[:8])
	case vr.longLength():
		b[4], b[5] = byte(vr>>8), byte(vr)
		b[6], b[7] = 0, 0
		binary.LittleEndian.PutUint32(b[8:], length)
		_, _ = w.w.Write(b[:12])
	default:
		b[4], b[5] = byte(vr>>8), byte(vr)
		binary.LittleEndian.PutUint16(b[6:], uint16(length))
		_, _ = w.w.Write(b[:8])
	}
}

func (w *writer) element(e *Element) error {
	switch {
	case e.VR == SQ:
		w.header(e.Tag, SQ, UndefinedLength)
		for _, item := range e.Items {
			w.header(TagItem, 0, UndefinedLength)
			if err := w.dataset(item); err != nil {
				return err
			}
			w.header(TagItemDelimitationItem, 0, 0)
		}
		w.header(TagSequenceDelimitationItem, 0, 0)
		return nil
	case e.Encapsulated:
		w.header(e.Tag, e.VR, UndefinedLength)
		for i, f := range e.Fragments {
			if f.Data == nil && f.Length > 0 {
				return fmt.Errorf("dicom: fragment %d of %s was not loaded", i, e.Tag)
			}
			data := f.Data
			pad := len(data)%2 == 1
			n := len(data)
			if pad {
				n++
			}
			w.header(TagItem, 0, uint32(n))
			_, _ = w.w.Write(data)
			if pad {
				_ = w.w.WriteByte(0)
			}
		}
		w.header(TagSequenceDelimitationItem, 0, 0)
		return nil
	case e.Bulk:
		return fmt.Errorf("dicom: value of %s was not loaded", e.Tag)
	}
	v := e.Value
	n := len(v)
	if n > math.MaxUint32-1 {
		return fmt.Errorf("dicom: value of %s too long", e.Tag)
	}
	pad := n%2 == 1
	if pad {
		n++
	}
	if !w.implicit && !e.VR.longLength() && n > 0xFFFF {
		return fmt.Errorf("dicom: value of %s (%s) is %d bytes, over the 65534 its VR allows", e.Tag, e.VR, n)
	}
	w.header(e.Tag, e.VR, uint32(n))
	_, err := w.w.Write(v)
	if pad {
		padByte := byte(0)
		if e.VR.IsText() && e.VR != UI {
			padByte = ' '
		}
		err = w.w.WriteByte(padByte)
	}
	return err
}

// dictionaryVR returns the VR to use for t when the caller gives none.
func dictionaryVR(t Tag) VR {
	if info, ok := LookupTag(t); ok {
		return info.VR
	}
	return UN
}

// SetString sets a text element (VR from the dictionary). Strings are
// stored as given, so datasets radmark creates declare ISO_IR 192 (UTF-8).
func (ds *Dataset) SetString(t Tag, values ...string) {
	ds.SetStringVR(t, dictionaryVR(t), values...)
}

// SetStringVR sets a text element with an explicit VR.
func (ds *Dataset) SetStringVR(t Tag, vr VR, values ...string) {
	ds.Put(Element{Tag: t, VR: vr, Value: []byte(strings.Join(values, `\`))})
}

// SetInts sets an integer element; the VR (from the dictionary) decides
// the encoding: IS as text, US/SS/UL/SL/SV/UV as binary.
func (ds *Dataset) SetInts(t Tag, values ...int) {
	ds.SetIntsVR(t, dictionaryVR(t), values...)
}

// SetIntsVR sets an integer element with an explicit VR.
func (ds *Dataset) SetIntsVR(t Tag, vr VR, values ...int) {
	var b []byte
	switch vr {
	case US, SS, OW:
		b = make([]byte, 2*len(values))
		for i, v := range values {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		}
	case UL, SL, OL:
		b = make([]byte, 4*len(values))
		for i, v := range values {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
	case SV, UV, OV:
		b = make([]byte, 8*len(values))
		for i, v := range values {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
		}
	default:
		s := make([]string, len(values))
		for i, v := range values {
			s[i] = strconv.Itoa(v)
		}
		b = []byte(strings.Join(s, `\`))
	}
	ds.Put(Element{Tag: t, VR: vr, Value: b})
}

// SetFloats sets a decimal element: DS as text (at most 16 characters per
// value, as the VR requires), FL/FD as binary.
func (ds *Dataset) SetFloats(t Tag, values ...float64) {
	ds.SetFloatsVR(t, dictionaryVR(t), values...)
}

// SetFloatsVR sets a decimal element with an explicit VR.
func (ds *Dataset) SetFloatsVR(t Tag, vr VR, values ...float64) {
	var b []byte
	switch vr {
	case FL, OF:
		b = make([]byte, 4*len(values))
		for i, v := range values {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(v)))
		}
	case FD, OD:
		b = make([]byte, 8*len(values))
		for i, v := range values {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
		}
	default:
		s := make([]string, len(values))
		for i, v := range values {
			s[i] = FormatDS(v)
		}
		b = []byte(strings.Join(s, `\`))
	}
	ds.Put(Element{Tag: t, VR: vr, Value: b})
}

// FormatDS formats v as a Decimal String of at most 16 characters with as
// much precision as fits.
func FormatDS(v float64) string {
	if v == 0 {
		return "0"
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if len(s) <= 16 {
		return s
	}
	for prec := 15; prec > 0; prec-- {
		s = strconv.FormatFloat(v, 'g', prec, 64)
		if len(s) <= 16 {
			return s
		}
	}
	return s
}

// SetBytes sets a binary element.
func (ds *Dataset) SetBytes(t Tag, vr VR, b []byte) {
	ds.Put(Element{Tag: t, VR: vr, Value: b})
}

// SetItems sets a sequence element.
func (ds *Dataset) SetItems(t Tag, items ...*Dataset) {
	ds.Put(Element{Tag: t, VR: SQ, Items: items})
}
