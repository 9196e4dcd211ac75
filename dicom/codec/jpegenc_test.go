package codec

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// A small JPEG writer for tests. It writes the codestream features the
// decoder must handle but the corpus has few of — every lossless precision
// 2..16, all predictors, point transforms, restart intervals, interleaved
// and per-component scans, odd sampling factors, long Huffman codes — so
// that the decoder can be checked both against the input (lossless) and
// against dcmtk (TestGeneratedAgainstDcmtk). The DCT writer takes
// coefficient blocks, not pixels: random coefficients exercise the IDCT and
// its clamping harder than real images do, and no forward DCT is needed.

type bitWriter struct {
	out []byte
	acc uint64
	n   uint
}

func (w *bitWriter) put(v uint32, n uint) {
	w.acc = w.acc<<n | uint64(v)&(1<<n-1)
	w.n += n
	for w.n >= 8 {
		b := byte(w.acc >> (w.n - 8))
		w.out = append(w.out, b)
		if b == 0xFF {
			w.out = append(w.out, 0) // byte stuffing
		}
		w.n -= 8
	}
}

// flush pads the last byte with 1 bits (T.81 F.1.2.3).
func (w *bitWriter) flush() {
	if w.n > 0 {
		w.put(1<<(8-w.n)-1, 8-w.n)
	}
}

func (w *bitWriter) marker(m byte) {
	w.flush()
	w.out = append(w.out, 0xFF, m)
}

func (w *bitWriter) segment(m byte, payload []byte) {
	w.marker(m)
	w.out = binary.BigEndian.AppendUint16(w.out, uint16(len(payload)+2))
	w.out = append(w.out, payload...)
}

type encHuff struct {
	counts [16]byte
	syms   []byte
	code   [256]uint32
	size   [256]uint
}

// newEncHuff builds a canonical table giving syms (in order) the lengths
// in lens, which must not decrease.
func newEncHuff(syms []byte, lens []int) *encHuff {
	h := &encHuff{syms: syms}
	code, l := uint32(0), 1
	for i, s := range syms {
		for l < lens[i] {
			code <<= 1
			l++
		}
		h.counts[l-1]++
		h.code[s], h.size[s] = code, uint(l)
		code++
	}
	return h
}

// spreadLengths gives n symbols code lengths from 2 to 16 bits, so that
// both the decoder's lookup table and its long-code path are used, while
// leaving the all-ones code unused as JPEG requires.
func spreadLengths(n int) []int {
	var lens []int
	for l := 2; len(lens) < n; l++ {
		room := 1
		if l >= 4 {
			room = 2
		}
		if l == 16 {
			room = n
		}
		for k := 0; k < room && len(lens) < n; k++ {
			lens = append(lens, l)
		}
	}
	return lens
}

func (h *encHuff) dht(class, id byte) []byte {
	p := []byte{class<<4 | id}
	p = append(p, h.counts[:]...)
	return append(p, h.syms...)
}

func (h *encHuff) emit(w *bitWriter, s byte) {
	if h.size[s] == 0 {
		panic("symbol not in table")
	}
	w.put(h.code[s], h.size[s])
}

// category is the magnitude category of v and its appended bits (F.1.2.1).
func category(v int) (uint, uint32) {
	if v == 0 {
		return 0, 0
	}
	a := v
	if a < 0 {
		a = -a
	}
	s := uint(bits.Len(uint(a)))
	if v < 0 {
		v += 1<<s - 1
	}
	return s, uint32(v)
}

type encComponent struct {
	h, v int
}

type losslessParams struct {
	width, height, precision int
	comps                    int
	predictor, pt            int
	restartRows              int
	separateScans            bool // one scan per component instead of one interleaved scan
}

