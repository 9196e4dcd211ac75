package dicom

import (
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Parse errors. Every error the parser returns wraps one of these, and a
// *ParseError says where it happened.
var (
	// ErrNotDICOM: the input is neither a Part 10 file nor a dataset.
	ErrNotDICOM = errors.New("not a DICOM file")
	// ErrTruncated: the input ends inside an element.
	ErrTruncated = errors.New("truncated")
	// ErrMalformed: the encoding is broken (impossible length, bad item...).
	ErrMalformed = errors.New("malformed")
	// ErrUnsupportedTransferSyntax: the transfer syntax is unknown, so the
	// encoding of the dataset cannot be known.
	ErrUnsupportedTransferSyntax = errors.New("unsupported transfer syntax")
	// errParserPanic marks a recovered panic: a bug, which fuzzing must see.
	errParserPanic = errors.New("parser failure")
)

// ParseError locates a parse failure.
type ParseError struct {
	Offset int64 // byte offset in the input (in the inflated stream for deflated data)
	Path   string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("dicom: at byte %d in %s: %v", e.Offset, e.Path, e.Err)
	}
	return fmt.Sprintf("dicom: at byte %d: %v", e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseOptions tune what the parser keeps in memory.
type ParseOptions struct {
	// SkipPixelData locates the top-level pixel data (offset, length, and
	// for encapsulated data every fragment) without loading it.
	SkipPixelData bool
	// StopAtPixelData ends parsing at the top-level pixel data element's
	// header: the element is returned with its offset and length only, and
	// nothing after it is read (so the input may end there).
	StopAtPixelData bool
	// BulkDataThreshold, if positive, leaves binary values (OB, OW, OF, OD,
	// OL, OV, UN) longer than this many bytes unloaded, located only.
	BulkDataThreshold int
	// MaxDepth bounds sequence nesting (default 32), so hostile input cannot
	// exhaust the stack.
	MaxDepth int
	// TransferSyntax decodes a raw dataset (no file meta) with the given
	// syntax instead of guessing it, as DIMSE does.
	TransferSyntax string
	// MaxElements bounds the number of elements (default 4 million), and
	// MaxInflated the inflated size of a deflated dataset (default 4 GiB):
	// a few kilobytes of deflate can otherwise expand without end.
	MaxElements int
	MaxInflated int64
	// ShareBulkData makes ParseBytes return binary values (OB, OW, OF,
	// OD, OL, OV, UN and fragments) longer than 4 KiB as parts of its
	// input instead of copies, unless their byte order has to be swapped:
	// pixel data then costs no copy. The input must not change while the
	// dataset is in use, and such values must not be changed in place.
	ShareBulkData bool
}

// File is a parsed DICOM object.
type File struct {
	// Preamble reports a 128-byte preamble and "DICM" prefix.
	Preamble bool
	// Meta holds the file meta information (group 0002); nil for a raw
	// dataset.
	Meta *Dataset
	// TransferSyntax encodes Dataset. For raw datasets it was guessed.
	TransferSyntax TransferSyntax
	Dataset        *Dataset
	// DatasetOffset is where the dataset starts in the input.
	DatasetOffset int64
}

// ParseBytes parses a DICOM object held in memory.
func ParseBytes(b []byte, opts ParseOptions) (*File, error) {
	return parse(newMemSource(b), opts)
}

// Parse reads a DICOM object from r. size is the input length, or -1 if
// unknown; knowing it lets the parser reject impossible lengths before
// allocating. If r is an io.Seeker, skipped values are seeked over.
func Parse(r io.Reader, size int64, opts ParseOptions) (*File, error) {
	return parse(newStreamSource(r, size, 0), opts)
}

// ParseFile parses the file at path.
func ParseFile(path string, opts ParseOptions) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Parse(f, st.Size(), opts)
}

type parser struct {
	src      *source
	opts     ParseOptions
	ts       TransferSyntax
	big      bool
	implicit bool
	arena    []byte
	pixelRep int
	path     []Tag
	elements int
	stopped  bool
}

func (p *parser) alloc(n int) []byte {
	const chunk = 16 << 10
	if n > chunk/4 {
		return make([]byte, n)
	}
	if len(p.arena) < n {
		p.arena = make([]byte, chunk)
	}
	v := p.arena[:n:n]
	p.arena = p.arena[n:]
	return v
}

// sharedMin is the shortest value ShareBulkData shares: below it a copy
// into the arena is as cheap.
const sharedMin = 4 << 10

// value reads a value of n bytes, shared with the input where
// ShareBulkData allows it, copied otherwise.
func (p *parser) value(n int64, bulk bool) ([]byte, error) {
	if bulk && p.opts.ShareBulkData && !p.big && n > sharedMin {
		if v, ok := p.src.share(n); ok {
			return v, nil
		}
	}
	return p.src.readValue(n, p.alloc)
}

func (p *parser) errorf(base error, format string, args ...any) error {
	path := ""
	for i, t := range p.path {
		if i > 0 {
			path += ">"
		}
		path += t.String()
	}
	return &ParseError{Offset: p.src.offset(), Path: path, Err: fmt.Errorf("%w: %s", base, fmt.Sprintf(format, args...))}
}

// ioErr turns a source error into a parse error: running out of input is
// truncation, anything else is passed on.
func (p *parser) ioErr(err error, what string) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return p.errorf(ErrTruncated, "input ends inside %s", what)
	}
	return &ParseError{Offset: p.src.offset(), Err: err}
}

