// Package render turns decoded DICOM frames into images people look at:
// modality LUT (rescale), VOI windowing (LINEAR, LINEAR_EXACT, SIGMOID, or
// the frame's range), MONOCHROME1 inversion, colour models (RGB, YBR,
// PALETTE COLOR) and downscaling for thumbnails. WADO-RS rendered and
// thumbnail responses and WADO-URI images come from here.
package render

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/dicom/codec"
)

// Window is a VOI window (PS3.3 C.11.2.1.2).
type Window struct {
	Center, Width float64
	// Function is LINEAR (default), LINEAR_EXACT or SIGMOID.
	Function string
}

// Options tune rendering.
type Options struct {
	// Window overrides the dataset's window.
	Window *Window
	// MaxWidth and MaxHeight, if set, shrink the image to fit (keeping
	// its aspect ratio); it is never enlarged.
	MaxWidth, MaxHeight int
}

// Frame renders frame (0-based index frameIndex) of ds.
func Frame(ds *dicom.Dataset, frameIndex int, f *codec.Frame, opts Options) (image.Image, error) {
	pi, err := ds.PixelInfo()
	if err != nil {
		return nil, err
	}
	if (f.Rows*f.Columns*f.SamplesPerPixel*f.BitsAllocated+7)/8 > len(f.Data) {
		return nil, errors.New("render: decoded frame is shorter than its size")
	}
	var img image.Image
	pm := strings.ToUpper(strings.TrimSpace(f.PhotometricInterpretation))
	switch {
	case f.SamplesPerPixel == 1 && pm == "PALETTE COLOR":
		img, err = palette(ds, pi, f)
	case f.SamplesPerPixel == 1:
		img, err = grayscale(ds, pi, frameIndex, f, pm, opts)
	case f.SamplesPerPixel >= 3:
		img, err = colour(f, pm)
	default:
		err = fmt.Errorf("render: %d samples per pixel", f.SamplesPerPixel)
	}
	if err != nil {
		return nil, err
	}
	if opts.MaxWidth > 0 || opts.MaxHeight > 0 {
		img = fit(img, opts.MaxWidth, opts.MaxHeight)
	}
	return img, nil
}

// samples returns the frame's stored values as float64: sign-extended
// from BitsStored when signed, masked to BitsStored when not.
func samples(pi dicom.PixelInfo, f *codec.Frame) []float64 {
	n := f.Rows * f.Columns
	out := make([]float64, n)
	if f.BitsAllocated == 1 {
		for i := 0; i < n; i++ {
			out[i] = float64((f.Data[i/8] >> (i % 8)) & 1)
		}
		return out
	}
	signed := pi.PixelRepresentation == 1
	bits := pi.BitsStored
	if f.BitsAllocated != pi.BitsAllocated && f.BitsAllocated == 8 {
		bits = 8 // a codec that output 8 bits
	}
	if bits <= 0 || bits > f.BitsAllocated {
		bits = f.BitsAllocated
	}
	mask := uint64(1)<<uint(bits) - 1
	signBit := uint64(1) << uint(bits-1)
	for i := 0; i < n; i++ {
		var raw uint64
		switch f.BitsAllocated {
		case 8:
			raw = uint64(f.Data[i])
		case 16:
			raw = uint64(binary.LittleEndian.Uint16(f.Data[2*i:]))
		case 32:
			if pi.PixelTag == dicom.TagFloatPixelData {
				out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(f.Data[4*i:])))
				continue
			}
			raw = uint64(binary.LittleEndian.Uint32(f.Data[4*i:]))
		case 64:
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(f.Data[8*i:]))
			continue
		}
		raw &= mask
		if signed && raw&signBit != 0 {
			out[i] = float64(int64(raw) - int64(mask) - 1)
		} else {
			out[i] = float64(raw)
		}
	}
	return out
}

// frameAttr finds an attribute that enhanced multi-frame objects keep in
// functional groups: per-frame first, then shared, then top level.
func frameAttr(ds *dicom.Dataset, frameIndex int, group, t dicom.Tag) *dicom.Dataset {
	if items := ds.Items(dicom.TagPerFrameFunctionalGroupsSequence); frameIndex < len(items) {
		if g := items[frameIndex].Items(group); len(g) > 0 && g[0].Has(t) {
			return g[0]
		}
	}
	if shared := ds.Items(dicom.TagSharedFunctionalGroupsSequence); len(shared) > 0 {
		if g := shared[0].Items(group); len(g) > 0 && g[0].Has(t) {
			return g[0]
		}
	}
	if ds.Has(t) {
		return ds
	}
	return nil
}

