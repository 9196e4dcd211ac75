package codec

import (
	"encoding/binary"
)

// JPEG (ITU-T T.81) decoding for the DICOM JPEG transfer syntaxes: baseline
// and extended sequential DCT (8 and 12 bit, Huffman), progressive DCT, and
// lossless process 14 (all predictors, point transform, 2–16 bit). The
// output matches what libjpeg 6b (inside dcmtk and gdcm) produces: the same
// integer IDCT ("islow"), the same fancy chroma upsampling and the same
// fixed-point YCbCr→RGB conversion, so lossy frames decode to the same
// pixels as the reference tools.

const (
	mSOF0  = 0xC0 // baseline DCT
	mSOF1  = 0xC1 // extended sequential DCT, Huffman
	mSOF2  = 0xC2 // progressive DCT, Huffman
	mSOF3  = 0xC3 // lossless, Huffman
	mDHT   = 0xC4
	mSOF15 = 0xCF
	mDAC   = 0xCC
	mRST0  = 0xD0
	mRST7  = 0xD7
	mSOI   = 0xD8
	mEOI   = 0xD9
	mSOS   = 0xDA
	mDQT   = 0xDB
	mDNL   = 0xDC
	mDRI   = 0xDD
	mTEM   = 0x01
)

// zigzag maps the position of a coefficient in the entropy-coded order to
// its position in the 8x8 block (T.81 Figure A.6).
var zigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10,
	17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34,
	27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36,
	29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46,
	53, 60, 61, 54, 47, 55, 62, 63,
}

type jpegComponent struct {
	id     byte
	h, v   int // sampling factors
	tq     int // quantisation table selector
	td, ta int // DC and AC Huffman table selectors of the current scan
	// dw x dh is the component's size in samples (T.81 A.1.1), rounded up;
	// the plane holds bw x bh blocks (the MCU-padded area for DCT, just
	// dw x dh for lossless).
	dw, dh int
	bw, bh int
	plane  []uint16
	stride int
	// coef holds the coefficients of every block for progressive frames,
	// which refine them over several scans before the IDCT.
	coef    []int16
	dcPred  int
	decoded bool // covered by at least one scan
	pt      int  // lossless point transform: output is sample << pt
}

type jpegDecoder struct {
	data []byte
	pos  int
	info Info

	sof       byte // frame marker, 0 before the frame header
	precision int
	width     int
	height    int
	comps     []jpegComponent
	hmax      int
	vmax      int
	mcusX     int // MCUs per row of an interleaved scan
	mcusY     int

	quant   [4][64]int32 // in natural (row-major) order
	quantOK [4]bool
	dc, ac  [4]huffTable
	restart int // restart interval in MCUs, 0 for none

	br     bitReader
	eobrun int // progressive AC end-of-band run

	scans int
}

// decodeJPEG decodes a JPEG frame of any of the four DICOM JPEG syntaxes.
// The process is taken from the frame header, not from the transfer
// syntax: encoders routinely put extended (12-bit) streams under the
// baseline UID or lossless SV1 under .57, and libjpeg decodes them anyway.
func decodeJPEG(src []byte, info Info) (*Frame, error) {
	if info.BitsAllocated == 1 {
		return nil, invalidf("JPEG cannot encode BitsAllocated 1")
	}
	d := &jpegDecoder{data: src, info: info}
	if err := d.parse(); err != nil {
		return nil, err
	}
	return d.output()
}

func (d *jpegDecoder) parse() error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != mSOI {
		return invalidf("frame does not start with a JPEG SOI marker")
	}
	d.pos = 2
	for {
		m, ok := d.nextMarker()
		if !ok {
			// No EOI: accept a complete image (some encoders drop it, and
			// DICOM pads fragments), reject a partial one.
			return d.complete("data ends before the EOI marker")
		}
		switch {
		case m == mEOI:
			return d.complete("EOI before all components were decoded")
		case m == mTEM || (m >= mRST0 && m <= mRST7):
			// Stand-alone markers; a stray RST outside a scan is harmless.
			continue
		}
		seg, err := d.segment(m)
		if err != nil {
			return err
		}
		switch {
		case m == mSOF0 || m == mSOF1 || m == mSOF2 || m == mSOF3:
			if d.sof != 0 {
				return invalidf("more than one frame header")
			}
			if err := d.parseSOF(m, seg); err != nil {
				return err
			}
		case m == mDHT:
			if err := d.parseDHT(seg); err != nil {
				return err
			}
		case m == mDAC:
			return unsupportedf("arithmetic-coded JPEG")
		case m > mSOF3 && m <= mSOF15:
			return unsupportedf("JPEG process SOF%d (hierarchical or arithmetic coding)", m-mSOF0)
		case m == mDQT:
			if err := d.parseDQT(seg); err != nil {
				return err
			}
		case m == mDRI:
			if len(seg) < 2 {
				return invalidf("DRI segment too short")
			}
			d.restart = int(binary.BigEndian.Uint16(seg))
		case m == mDNL:
			return unsupportedf("JPEG with a DNL marker (image height given after the first scan)")
		case m == mSOS:
			if err := d.parseSOS(seg); err != nil {
				return err
			}
		}
		// APPn (JFIF, Adobe), COM and anything else are skipped: DICOM's
		// Photometric Interpretation, not APP markers, decides colour
		// conversion (see output).
	}
}