func parse(src *source, opts ParseOptions) (f *File, err error) {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = 32
	}
	if opts.MaxElements <= 0 {
		opts.MaxElements = 4 << 20
	}
	if opts.MaxInflated <= 0 {
		opts.MaxInflated = 4 << 30
	}
	p := &parser{src: src, opts: opts}
	defer func() {
		// The parser is written not to panic; this is the last line of
		// defence so one hostile file cannot take the server down.
		if r := recover(); r != nil {
			f = nil
			err = &ParseError{Offset: src.offset(), Err: fmt.Errorf("%w: %w: %v", ErrMalformed, errParserPanic, r)}
		}
	}()
	f = &File{}
	if err := p.readPreambleAndMeta(f); err != nil {
		return nil, err
	}
	f.DatasetOffset = p.src.offset()
	if f.TransferSyntax.Deflated {
		p.src = newStreamSource(io.LimitReader(flate.NewReader(p.src.rest()), opts.MaxInflated), -1, 0)
	}
	ds := &Dataset{charset: defaultCharset}
	if err := p.readDataset(ds, -1, 0); err != nil {
		return nil, err
	}
	f.Dataset = ds
	return f, nil
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

func (p *parser) readPreambleAndMeta(f *File) error {
	head, err := p.src.peek(132)
	if err == nil && string(head[128:132]) == "DICM" {
		f.Preamble = true
		_, _ = p.src.next(132)
	} else if _, err := p.src.peek(8); err != nil {
		return &ParseError{Err: fmt.Errorf("%w: only %d bytes", ErrNotDICOM, p.src.remaining())}
	}
	head, err = p.src.peek(8)
	if err != nil {
		if f.Preamble {
			return p.errorf(ErrTruncated, "file ends after the DICM prefix")
		}
		return &ParseError{Err: fmt.Errorf("%w: too short", ErrNotDICOM)}
	}
	hasMeta := binary.LittleEndian.Uint16(head[0:2]) == 0x0002
	if hasMeta {
		meta := &Dataset{charset: defaultCharset}
		// The file meta information is explicit VR little endian; a few
		// broken writers use implicit VR, which the VR bytes reveal.
		p.implicit = !(isUpper(head[4]) && isUpper(head[5]))
		p.big = false
		p.path = nil
		for {
			if p.src.atEOF() {
				break
			}
			h, err := p.src.peek(4)
			if err != nil {
				return p.ioErr(err, "the file meta information")
			}
			if binary.LittleEndian.Uint16(h[0:2]) != 0x0002 {
				break
			}
			el, err := p.readElement(meta, 0)
			if err != nil {
				return err
			}
			meta.Elements = append(meta.Elements, el)
		}
		f.Meta = meta
	} else if f.Preamble {
		return p.errorf(ErrMalformed, "no file meta information (group 0002) after the DICM prefix")
	}
	tsUID := ""
	if f.Meta != nil {
		tsUID = asciiTrim(string(f.Meta.Get(TagTransferSyntaxUID).valueOrNil()))
	}
	if tsUID == "" && p.opts.TransferSyntax != "" {
		tsUID = p.opts.TransferSyntax
	}
	if tsUID == "" {
		guess, err := p.guessTransferSyntax()
		if err != nil {
			if f.Meta != nil {
				return &ParseError{Offset: p.src.offset(), Err: fmt.Errorf("%w: the file meta information has no Transfer Syntax UID and the dataset start is not recognisable", ErrMalformed)}
			}
			return err
		}
		tsUID = guess
	}
	ts, ok := LookupTransferSyntax(tsUID)
	if !ok {
		return &ParseError{Offset: p.src.offset(), Err: fmt.Errorf("%w: %q", ErrUnsupportedTransferSyntax, tsUID)}
	}
	f.TransferSyntax = ts
	p.ts = ts
	p.big = ts.BigEndian
	p.implicit = !ts.ExplicitVR
	return nil
}