// Rescale returns the modality LUT's slope and intercept for a frame.
func Rescale(ds *dicom.Dataset, frameIndex int) (slope, intercept float64) {
	slope, intercept = 1, 0
	if src := frameAttr(ds, frameIndex, dicom.TagPixelValueTransformationSequence, dicom.TagRescaleSlope); src != nil {
		if v, ok := src.Float(dicom.TagRescaleSlope); ok && v != 0 {
			slope = v
		}
	}
	if src := frameAttr(ds, frameIndex, dicom.TagPixelValueTransformationSequence, dicom.TagRescaleIntercept); src != nil {
		if v, ok := src.Float(dicom.TagRescaleIntercept); ok {
			intercept = v
		}
	}
	return slope, intercept
}

// DefaultWindow returns the frame's first stored VOI window, if any.
func DefaultWindow(ds *dicom.Dataset, frameIndex int) (Window, bool) {
	src := frameAttr(ds, frameIndex, dicom.TagFrameVOILUTSequence, dicom.TagWindowCenter)
	if src == nil {
		return Window{}, false
	}
	c, ok1 := src.Float(dicom.TagWindowCenter)
	w, ok2 := src.Float(dicom.TagWindowWidth)
	if !ok1 || !ok2 || w <= 0 {
		return Window{}, false
	}
	return Window{Center: c, Width: w, Function: strings.ToUpper(src.String(dicom.TagVOILUTFunction))}, true
}