// encodeLossless writes a process-14 stream of planes (one per component,
// row-major, samples below 2^precision).
func encodeLossless(p losslessParams, planes [][]uint16) []byte {
	w := &bitWriter{out: []byte{0xFF, 0xD8}}
	sof := []byte{byte(p.precision)}
	sof = binary.BigEndian.AppendUint16(sof, uint16(p.height))
	sof = binary.BigEndian.AppendUint16(sof, uint16(p.width))
	sof = append(sof, byte(p.comps))
	for c := 0; c < p.comps; c++ {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	w.segment(0xC3, sof)
	syms := make([]byte, 17)
	for i := range syms {
		syms[i] = byte(i)
	}
	h := newEncHuff(syms, spreadLengths(17))
	w.segment(0xC4, h.dht(0, 0))
	if p.restartRows > 0 {
		w.segment(0xDD, binary.BigEndian.AppendUint16(nil, uint16(p.restartRows*p.width)))
	}
	scans := [][]int{}
	if p.separateScans {
		for c := 0; c < p.comps; c++ {
			scans = append(scans, []int{c})
		}
	} else {
		all := []int{}
		for c := 0; c < p.comps; c++ {
			all = append(all, c)
		}
		scans = append(scans, all)
	}
	for _, sc := range scans {
		sos := []byte{byte(len(sc))}
		for _, c := range sc {
			sos = append(sos, byte(c+1), 0x00)
		}
		sos = append(sos, byte(p.predictor), 0, byte(p.pt))
		w.segment(0xDA, sos)
		rst := 0
		for y := 0; y < p.height; y++ {
			first := y == 0
			if p.restartRows > 0 && y > 0 && y%p.restartRows == 0 {
				w.marker(byte(0xD0 + rst))
				rst = (rst + 1) & 7
				first = true
			}
			for x := 0; x < p.width; x++ {
				for _, c := range sc {
					at := func(xx, yy int) int { return int(planes[c][yy*p.width+xx] >> p.pt) }
					var pred int
					switch {
					case first && x == 0:
						pred = 1 << (p.precision - p.pt - 1)
					case first:
						pred = at(x-1, y)
					case x == 0:
						pred = at(x, y-1)
					default:
						ra, rb, rc := at(x-1, y), at(x, y-1), at(x-1, y-1)
						pred = [8]int{0, ra, rb, rc, ra + rb - rc, ra + (rb-rc)>>1, rb + (ra-rc)>>1, (ra + rb) >> 1}[p.predictor]
					}
					d := (at(x, y) - pred) & 0xFFFF
					if d >= 0x8000 {
						d -= 0x10000 // -32768 is 32768 modulo 2^16: category 16
					}
					if d == -0x8000 {
						h.emit(w, 16)
						continue
					}
					s, v := category(d)
					h.emit(w, byte(s))
					w.put(v, s)
				}
			}
		}
	}
	w.marker(0xD9)
	return w.out
}

type dctParams struct {
	width, height, precision int
	comps                    []encComponent
	restart                  int  // restart interval in MCUs
	separateScans            bool // one scan per component
	seed                     uint64
	extreme                  bool // also write coefficients far out of range
}

// encodeDCT writes a sequential DCT stream (SOF0 for 8 bits, SOF1 for 12)
// of random coefficient blocks, quantisation tables of small steps.
func encodeDCT(p dctParams) []byte {
	rng := rand.New(rand.NewPCG(p.seed, 7))
	w := &bitWriter{out: []byte{0xFF, 0xD8}}
	// Two quantisation tables, 16-bit entries for 12-bit streams.
	for t := 0; t < 2; t++ {
		q := []byte{byte(t)}
		if p.precision == 12 {
			q[0] |= 0x10
		}
		for k := 0; k < 64; k++ {
			v := 1 + (k+t)%5
			if p.precision == 12 {
				q = binary.BigEndian.AppendUint16(q, uint16(v))
			} else {
				q = append(q, byte(v))
			}
		}
		w.segment(0xDB, q)
	}
	hmax, vmax := 1, 1
	for _, c := range p.comps {
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	marker := byte(0xC0)
	if p.precision == 12 {
		marker = 0xC1
	}
	sof := []byte{byte(p.precision)}
	sof = binary.BigEndian.AppendUint16(sof, uint16(p.height))
	sof = binary.BigEndian.AppendUint16(sof, uint16(p.width))
	sof = append(sof, byte(len(p.comps)))
	for i, c := range p.comps {
		sof = append(sof, byte(i+1), byte(c.h<<4|c.v), byte(min(i, 1)))
	}
	w.segment(marker, sof)

	maxDC, maxAC := 11, 10
	if p.precision == 12 {
		maxDC, maxAC = 15, 14
	}
	var dcSyms, acSyms []byte
	for s := 0; s <= maxDC; s++ {
		dcSyms = append(dcSyms, byte(s))
	}
	acSyms = append(acSyms, 0x00, 0xF0)
	for s := 1; s <= maxAC; s++ {
		for r := 0; r < 16; r++ {
			acSyms = append(acSyms, byte(r<<4|s))
		}
	}
	dc := newEncHuff(dcSyms, spreadLengths(len(dcSyms)))
	ac := newEncHuff(acSyms, spreadLengths(len(acSyms)))
	w.segment(0xC4, append(dc.dht(0, 0), ac.dht(1, 0)...))
	if p.restart > 0 {
		w.segment(0xDD, binary.BigEndian.AppendUint16(nil, uint16(p.restart)))
	}

	dcRange := 1 << (p.precision + 2) // DC/8 spans the sample range
	block := func() [64]int {
		var b [64]int
		b[0] = rng.IntN(dcRange) - dcRange/2
		for k := 1; k < 64; k++ {
			if rng.IntN(100) < 20 {
				b[k] = rng.IntN(121) - 60
				if p.extreme && rng.IntN(50) == 0 {
					b[k] = (rng.IntN(2)*2 - 1) * (1<<maxAC - 1 - rng.IntN(16))
				}
			}
		}
		return b
	}
	encodeBlock := func(b [64]int, pred *int) {
		s, v := category(b[0] - *pred)
		*pred = b[0]
		dc.emit(w, byte(s))
		w.put(v, s)
		run := 0
		for k := 1; k < 64; k++ {
			c := b[zigzag[k]]
			if c == 0 {
				run++
				continue
			}
			for run > 15 {
				ac.emit(w, 0xF0)
				run -= 16
			}
			s, v := category(c)
			ac.emit(w, byte(run<<4)|byte(s))
			w.put(v, s)
			run = 0
		}
		if run > 0 {
			ac.emit(w, 0x00)
		}
	}

	mcusX, mcusY := ceilDiv(p.width, 8*hmax), ceilDiv(p.height, 8*vmax)
	scans := [][]int{}
	if p.separateScans {
		for c := range p.comps {
			scans = append(scans, []int{c})
		}
	} else {
		all := []int{}
		for c := range p.comps {
			all = append(all, c)
		}
		scans = append(scans, all)
	}
	for _, sc := range scans {
		sos := []byte{byte(len(sc))}
		for _, c := range sc {
			sos = append(sos, byte(c+1), 0x00)
		}
		sos = append(sos, 0, 63, 0)
		w.segment(0xDA, sos)
		preds := make([]int, len(p.comps))
		var units [][]int // each MCU: the components of its blocks
		if len(sc) == 1 {
			c := p.comps[sc[0]]
			bw := ceilDiv(ceilDiv(p.width*c.h, hmax), 8)
			bh := ceilDiv(ceilDiv(p.height*c.v, vmax), 8)
			for i := 0; i < bw*bh; i++ {
				units = append(units, []int{sc[0]})
			}
		} else {
			for i := 0; i < mcusX*mcusY; i++ {
				var u []int
				for _, ci := range sc {
					for k := 0; k < p.comps[ci].h*p.comps[ci].v; k++ {
						u = append(u, ci)
					}
				}
				units = append(units, u)
			}
		}
		rst := 0
		for i, u := range units {
			if p.restart > 0 && i > 0 && i%p.restart == 0 {
				w.marker(byte(0xD0 + rst))
				rst = (rst + 1) & 7
				for k := range preds {
					preds[k] = 0
				}
			}
			for _, ci := range u {
				encodeBlock(block(), &preds[ci])
			}
		}
	}
	w.marker(0xD9)
	return w.out
}