func (e *Element) valueOrNil() []byte {
	if e == nil {
		return nil
	}
	return e.Value
}

// guessTransferSyntax looks at the first element of a dataset without file
// meta: explicit VR shows as two upper-case letters after the tag, and the
// byte order as a plausible group number.
func (p *parser) guessTransferSyntax() (string, error) {
	b, err := p.src.peek(8)
	if err != nil {
		return "", &ParseError{Err: fmt.Errorf("%w: too short", ErrNotDICOM)}
	}
	le := binary.LittleEndian.Uint16(b[0:2])
	be := binary.BigEndian.Uint16(b[0:2])
	plausible := func(g uint16) bool { return g >= 0x0001 && g <= 0x0100 || g == 0x7FE0 }
	explicit := isUpper(b[4]) && isUpper(b[5]) && vrFromBytes(b[4], b[5]).Known()
	switch {
	case plausible(le) && explicit:
		return ExplicitVRLittleEndian, nil
	case plausible(le):
		return ImplicitVRLittleEndian, nil
	case plausible(be) && explicit:
		return ExplicitVRBigEndian, nil
	}
	return "", &ParseError{Err: fmt.Errorf("%w: neither a preamble with DICM nor a recognisable dataset start", ErrNotDICOM)}
}

func (p *parser) u16(b []byte) uint16 {
	if p.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (p *parser) u32(b []byte) uint32 {
	if p.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (p *parser) readTag(b []byte) Tag { return NewTag(p.u16(b[0:2]), p.u16(b[2:4])) }

// readDataset reads elements into ds until length bytes are consumed, or
// (length < 0) until an item delimiter or, at depth 0, the end of input.
func (p *parser) readDataset(ds *Dataset, length int64, depth int) error {
	start := p.src.offset()
	var last Tag
	for {
		if length >= 0 {
			used := p.src.offset() - start
			if used == length {
				return nil
			}
			if used > length {
				return p.errorf(ErrMalformed, "elements overrun their item's length %d by %d bytes", length, used-length)
			}
		} else if depth == 0 && p.src.atEOF() {
			return nil
		}
		h, err := p.src.peek(4)
		if err != nil {
			if depth == 0 && length < 0 {
				return p.errorf(ErrTruncated, "input ends inside an element tag")
			}
			return p.ioErr(err, "an item")
		}
		tag := p.readTag(h)
		switch tag {
		case TagItemDelimitationItem:
			if _, err := p.src.next(8); err != nil {
				return p.ioErr(err, "an item delimiter")
			}
			if depth > 0 && length < 0 {
				return nil
			}
			// A stray delimiter at the top level or in a defined-length item;
			// dcmtk tolerates it, so do we.
			continue
		case TagSequenceDelimitationItem, TagItem:
			return p.errorf(ErrMalformed, "unexpected %s where a data element was expected", tag)
		}
		el, err := p.readElement(ds, depth)
		if err != nil {
			return err
		}
		if p.stopped {
			ds.Elements = append(ds.Elements, el)
			return nil
		}
		if el.Tag < last {
			ds.unsorted = true
		}
		last = el.Tag
		ds.Elements = append(ds.Elements, el)
		switch el.Tag {
		case TagSpecificCharacterSet:
			if el.Value != nil {
				ds.charset = ParseCharset(splitValues(string(el.Value)))
			}
		case TagPixelRepresentation:
			if depth == 0 {
				if v := el.Ints(); len(v) > 0 {
					p.pixelRep = int(v[0])
				}
			}
		}
	}
}

// readElement reads one element, header and value.
func (p *parser) readElement(ds *Dataset, depth int) (Element, error) {
	var el Element
	p.elements++
	if p.elements > p.opts.MaxElements {
		return el, p.errorf(ErrMalformed, "more than %d elements", p.opts.MaxElements)
	}
	h, err := p.src.next(8)
	if err != nil {
		return el, p.ioErr(err, "an element header")
	}
	el.Tag = p.readTag(h)
	var vl uint32
	if p.implicit {
		vl = p.u32(h[4:8])
		el.VR = p.implicitVR(el.Tag, vl)
	} else {
		if !isUpper(h[4]) || !isUpper(h[5]) {
			return el, p.errorf(ErrMalformed, "element %s has invalid VR bytes %q", el.Tag, h[4:6])
		}
		el.VR = vrFromBytes(h[4], h[5])
		if el.VR.longLength() {
			ext, err := p.src.next(4)
			if err != nil {
				return el, p.ioErr(err, "an element header")
			}
			vl = p.u32(ext)
		} else {
			vl = uint32(p.u16(h[6:8]))
		}
		if !el.VR.Known() {
			el.VR = UN
		}
	}
	el.Length = vl
	el.Offset = p.src.offset()
	p.path = append(p.path, el.Tag)
	defer func() { p.path = p.path[:len(p.path)-1] }()

	isPixel := depth == 0 && (el.Tag == TagPixelData || el.Tag == TagFloatPixelData || el.Tag == TagDoubleFloatPixelData)
	if isPixel && p.opts.StopAtPixelData {
		el.Bulk = true
		el.Encapsulated = vl == UndefinedLength
		p.stopped = true
		return el, nil
	}
	switch {
	case el.VR == SQ || (el.VR == UN && vl == UndefinedLength && !isPixel):
		if depth+1 > p.opts.MaxDepth {
			return el, p.errorf(ErrMalformed, "sequences nested deeper than %d", p.opts.MaxDepth)
		}
		if el.VR == UN {
			// CP-246: a sequence of unknown VR with undefined length is
			// encoded as implicit VR little endian.
			el.VR = SQ
			savedBig, savedImplicit := p.big, p.implicit
			p.big, p.implicit = false, true
			err := p.readSequence(&el, ds, depth)
			p.big, p.implicit = savedBig, savedImplicit
			return el, err
		}
		return el, p.readSequence(&el, ds, depth)
	case vl == UndefinedLength:
		if el.VR != OB && el.VR != OW && el.VR != UN {
			return el, p.errorf(ErrMalformed, "element %s of VR %s has undefined length", el.Tag, el.VR)
		}
		el.Encapsulated = true
		return el, p.readFragments(&el, isPixel && p.opts.SkipPixelData)
	}
	skip := (isPixel && p.opts.SkipPixelData) ||
		(p.opts.BulkDataThreshold > 0 && el.VR.IsBulk() && int64(vl) > int64(p.opts.BulkDataThreshold))
	if skip {
		el.Bulk = true
		if err := p.src.skip(int64(vl)); err != nil {
			return el, p.lengthErr(err, el.Tag, vl)
		}
		return el, nil
	}
	v, err := p.value(int64(vl), el.VR.IsBulk())
	if err != nil {
		return el, p.lengthErr(err, el.Tag, vl)
	}
	if el.VR == UN && !el.Tag.IsPrivate() {
		p.resolveUN(&el, v, depth)
		return el, nil
	}
	if p.big {
		swapWords(v, el.VR.wordSize())
	}
	el.Value = v
	return el, nil
}

// resolveUN gives a standard element that arrived with VR UN its dictionary
// VR, as PS3.5 6.2.2 lets a receiver do: a sequence is re-read from the
// value as implicit VR little endian (CP-246), anything else keeps its
// bytes under the right VR. Values that do not parse stay UN.
func (p *parser) resolveUN(el *Element, v []byte, depth int) {
	el.Value = v
	info, ok := LookupTag(el.Tag)
	if !ok || info.VR == UN {
		return
	}
	vr := info.VR
	if len(info.VRs) > 1 {
		vr = p.implicitVR(el.Tag, uint32(len(v)))
	}
	if vr != SQ {
		if p.big {
			swapWords(v, vr.wordSize())
		}
		el.VR = vr
		return
	}
	if depth+1 > p.opts.MaxDepth {
		return
	}
	sub := &parser{src: newMemSource(v), opts: p.opts, implicit: true, pixelRep: p.pixelRep}
	sub.src.off = el.Offset
	sub.src.size = el.Offset + int64(len(v))
	seq := Element{Tag: el.Tag, VR: SQ, Offset: el.Offset, Length: uint32(len(v))}
	parent := &Dataset{charset: defaultCharset}
	if err := sub.readSequence(&seq, parent, depth); err != nil {
		return
	}
	*el = seq
}

func (p *parser) lengthErr(err error, t Tag, vl uint32) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		if rem := p.src.remaining(); rem >= 0 {
			return p.errorf(ErrTruncated, "value of %s needs %d bytes but only %d remain", t, vl, rem)
		}
		return p.errorf(ErrTruncated, "input ends inside the value of %s (%d bytes)", t, vl)
	}
	return &ParseError{Offset: p.src.offset(), Err: err}
}

