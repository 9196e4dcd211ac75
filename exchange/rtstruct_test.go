package exchange_test

import (
	"bytes"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/labelmap"
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
	e := newEnv(t)
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
// rasterisation of the same contours.
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
	closed := 0
	for _, r := range py.ROIs {
		if r.OffSlice > 0 {
			t.Errorf("pydicom finds %d contours of %q on no slice", r.OffSlice, r.Name)
		}
		if len(r.Voxels) == 0 {
			if !strings.Contains(strings.Join(res.Skipped, ";"), r.Name) {
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
