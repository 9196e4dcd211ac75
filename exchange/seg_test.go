package exchange_test

import (
	"bytes"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/volume"
)

type pySEG struct {
	SOPClass string `json:"sop_class"`
	Rows     int    `json:"rows"`
	Columns  int    `json:"columns"`
	Segments []struct {
		Number    int      `json:"number"`
		Label     string   `json:"label"`
		Category  []string `json:"category"`
		Type      []string `json:"type"`
		Algorithm string   `json:"algorithm"`
	} `json:"segments"`
	Frames []struct {
		Segment int       `json:"segment"`
		IPP     []float64 `json:"ipp"`
		Count   int       `json:"count"`
	} `json:"frames"`
}

// TestSEGPhantomRoundTrip exports the phantom's lesions and overlapping
// liver as a SEG, validates it with dciodvfy, reads it with pydicom, and
// imports it back, on both engines: every voxel, segment code and source
// must survive.
func TestSEGPhantomRoundTrip(t *testing.T) {
	for _, eng := range testdb.Engines {
		t.Run(eng.Name, func(t *testing.T) { testSEGPhantomRoundTrip(t, eng.Open) })
	}
}

func testSEGPhantomRoundTrip(t *testing.T, open func(testing.TB) testdb.Store) {
	e := newEnvOn(t, open)
	ser := ctPhantom(t)
	e.ingestDatasets(ser.Instances...)
	rev := e.annotatePhantom(ser, "reader-1")
	ctx := t.Context()

	ds, err := e.x.SEG(ctx, e.op, rev.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "phantom.seg.dcm")
	first := writeDICOM(t, path, ds)
	again, err := e.x.SEG(ctx, e.op, rev.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	second := writeDICOM(t, filepath.Join(dir, "again.dcm"), again)
	if !bytes.Equal(first, second) {
		t.Error("two exports of the same revision differ")
	}
	dciodvfy(t, path)

	var py pySEG
	python(t, &py, "read_seg.py", path)
	if py.SOPClass != "1.2.840.10008.5.1.4.1.1.66.4" || len(py.Segments) != 4 {
		t.Fatalf("pydicom: class %s, %d segments", py.SOPClass, len(py.Segments))
	}
	wantTypes := []string{"27925004", "300331000", "27925004", "10200004"}
	wantAlg := []string{"MANUAL", "AUTOMATIC", "MANUAL", "SEMIAUTOMATIC"}
	for i, s := range py.Segments {
		if s.Type[0] != wantTypes[i] || s.Type[1] != "SCT" || s.Algorithm != wantAlg[i] {
			t.Errorf("segment %d: type %v algorithm %s, want %s/SCT %s", i+1, s.Type, s.Algorithm, wantTypes[i], wantAlg[i])
		}
	}
	// Every frame is a non-empty slice of its segment, at the phantom
	// slice's exact position, with as many voxels as the phantom's truth.
	ph := ser.Phantom
	cols, rows, slices := ph.Dims()
	want := map[[2]int]int{} // segment, slice → voxels
	for k := 0; k < slices; k++ {
		for j := 0; j < rows; j++ {
			for i := 0; i < cols; i++ {
				tis := ph.LabelAt(i, j, k)
				if tis.IsLesion() {
					want[[2]int{[]int{1, 2, 3}[tis.LesionIndex()], k}]++
				}
				if tis == 4 || (tis.IsLesion() && tis.LesionIndex() == 1) {
					want[[2]int{4, k}]++
				}
			}
		}
	}
	if len(py.Frames) != len(want) {
		t.Errorf("pydicom sees %d frames, the phantom has %d non-empty segment slices", len(py.Frames), len(want))
	}
	for _, f := range py.Frames {
		pos := ph.SlicePosition(0)
		k := int(math.Round((f.IPP[2] - pos[2]) / ph.Spec().SliceSpacing))
		sp := ph.SlicePosition(k)
		if math.Abs(f.IPP[0]-sp[0]) > 1e-6 || math.Abs(f.IPP[1]-sp[1]) > 1e-6 || math.Abs(f.IPP[2]-sp[2]) > 1e-6 {
			t.Errorf("frame of segment %d at %v, slice %d is at %v", f.Segment, f.IPP, k, sp)
		}
		if got := want[[2]int{f.Segment, k}]; got != f.Count {
			t.Errorf("segment %d slice %d: pydicom counts %d voxels, the phantom %d", f.Segment, k, f.Count, got)
		}
	}

	// Import into another reader's set: the same layers, values and codes.
	back, err := e.x.ImportSEG(ctx, e.op, first, exchange.ImportOptions{Project: e.project.ID, Reader: "reader-2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Content.Labelmaps) != 2 {
		t.Fatalf("imported %d layers, want 2", len(back.Content.Labelmaps))
	}
	for layer := 0; layer < 2; layer++ {
		a, _, err := e.ann.Labelmap(ctx, e.op, rev.ID, layer)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := e.ann.Labelmap(ctx, e.op, back.ID, layer)
		if err != nil {
			t.Fatal(err)
		}
		if !a.Equal(b) {
			t.Errorf("layer %d differs after the round trip", layer)
		}
	}
	got := map[radmark.SegmentRef]radmark.Item{}
	for _, it := range back.Content.Items {
		got[*it.Segment] = it
	}
	for _, it := range rev.Content.Items {
		b, ok := got[*it.Segment]
		if !ok || b.Label != it.Label || b.Source != it.Source {
			t.Errorf("item %s (%s, %+v, %+v) came back as %+v", it.ID, it.Label, it.Segment, it.Source, b)
		}
	}
}

// TestSEGImportShared imports the dcmqi and highdicom SEGs of the shared
// data onto their referenced series and checks every segment's voxels per
// slice against pydicom's reading of the same file.
func TestSEGImportShared(t *testing.T) {
	data := testenv.SharedData(t)
	// pydicom 2.3 decodes neither 1-bit RLE, JPEG 2000 nor Deflated Image
	// Frame Compression: the syntax variants of the liver SEG (the same
	// segmentation, per the data's manifest) are checked against its
	// reading of the plain file.
	const liver = "annotations/dcmqi_liver-seg_ct-3slice/liver.seg.dcm"
	reference := map[string]string{"liver deflate": liver, "liver RLE": liver, "liver JPEG 2000": liver}
	cases := []struct {
		name   string
		seg    string
		images string
	}{
		{"dcmqi liver", "annotations/dcmqi_liver-seg_ct-3slice/liver.seg.dcm", "annotations/dcmqi_liver-seg_ct-3slice/images"},
		{"dcmqi overlaps", "annotations/dcmqi_liver-seg_ct-3slice/partial_overlaps.seg.dcm", "annotations/dcmqi_liver-seg_ct-3slice/images"},
		{"liver deflate", "annotations/dcmqi_liver-seg_ct-3slice/seg-syntax-variants_pydicom-data/liver_deflate.dcm", "annotations/dcmqi_liver-seg_ct-3slice/images"},
		{"liver big endian", "annotations/dcmqi_liver-seg_ct-3slice/seg-syntax-variants_pydicom-data/liver_expb.dcm", "annotations/dcmqi_liver-seg_ct-3slice/images"},
		{"liver RLE", "annotations/dcmqi_liver-seg_ct-3slice/seg-syntax-variants_pydicom-data/liver_rle.dcm", "annotations/dcmqi_liver-seg_ct-3slice/images"},
		{"liver JPEG 2000", "annotations/dcmqi_liver-seg_ct-3slice/seg-syntax-variants_pydicom-data/liver_j2k.dcm", "annotations/dcmqi_liver-seg_ct-3slice/images"},
		{"liver non-byte-aligned", "annotations/dcmqi_liver-seg_ct-3slice/seg-syntax-variants_pydicom-data/liver_nonbyte_aligned.dcm", "annotations/dcmqi_liver-seg_ct-3slice/images"},
		{"dcmqi 23x38x3", "annotations/dcmqi_23x38x3/label.seg.dcm", "annotations/dcmqi_23x38x3/images"},
		{"highdicom binary", "annotations/highdicom/ct-16px-4slice/seg_image_ct_binary.dcm", "annotations/highdicom/ct-16px-4slice/images_pydicom-dicomdirtests-CT2"},
		{"highdicom overlap", "annotations/highdicom/ct-16px-4slice/seg_image_ct_binary_overlap.dcm", "annotations/highdicom/ct-16px-4slice/images_pydicom-dicomdirtests-CT2"},
		{"highdicom fractional", "annotations/highdicom/ct-16px-4slice/seg_image_ct_binary_fractional.dcm", "annotations/highdicom/ct-16px-4slice/images_pydicom-dicomdirtests-CT2"},
		{"highdicom true fractional", "annotations/highdicom/ct-16px-4slice/seg_image_ct_true_fractional.dcm", "annotations/highdicom/ct-16px-4slice/images_pydicom-dicomdirtests-CT2"},
		{"highdicom single frame", "annotations/highdicom/ct-128px/seg_image_ct_binary_single_frame.dcm", "annotations/highdicom/ct-128px/ct_image.dcm"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.ingestFiles(dicomFiles(t, filepath.Join(data, c.images))...)
			segPath := filepath.Join(data, c.seg)
			b := readFile(t, segPath)
			rev, err := e.x.ImportSEG(t.Context(), e.op, b, exchange.ImportOptions{Project: e.project.ID, Reader: "importer", AddLabels: true})
			if err != nil {
				t.Fatal(err)
			}
			var py pySEG
			ref := segPath
			if r, ok := reference[c.name]; ok {
				ref = filepath.Join(data, r)
			}
			python(t, &py, "read_seg.py", ref)
			f, err := dicom.ParseBytes(b, dicom.ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			series := radmark.UID(f.Dataset.Items(dicom.NewTag(0x0008, 0x1115))[0].String(dicom.NewTag(0x0020, 0x000E)))
			sr, err := e.x.Series(t.Context(), series)
			if err != nil {
				t.Fatal(err)
			}
			g := sr.Volume.Grid
			// pydicom: voxels per (segment, slice at the frame's position).
			want := map[[2]int]int{}
			for _, fr := range py.Frames {
				k := 0
				if fr.IPP != nil {
					idx := g.LPSToIndex(volume.Vec3{fr.IPP[0], fr.IPP[1], fr.IPP[2]})
					k = int(math.Round(idx[2]))
				}
				want[[2]int{fr.Segment, k}] += fr.Count
			}
			items := map[int]radmark.Item{} // segment number (in order) → item
			n := 0
			for _, it := range rev.Content.Items {
				n++
				items[n] = it
			}
			if len(rev.Content.Items) != len(py.Segments) {
				t.Fatalf("imported %d items, pydicom sees %d segments", len(rev.Content.Items), len(py.Segments))
			}
			total := 0
			for i, s := range py.Segments {
				it := rev.Content.Items[i]
				lv, _, err := e.ann.Labelmap(t.Context(), e.op, rev.ID, it.Segment.Layer)
				if err != nil {
					t.Fatal(err)
				}
				for k := 0; k < g.NumSlices; k++ {
					got := 0
					for _, v := range lv.Slice(k) {
						if int(v) == it.Segment.Value {
							got++
						}
					}
					if w := want[[2]int{s.Number, k}]; got != w {
						t.Errorf("segment %d (%s) slice %d: %d voxels, pydicom %d", s.Number, s.Label, k, got, w)
					}
					total += got
				}
				sc, _ := e.ann.Schema(t.Context(), e.project.ID, 0)
				for _, l := range sc.Labels {
					if l.ID == it.Label && (l.Type.Value != s.Type[0] || l.Category.Value != s.Category[0]) {
						t.Errorf("segment %d labelled %s (%s) but coded %v", s.Number, l.ID, l.Type.Value, s.Type)
					}
				}
			}
			if total == 0 {
				t.Error("no voxel imported")
			}
			t.Logf("%s: %d segments, %d voxels, %d layers", c.name, len(py.Segments), total, len(rev.Content.Labelmaps))
		})
	}
}

// TestSEGBadInput: a SEG whose series is not archived, codes the schema
// lacks, a revision that does not exist — each a clear error, and nothing
// saved.
func TestSEGBadInput(t *testing.T) {
	data := testenv.SharedData(t)
	e := newEnv(t)
	segPath := filepath.Join(data, "annotations/dcmqi_liver-seg_ct-3slice/liver.seg.dcm")
	b := readFile(t, segPath)
	opt := exchange.ImportOptions{Project: e.project.ID, Reader: "importer"}
	_, err := e.x.ImportSEG(t.Context(), e.op, b, opt)
	if radmark.ErrorCode(err) != radmark.ENOTFOUND || !strings.Contains(err.Error(), "referenced series") {
		t.Errorf("SEG on a series not archived: %v", err)
	}
	e.ingestFiles(dicomFiles(t, filepath.Join(data, "annotations/dcmqi_liver-seg_ct-3slice/images"))...)
	_, err = e.x.ImportSEG(t.Context(), e.op, b, opt)
	if radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), "--add-labels") {
		t.Errorf("unknown codes: %v", err)
	}
	sets, _ := e.ann.Sets(t.Context(), radmark.SetFilter{ProjectID: e.project.ID})
	for _, s := range sets {
		if s.Head != "" {
			t.Errorf("a refused import saved revision %s", s.Head)
		}
	}
	if _, err := e.x.SEG(t.Context(), e.op, "no-such-revision", ""); radmark.ErrorCode(err) != radmark.ENOTFOUND || !strings.Contains(err.Error(), "no-such-revision") {
		t.Errorf("unknown revision: %v", err)
	}
	// A CT image is not a SEG.
	ct := readFile(t, filepath.Join(data, "annotations/dcmqi_liver-seg_ct-3slice/images/01.dcm"))
	if _, err := e.x.ImportSEG(t.Context(), e.op, ct, opt); err == nil || !strings.Contains(err.Error(), "not a DICOM SEG") {
		t.Errorf("CT imported as SEG: %v", err)
	}
}