// swapWords converts big-endian words of the given size to little endian.
func swapWords(b []byte, size int) {
	switch size {
	case 2:
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
	case 4:
		for i := 0; i+3 < len(b); i += 4 {
			b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
		}
	case 8:
		for i := 0; i+7 < len(b); i += 8 {
			for j := 0; j < 4; j++ {
				b[i+j], b[i+7-j] = b[i+7-j], b[i+j]
			}
		}
	}
}

// implicitVR chooses the VR of an implicit-VR element from the dictionary,
// settling the choices it leaves open the way the standard's rules do.
func (p *parser) implicitVR(t Tag, vl uint32) VR {
	info, ok := LookupTag(t)
	if !ok {
		if vl == UndefinedLength {
			return SQ
		}
		return UN
	}
	if len(info.VRs) == 1 {
		return info.VR
	}
	hasOW, hasSS := false, false
	for _, vr := range info.VRs {
		switch vr {
		case OW:
			hasOW = true
		case SS:
			hasSS = true
		}
	}
	switch {
	case hasOW:
		return OW
	case hasSS && p.pixelRep == 1:
		return SS
	case hasSS:
		return US
	}
	return info.VR
}

// readSequence reads the items of a sequence element.
func (p *parser) readSequence(el *Element, parent *Dataset, depth int) error {
	start := p.src.offset()
	defined := el.Length != UndefinedLength
	for {
		if defined {
			used := p.src.offset() - start
			if used == int64(el.Length) {
				return nil
			}
			if used > int64(el.Length) {
				return p.errorf(ErrMalformed, "items overrun the sequence length %d", el.Length)
			}
		}
		h, err := p.src.next(8)
		if err != nil {
			return p.ioErr(err, "a sequence")
		}
		tag := p.readTag(h)
		length := p.u32(h[4:8])
		switch tag {
		case TagSequenceDelimitationItem:
			if defined {
				return p.errorf(ErrMalformed, "sequence delimiter inside a sequence of defined length")
			}
			return nil
		case TagItem:
		default:
			return p.errorf(ErrMalformed, "expected an item in sequence %s, found %s", el.Tag, tag)
		}
		if length != UndefinedLength {
			if rem := p.src.remaining(); rem >= 0 && int64(length) > rem {
				return p.errorf(ErrTruncated, "item of %d bytes but only %d remain", length, rem)
			}
		}
		item := &Dataset{charset: parent.Charset()}
		itemLen := int64(-1)
		if length != UndefinedLength {
			itemLen = int64(length)
		}
		if err := p.readDataset(item, itemLen, depth+1); err != nil {
			return err
		}
		el.Items = append(el.Items, item)
	}
}