// complete reports whether every component has been decoded.
func (d *jpegDecoder) complete(why string) error {
	if d.sof == 0 || d.scans == 0 {
		return invalidf("JPEG stream has no frame or no scan")
	}
	for i := range d.comps {
		if !d.comps[i].decoded {
			return invalidf("%s", why)
		}
	}
	return nil
}

// nextMarker finds the next marker at or after pos. Bytes that are not a
// marker are skipped, as libjpeg does after a scan with trailing garbage.
func (d *jpegDecoder) nextMarker() (byte, bool) {
	for d.pos+1 < len(d.data) {
		if d.data[d.pos] != 0xFF {
			d.pos++
			continue
		}
		m := d.data[d.pos+1]
		if m == 0xFF { // fill byte
			d.pos++
			continue
		}
		d.pos += 2
		if m == 0x00 { // stuffed byte inside entropy data
			continue
		}
		return m, true
	}
	return 0, false
}

// segment returns the payload of the marker segment at pos and moves past it.
func (d *jpegDecoder) segment(m byte) ([]byte, error) {
	if d.pos+2 > len(d.data) {
		return nil, invalidf("JPEG marker 0x%02X segment truncated", m)
	}
	n := int(binary.BigEndian.Uint16(d.data[d.pos:]))
	if n < 2 || d.pos+n > len(d.data) {
		return nil, invalidf("JPEG marker 0x%02X segment length %d passes the end of the data", m, n)
	}
	seg := d.data[d.pos+2 : d.pos+n]
	d.pos += n
	return seg, nil
}

func (d *jpegDecoder) parseSOF(m byte, seg []byte) error {
	if len(seg) < 6 {
		return invalidf("frame header too short")
	}
	d.sof = m
	d.precision = int(seg[0])
	d.height = int(binary.BigEndian.Uint16(seg[1:]))
	d.width = int(binary.BigEndian.Uint16(seg[3:]))
	nf := int(seg[5])
	if len(seg) < 6+3*nf {
		return invalidf("frame header too short for %d components", nf)
	}
	switch m {
	case mSOF0:
		if d.precision != 8 {
			return invalidf("baseline JPEG with %d-bit precision", d.precision)
		}
	case mSOF1, mSOF2:
		if d.precision != 8 && d.precision != 12 {
			return invalidf("DCT JPEG with %d-bit precision (8 or 12 allowed)", d.precision)
		}
	case mSOF3:
		if d.precision < 2 || d.precision > 16 {
			return invalidf("lossless JPEG with %d-bit precision (2 to 16 allowed)", d.precision)
		}
	}
	// The codestream must describe the frame the dataset declares before
	// anything is allocated from it.
	in := d.info
	switch {
	case d.height == 0:
		return unsupportedf("JPEG with height 0 (DNL)")
	case d.width != in.Columns || d.height != in.Rows:
		return invalidf("JPEG frame is %dx%d, the dataset says %dx%d", d.width, d.height, in.Columns, in.Rows)
	case nf != in.SamplesPerPixel:
		return invalidf("JPEG frame has %d components, the dataset says %d samples per pixel", nf, in.SamplesPerPixel)
	case d.precision > in.BitsAllocated:
		return invalidf("JPEG precision %d exceeds BitsAllocated %d", d.precision, in.BitsAllocated)
	}
	d.comps = make([]jpegComponent, nf)
	for i := range d.comps {
		c := &d.comps[i]
		c.id = seg[6+3*i]
		c.h = int(seg[7+3*i] >> 4)
		c.v = int(seg[7+3*i] & 15)
		c.tq = int(seg[8+3*i])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return invalidf("JPEG component %d has sampling %dx%d or table %d out of range", i, c.h, c.v, c.tq)
		}
		for j := 0; j < i; j++ {
			if d.comps[j].id == c.id {
				return invalidf("JPEG component id %d appears twice", c.id)
			}
		}
		d.hmax = max(d.hmax, c.h)
		d.vmax = max(d.vmax, c.v)
	}
	lossless := m == mSOF3
	for i := range d.comps {
		c := &d.comps[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return unsupportedf("JPEG sampling factors %dx%d against a maximum of %dx%d", c.h, c.v, d.hmax, d.vmax)
		}
		if lossless && (c.h != 1 || c.v != 1) {
			return unsupportedf("subsampled lossless JPEG")
		}
		c.dw = ceilDiv(d.width*c.h, d.hmax)
		c.dh = ceilDiv(d.height*c.v, d.vmax)
	}
	if lossless {
		for i := range d.comps {
			c := &d.comps[i]
			c.bw, c.bh = c.dw, c.dh
			c.stride = c.dw
			c.plane = make([]uint16, c.dw*c.dh)
		}
		return nil
	}
	d.mcusX = ceilDiv(d.width, 8*d.hmax)
	d.mcusY = ceilDiv(d.height, 8*d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.bw = d.mcusX * c.h
		c.bh = d.mcusY * c.v
		c.stride = c.bw * 8
		c.plane = make([]uint16, c.stride*c.bh*8)
		if m == mSOF2 {
			c.coef = make([]int16, c.bw*c.bh*64)
		}
	}
	return nil
}

