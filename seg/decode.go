package seg

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/volume"
)

// Header is what a SEG says about itself before it is placed on a grid.
type Header struct {
	SOPInstanceUID string
	StudyUID       radmark.UID
	// SeriesUID is the referenced (source) series.
	SeriesUID radmark.UID
	// Fractional reports a FRACTIONAL SEG (probability or occupancy).
	Fractional bool
	Segments   []Segment
}

// Decoded is a SEG placed on a series grid: its segments packed into
// labelmap layers.
type Decoded struct {
	Header
	Layers map[int]*labelmap.Volume
	// Voxels is each segment's voxel count, by segment number.
	Voxels map[int]int64
}

// positionTolerance is how far (mm) a frame's position may be from a
// voxel centre of the grid and still be placed on it: more than DS
// rounding, far less than any pixel.
const positionTolerance = 0.05

// hint is how radmark records a segment's labelmap layer and value, so an
// export imports back into the same layout.
var hint = regexp.MustCompile(`\[radmark layer (\d+) value (\d+)\]$`)

// LayerHint returns the description suffix radmark writes to record a
// segment's layer and value.
func LayerHint(layer int, value uint8) string {
	return fmt.Sprintf("[radmark layer %d value %d]", layer, value)
}

// ReadHeader reads a SEG's segments and references.
func ReadHeader(ds *dicom.Dataset) (*Header, error) {
	if c := strings.TrimSpace(ds.String(tagSOPClassUID)); c != SOPClassUID {
		return nil, radmark.Errorf(radmark.EINVALID, "the object is not a DICOM SEG: its SOP class is %q (%s), not Segmentation Storage", c, dicom.UIDName(c))
	}
	h := &Header{SOPInstanceUID: strings.TrimSpace(ds.String(tagSOPInstanceUID)), StudyUID: radmark.UID(strings.TrimSpace(ds.String(tagStudyInstanceUID)))}
	switch t := strings.TrimSpace(ds.String(tagSegmentationType)); t {
	case "BINARY":
	case "FRACTIONAL":
		h.Fractional = true
	default:
		return nil, radmark.Errorf(radmark.EUNSUPPORTED, "Segmentation Type %q is not BINARY or FRACTIONAL", t)
	}
	for _, rs := range ds.Items(tagReferencedSeriesSequence) {
		h.SeriesUID = radmark.UID(strings.TrimSpace(rs.String(tagSeriesInstanceUID)))
		break
	}
	for _, it := range ds.Items(tagSegmentSequence) {
		n, ok := it.Int(tagSegmentNumber)
		if !ok || n < 1 {
			return nil, radmark.Errorf(radmark.EINVALID, "a segment has no valid Segment Number")
		}
		sg := Segment{Number: n, Label: strings.TrimSpace(it.String(tagSegmentLabel)),
			Description:   strings.TrimSpace(it.String(tagSegmentDescription)),
			Algorithm:     strings.TrimSpace(it.String(tagSegmentAlgorithmType)),
			AlgorithmName: strings.TrimSpace(it.String(tagSegmentAlgorithmName)), Layer: -1}
		var okc, okt bool
		sg.Category, okc = readCode(it, tagSegmentedPropertyCategoryCode)
		tItems := it.Items(tagSegmentedPropertyTypeCode)
		sg.Type, okt = readCode(it, tagSegmentedPropertyTypeCode)
		if !okc || !okt {
			return nil, radmark.Errorf(radmark.EINVALID, "segment %d (%s) lacks its segmented property category or type code", n, sg.Label)
		}
		if len(tItems) > 0 {
			if c, ok := readCode(tItems[0], tagSegmentedPropertyTypeModifierSq); ok {
				sg.TypeModifier = &c
			}
		}
		if c, ok := readCode(it, tagAnatomicRegionSequence); ok {
			sg.AnatomicRegion = &c
			if m, ok := readCode(it.Items(tagAnatomicRegionSequence)[0], tagAnatomicRegionModifierSeq); ok {
				sg.AnatomicRegionModifier = &m
			}
		}
		if e := it.Get(tagRecommendedDisplayCIELabValue); e != nil {
			sg.Color = colorOf(e.Floats())
		}
		if m := hint.FindStringSubmatch(sg.Description); m != nil {
			l, _ := strconv.Atoi(m[1])
			v, _ := strconv.Atoi(m[2])
			if l < 256 && v >= 1 && v <= 255 {
				sg.Layer, sg.Value = l, uint8(v)
			}
			sg.Description = strings.TrimSpace(strings.TrimSuffix(sg.Description, m[0]))
		}
		h.Segments = append(h.Segments, sg)
	}
	if len(h.Segments) == 0 {
		return nil, radmark.Errorf(radmark.EINVALID, "the SEG has no segments")
	}
	sort.Slice(h.Segments, func(a, b int) bool { return h.Segments[a].Number < h.Segments[b].Number })
	for i := 1; i < len(h.Segments); i++ {
		if h.Segments[i].Number == h.Segments[i-1].Number {
			return nil, radmark.Errorf(radmark.EINVALID, "segment number %d is used twice", h.Segments[i].Number)
		}
	}
	return h, nil
}