// TestExportRefusesUnnamedVoxels: labelmap values no item names would
// vanish from a SEG or a label NIfTI; both exports refuse them.
func TestExportRefusesUnnamedVoxels(t *testing.T) {
	e := newEnv(t)
	ser := ctPhantom(t)
	e.ingestDatasets(ser.Instances...)
	set, err := e.ann.CreateSet(t.Context(), e.op, e.project.ID, radmark.UID(ser.StudyInstanceUID), radmark.UID(ser.SeriesInstanceUID), "r")
	if err != nil {
		t.Fatal(err)
	}
	cols, rows, slices := ser.Phantom.Dims()
	s := make([]byte, cols*rows)
	s[0], s[1] = 1, 2
	rev, err := e.ann.Save(t.Context(), e.op, set.ID, &annotation.SaveRequest{
		Items: []radmark.Item{{ID: "a", Kind: radmark.KindSegmentation, Label: "nodule", Source: radmark.Source{Type: "human"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}}},
		Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: radmark.UID(ser.SeriesInstanceUID), Columns: cols, Rows: rows, Slices: slices,
			Encoding: "raw", Data: map[string][]byte{"3": s}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.x.SEG(t.Context(), e.op, rev.ID, ""); err == nil || !strings.Contains(err.Error(), "value 2") {
		t.Errorf("SEG: %v", err)
	}
	if _, err := e.x.LabelsNIfTI(t.Context(), e.op, rev.ID, "", -1); err == nil || !strings.Contains(err.Error(), "value 2") {
		t.Errorf("label NIfTI: %v", err)
	}
}

// TestSEGSharedSeries exports a SEG on real series — axial CT, oblique
// MR, and an enhanced multi-frame MR whose frames are the source images —
// validates it with dciodvfy and pydicom, and imports it back unchanged.
func TestSEGSharedSeries(t *testing.T) {
	data := testenv.SharedData(t)
	for _, rel := range []string{
		"ct/tcia_lung-pet-ct-dx_A0002_chest-8mm",
		"mr/tcia_brain-tumor-progression_PGBM-001_T1post",
		"mr/siemens-xa30_enhanced-mr_3d-t1w/t1w_enhanced_96frames.dcm",
	} {
		t.Run(rel, func(t *testing.T) {
			e := newEnv(t)
			e.ingestFiles(dicomFiles(t, filepath.Join(data, rel))...)
			ins, _ := e.archive.Select(t.Context(), "", "", "")
			sr, err := e.x.Series(t.Context(), ins[0].SeriesUID)
			if err != nil {
				t.Fatal(err)
			}
			g := sr.Volume.Grid
			set, err := e.ann.CreateSet(t.Context(), e.op, e.project.ID, sr.Study, sr.UID, "r")
			if err != nil {
				t.Fatal(err)
			}
			// A block in the middle of the volume, on a few slices.
			edit := annotation.LabelmapEdit{Layer: 0, SeriesUID: sr.UID, Columns: g.Columns, Rows: g.Rows, Slices: g.NumSlices, Encoding: "raw", Data: map[string][]byte{}}
			want := 0
			for k := g.NumSlices/2 - 1; k <= g.NumSlices/2+1; k++ {
				s := make([]byte, g.Columns*g.Rows)
				for j := g.Rows / 3; j < g.Rows/2; j++ {
					for i := g.Columns / 3; i < g.Columns/2+k%3; i++ {
						s[j*g.Columns+i] = 1
						want++
					}
				}
				edit.Data[strconv.Itoa(k)] = s
			}
			rev, err := e.ann.Save(t.Context(), e.op, set.ID, &annotation.SaveRequest{
				Items:     []radmark.Item{{ID: "a", Kind: radmark.KindSegmentation, Label: "liver", Source: radmark.Source{Type: "human"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}}},
				Labelmaps: []annotation.LabelmapEdit{edit}})
			if err != nil {
				t.Fatal(err)
			}
			ds, err := e.x.SEG(t.Context(), e.op, rev.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "seg.dcm")
			b := writeDICOM(t, path, ds)
			dciodvfy(t, path)
			var py pySEG
			python(t, &py, "read_seg.py", path)
			got := 0
			for _, f := range py.Frames {
				got += f.Count
				idx := g.LPSToIndex(volume.Vec3{f.IPP[0], f.IPP[1], f.IPP[2]})
				if math.Abs(idx[0]) > 1e-3 || math.Abs(idx[1]) > 1e-3 || math.Abs(idx[2]-math.Round(idx[2])) > 1e-3 {
					t.Errorf("frame at %v is grid index %v, not a slice origin", f.IPP, idx)
				}
			}
			if len(py.Frames) != 3 || got != want {
				t.Errorf("pydicom: %d frames, %d voxels; want 3 and %d", len(py.Frames), got, want)
			}
			back, err := e.x.ImportSEG(t.Context(), e.op, b, exchange.ImportOptions{Project: e.project.ID, Reader: "r2"})
			if err != nil {
				t.Fatal(err)
			}
			a, _, _ := e.ann.Labelmap(t.Context(), e.op, rev.ID, 0)
			c, _, _ := e.ann.Labelmap(t.Context(), e.op, back.ID, 0)
			if !a.Equal(c) || back.Content.Items[0].Label != "liver" {
				t.Error("the SEG did not import back unchanged")
			}
		})
	}
}
