package exchange_test

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/rtstruct"
)

type pyRTROI struct {
	Number    int            `json:"number"`
	Name      string         `json:"name"`
	Algorithm string         `json:"algorithm"`
	Color     []int          `json:"color"`
	Code      []string       `json:"code"`
	Types     map[string]int `json:"types"`
	Contours  int            `json:"contours"`
	Volume    float64        `json:"volume"`
	Voxels    [][]any        `json:"voxels"`
	OffSlice  int            `json:"offslice"`
	Marks     []pyRTMark     `json:"marks"`
}

// pyRTMark is a POINT or OPEN_PLANAR contour placed by pydicom on the
// nearest slice.
type pyRTMark struct {
	Type     string       `json:"type"`
	LPS      [][3]float64 `json:"lps"`
	Image    string       `json:"image"`
	Distance float64      `json:"distance"`
	Pixels   [][2]float64 `json:"pixels"`
}

type pyRT struct {
	SOPClass string    `json:"sop_class"`
	Frame    string    `json:"frame"`
	ROIs     []pyRTROI `json:"rois"`
}

// sphereEnv saves a revision on the phantom CT with a solid sphere
// (layer 0) and, overlapping it, a hollow shell (layer 1) whose cavity
// makes hole contours.
func sphereEnv(t *testing.T) (*env, *radmark.Revision, [2]*labelmap.Volume) {
	t.Helper()
	return sphereEnvOn(t, testdb.SQLite)
}