// frameSource returns the grid slice a frame's source image is, when it
// names one.
func frameSource(fg *dicom.Dataset, g *volume.Grid) (int, bool) {
	for _, der := range fg.Items(tagDerivationImageSequence) {
		for _, src := range der.Items(tagSourceImageSequence) {
			ref := radmark.ImageRef{SOPInstanceUID: radmark.UID(strings.TrimSpace(src.String(tagReferencedSOPInstanceUID)))}
			ref.Frame = src.IntOr(tagReferencedFrameNumber, 0)
			if k, ok := g.SliceOf(ref); ok {
				return k, true
			}
			if ref.Frame == 0 {
				if k, ok := g.SliceOf(radmark.ImageRef{SOPInstanceUID: ref.SOPInstanceUID, Frame: 1}); ok {
					return k, true
				}
			}
		}
	}
	return 0, false
}

// group returns the functional group item t of a frame: per-frame, else
// shared.
func group(perFrame, shared *dicom.Dataset, t dicom.Tag) *dicom.Dataset {
	for _, fg := range []*dicom.Dataset{perFrame, shared} {
		if fg == nil {
			continue
		}
		if items := fg.Items(t); len(items) > 0 {
			return items[0]
		}
	}
	return nil
}

// Decode places a parsed SEG on grid g (the referenced series' grid):
// each frame goes to the slice at its Plane Position (or, without one,
// the slice of its source image), shifted in-plane by whole pixels if its
// position says so. Fractional frames are thresholded at half the
// maximum value. Segments are packed into layers: the layer and value a
// radmark export recorded, else the first layer where the segment
// overlaps no other, with the next free value.
func Decode(f *dicom.File, g *volume.Grid) (*Decoded, error) {
	ds := f.Dataset
	h, err := ReadHeader(ds)
	if err != nil {
		return nil, err
	}
	pi, err := ds.PixelInfo()
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, "the SEG's pixel data")
	}
	if pi.SamplesPerPixel != 1 || (h.Fractional && pi.BitsAllocated != 8) || (!h.Fractional && pi.BitsAllocated != 1 && pi.BitsAllocated != 8) {
		return nil, radmark.Errorf(radmark.EINVALID, "the SEG's pixel data is %d bits × %d samples; a %s SEG has 1 sample of %s", pi.BitsAllocated, pi.SamplesPerPixel, map[bool]string{true: "FRACTIONAL", false: "BINARY"}[h.Fractional], map[bool]string{true: "8 bits", false: "1 bit"}[h.Fractional])
	}
	if pi.Rows > g.Rows || pi.Columns > g.Columns {
		return nil, radmark.Errorf(radmark.EINVALID, "the SEG's frames are %d×%d pixels, larger than series %s's %d×%d images", pi.Columns, pi.Rows, h.SeriesUID, g.Columns, g.Rows)
	}
	threshold := 0.0
	if h.Fractional {
		maxv := float64(ds.IntOr(tagMaximumFractionalValue, 255))
		if maxv <= 0 {
			maxv = 255
		}
		threshold = maxv / 2
	}
	var shared *dicom.Dataset
	if items := ds.Items(tagSharedFunctionalGroups); len(items) > 0 {
		shared = items[0]
	}
	perFrame := ds.Items(tagPerFrameFunctionalGroups)
	if len(perFrame) != pi.NumberOfFrames {
		return nil, radmark.Errorf(radmark.EINVALID, "the SEG has %d frames but %d per-frame functional group items", pi.NumberOfFrames, len(perFrame))
	}
	first := g.Slices[0].Plane
	frames, err := frameBytes(f, pi)
	if err != nil {
		return nil, err
	}
	bySeg := map[int]map[int][]byte{} // segment → slice → mask (grid slice size)
	known := map[int]bool{}
	for _, sg := range h.Segments {
		known[sg.Number] = true
		bySeg[sg.Number] = map[int][]byte{}
	}
	sliceLen := g.Columns * g.Rows
	for n, fg := range perFrame {
		segNo := 0
		if si := group(fg, shared, tagSegmentIdentificationSequence); si != nil {
			segNo = si.IntOr(tagReferencedSegmentNumber, 0)
		}
		if !known[segNo] {
			return nil, radmark.Errorf(radmark.EINVALID, "frame %d refers to segment %d, which the Segment Sequence does not describe", n+1, segNo)
		}
		if po := group(fg, shared, tagPlaneOrientationSequence); po != nil {
			iop := po.Floats(tagImageOrientationPatient)
			if len(iop) == 6 {
				for c := 0; c < 3; c++ {
					if math.Abs(iop[c]-first.RowDir[c]) > 1e-3 || math.Abs(iop[3+c]-first.ColDir[c]) > 1e-3 {
						return nil, radmark.Errorf(radmark.EUNSUPPORTED, "frame %d is oriented %v but series %s is %v: a SEG on another plane would need resampling", n+1, iop, g.Slices[0].Image.SOPInstanceUID, []float64{first.RowDir[0], first.RowDir[1], first.RowDir[2], first.ColDir[0], first.ColDir[1], first.ColDir[2]})
					}
				}
			}
		}
		if pm := group(fg, shared, tagPixelMeasuresSequence); pm != nil {
			if ps := pm.Floats(tagPixelSpacing); len(ps) == 2 && (math.Abs(ps[0]-first.RowSpacing) > 1e-3*first.RowSpacing || math.Abs(ps[1]-first.ColSpacing) > 1e-3*first.ColSpacing) {
				return nil, radmark.Errorf(radmark.EUNSUPPORTED, "frame %d has pixel spacing %v mm but the series has %g\\%g mm: the SEG would need resampling", n+1, ps, first.RowSpacing, first.ColSpacing)
			}
		}
		k, di, dj := 0, 0, 0
		placed := false
		if pp := group(fg, nil, tagPlanePositionSequence); pp != nil {
			if ipp := pp.Floats(tagImagePositionPatient); len(ipp) == 3 {
				idx := g.LPSToIndex(volume.Vec3{ipp[0], ipp[1], ipp[2]})
				ri, rj, rk := math.Round(idx[0]), math.Round(idx[1]), math.Round(idx[2])
				at := g.IndexToLPS(ri, rj, rk)
				d := math.Sqrt(sq(at[0]-ipp[0]) + sq(at[1]-ipp[1]) + sq(at[2]-ipp[2]))
				if !(d <= positionTolerance) || !(rk >= 0 && rk < float64(g.NumSlices)) || math.Abs(ri) > 1<<20 || math.Abs(rj) > 1<<20 {
					return nil, radmark.Errorf(radmark.EINVALID, "frame %d (segment %d) at position %v is not on a voxel of series %s's grid (nearest voxel (%g, %g, %g) is %.3f mm away)", n+1, segNo, ipp, h.SeriesUID, ri, rj, rk, d)
				}
				k, di, dj, placed = int(rk), int(ri), int(rj), true
			}
		}
		if !placed {
			if k, placed = frameSource(fg, g); !placed {
				return nil, radmark.Errorf(radmark.EINVALID, "frame %d (segment %d) has neither a plane position nor a source image of series %s", n+1, segNo, h.SeriesUID)
			}
		}
		mask := bySeg[segNo][k]
		data := frames[n]
		for r := 0; r < pi.Rows; r++ {
			gj := r + dj
			if gj < 0 || gj >= g.Rows {
				continue
			}
			for c := 0; c < pi.Columns; c++ {
				gi := c + di
				if gi < 0 || gi >= g.Columns {
					continue
				}
				p := r*pi.Columns + c
				var on bool
				if pi.BitsAllocated == 1 {
					on = data[p>>3]&(1<<(p&7)) != 0
				} else {
					on = float64(data[p]) > threshold || (!h.Fractional && data[p] != 0)
				}
				if on {
					if mask == nil {
						mask = make([]byte, sliceLen)
						bySeg[segNo][k] = mask
					}
					mask[gj*g.Columns+gi] = 1
				}
			}
		}
	}
	out := &Decoded{Header: *h, Layers: map[int]*labelmap.Volume{}, Voxels: map[int]int64{}}
	lg := labelmap.Grid{Columns: g.Columns, Rows: g.Rows, Slices: g.NumSlices}
	layer := func(l int) (*labelmap.Volume, error) {
		if v := out.Layers[l]; v != nil {
			return v, nil
		}
		v, err := labelmap.NewVolume(lg)
		if err != nil {
			return nil, err
		}
		out.Layers[l] = v
		return v, nil
	}
	nextValue := map[int]int{}
	fits := func(l int, masks map[int][]byte) bool {
		v := out.Layers[l]
		if v == nil {
			return true
		}
		for k, m := range masks {
			sl := v.Slice(k)
			for p, on := range m {
				if on != 0 && sl[p] != 0 {
					return false
				}
			}
		}
		return true
	}
	for i := range out.Segments {
		sg := &out.Segments[i]
		masks := bySeg[sg.Number]
		if sg.Layer >= 0 && !fits(sg.Layer, masks) {
			sg.Layer = -1 // the recorded layout does not hold: pack it
		}
		if sg.Layer >= 0 {
			if used := int(sg.Value); used >= nextValue[sg.Layer] {
				nextValue[sg.Layer] = used
			}
		} else {
			l := 0
			for ; l < 256; l++ {
				if nextValue[l] < 255 && fits(l, masks) {
					break
				}
			}
			if l == 256 {
				return nil, radmark.Errorf(radmark.ETOOLARGE, "the SEG's segments overlap more than 256 layers deep")
			}
			nextValue[l]++
			sg.Layer, sg.Value = l, uint8(nextValue[l])
		}
		v, err := layer(sg.Layer)
		if err != nil {
			return nil, err
		}
		var count int64
		for k, m := range masks {
			sl := v.Slice(k)
			for p, on := range m {
				if on != 0 {
					sl[p] = sg.Value
					count++
				}
			}
		}
		out.Voxels[sg.Number] = count
	}
	return out, nil
}