// readFragments reads encapsulated data: items of bytes up to a sequence
// delimiter. With skip, fragments are located but not loaded.
func (p *parser) readFragments(el *Element, skip bool) error {
	for {
		h, err := p.src.next(8)
		if err != nil {
			return p.ioErr(err, "encapsulated pixel data")
		}
		tag := p.readTag(h)
		length := p.u32(h[4:8])
		switch tag {
		case TagSequenceDelimitationItem:
			return nil
		case TagItem:
		default:
			return p.errorf(ErrMalformed, "expected a fragment item in encapsulated %s, found %s", el.Tag, tag)
		}
		if length == UndefinedLength {
			return p.errorf(ErrMalformed, "fragment of undefined length in %s", el.Tag)
		}
		frag := Fragment{Offset: p.src.offset(), Length: length}
		// The Basic Offset Table is small and needed to find frames, so it
		// is loaded even when the fragments are only located.
		isBOT := len(el.Fragments) == 0
		if skip && !(isBOT && length <= 1<<22) {
			// Keep the first bytes: they tell where a frame starts when
			// there is no offset table.
			if head, err := p.src.peek(int(min(length, 4))); err == nil {
				frag.Head = append([]byte(nil), head...)
			}
			el.Bulk = true
			if err := p.src.skip(int64(length)); err != nil {
				return p.lengthErr(err, el.Tag, length)
			}
		} else {
			v, err := p.value(int64(length), true)
			if err != nil {
				return p.lengthErr(err, el.Tag, length)
			}
			frag.Data = v
			frag.Head = v[:min(len(v), 4)]
		}
		el.Fragments = append(el.Fragments, frag)
	}
}
