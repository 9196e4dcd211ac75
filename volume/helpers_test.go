package volume_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/volume"
)

// imageDS builds a single-frame image header with the given geometry;
// nil slices leave the attribute out.
func imageDS(sop string, ipp, iop, ps []float64, cols, rows int) *dicom.Dataset {
	ds := &dicom.Dataset{}
	ds.SetString(dicom.TagSOPInstanceUID, sop)
	ds.SetString(dicom.TagModality, "CT")
	if ipp != nil {
		ds.SetFloats(dicom.TagImagePositionPatient, ipp...)
	}
	if iop != nil {
		ds.SetFloats(dicom.TagImageOrientationPatient, iop...)
	}
	if ps != nil {
		ds.SetFloats(dicom.TagPixelSpacing, ps...)
	}
	ds.SetInts(dicom.TagRows, rows)
	ds.SetInts(dicom.TagColumns, cols)
	return ds
}

// encode writes ds as a Part 10 file.
func encode(t testing.TB, ds *dicom.Dataset, ts string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{TransferSyntax: ts}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// memSource is a Source over DICOM objects held in memory. It does not
// implement volume.FrameSource, so frames are decoded by volume itself.
type memSource struct {
	mu    sync.Mutex
	ins   []*radmark.Instance
	data  map[radmark.UID][]byte
	opens map[radmark.UID]int
}

var _ volume.Source = (*memSource)(nil)

func newMemSource(t testing.TB, objects ...[]byte) *memSource {
	t.Helper()
	s := &memSource{data: map[radmark.UID][]byte{}, opens: map[radmark.UID]int{}}
	for _, b := range objects {
		s.add(t, b)
	}
	return s
}

func (s *memSource) add(t testing.TB, b []byte) *radmark.Instance {
	t.Helper()
	f, err := dicom.ParseBytes(b, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		t.Fatal(err)
	}
	ds := f.Dataset
	in := &radmark.Instance{
		SOPInstanceUID:    radmark.UID(ds.String(dicom.TagSOPInstanceUID)),
		SOPClassUID:       radmark.UID(ds.String(dicom.TagSOPClassUID)),
		StudyUID:          radmark.UID(ds.String(dicom.TagStudyInstanceUID)),
		SeriesUID:         radmark.UID(ds.String(dicom.TagSeriesInstanceUID)),
		TransferSyntaxUID: radmark.UID(f.TransferSyntax.UID),
		Size:              int64(len(b)),
		Rows:              ds.IntOr(dicom.TagRows, 0),
		Columns:           ds.IntOr(dicom.TagColumns, 0),
	}
	if ds.Has(dicom.TagPixelData) || ds.Has(dicom.TagFloatPixelData) {
		in.NumberOfFrames = ds.IntOr(dicom.TagNumberOfFrames, 1)
	}
	if n, ok := ds.Int(dicom.TagInstanceNumber); ok {
		in.InstanceNumber = &n
	}
	if _, dup := s.data[in.SOPInstanceUID]; dup {
		t.Fatalf("two objects with SOP Instance UID %s", in.SOPInstanceUID)
	}
	s.data[in.SOPInstanceUID] = b
	s.ins = append(s.ins, in)
	return in
}

func (s *memSource) Select(_ context.Context, study, series, sop radmark.UID) ([]*radmark.Instance, error) {
	var out []*radmark.Instance
	for _, in := range s.ins {
		if (study == "" || in.StudyUID == study) && (series == "" || in.SeriesUID == series) && (sop == "" || in.SOPInstanceUID == sop) {
			out = append(out, in)
		}
	}
	if len(out) == 0 {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "nothing stored for %s/%s/%s", study, series, sop)
	}
	return out, nil
}

func (s *memSource) Open(_ context.Context, in *radmark.Instance) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.data[in.SOPInstanceUID]
	if !ok {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "no instance %s", in.SOPInstanceUID)
	}
	s.opens[in.SOPInstanceUID]++
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *memSource) openCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.opens {
		n += c
	}
	return n
}

// fileSource loads files into a memSource.
func fileSource(t testing.TB, paths ...string) *memSource {
	t.Helper()
	var objs [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, b)
	}
	return newMemSource(t, objs...)
}

func near(a, b volume.Vec3, tol float64) bool {
	return math.Abs(a[0]-b[0]) <= tol && math.Abs(a[1]-b[1]) <= tol && math.Abs(a[2]-b[2]) <= tol
}

func dist(a, b volume.Vec3) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

func codes(g *volume.Grid) []string {
	var out []string
	for _, f := range g.Findings {
		out = append(out, f.Code)
	}
	slices.Sort(out)
	return out
}

func finding(g *volume.Grid, code string) (volume.Finding, bool) {
	for _, f := range g.Findings {
		if f.Code == code {
			return f, true
		}
	}
	return volume.Finding{}, false
}
