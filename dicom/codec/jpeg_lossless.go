package codec

// Lossless JPEG, process 14 (T.81 Annex H): DPCM with one of seven
// predictors, Huffman-coded differences and an optional point transform.

// decodeLosslessScan decodes one lossless scan. Ss is the predictor, Al the
// point transform. Components must be unsubsampled (checked in parseSOF),
// so an MCU is one sample of each scan component.
func (d *jpegDecoder) decodeLosslessScan(sc *scan) error {
	pred, pt := sc.ss, sc.al
	if pred < 1 || pred > 7 {
		// 0 is only for the differential frames of hierarchical mode.
		return invalidf("lossless JPEG predictor %d (1 to 7 allowed)", pred)
	}
	if pt >= d.precision {
		return invalidf("lossless JPEG point transform %d with %d-bit precision", pt, d.precision)
	}
	if err := d.checkLosslessTables(sc); err != nil {
		return err
	}
	w, h := d.width, d.height
	// The restart logic below assumes intervals of whole rows, which T.81
	// H.1.2.1 requires for lossless (prediction restarts with the row).
	rowsPerInterval := 0
	if d.restart > 0 {
		if d.restart%w != 0 {
			return unsupportedf("lossless JPEG restart interval %d is not a multiple of the row width %d", d.restart, w)
		}
		rowsPerInterval = d.restart / w
	}
	initial := 1 << (d.precision - pt - 1) // predictor of the first sample
	rst := 0
	n := len(sc.comps)
	var rows, ups [4][]uint16
	for y := 0; y < h; y++ {
		// The first row of the scan, and of every restart interval, is
		// predicted from the left only.
		first := y == 0
		if rowsPerInterval > 0 && y > 0 && y%rowsPerInterval == 0 {
			if err := d.br.restart(rst); err != nil {
				return err
			}
			rst = (rst + 1) & 7
			first = true
		}
		for i, c := range sc.comps {
			rows[i] = c.plane[y*c.stride:][:w]
			if y > 0 {
				ups[i] = c.plane[(y-1)*c.stride:][:w]
			}
		}
		for x := 0; x < w; x++ {
			for i := 0; i < n; i++ {
				diff, err := d.losslessDiff(&d.dc[sc.comps[i].td])
				if err != nil {
					return err
				}
				row, up := rows[i], ups[i]
				var p int
				switch {
				case first && x == 0:
					p = initial
				case first:
					p = int(row[x-1])
				case x == 0:
					p = int(up[0])
				default:
					ra, rb, rc := int(row[x-1]), int(up[x]), int(up[x-1])
					switch pred {
					case 1:
						p = ra
					case 2:
						p = rb
					case 3:
						p = rc
					case 4:
						p = ra + rb - rc
					case 5:
						p = ra + (rb-rc)>>1
					case 6:
						p = rb + (ra-rc)>>1
					case 7:
						p = (ra + rb) >> 1
					}
				}
				// Reconstruction is modulo 2^16 (H.1.2.1); the 16-bit
				// difference 32768 relies on it.
				row[x] = uint16(p + diff)
			}
		}
	}
	// The point transform is undone on output.
	for _, c := range sc.comps {
		c.pt = pt
	}
	return nil
}

func (d *jpegDecoder) checkLosslessTables(sc *scan) error {
	for _, c := range sc.comps {
		if !d.dc[c.td].defined {
			return invalidf("scan uses Huffman table %d, which is not defined", c.td)
		}
	}
	return nil
}

// losslessDiff reads one difference (T.81 H.1.2.2): a category 0..16 and,
// except for 16 (whose difference is always 32768), that many bits. It is
// the innermost loop of lossless decoding, so it reads the accumulator
// directly: one refill check covers the code and its extra bits.
func (d *jpegDecoder) losslessDiff(t *huffTable) (int, error) {
	br := &d.br
	if br.n < 32 {
		br.fill()
	}
	var s uint
	if e := t.lut[br.acc>>(64-lutBits)]; e != 0 {
		br.consume(uint(e >> 8))
		s = uint(e & 0xFF)
	} else {
		sym, err := br.decode(t)
		if err != nil {
			return 0, err
		}
		s = uint(sym)
	}
	switch {
	case s == 0:
		return 0, nil
	case s == 16:
		return 32768, nil
	case s > 16:
		return 0, invalidf("lossless difference category %d is out of range", s)
	}
	v := int(br.acc >> (64 - s))
	br.consume(s)
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v, nil
}