func grayscale(ds *dicom.Dataset, pi dicom.PixelInfo, frameIndex int, f *codec.Frame, pm string, opts Options) (image.Image, error) {
	vals := samples(pi, f)
	slope, intercept := Rescale(ds, frameIndex)
	if pi.BitsAllocated == 1 {
		slope, intercept = 1, 0
	}
	for i, v := range vals {
		vals[i] = v*slope + intercept
	}
	var win Window
	switch {
	case opts.Window != nil:
		win = *opts.Window
	default:
		var ok bool
		if win, ok = DefaultWindow(ds, frameIndex); !ok {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, v := range vals {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			if hi <= lo {
				hi = lo + 1
			}
			win = Window{Center: (lo + hi) / 2, Width: hi - lo, Function: "LINEAR_EXACT"}
		}
	}
	lut := voi(win)
	invert := pm == "MONOCHROME1"
	img := image.NewGray(image.Rect(0, 0, f.Columns, f.Rows))
	for i, v := range vals {
		g := lut(v)
		if invert {
			g = 255 - g
		}
		img.Pix[i] = g
	}
	return img, nil
}

// voi returns the VOI function mapping modality values to 0..255.
func voi(w Window) func(float64) uint8 {
	c, width := w.Center, w.Width
	switch strings.ToUpper(w.Function) {
	case "LINEAR_EXACT":
		if width <= 0 {
			width = 1
		}
		return func(x float64) uint8 { return clamp8((x - (c - width/2)) / width * 255) }
	case "SIGMOID":
		if width <= 0 {
			width = 1
		}
		return func(x float64) uint8 { return clamp8(255 / (1 + math.Exp(-4*(x-c)/width))) }
	default:
		// PS3.3 C.11.2.1.2.1: the linear function centres on c-0.5 and
		// spans width-1.
		if width < 1 {
			width = 1
		}
		return func(x float64) uint8 {
			switch {
			case x <= c-0.5-(width-1)/2:
				return 0
			case x > c-0.5+(width-1)/2:
				return 255
			}
			return clamp8(((x-(c-0.5))/(width-1) + 0.5) * 255)
		}
	}
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(math.Round(v))
}

func colour(f *codec.Frame, pm string) (image.Image, error) {
	n := f.Rows * f.Columns
	img := image.NewRGBA(image.Rect(0, 0, f.Columns, f.Rows))
	spp := f.SamplesPerPixel
	get := func(i, s int) float64 {
		if f.BitsAllocated == 16 {
			return float64(binary.LittleEndian.Uint16(f.Data[2*(i*spp+s):])) / 257
		}
		return float64(f.Data[i*spp+s])
	}
	ybr := strings.HasPrefix(pm, "YBR_FULL")
	partial := strings.HasPrefix(pm, "YBR_PARTIAL")
	for i := 0; i < n; i++ {
		r, g, b := get(i, 0), get(i, 1), get(i, 2)
		switch {
		case ybr:
			y, cb, cr := r, g-128, b-128
			r, g, b = y+1.402*cr, y-0.344136*cb-0.714136*cr, y+1.772*cb
		case partial:
			y, cb, cr := 1.164383*(r-16), g-128, b-128
			r, g, b = y+1.596027*cr, y-0.391762*cb-0.812968*cr, y+2.017232*cb
		}
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = clamp8(r), clamp8(g), clamp8(b), 255
	}
	return img, nil
}

// palette applies the Palette Color Lookup Tables (PS3.3 C.7.6.3.1.5).
func palette(ds *dicom.Dataset, pi dicom.PixelInfo, f *codec.Frame) (image.Image, error) {
	type lut struct {
		first int
		data  []uint16
		bits  int
	}
	read := func(desc, data dicom.Tag) (lut, error) {
		d := ds.Get(desc)
		e := ds.Get(data)
		if d == nil || e == nil {
			return lut{}, errors.New("render: palette colour image without lookup tables")
		}
		dv := d.Ints()
		if len(dv) < 3 {
			return lut{}, errors.New("render: bad palette descriptor")
		}
		l := lut{first: int(dv[1]), bits: int(dv[2])}
		if dv[1] < 0 && d.VR == dicom.US {
			l.first = int(uint16(dv[1]))
		}
		if l.bits == 8 && len(e.Value) > 0 && int(dv[0]) == len(e.Value) {
			for _, b := range e.Value {
				l.data = append(l.data, uint16(b))
			}
		} else {
			for i := 0; i+1 < len(e.Value); i += 2 {
				l.data = append(l.data, binary.LittleEndian.Uint16(e.Value[i:]))
			}
		}
		if len(l.data) == 0 {
			return lut{}, errors.New("render: empty palette")
		}
		return l, nil
	}
	var luts [3]lut
	var err error
	tags := [3][2]dicom.Tag{
		{dicom.TagRedPaletteColorLookupTableDescriptor, dicom.TagRedPaletteColorLookupTableData},
		{dicom.TagGreenPaletteColorLookupTableDescriptor, dicom.TagGreenPaletteColorLookupTableData},
		{dicom.TagBluePaletteColorLookupTableDescriptor, dicom.TagBluePaletteColorLookupTableData},
	}
	for i := range luts {
		if luts[i], err = read(tags[i][0], tags[i][1]); err != nil {
			return nil, err
		}
	}
	vals := samples(pi, f)
	img := image.NewRGBA(image.Rect(0, 0, f.Columns, f.Rows))
	for i, v := range vals {
		var c [3]uint8
		for k, l := range luts {
			idx := int(v) - l.first
			if idx < 0 {
				idx = 0
			}
			if idx >= len(l.data) {
				idx = len(l.data) - 1
			}
			x := l.data[idx]
			if l.bits > 8 {
				c[k] = uint8(x >> 8)
			} else {
				c[k] = uint8(x)
			}
		}
		img.SetRGBA(i%f.Columns, i/f.Columns, color.RGBA{c[0], c[1], c[2], 255})
	}
	return img, nil
}

// fit shrinks img by area averaging to fit maxW x maxH.
func fit(img image.Image, maxW, maxH int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	scale := 1.0
	if maxW > 0 && w > maxW {
		scale = math.Min(scale, float64(maxW)/float64(w))
	}
	if maxH > 0 && h > maxH {
		scale = math.Min(scale, float64(maxH)/float64(h))
	}
	if scale >= 1 {
		return img
	}
	nw, nh := max(1, int(math.Round(float64(w)*scale))), max(1, int(math.Round(float64(h)*scale)))
	out := image.NewRGBA(image.Rect(0, 0, nw, nh))
	gray, isGray := img.(*image.Gray)
	for y := 0; y < nh; y++ {
		y0, y1 := y*h/nh, max((y+1)*h/nh, y*h/nh+1)
		for x := 0; x < nw; x++ {
			x0, x1 := x*w/nw, max((x+1)*w/nw, x*w/nw+1)
			var r, g, bl, n float64
			for yy := y0; yy < y1; yy++ {
				for xx := x0; xx < x1; xx++ {
					if isGray {
						v := float64(gray.Pix[yy*gray.Stride+xx])
						r, g, bl = r+v, g+v, bl+v
					} else {
						cr, cg, cb, _ := img.At(b.Min.X+xx, b.Min.Y+yy).RGBA()
						r, g, bl = r+float64(cr>>8), g+float64(cg>>8), bl+float64(cb>>8)
					}
					n++
				}
			}
			out.SetRGBA(x, y, color.RGBA{uint8(r / n), uint8(g / n), uint8(bl / n), 255})
		}
	}
	return out
}