func sq(x float64) float64 { return x * x }

// frameBytes returns every frame of the SEG decoded: 1-bit frames packed
// LSB first from the frame's first pixel, 8-bit frames one byte a pixel.
func frameBytes(f *dicom.File, pi dicom.PixelInfo) ([][]byte, error) {
	e := f.Dataset.Get(pi.PixelTag)
	if e == nil {
		return nil, radmark.Errorf(radmark.EINVALID, "the SEG has no pixel data")
	}
	locs, err := dicom.LocateFrames(f.Dataset, e, pi)
	if err != nil {
		return nil, radmark.WrapError(radmark.EINVALID, err, "locate the SEG's frames")
	}
	out := make([][]byte, len(locs))
	for n, loc := range locs {
		var data []byte
		ts := f.TransferSyntax.UID
		if e.Encapsulated {
			for _, r := range loc.Ranges {
				for _, fr := range e.Fragments {
					if fr.Offset == r.Offset {
						data = append(data, fr.Data...)
						break
					}
				}
			}
		} else {
			ts = dicom.ExplicitVRLittleEndian
			for _, r := range loc.Ranges {
				start := r.Offset - e.Offset
				if start < 0 || start+r.Length > int64(len(e.Value)) {
					return nil, radmark.Errorf(radmark.EINVALID, "the SEG's pixel data is shorter than frame %d", n+1)
				}
				data = append(data, e.Value[start:start+r.Length]...)
			}
		}
		fr, err := dicom.DecodeFrame(ts, pi, data, loc.BitOffset)
		if err != nil {
			return nil, radmark.WrapError(radmark.EINVALID, err, fmt.Sprintf("decode frame %d of the SEG (%s)", n+1, dicom.UIDName(ts)))
		}
		out[n] = fr.Data
	}
	return out, nil
}
