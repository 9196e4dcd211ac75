package codec

// Entropy-coded segment reading and Huffman decoding (ITU-T T.81 F.2.2 and
// Annex C), shared by the DCT and lossless JPEG processes.

// lutBits is the width of the fast Huffman lookup: codes up to this length
// (almost all of them in practice) decode with one table read.
const lutBits = 9

type huffTable struct {
	defined bool
	// lut[next lutBits bits] = length<<8 | symbol, or 0 when the code is
	// longer than lutBits.
	lut [1 << lutBits]uint16
	// Canonical decoding for longer codes (T.81 F.2.2.3): for each length
	// l, maxCode[l] is the largest code of that length (-1 if none) and
	// valOffset[l] maps a code of that length to its index in symbols.
	maxCode   [17]int32
	valOffset [17]int32
	symbols   [256]byte
}

// build sets the table from a DHT segment's 16 code counts and symbols.
func (h *huffTable) build(counts *[16]int, symbols []byte) error {
	*h = huffTable{defined: true}
	copy(h.symbols[:], symbols)
	code, k := int32(0), 0
	for l := 1; l <= 16; l++ {
		n := counts[l-1]
		// A code of length l has at most 2^l values; more means the counts
		// are corrupt (libjpeg's JERR_BAD_HUFF_TABLE). Checked before the
		// lookup table is filled from them.
		if int(code)+n > 1<<l {
			return invalidf("Huffman table has more codes of length %d than fit", l)
		}
		h.valOffset[l] = int32(k) - code
		h.maxCode[l] = -1
		if n > 0 {
			h.maxCode[l] = code + int32(n) - 1
		}
		for i := 0; i < n; i++ {
			if l <= lutBits {
				// Every lutBits-bit pattern starting with this code maps to it.
				shift := uint(lutBits - l)
				base := int(code) << shift
				e := uint16(l)<<8 | uint16(symbols[k])
				for j := 0; j < 1<<shift; j++ {
					h.lut[base+j] = e
				}
			}
			code++
			k++
		}
		code <<= 1
	}
	return nil
}

// bitReader reads the entropy-coded data of a scan, removing stuffed zero
// bytes. At a marker (or the end of the data) it feeds zero bits, as
// decoders must to look ahead, and records when a decode actually consumed
// them: such a scan is truncated or corrupt.
type bitReader struct {
	data []byte
	pos  int    // next byte of data to read
	acc  uint64 // bits, most significant first
	n    uint   // valid bits in acc
	real uint   // how many of those n bits came from data (not padding)
	// atMarker is set once pos rests on a marker; no more data is read.
	atMarker bool
	overrun  bool
}

func (br *bitReader) reset(data []byte, pos int) {
	*br = bitReader{data: data, pos: pos}
}

// fill tops acc up to at least 57 bits.
func (br *bitReader) fill() {
	for br.n <= 56 {
		var b byte
		if !br.atMarker && br.pos < len(br.data) {
			b = br.data[br.pos]
			if b == 0xFF {
				if br.pos+1 < len(br.data) && br.data[br.pos+1] == 0x00 {
					br.pos += 2
				} else {
					// A marker (or 0xFF fill before one): stop here.
					br.atMarker = true
					b = 0
				}
			} else {
				br.pos++
			}
			if !br.atMarker {
				br.real += 8
			}
		}
		br.acc |= uint64(b) << (56 - br.n)
		br.n += 8
	}
}

func (br *bitReader) consume(k uint) {
	br.acc <<= k
	br.n -= k
	if k > br.real {
		br.overrun = true
		br.real = 0
	} else {
		br.real -= k
	}
}

// bits returns the next k (0..16) bits.
func (br *bitReader) bits(k uint) int {
	if k == 0 {
		return 0
	}
	if br.n < k {
		br.fill()
	}
	v := int(br.acc >> (64 - k))
	br.consume(k)
	return v
}

// receiveExtend reads a k-bit magnitude category value and sign-extends it
// (T.81 F.2.2.1, RECEIVE and EXTEND).
func (br *bitReader) receiveExtend(k uint) int {
	v := br.bits(k)
	if k > 0 && v < 1<<(k-1) {
		v += -1<<k + 1
	}
	return v
}

// decode reads one Huffman-coded symbol.
func (br *bitReader) decode(h *huffTable) (byte, error) {
	if br.n < 16 {
		br.fill()
	}
	if e := h.lut[br.acc>>(64-lutBits)]; e != 0 {
		br.consume(uint(e >> 8))
		return byte(e), nil
	}
	for l := uint(lutBits + 1); l <= 16; l++ {
		code := int32(br.acc >> (64 - l))
		if code <= h.maxCode[l] {
			br.consume(l)
			return h.symbols[(code+h.valOffset[l])&0xFF], nil
		}
	}
	return 0, invalidf("bad Huffman code in entropy-coded data (corrupt JPEG data)")
}

// restart handles a restart marker (T.81 E.2.4): the remaining bits of the
// current byte are padding, and the next marker must be RSTn with the
// expected n. It returns an error when the marker is missing.
func (br *bitReader) restart(expect int) error {
	if br.overrun {
		return invalidf("entropy-coded data ends before the restart interval does")
	}
	// The bits left in acc are the padding of the last byte plus lookahead
	// zeros: throw them away and find the marker at pos.
	for br.pos < len(br.data) && br.data[br.pos] == 0xFF && br.pos+1 < len(br.data) && br.data[br.pos+1] == 0xFF {
		br.pos++ // fill bytes
	}
	if br.pos+1 >= len(br.data) || br.data[br.pos] != 0xFF || br.data[br.pos+1] != byte(0xD0+expect) {
		return invalidf("missing restart marker RST%d", expect)
	}
	br.reset(br.data, br.pos+2)
	return nil
}