// sphereEnvOn is sphereEnv on an engine's store.
func sphereEnvOn(t *testing.T, open func(testing.TB) testdb.Store) (*env, *radmark.Revision, [2]*labelmap.Volume) {
	t.Helper()
	e := newEnvOn(t, open)
	ser := ctPhantom(t)
	e.ingestDatasets(ser.Instances...)
	s, err := e.x.Series(t.Context(), radmark.UID(ser.SeriesInstanceUID))
	if err != nil {
		t.Fatal(err)
	}
	g := s.Volume.Grid
	cols, rows, slices := g.Columns, g.Rows, g.NumSlices
	var vols [2]*labelmap.Volume
	for l := range vols {
		vols[l], _ = labelmap.NewVolume(labelmap.Grid{Columns: cols, Rows: rows, Slices: slices})
	}
	centre := g.IndexToLPS(60.3, 70.6, 31.2)
	for k := 0; k < slices; k++ {
		for j := 0; j < rows; j++ {
			for i := 0; i < cols; i++ {
				p := g.IndexToLPS(float64(i), float64(j), float64(k))
				d := math.Sqrt((p[0]-centre[0])*(p[0]-centre[0]) + (p[1]-centre[1])*(p[1]-centre[1]) + (p[2]-centre[2])*(p[2]-centre[2]))
				if d <= 30 {
					vols[0].Set(i, j, k, 1)
				}
				if d <= 40 && d > 20 {
					vols[1].Set(i, j, k, 1)
				}
			}
		}
	}
	set, err := e.ann.CreateSet(t.Context(), e.op, e.project.ID, s.Study, s.UID, "reader-1")
	if err != nil {
		t.Fatal(err)
	}
	req := &annotation.SaveRequest{Items: []radmark.Item{
		{ID: "ball", Kind: radmark.KindSegmentation, Label: "nodule", Source: radmark.Source{Type: "model", Name: "sphere-net", Version: "1.0"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}, Note: "solid"},
		{ID: "shell", Kind: radmark.KindSegmentation, Label: "liver", Source: radmark.Source{Type: "human"}, Segment: &radmark.SegmentRef{Layer: 1, Value: 1}},
	}}
	for l, v := range vols {
		ed := annotation.LabelmapEdit{Layer: l, SeriesUID: s.UID, Columns: cols, Rows: rows, Slices: slices, Encoding: "raw", Data: map[string][]byte{}}
		for k := 0; k < slices; k++ {
			if !v.SliceEmpty(k) {
				ed.Data[strconv.Itoa(k)] = v.Slice(k)
			}
		}
		req.Labelmaps = append(req.Labelmaps, ed)
	}
	rev, err := e.ann.Save(t.Context(), e.op, set.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	return e, rev, vols
}

func dice(a, b *labelmap.Volume, va, vb uint8) (float64, int, int) {
	na, nb, both := 0, 0, 0
	for i := range a.Voxels {
		x, y := a.Voxels[i] == va, b.Voxels[i] == vb
		if x {
			na++
		}
		if y {
			nb++
		}
		if x && y {
			both++
		}
	}
	return 2 * float64(both) / float64(na+nb), na, nb
}

// TestRTSTRUCTSphereRoundTrip exports a sphere and a hollow shell as an
// RT Structure Set, checks it with dciodvfy and pydicom (the contours'
// enclosed volume), and imports it back as another reader.
func TestRTSTRUCTSphereRoundTrip(t *testing.T) {
	e, rev, vols := sphereEnv(t)
	ctx := t.Context()
	ds, err := e.x.RTSTRUCT(ctx, e.op, rev.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sphere.rtstruct.dcm")
	data := writeDICOM(t, path, ds)
	again, err := e.x.RTSTRUCT(ctx, e.op, rev.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(writeDICOM(t, filepath.Join(dir, "again.dcm"), again), data) {
		t.Error("two exports of the same revision differ")
	}
	dciodvfy(t, path)

	voxel := 2.0 * 2 * 2
	var py pyRT
	python(t, &py, "read_rtstruct.py", path, "2")
	if py.SOPClass != "1.2.840.10008.5.1.4.1.1.481.3" || len(py.ROIs) != 2 {
		t.Fatalf("pydicom: %+v", py)
	}
	wantNames := []string{"Lung nodule", "Liver"}
	wantColor := [][]int{{255, 0, 0}, {0, 255, 0}}
	wantAlg := []string{"AUTOMATIC", "MANUAL"}
	for i, r := range py.ROIs {
		n := vols[i].Counts()[1]
		if r.Name != wantNames[i] || !slices.Equal(r.Color, wantColor[i]) || r.Algorithm != wantAlg[i] || r.Types["CLOSED_PLANAR"] != r.Contours {
			t.Errorf("ROI %d: %+v", i+1, r)
		}
		if got, want := math.Abs(r.Volume), float64(n)*voxel; math.Abs(got-want) > 0.02*want {
			t.Errorf("ROI %q: contours enclose %.1f mm³, mask %.1f mm³", r.Name, got, want)
		}
	}
	if py.ROIs[1].Contours <= py.ROIs[0].Contours {
		t.Errorf("the shell has %d contours, the ball %d: no hole contours", py.ROIs[1].Contours, py.ROIs[0].Contours)
	}

	res, err := e.x.ImportRTSTRUCT(ctx, e.op, data, exchange.ImportOptions{Project: e.project.ID, Reader: "reader-2"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ROIs != 2 || len(res.Skipped) != 0 {
		t.Errorf("imported %d ROIs, skipped %v", res.ROIs, res.Skipped)
	}
	got := res.Revision
	byLabel := map[string]radmark.Item{}
	for _, it := range got.Content.Items {
		byLabel[it.Label] = it
	}
	for i, label := range []string{"nodule", "liver"} {
		it, ok := byLabel[label]
		if !ok {
			t.Fatalf("no %s item: %+v", label, got.Content.Items)
		}
		lm, _, err := e.ann.Labelmap(ctx, e.op, got.ID, it.Segment.Layer)
		if err != nil {
			t.Fatal(err)
		}
		d, na, nb := dice(vols[i], lm, 1, uint8(it.Segment.Value))
		if d < 0.98 || math.Abs(float64(nb-na)) > 0.02*float64(na) {
			t.Errorf("%s: Dice %.4f, %d voxels back of %d", label, d, nb, na)
		}
		t.Logf("%s: Dice %.4f, %d of %d voxels", label, d, nb, na)
	}
	if s := byLabel["nodule"].Source; s.Type != "model" || s.Name != "sphere-net" || s.Version != "1.0" || byLabel["nodule"].Note != "solid" {
		t.Errorf("ball item %+v", byLabel["nodule"])
	}
	if byLabel["nodule"].Segment.Layer == byLabel["liver"].Segment.Layer {
		t.Error("overlapping ROIs share a layer")
	}
}

// TestImportSharedRTSTRUCT imports the shipped RTSTRUCT on the lung CT
// and compares every ROI's voxels with pydicom's independent
// rasterisation of the same contours, and its marker point with where
// pydicom places it.
func TestImportSharedRTSTRUCT(t *testing.T) {
	data := testenv.SharedData(t)
	series := filepath.Join(data, "ct", "tcia_lung-pet-ct-dx_A0002_chest-8mm")
	path := filepath.Join(data, "annotations", "generated_on_tcia-lung-ct", "rtstruct_example.dcm")
	e := newEnv(t)
	e.ingestFiles(dicomFiles(t, series)...)
	ctx := t.Context()
	if _, err := e.x.ImportRTSTRUCT(ctx, e.op, readFile(t, path), exchange.ImportOptions{Project: e.project.ID}); err == nil || !strings.Contains(err.Error(), "Example_Lesion") {
		t.Fatalf("import without --add-labels: %v", err)
	}
	res, err := e.x.ImportRTSTRUCT(ctx, e.op, readFile(t, path), exchange.ImportOptions{Project: e.project.ID, AddLabels: true})
	if err != nil {
		t.Fatal(err)
	}
	var py pyRT
	python(t, &py, "read_rtstruct.py", path, "8", series)
	s, err := e.x.Series(ctx, res.Series)
	if err != nil {
		t.Fatal(err)
	}
	g := s.Volume.Grid
	schema, err := e.ann.Schema(ctx, e.project.ID, res.Revision.Content.SchemaVersion)
	if err != nil {
		t.Fatal(err)
	}
	closed, marks := 0, 0
	for _, r := range py.ROIs {
		if r.OffSlice > 0 {
			t.Errorf("pydicom finds %d contours of %q on no slice", r.OffSlice, r.Name)
		}
		for _, m := range r.Marks {
			marks++
			var found bool
			for _, it := range res.Revision.Content.Items {
				l, _ := schema.Label(it.Label)
				if l.Name != r.Name || it.Image == nil || string(it.Image.SOPInstanceUID) != m.Image {
					continue
				}
				switch {
				case m.Type == "POINT" && it.Kind == radmark.KindLandmark:
					found = len(it.LPS) == 1 && dist3(it.LPS[0], m.LPS[0]) < 1e-3
				case m.Type == "OPEN_PLANAR" && it.Kind == radmark.KindContour && len(it.Points) == len(m.Pixels):
					found = !it.Closed
					for i, p := range it.Points {
						found = found && math.Abs(p[0]-m.Pixels[i][0]) < 1e-3 && math.Abs(p[1]-m.Pixels[i][1]) < 1e-3
					}
				}
				if found {
					break
				}
			}
			if !found {
				t.Errorf("%q: pydicom places a %s at %v on %s (%.2f mm off its plane); radmark's items %+v", r.Name, m.Type, m.LPS, m.Image, m.Distance, res.Revision.Content.Items)
			}
			t.Logf("%q: a %s on %s, as pydicom", r.Name, m.Type, m.Image)
		}
		if len(r.Voxels) == 0 {
			if len(r.Marks) == 0 && !strings.Contains(strings.Join(res.Skipped, ";"), r.Name) {
				t.Errorf("ROI %q (%v) has no voxels and is not reported: %v", r.Name, r.Types, res.Skipped)
			}
			continue
		}
		closed++
		var item *radmark.Item
		for i, it := range res.Revision.Content.Items {
			if l, _ := schema.Label(it.Label); l.Name == r.Name {
				item = &res.Revision.Content.Items[i]
			}
		}
		if item == nil {
			t.Fatalf("ROI %q not imported: %+v", r.Name, res.Revision.Content.Items)
		}
		lm, _, err := e.ann.Labelmap(ctx, e.op, res.Revision.ID, item.Segment.Layer)
		if err != nil {
			t.Fatal(err)
		}
		want := map[[3]int]bool{}
		for _, v := range r.Voxels {
			k, ok := g.SliceOf(radmark.ImageRef{SOPInstanceUID: radmark.UID(v[0].(string))})
			if !ok {
				t.Fatalf("pydicom voxel on unknown image %v", v[0])
			}
			want[[3]int{int(v[1].(float64)), int(v[2].(float64)), k}] = true
		}
		n := 0
		for k := 0; k < lm.Slices; k++ {
			for j := 0; j < lm.Rows; j++ {
				for i := 0; i < lm.Columns; i++ {
					if int(lm.Get(i, j, k)) == item.Segment.Value {
						n++
						if !want[[3]int{i, j, k}] {
							t.Errorf("%q: voxel (%d, %d, %d) is not inside pydicom's contours", r.Name, i, j, k)
						}
					}
				}
			}
		}
		if n != len(want) || n == 0 {
			t.Errorf("%q: %d voxels imported, pydicom says %d", r.Name, n, len(want))
		}
		t.Logf("%q: %d voxels on %d contours, as pydicom", r.Name, n, r.Contours)
	}
	if closed == 0 || res.ROIs != closed {
		t.Errorf("%d ROIs imported, pydicom has %d with closed contours", res.ROIs, closed)
	}
	if marks == 0 || res.Points+res.Lines != marks {
		t.Errorf("%d points and %d lines imported, pydicom places %d", res.Points, res.Lines, marks)
	}
}

func TestImportRTSTRUCTBadInput(t *testing.T) {
	e, rev, _ := sphereEnv(t)
	ctx := t.Context()
	ds, err := e.x.RTSTRUCT(ctx, e.op, rev.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	good := writeDICOM(t, filepath.Join(t.TempDir(), "good.dcm"), ds)
	// another frame of reference, of the same length so the file stays valid
	frame := ds.String(dicom.NewTag(0x0020, 0x0052))
	otherFrame := bytes.ReplaceAll(good, []byte(frame), []byte(strings.Repeat("1.2.9", 20)[:len(frame)]))
	shared := testenv.SharedData(t)
	dicompyler := readFile(t, filepath.Join(shared, "annotations", "dicompyler-core_rt", "rtss.dcm"))
	sr := readFile(t, filepath.Join(shared, "annotations", "highdicom", "ct-128px", "sr_document.dcm"))
	for _, c := range []struct {
		name string
		data []byte
		opt  exchange.ImportOptions
		want string
	}{
		{"not DICOM", []byte("not a dicom file"), exchange.ImportOptions{Project: e.project.ID}, "parse the RTSTRUCT"},
		{"an SR", sr, exchange.ImportOptions{Project: e.project.ID}, "not RT Structure Set Storage"},
		{"unknown frame of reference", otherFrame, exchange.ImportOptions{Project: e.project.ID}, "frame of reference 1.2.91.2.9"},
		{"unknown series", dicompyler, exchange.ImportOptions{Project: e.project.ID}, "series 2.16.840.1.113662.2.12.0.3057.1241703565.43"},
		{"series given is not archived", good, exchange.ImportOptions{Project: e.project.ID, Series: "1.2.3"}, "1.2.3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.x.ImportRTSTRUCT(ctx, e.op, c.data, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
	// with the one CT slice dicompyler ships archived, its other
	// contours name images the series lacks
	e.ingestFiles(filepath.Join(shared, "annotations", "dicompyler-core_rt", "ct.0.dcm"))
	if _, err := e.x.ImportRTSTRUCT(ctx, e.op, dicompyler, exchange.ImportOptions{Project: e.project.ID, AddLabels: true}); err == nil || !strings.Contains(err.Error(), "which is not in the series") {
		t.Errorf("partial series: %v", err)
	}
	if _, err := e.x.RTSTRUCT(ctx, e.op, "no-such-revision", ""); err == nil {
		t.Error("export of an unknown revision succeeded")
	}
	sets, _ := e.ann.Sets(ctx, radmark.SetFilter{ProjectID: e.project.ID})
	if len(sets) != 1 {
		t.Errorf("%d sets after failed imports", len(sets))
	}
}

// TestImportRTSTRUCTPointsAndLines adds to an exported structure set an
// ROI of points of interest (one on a slice, one a slice before the
// first) and one of an open line, and imports it, on both engines: the
// points become landmarks, the line an open contour, the point off the
// series is reported; the export writes them back; malformed points
// and lines are refused; importing again replaces them; a structure set of points only keeps the segmentation.
func TestImportRTSTRUCTPointsAndLines(t *testing.T) {
	for _, eng := range testdb.Engines {
		t.Run(eng.Name, func(t *testing.T) { testImportRTSTRUCTPointsAndLines(t, eng.Open) })
	}
}

func testImportRTSTRUCTPointsAndLines(t *testing.T, open func(testing.TB) testdb.Store) {
	e, rev, _ := sphereEnvOn(t, open)
	ctx := t.Context()
	ds, err := e.x.RTSTRUCT(ctx, e.op, rev.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := rtstruct.Decode(ds)
	if err != nil {
		t.Fatal(err)
	}
	ser, err := e.x.Series(ctx, radmark.UID(ss.Referenced[0].UID))
	if err != nil {
		t.Fatal(err)
	}
	g := ser.Volume.Grid
	if g.Spacing[2] <= 1 {
		t.Fatalf("slice spacing %.2f mm: a point a slice before the first would be within a millimetre of it", g.Spacing[2])
	}
	onSlice := g.IndexToLPS(40.5, 50.25, 7)
	offSeries := g.IndexToLPS(10, 12, -1)
	line := [][3]float64{g.IndexToLPS(20, 30, 12), g.IndexToLPS(25.5, 31, 12), g.IndexToLPS(33, 40.75, 12)}
	ss.ROIs = append(ss.ROIs,
		rtstruct.ROI{Number: 90, Name: "Fiducial", FrameOfReference: ss.FrameOfReference, Contours: []rtstruct.Contour{
			{Type: rtstruct.Point, Points: [][3]float64{onSlice}},
			{Type: rtstruct.Point, Points: [][3]float64{offSeries}},
		}},
		rtstruct.ROI{Number: 91, Name: "Catheter", FrameOfReference: ss.FrameOfReference, Algorithm: "MANUAL", Contours: []rtstruct.Contour{
			{Type: rtstruct.OpenPlanar, Points: line, Images: []rtstruct.Image{{SOPClass: ser.SOPClass[g.Slices[12].Image.SOPInstanceUID], SOPInstance: string(g.Slices[12].Image.SOPInstanceUID)}}},
		}})
	encode := func(ss *rtstruct.StructureSet) []byte {
		out, err := rtstruct.Encode(ss, ser.Header, rtstruct.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return writeDICOM(t, filepath.Join(t.TempDir(), "rt.dcm"), out)
	}
	data := encode(ss)
	opt := exchange.ImportOptions{Project: e.project.ID, Reader: "reader-3"}
	if _, err := e.x.ImportRTSTRUCT(ctx, e.op, data, opt); err == nil || !strings.Contains(err.Error(), `"Fiducial"`) || !strings.Contains(err.Error(), "(landmark)") {
		t.Fatalf("import without --add-labels: %v", err)
	}
	opt.AddLabels = true
	res, err := e.x.ImportRTSTRUCT(ctx, e.op, data, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.ROIs != 2 || res.Points != 1 || res.Lines != 1 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0], "ROI 90") || !strings.Contains(res.Skipped[0], "contour 2") {
		t.Fatalf("imported %d ROIs, %d points, %d lines; skipped %q", res.ROIs, res.Points, res.Lines, res.Skipped)
	}
	schema, err := e.ann.Schema(ctx, e.project.ID, res.Revision.Content.SchemaVersion)
	if err != nil {
		t.Fatal(err)
	}
	marks := func(rev *radmark.Revision) map[radmark.Kind][]radmark.Item {
		out := map[radmark.Kind][]radmark.Item{}
		for _, it := range rev.Content.Items {
			out[it.Kind] = append(out[it.Kind], it)
		}
		return out
	}
	got := marks(res.Revision)
	if len(got[radmark.KindLandmark]) != 1 || len(got[radmark.KindContour]) != 1 || len(got[radmark.KindSegmentation]) != 2 {
		t.Fatalf("items %+v", res.Revision.Content.Items)
	}
	lm, ct := got[radmark.KindLandmark][0], got[radmark.KindContour][0]
	if l, _ := schema.Label(lm.Label); l.Name != "Fiducial" || !slices.Contains(l.Kinds, radmark.KindLandmark) {
		t.Errorf("landmark labelled %+v", l)
	}
	if l, _ := schema.Label(ct.Label); l.Name != "Catheter" || !slices.Contains(l.Kinds, radmark.KindContour) {
		t.Errorf("contour labelled %+v", l)
	}
	if len(lm.LPS) != 1 || dist3(lm.LPS[0], onSlice) > 1e-3 || lm.Image == nil || lm.Image.SOPInstanceUID != g.Slices[7].Image.SOPInstanceUID {
		t.Errorf("landmark %+v, want %v on slice 7 (%s)", lm, onSlice, g.Slices[7].Image.SOPInstanceUID)
	}
	wantLine := [][2]float64{{20.5, 30.5}, {26, 31.5}, {33.5, 41.25}}
	if ct.Closed || ct.Image == nil || ct.Image.SOPInstanceUID != g.Slices[12].Image.SOPInstanceUID || len(ct.Points) != len(wantLine) {
		t.Fatalf("contour %+v", ct)
	}
	for i, p := range ct.Points {
		if math.Abs(p[0]-wantLine[i][0]) > 1e-3 || math.Abs(p[1]-wantLine[i][1]) > 1e-3 {
			t.Errorf("contour point %d at %v, want %v", i, p, wantLine[i])
		}
	}
	if ct.Source.Type != "human" {
		t.Errorf("a MANUAL ROI's line comes from %+v", ct.Source)
	}

	// exported, they are a POINT and an OPEN_PLANAR contour that
	// dciodvfy accepts, pydicom places where they were, and an import as
	// another reader gives back
	out, err := e.x.RTSTRUCT(ctx, e.op, res.Revision.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "marks.rtstruct.dcm")
	exported := writeDICOM(t, path, out)
	dciodvfy(t, path)
	var py pyRT
	python(t, &py, "read_rtstruct.py", path, "2", phantomDir(t))
	placed := map[string]pyRTMark{}
	for _, r := range py.ROIs {
		for _, m := range r.Marks {
			placed[r.Name] = m
		}
	}
	if m := placed["Fiducial"]; m.Type != "POINT" || dist3(m.LPS[0], onSlice) > 1e-3 || m.Image != string(g.Slices[7].Image.SOPInstanceUID) || m.Distance > 1e-3 {
		t.Errorf("exported fiducial as pydicom reads it: %+v", m)
	}
	if m := placed["Catheter"]; m.Type != "OPEN_PLANAR" || len(m.Pixels) != len(wantLine) || m.Image != string(g.Slices[12].Image.SOPInstanceUID) {
		t.Errorf("exported catheter as pydicom reads it: %+v", m)
	} else {
		for i, p := range m.Pixels {
			if math.Abs(p[0]-wantLine[i][0]) > 1e-3 || math.Abs(p[1]-wantLine[i][1]) > 1e-3 {
				t.Errorf("exported catheter point %d at %v, want %v", i, p, wantLine[i])
			}
		}
	}
	back, err := e.x.ImportRTSTRUCT(ctx, e.op, exported, exchange.ImportOptions{Project: e.project.ID, Reader: "reader-4"})
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b [2]float64) bool { return math.Abs(a[0]-b[0]) < 1e-3 && math.Abs(a[1]-b[1]) < 1e-3 }
	if b := marks(back.Revision); len(b[radmark.KindLandmark]) != 1 || len(b[radmark.KindContour]) != 1 ||
		dist3(b[radmark.KindLandmark][0].LPS[0], onSlice) > 1e-3 || !slices.EqualFunc(b[radmark.KindContour][0].Points, ct.Points, near) {
		t.Errorf("imported back: %+v", back.Revision.Content.Items)
	}

	// bad points and lines are refused with what is wrong, and nothing is saved
	heads := len(mustHistory(t, e, res.Revision.SetID))
	for _, c := range []struct {
		name    string
		contour rtstruct.Contour
		want    string
	}{
		{"a POINT of two points", rtstruct.Contour{Type: rtstruct.Point, Points: [][3]float64{onSlice, onSlice}}, "is a POINT of 2 points"},
		{"a line across slices", rtstruct.Contour{Type: rtstruct.OpenPlanar, Points: [][3]float64{g.IndexToLPS(20, 30, 12), g.IndexToLPS(25, 30, 13)}}, "lies between slices"},
		{"a line of one point", rtstruct.Contour{Type: rtstruct.OpenPlanar, Points: [][3]float64{onSlice}}, "open planar contour of 1 points"},
	} {
		bad := *ss
		bad.ROIs = []rtstruct.ROI{{Number: 92, Name: "Fiducial", FrameOfReference: ss.FrameOfReference, Contours: []rtstruct.Contour{c.contour}}}
		if _, err := e.x.ImportRTSTRUCT(ctx, e.op, encode(&bad), opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	if n := len(mustHistory(t, e, res.Revision.SetID)); n != heads {
		t.Errorf("refused imports left %d revisions, before %d", n, heads)
	}

	// again: the points and lines are replaced, not added
	again, err := e.x.ImportRTSTRUCT(ctx, e.op, data, opt)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.Revision.Content.Items); n != len(res.Revision.Content.Items) {
		t.Errorf("second import holds %d items, the first %d", n, len(res.Revision.Content.Items))
	}

	// points only: the segmentation stays, the line goes
	ss.ROIs = []rtstruct.ROI{ss.ROIs[len(ss.ROIs)-2]}
	ss.SOPInstanceUID += ".1"
	only, err := e.x.ImportRTSTRUCT(ctx, e.op, encode(ss), opt)
	if err != nil {
		t.Fatal(err)
	}
	got = marks(only.Revision)
	if len(got[radmark.KindLandmark]) != 1 || len(got[radmark.KindContour]) != 0 || len(got[radmark.KindSegmentation]) != 2 ||
		!reflect.DeepEqual(only.Revision.Content.Labelmaps, again.Revision.Content.Labelmaps) {
		t.Errorf("points-only import: items %+v, labelmaps %+v (before %+v)", only.Revision.Content.Items, only.Revision.Content.Labelmaps, again.Revision.Content.Labelmaps)
	}
}

func dist3(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// phantomDir writes the phantom CT's slices to files of a folder of
// their own.
func phantomDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for i, ds := range ctPhantom(t).Instances {
		writeDICOM(t, filepath.Join(dir, fmt.Sprintf("slice%03d.dcm", i)), ds)
	}
	return dir
}

// mustHistory is an annotation set's revisions.
func mustHistory(t *testing.T, e *env, set radmark.ID) []*radmark.Revision {
	t.Helper()
	revs, err := e.ann.Revisions(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	return revs
}
