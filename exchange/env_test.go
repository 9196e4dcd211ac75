package exchange_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/nifti"
	"github.com/radmark/radmark/phantom"
)

// env is an exchange service over a real archive and annotation store
// (SQLite), with a project whose schema codes its labels in SNOMED CT.
type env struct {
	t       *testing.T
	store   testdb.Store
	blobs   radmark.BlobStore
	archive *archive.Service
	ann     *annotation.Service
	x       *exchange.Service
	op      annotation.Op
	project *radmark.Project
	schema  *radmark.LabelSchema
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, testdb.SQLite)
}

// newEnvOn is newEnv on an engine's store.
func newEnvOn(t *testing.T, open func(testing.TB) testdb.Store) *env {
	t.Helper()
	store := open(t)
	a, blobs := testdb.Archive(t, store)
	e := &env{t: t, store: store, blobs: blobs, archive: a, op: annotation.Op{Actor: "reader-1"}}
	e.ann = &annotation.Service{Store: store, Blobs: blobs, Images: &annotation.ArchiveImages{Source: a}}
	e.x = &exchange.Service{Annotations: e.ann, Images: a, Software: "test"}
	var err error
	if e.project, err = e.ann.CreateProject(t.Context(), e.op, "Phantom", "exchange tests"); err != nil {
		t.Fatal(err)
	}
	if e.schema, err = e.ann.PutSchema(t.Context(), e.op, e.project.ID, 0, testLabels(), nil); err != nil {
		t.Fatal(err)
	}
	return e
}

func testLabels() []radmark.Label {
	seg := []radmark.Kind{radmark.KindSegmentation}
	return []radmark.Label{
		{ID: "nodule", Name: "Lung nodule", Color: "#ff0000",
			Category:       radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
			Type:           radmark.Code{Value: "27925004", Scheme: "SCT", Meaning: "Nodule"},
			AnatomicRegion: &radmark.Code{Value: "39607008", Scheme: "SCT", Meaning: "Lung"}, Kinds: seg},
		{ID: "liver", Name: "Liver", Color: "#00ff00",
			Category: radmark.Code{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"},
			Type:     radmark.Code{Value: "10200004", Scheme: "SCT", Meaning: "Liver"}, Kinds: seg},
		{ID: "liver-lesion", Name: "Liver lesion", Color: "#0000ff",
			Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
			Type:     radmark.Code{Value: "300331000", Scheme: "SCT", Meaning: "Lesion of liver"}, Kinds: seg},
	}
}

func (e *env) ingestDatasets(datasets ...*dicom.Dataset) {
	e.t.Helper()
	testdb.Ingest(e.t, e.archive, datasets...)
}

func (e *env) ingestFiles(paths ...string) {
	e.t.Helper()
	var sources []archive.Source
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			e.t.Fatal(err)
		}
		sources = append(sources, archive.Source{Name: p, Data: bytes.NewReader(b), Size: int64(len(b))})
	}
	res, err := e.archive.Ingest(context.Background(), sources, archive.IngestOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			e.t.Fatalf("ingest %s: %v", r.Name, r.Err)
		}
	}
}

var (
	phantomOnce sync.Once
	phantomCT   *phantom.Series
	phantomErr  error
)

func ctPhantom(t *testing.T) *phantom.Series {
	t.Helper()
	phantomOnce.Do(func() { phantomCT, phantomErr = phantom.Generate(phantom.CTSmall()) })
	if phantomErr != nil {
		t.Fatal(phantomErr)
	}
	return phantomCT
}