func (d *jpegDecoder) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return invalidf("DHT segment too short")
		}
		class, id := seg[0]>>4, int(seg[0]&15)
		if class > 1 || id > 3 {
			return invalidf("DHT table class %d id %d out of range", class, id)
		}
		var counts [16]int
		total := 0
		for i := range counts {
			counts[i] = int(seg[1+i])
			total += counts[i]
		}
		if total > 256 || len(seg) < 17+total {
			return invalidf("DHT segment declares %d codes but holds fewer", total)
		}
		t := &d.dc[id]
		if class == 1 {
			t = &d.ac[id]
		}
		if err := t.build(&counts, seg[17:17+total]); err != nil {
			return err
		}
		seg = seg[17+total:]
	}
	return nil
}

func (d *jpegDecoder) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if pq > 1 || tq > 3 {
			return invalidf("DQT precision %d table %d out of range", pq, tq)
		}
		n := 64 << pq
		if len(seg) < 1+n {
			return invalidf("DQT segment too short")
		}
		for k := 0; k < 64; k++ {
			var q int32
			if pq == 0 {
				q = int32(seg[1+k])
			} else {
				q = int32(binary.BigEndian.Uint16(seg[1+2*k:]))
			}
			d.quant[tq][zigzag[k]] = q
		}
		d.quantOK[tq] = true
		seg = seg[1+n:]
	}
	return nil
}

// scan describes one SOS.
type scan struct {
	comps          []*jpegComponent
	ss, se, ah, al int
}

func (d *jpegDecoder) parseSOS(seg []byte) error {
	if d.sof == 0 {
		return invalidf("scan before the frame header")
	}
	if len(seg) < 1 {
		return invalidf("SOS segment too short")
	}
	ns := int(seg[0])
	if ns < 1 || ns > 4 || len(seg) < 4+2*ns {
		return invalidf("SOS with %d components is malformed", ns)
	}
	sc := scan{comps: make([]*jpegComponent, ns)}
	last := -1
	blocks := 0
	for i := 0; i < ns; i++ {
		id := seg[1+2*i]
		idx := -1
		for j := range d.comps {
			if d.comps[j].id == id {
				idx = j
			}
		}
		// T.81 B.2.3: scan components appear in frame order, once each.
		if idx <= last {
			return invalidf("scan component %d is unknown, repeated or out of order", id)
		}
		last = idx
		c := &d.comps[idx]
		c.td, c.ta = int(seg[2+2*i]>>4), int(seg[2+2*i]&15)
		if c.td > 3 || c.ta > 3 {
			return invalidf("scan Huffman table selector out of range")
		}
		sc.comps[i] = c
		blocks += c.h * c.v
	}
	if ns > 1 && blocks > 10 {
		return invalidf("interleaved scan has %d blocks per MCU (at most 10)", blocks)
	}
	p := seg[1+2*ns:]
	sc.ss, sc.se, sc.ah, sc.al = int(p[0]), int(p[1]), int(p[2]>>4), int(p[2]&15)

	d.br.reset(d.data, d.pos)
	var err error
	switch d.sof {
	case mSOF3:
		err = d.decodeLosslessScan(&sc)
	case mSOF2:
		err = d.decodeProgressiveScan(&sc)
	default:
		err = d.decodeSequentialScan(&sc)
	}
	if err != nil {
		return err
	}
	if d.br.overrun {
		return invalidf("entropy-coded data ends early (truncated or corrupt JPEG data)")
	}
	d.scans++
	for _, c := range sc.comps {
		c.decoded = true
	}
	// Continue after the scan: the reader stops at the next marker.
	d.pos = d.br.pos
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
