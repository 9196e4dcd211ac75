package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/nifti"
	"github.com/radmark/radmark/phantom"
)

// exchangeDataDir makes a data folder with the small phantom CT archived
// and a project "Phantom" whose reader-1 segmented its nodule.
func exchangeDataDir(t *testing.T) (dir string, ser *phantom.Series, rev radmark.ID) {
	t.Helper()
	dir = t.TempDir()
	st := storageFlags{data: dir}
	db, blobs, err := openStorage(t.Context(), &st)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ser, err = phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	testdb.Ingest(t, newArchive(db, blobs, newDiscardLogger()), ser.Instances...)
	ann := &annotation.Service{Store: db, Blobs: blobs}
	op := annotation.Op{Actor: "tester"}
	p, err := ann.CreateProject(t.Context(), op, "Phantom", "")
	if err != nil {
		t.Fatal(err)
	}
	seg := []radmark.Kind{radmark.KindSegmentation}
	if _, err := ann.PutSchema(t.Context(), op, p.ID, 0, []radmark.Label{
		{ID: "nodule", Name: "Lung nodule", Color: "#ff0000",
			Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
			Type:     radmark.Code{Value: "27925004", Scheme: "SCT", Meaning: "Nodule"}, Kinds: seg},
	}, nil); err != nil {
		t.Fatal(err)
	}
	set, err := ann.CreateSet(t.Context(), op, p.ID, radmark.UID(ser.StudyInstanceUID), radmark.UID(ser.SeriesInstanceUID), "reader-1")
	if err != nil {
		t.Fatal(err)
	}
	cols, rows, slices := ser.Phantom.Dims()
	edit := annotation.LabelmapEdit{Layer: 0, SeriesUID: radmark.UID(ser.SeriesInstanceUID), Columns: cols, Rows: rows, Slices: slices, Encoding: "raw", Data: map[string][]byte{}}
	for k := 0; k < slices; k++ {
		s := make([]byte, cols*rows)
		any := false
		for j := 0; j < rows; j++ {
			for i := 0; i < cols; i++ {
				if l := ser.Phantom.LabelAt(i, j, k); l.IsLesion() && l.LesionIndex() == 0 {
					s[j*cols+i], any = 1, true
				}
			}
		}
		if any {
			edit.Data[strconv.Itoa(k)] = s
		}
	}
	r, err := ann.Save(t.Context(), op, set.ID, &annotation.SaveRequest{Items: []radmark.Item{
		{ID: "n", Kind: radmark.KindSegmentation, Label: "nodule", Source: radmark.Source{Type: "human"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}},
	}, Labelmaps: []annotation.LabelmapEdit{edit}})
	if err != nil {
		t.Fatal(err)
	}
	return dir, ser, r.ID
}

