package codec

import "sync"

// DCT-based JPEG: Huffman decoding of coefficient blocks (T.81 F.2 and G.2)
// and the inverse DCT.

func (d *jpegDecoder) checkTables(sc *scan, needDC, needAC bool) error {
	for _, c := range sc.comps {
		if !d.quantOK[c.tq] {
			return invalidf("scan uses quantisation table %d, which is not defined", c.tq)
		}
		if needDC && !d.dc[c.td].defined {
			return invalidf("scan uses DC Huffman table %d, which is not defined", c.td)
		}
		if needAC && !d.ac[c.ta].defined {
			return invalidf("scan uses AC Huffman table %d, which is not defined", c.ta)
		}
	}
	return nil
}

// forEachBlock walks the MCUs of a scan in order, handling restart
// intervals, and calls fn for every block with the component and the
// block's column and row in that component.
func (d *jpegDecoder) forEachBlock(sc *scan, fn func(c *jpegComponent, bx, by int) error) error {
	resetPreds := func() {
		for _, c := range sc.comps {
			c.dcPred = 0
		}
		d.eobrun = 0
	}
	resetPreds()
	mcu, rst := 0, 0
	nextMCU := func() error {
		mcu++
		if d.restart > 0 && mcu%d.restart == 0 {
			if err := d.br.restart(rst); err != nil {
				return err
			}
			rst = (rst + 1) & 7
			resetPreds()
		}
		return nil
	}
	if len(sc.comps) == 1 {
		// A non-interleaved scan covers just the component's own blocks,
		// not the MCU padding (T.81 A.2.2).
		c := sc.comps[0]
		bw, bh := ceilDiv(c.dw, 8), ceilDiv(c.dh, 8)
		total := bw * bh
		for by := 0; by < bh; by++ {
			for bx := 0; bx < bw; bx++ {
				if err := fn(c, bx, by); err != nil {
					return err
				}
				if mcu+1 < total {
					if err := nextMCU(); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	total := d.mcusX * d.mcusY
	for my := 0; my < d.mcusY; my++ {
		for mx := 0; mx < d.mcusX; mx++ {
			for _, c := range sc.comps {
				for v := 0; v < c.v; v++ {
					for h := 0; h < c.h; h++ {
						if err := fn(c, mx*c.h+h, my*c.v+v); err != nil {
							return err
						}
					}
				}
			}
			if mcu+1 < total {
				if err := nextMCU(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// decodeSequentialScan decodes a baseline or extended sequential scan and
// runs the IDCT on each block as it completes. Ss, Se, Ah and Al are
// ignored, as libjpeg does (with a warning): some encoders, e.g. the one
// behind the NEMA WG-04 mammogram, write Se=0 in sequential scans.
func (d *jpegDecoder) decodeSequentialScan(sc *scan) error {
	if err := d.checkTables(sc, true, true); err != nil {
		return err
	}
	maxDC := 11
	if d.precision == 12 {
		maxDC = 15
	}
	idct := newIDCT(d.precision)
	var blk [64]int32
	return d.forEachBlock(sc, func(c *jpegComponent, bx, by int) error {
		blk = [64]int32{}
		s, err := d.br.decode(&d.dc[c.td])
		if err != nil {
			return err
		}
		if int(s) > maxDC {
			return invalidf("DC difference category %d is out of range", s)
		}
		c.dcPred += d.br.receiveExtend(uint(s))
		// libjpeg keeps coefficients as 16-bit JCOEF.
		blk[0] = int32(int16(c.dcPred))
		ac := &d.ac[c.ta]
		for k := 1; k < 64; k++ {
			rs, err := d.br.decode(ac)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), uint(rs&15)
			if s == 0 {
				if r != 15 {
					break // EOB
				}
				k += 15 // ZRL
				continue
			}
			k += r
			if k > 63 {
				return invalidf("AC coefficient run passes the end of the block")
			}
			blk[zigzag[k]] = int32(int16(d.br.receiveExtend(s)))
		}
		idct.transform(&blk, &d.quant[c.tq], c.plane[by*8*c.stride+bx*8:], c.stride)
		return nil
	})
}

// decodeProgressiveScan decodes one scan of a progressive frame (T.81
// G.1.2) into the coefficient store; the IDCT runs once all scans are in.
func (d *jpegDecoder) decodeProgressiveScan(sc *scan) error {
	dcScan := sc.ss == 0
	switch {
	case sc.ss > 63 || sc.se > 63 || sc.se < sc.ss || (dcScan && sc.se != 0) || (!dcScan && len(sc.comps) != 1):
		return invalidf("progressive scan with spectral selection %d..%d is invalid", sc.ss, sc.se)
	case sc.al > 13 || (sc.ah != 0 && sc.ah != sc.al+1):
		return invalidf("progressive scan with successive approximation %d/%d is invalid", sc.ah, sc.al)
	}
	for _, c := range sc.comps {
		if !d.quantOK[c.tq] {
			// Checked here so output never meets an undefined table.
			return invalidf("scan uses quantisation table %d, which is not defined", c.tq)
		}
	}
	if err := d.checkTables(sc, dcScan && sc.ah == 0, !dcScan); err != nil {
		return err
	}
	return d.forEachBlock(sc, func(c *jpegComponent, bx, by int) error {
		blk := c.coef[(by*c.bw+bx)*64:][:64]
		switch {
		case dcScan && sc.ah == 0:
			s, err := d.br.decode(&d.dc[c.td])
			if err != nil {
				return err
			}
			if s > 15 {
				return invalidf("DC difference category %d is out of range", s)
			}
			c.dcPred += d.br.receiveExtend(uint(s))
			blk[0] = int16(c.dcPred << sc.al)
		case dcScan:
			if d.br.bits(1) != 0 {
				blk[0] |= int16(1 << sc.al)
			}
		case sc.ah == 0:
			return d.acFirst(sc, blk)
		default:
			return d.acRefine(sc, blk)
		}
		return nil
	})
}

// acFirst is the first AC scan of a band (T.81 G.1.2.2).
func (d *jpegDecoder) acFirst(sc *scan, blk []int16) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	ac := &d.ac[sc.comps[0].ta]
	for k := sc.ss; k <= sc.se; k++ {
		rs, err := d.br.decode(ac)
		if err != nil {
			return err
		}
		r, s := int(rs>>4), uint(rs&15)
		if s == 0 {
			if r < 15 {
				d.eobrun = 1<<r - 1
				if r > 0 {
					d.eobrun += d.br.bits(uint(r))
				}
				break
			}
			k += 15
			continue
		}
		k += r
		if k > 63 {
			return invalidf("AC coefficient run passes the end of the block")
		}
		blk[zigzag[k]] = int16(d.br.receiveExtend(s) << sc.al)
	}
	return nil
}

// acRefine is a successive-approximation AC scan (T.81 G.1.2.3): it adds
// one bit to coefficients already non-zero and places new ±1 coefficients.
func (d *jpegDecoder) acRefine(sc *scan, blk []int16) error {
	p1 := int16(1 << sc.al)
	m1 := -p1
	k := sc.ss
	refine := func(z int) {
		if d.br.bits(1) != 0 && blk[z]&p1 == 0 {
			if blk[z] >= 0 {
				blk[z] += p1
			} else {
				blk[z] += m1
			}
		}
	}
	if d.eobrun == 0 {
		ac := &d.ac[sc.comps[0].ta]
		for ; k <= sc.se; k++ {
			rs, err := d.br.decode(ac)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), int(rs&15)
			var val int16
			if s != 0 {
				if s != 1 {
					return invalidf("progressive refinement coefficient of size %d", s)
				}
				val = p1
				if d.br.bits(1) == 0 {
					val = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += d.br.bits(uint(r))
				}
				break
			}
			// Skip r zero-history coefficients, refining the non-zero ones
			// passed on the way, then place val.
			for ; k <= sc.se; k++ {
				z := zigzag[k]
				if blk[z] != 0 {
					refine(int(z))
					continue
				}
				if r == 0 {
					if val != 0 {
						blk[z] = val
					}
					break
				}
				r--
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= sc.se; k++ {
			if z := zigzag[k]; blk[z] != 0 {
				refine(int(z))
			}
		}
		d.eobrun--
	}
	return nil
}

// finishProgressive runs the IDCT over the coefficients of a progressive
// frame once every scan is in.
func (d *jpegDecoder) finishProgressive() {
	idct := newIDCT(d.precision)
	var blk [64]int32
	for i := range d.comps {
		c := &d.comps[i]
		for by := 0; by < c.bh; by++ {
			for bx := 0; bx < c.bw; bx++ {
				src := c.coef[(by*c.bw+bx)*64:][:64]
				for k, v := range src {
					blk[k] = int32(v)
				}
				idct.transform(&blk, &d.quant[c.tq], c.plane[by*8*c.stride+bx*8:], c.stride)
			}
		}
	}
}

// The inverse DCT is libjpeg's "islow" integer transform (jidctint.c), the
// default of libjpeg 6b and so of dcmtk and gdcm: the Loeffler–Ligtenberg–
// Moschytz factorisation (12 multiplies, 32 adds per 1-D pass) in 13-bit
// fixed point, columns first. The reference tools use exactly this
// arithmetic, so reproducing it (rather than using a float or another
// integer IDCT) is what makes lossy frames decode to identical pixels.
const (
	idctConstBits = 13
	// The 8-bit build keeps 2 extra bits of precision between the passes;
	// the 12-bit build only 1, so that 32-bit intermediates cannot overflow.
	idctPass1Bits8  = 2
	idctPass1Bits12 = 1
)

// fix converts a constant to 13-bit fixed point.
func fix(x float64) int { return int(x*(1<<idctConstBits) + 0.5) }

var (
	fix0298631336 = fix(0.298631336)
	fix0390180644 = fix(0.390180644)
	fix0541196100 = fix(0.541196100)
	fix0765366865 = fix(0.765366865)
	fix0899976223 = fix(0.899976223)
	fix1175875602 = fix(1.175875602)
	fix1501321110 = fix(1.501321110)
	fix1847759065 = fix(1.847759065)
	fix1961570560 = fix(1.961570560)
	fix2053119869 = fix(2.053119869)
	fix2562915447 = fix(2.562915447)
	fix3072711026 = fix(3.072711026)
)

type idctParams struct {
	pass1 uint
	// limit maps a descaled IDCT output, masked to 4*(max+1) values, to a
	// sample: libjpeg's post-IDCT range-limit table. It adds the level
	// shift (center) and clamps, and — for wildly out-of-range values from
	// corrupt data — wraps the way libjpeg's table does.
	limit []uint16
	mask  int
}

var (
	idctOnce      sync.Once
	idct8, idct12 *idctParams
)

func newIDCT(precision int) *idctParams {
	idctOnce.Do(func() {
		idct8 = buildIDCT(8, idctPass1Bits8)
		idct12 = buildIDCT(12, idctPass1Bits12)
	})
	if precision == 12 {
		return idct12
	}
	return idct8
}

func buildIDCT(bits int, pass1 uint) *idctParams {
	m := 1 << bits // MAXJSAMPLE+1
	center := m / 2
	t := make([]uint16, 4*m)
	for i := range t {
		switch {
		case i < center: // non-negative outputs below the top
			t[i] = uint16(i + center)
		case i < 2*m: // too large: clamp to max
			t[i] = uint16(m - 1)
		case i < 4*m-center: // too small: clamp to 0
			t[i] = 0
		default: // small negative outputs
			t[i] = uint16(i - 4*m + center)
		}
	}
	return &idctParams{pass1: pass1, limit: t, mask: 4*m - 1}
}

// transform dequantises blk (natural order), inverse-transforms it and
// writes the 8x8 samples to out with the given stride.
func (p *idctParams) transform(blk *[64]int32, q *[64]int32, out []uint16, stride int) {
	var ws [64]int32
	pass1 := p.pass1
	// Pass 1: columns, from the coefficients into ws, scaled up by pass1 bits.
	for col := 0; col < 8; col++ {
		if blk[8+col] == 0 && blk[16+col] == 0 && blk[24+col] == 0 && blk[32+col] == 0 &&
			blk[40+col] == 0 && blk[48+col] == 0 && blk[56+col] == 0 {
			// Only the DC term: the column is constant. Same result as the
			// full computation, much cheaper; most columns take this path.
			dc := int32(int(blk[col]) * int(q[col]) << pass1)
			for r := 0; r < 8; r++ {
				ws[8*r+col] = dc
			}
			continue
		}
		var in [8]int
		for r := 0; r < 8; r++ {
			in[r] = int(blk[8*r+col]) * int(q[8*r+col])
		}
		o := idct1D(&in, idctConstBits, idctConstBits-pass1)
		for r := 0; r < 8; r++ {
			ws[8*r+col] = int32(o[r])
		}
	}
	// Pass 2: rows, from ws to samples, descaled by pass1 bits and the 8x
	// gain of the 2-D transform (3 bits), level-shifted and clamped.
	shift := idctConstBits + pass1 + 3
	for row := 0; row < 8; row++ {
		w := ws[8*row : 8*row+8]
		o := out[row*stride : row*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := p.limit[descale(int(w[0]), pass1+3)&p.mask]
			for i := range o {
				o[i] = v
			}
			continue
		}
		in := [8]int{int(w[0]), int(w[1]), int(w[2]), int(w[3]), int(w[4]), int(w[5]), int(w[6]), int(w[7])}
		r := idct1D(&in, idctConstBits, shift)
		for i := range o {
			o[i] = p.limit[r[i]&p.mask]
		}
	}
}

// descale is a rounding right shift.
func descale(x int, n uint) int { return (x + 1<<(n-1)) >> n }

// idct1D is one 8-point pass of the LL&M inverse DCT. The even part works
// on inputs 0, 2, 4, 6 and the odd part on 1, 3, 5, 7 (the flowgraph of
// the LL&M paper's figure 8 in reverse); evenShift is the fixed-point scale
// of the even inputs and outShift the final rounding shift.
func idct1D(in *[8]int, evenShift, outShift uint) [8]int {
	// Even part.
	z2, z3 := in[2], in[6]
	z1 := (z2 + z3) * fix0541196100
	t2 := z1 - z3*fix1847759065
	t3 := z1 + z2*fix0765366865
	t0 := (in[0] + in[4]) << evenShift
	t1 := (in[0] - in[4]) << evenShift
	e10, e13 := t0+t3, t0-t3
	e11, e12 := t1+t2, t1-t2

	// Odd part.
	o0, o1, o2, o3 := in[7], in[5], in[3], in[1]
	a1 := o0 + o3
	a2 := o1 + o2
	a3 := o0 + o2
	a4 := o1 + o3
	a5 := (a3 + a4) * fix1175875602
	o0 *= fix0298631336
	o1 *= fix2053119869
	o2 *= fix3072711026
	o3 *= fix1501321110
	a1 *= -fix0899976223
	a2 *= -fix2562915447
	a3 = a3*-fix1961570560 + a5
	a4 = a4*-fix0390180644 + a5
	o0 += a1 + a3
	o1 += a2 + a4
	o2 += a2 + a3
	o3 += a1 + a4

	return [8]int{
		descale(e10+o3, outShift),
		descale(e11+o2, outShift),
		descale(e12+o1, outShift),
		descale(e13+o0, outShift),
		descale(e13-o0, outShift),
		descale(e12-o1, outShift),
		descale(e11-o2, outShift),
		descale(e10-o3, outShift),
	}
}