// annotatePhantom saves a revision on the phantom CT: layer 0 holds the
// three lesions (the two nodules with values 1 and 3 as "nodule", the
// liver lesion as value 2), layer 1 the liver including its lesion, so it
// overlaps layer 0.
func (e *env) annotatePhantom(ser *phantom.Series, reader string) *radmark.Revision {
	e.t.Helper()
	ctx := e.t.Context()
	set, err := e.ann.CreateSet(ctx, e.op, e.project.ID, radmark.UID(ser.StudyInstanceUID), radmark.UID(ser.SeriesInstanceUID), reader)
	if err != nil {
		e.t.Fatal(err)
	}
	ph := ser.Phantom
	cols, rows, slices := ph.Dims()
	l0, _ := labelmap.NewVolume(labelmap.Grid{Columns: cols, Rows: rows, Slices: slices})
	l1, _ := labelmap.NewVolume(labelmap.Grid{Columns: cols, Rows: rows, Slices: slices})
	for k := 0; k < slices; k++ {
		for j := 0; j < rows; j++ {
			for i := 0; i < cols; i++ {
				t := ph.LabelAt(i, j, k)
				if t.IsLesion() {
					l0.Set(i, j, k, uint8(t.LesionIndex()+1))
				}
				if t == phantom.Liver || t.LesionIndex() == 1 {
					l1.Set(i, j, k, 1)
				}
			}
		}
	}
	req := &annotation.SaveRequest{Items: []radmark.Item{
		{ID: "n1", Kind: radmark.KindSegmentation, Label: "nodule", Source: radmark.Source{Type: "human"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}},
		{ID: "ll", Kind: radmark.KindSegmentation, Label: "liver-lesion", Source: radmark.Source{Type: "model", Name: "lesionnet", Version: "2.1"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 2}},
		{ID: "n2", Kind: radmark.KindSegmentation, Label: "nodule", Source: radmark.Source{Type: "human"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 3}},
		{ID: "lv", Kind: radmark.KindSegmentation, Label: "liver", Source: radmark.Source{Type: "human", Name: "grow", Version: "1"}, Segment: &radmark.SegmentRef{Layer: 1, Value: 1}},
	}}
	for l, v := range []*labelmap.Volume{l0, l1} {
		ed := annotation.LabelmapEdit{Layer: l, SeriesUID: radmark.UID(ser.SeriesInstanceUID), Columns: cols, Rows: rows, Slices: slices, Encoding: "raw", Data: map[string][]byte{}}
		for k := 0; k < slices; k++ {
			if !v.SliceEmpty(k) {
				ed.Data[strconv.Itoa(k)] = v.Slice(k)
			}
		}
		req.Labelmaps = append(req.Labelmaps, ed)
	}
	rev, err := e.ann.Save(ctx, e.op, set.ID, req)
	if err != nil {
		e.t.Fatal(err)
	}
	return rev
}

// python runs a script of testdata with Debian's python3 and decodes its
// JSON output into out.
func python(t *testing.T, out any, script string, args ...string) {
	t.Helper()
	py := testenv.Python(t)
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", script)}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s output: %v\n%s", script, err, b)
	}
}

// dciodvfy runs dicom3tools' validator and fails the test on any error
// it reports.
func dciodvfy(t *testing.T, path string) {
	t.Helper()
	bin := testenv.LookPath(t, "dciodvfy")
	out, _ := exec.Command(bin, path).CombinedOutput()
	var errs []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Error") {
			errs = append(errs, l)
		}
	}
	if len(errs) > 0 {
		t.Errorf("dciodvfy %s: %d errors:\n%s", filepath.Base(path), len(errs), strings.Join(errs, "\n"))
	}
	if testing.Verbose() {
		t.Logf("dciodvfy %s:\n%s", filepath.Base(path), out)
	}
}

func writeDICOM(t *testing.T, path string, ds *dicom.Dataset) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeNIfTI(t *testing.T, path string, im *nifti.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := nifti.Write(&buf, im); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dicomFiles lists a file, or the .dcm files of a folder.
func dicomFiles(t *testing.T, p string) []string {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !st.IsDir() {
		return []string{p}
	}
	var out []string
	ents, _ := os.ReadDir(p)
	for _, de := range ents {
		if !de.IsDir() {
			out = append(out, filepath.Join(p, de.Name()))
		}
	}
	return out
}