func TestExportImportCommands(t *testing.T) {
	dir, ser, rev := exchangeDataDir(t)
	out := t.TempDir()
	ctx := t.Context()
	series := ser.SeriesInstanceUID
	run := func(cmd func() error) {
		t.Helper()
		if err := cmd(); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	exp := func(args ...string) error {
		stdout.Reset()
		return runExport(ctx, append(args, "--data", dir, "--actor", "tester"), &stdout, &stderr)
	}
	imp := func(args ...string) error {
		stdout.Reset()
		return runImport(ctx, append(args, "--data", dir, "--actor", "tester"), &stdout, &stderr)
	}
	segPath := filepath.Join(out, "nodule.seg.dcm")
	run(func() error { return exp("seg", "--series", series, "--out", segPath) })
	first, _ := os.ReadFile(segPath)
	run(func() error { return exp("seg", "--series", series, "--revision", string(rev), "--out", segPath) })
	if again, _ := os.ReadFile(segPath); !bytes.Equal(first, again) || len(first) == 0 {
		t.Error("the SEG export is not reproducible")
	}
	run(func() error { return imp("seg", segPath, "--project", "Phantom", "--reader", "reader-2") })
	if !strings.Contains(stdout.String(), "saved revision") {
		t.Errorf("import said %q", stdout.String())
	}
	// Two readers now: the series' set must be chosen.
	err := exp("nifti-labels", "--series", series, "--out", filepath.Join(out, "x.nii.gz"))
	if err == nil || !strings.Contains(err.Error(), "--reader") {
		t.Errorf("ambiguous export: %v", err)
	}
	img, lab := filepath.Join(out, "ct.nii.gz"), filepath.Join(out, "labels.nii.gz")
	run(func() error { return exp("nifti", "--series", series, "--out", img) })
	run(func() error {
		return exp("nifti-labels", "--series", series, "--project", "Phantom", "--reader", "reader-2", "--out", lab)
	})
	a, b := readNIfTI(t, img), readNIfTI(t, lab)
	if a.Dims != b.Dims || a.Affine != b.Affine {
		t.Errorf("image %v %v, labels %v %v", a.Dims, a.Affine, b.Dims, b.Affine)
	}
	run(func() error {
		return imp("nifti", lab, "--project", "Phantom", "--reader", "model", "--series", series, "--model", "net", "--model-version", "1")
	})
	run(func() error {
		return exp("nnunet", "--project", "Phantom", "--out", filepath.Join(out, "Dataset001_Phantom"))
	})
	if _, err := os.Stat(filepath.Join(out, "Dataset001_Phantom", "dataset.json")); err != nil {
		t.Error(err)
	}
	run(func() error { return exp("coco", "--project", "Phantom", "--out", filepath.Join(out, "coco")) })
	if !strings.Contains(stdout.String(), "annotations") {
		t.Errorf("coco export said %q", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(out, "coco", "annotations.json")); err != nil {
		t.Error(err)
	}
	srPath := filepath.Join(out, "report.sr.dcm")
	run(func() error {
		return exp("sr", "--series", series, "--project", "Phantom", "--reader", "reader-1", "--out", srPath)
	})
	if !strings.Contains(stdout.String(), "TID 1500") {
		t.Errorf("sr export said %q", stdout.String())
	}
	run(func() error { return imp("sr", srPath, "--project", "Phantom", "--reader", "reader-1") })
	if !strings.Contains(stdout.String(), "saved revision") || !strings.Contains(stdout.String(), "1 items, 1 labelmap layers") {
		t.Errorf("sr import said %q", stdout.String())
	}
	rtPath := filepath.Join(out, "nodule.rtstruct.dcm")
	run(func() error {
		return exp("rtstruct", "--series", series, "--project", "Phantom", "--reader", "reader-1", "--out", rtPath)
	})
	if !strings.Contains(stdout.String(), "RT Structure Set") || !strings.Contains(stdout.String(), "1 ROIs") {
		t.Errorf("rtstruct export said %q", stdout.String())
	}
	run(func() error { return imp("rtstruct", rtPath, "--project", "Phantom", "--reader", "reader-3") })
	if !strings.Contains(stdout.String(), "1 items, 1 labelmap layers") {
		t.Errorf("rtstruct import said %q", stdout.String())
	}
	csvPath := filepath.Join(out, "measurements.csv")
	run(func() error { return exp("measurements", "--project", "Phantom", "--out", csvPath) })
	table, _ := os.ReadFile(csvPath)
	if lines := strings.Split(strings.TrimSpace(string(table)), "\n"); len(lines) < 4 || !strings.HasPrefix(lines[0], "study_uid,") || !strings.Contains(string(table), ",volume,") {
		t.Errorf("measurements CSV:\n%s", table)
	}
	run(func() error {
		return exp("measurements", "--project", "Phantom", "--format", "json", "--out", filepath.Join(out, "m.json"))
	})
	if err := exp("measurements", "--project", "Phantom", "--format", "xml", "--out", filepath.Join(out, "m.xml")); err == nil {
		t.Error("--format xml accepted")
	}

	// Bad input: a clear error and nothing written.
	missing := filepath.Join(out, "missing.dcm")
	if err := exp("seg", "--series", series, "--revision", "no-such-revision", "--out", missing); err == nil || !strings.Contains(err.Error(), "no-such-revision") {
		t.Errorf("unknown revision: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Error("a failed export left a file")
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if err := imp("seg", img, "--project", "Phantom", "--reader", "x"); err == nil || !strings.Contains(err.Error(), "not a valid DICOM") && !strings.Contains(err.Error(), "SEG") {
		t.Errorf("NIfTI imported as SEG: %v", err)
	}
}

func readNIfTI(t *testing.T, path string) *nifti.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	im, err := nifti.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return im
}
