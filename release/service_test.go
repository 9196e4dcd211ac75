package release_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/coco"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/phantom"
	"github.com/radmark/radmark/release"
)

// store is what the release tests need of a metadata store.
type store interface {
	testdb.Store
	release.Store
	deid.Store
}

type env struct {
	t       *testing.T
	db      store
	archive *archive.Service
	ann     *annotation.Service
	svc     *release.Service
	blobs   *failingBlobs
	op      annotation.Op
	project *radmark.Project
	tmp     string
}

// failingBlobs fails puts under a prefix, to make a release fail late.
type failingBlobs struct {
	radmark.BlobStore
	failPrefix string
}

func (f *failingBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) (radmark.BlobInfo, error) {
	if f.failPrefix != "" && strings.HasPrefix(key, f.failPrefix) {
		return radmark.BlobInfo{}, errors.New("disk full")
	}
	return f.BlobStore.Put(ctx, key, r, size)
}

func newEnv(t *testing.T, open func(testing.TB) testdb.Store) *env {
	t.Helper()
	db := open(t).(store)
	a, blobs := testdb.Archive(t, db)
	fb := &failingBlobs{BlobStore: blobs}
	e := &env{t: t, db: db, archive: a, blobs: fb, op: annotation.Op{Actor: "manager"}, tmp: t.TempDir()}
	e.ann = &annotation.Service{Store: db, Blobs: blobs, Images: &annotation.ArchiveImages{Source: a}}
	x := &exchange.Service{Annotations: e.ann, Images: a, Software: "test"}
	e.svc = &release.Service{Store: db, Blobs: fb, Exchange: x, Archive: a, Studies: db, Cases: db, Profiles: db,
		TempDir: e.tmp, Software: "radmark test"}
	var err error
	if e.project, err = e.ann.CreateProject(t.Context(), e.op, "Release", "release tests"); err != nil {
		t.Fatal(err)
	}
	seg := []radmark.Kind{radmark.KindSegmentation}
	labels := []radmark.Label{
		{ID: "liver", Name: "Liver", Color: "#00ff00", Category: radmark.Code{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"},
			Type: radmark.Code{Value: "10200004", Scheme: "SCT", Meaning: "Liver"}, Kinds: seg},
		{ID: "nodule", Name: "Nodule", Color: "#ff0000", Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
			Type: radmark.Code{Value: "27925004", Scheme: "SCT", Meaning: "Nodule"}, Kinds: seg},
	}
	if _, err = e.ann.PutSchema(t.Context(), e.op, e.project.ID, 0, labels, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// study ingests a small phantom CT of a patient and saves a segmentation
// of label on it; it returns the revision.
func (e *env) study(patient string, n int, label string) *radmark.Revision {
	e.t.Helper()
	ctx := e.t.Context()
	spec := phantom.Spec{Modality: phantom.CT, Rows: 24, Columns: 24, Slices: 6, PixelSpacing: [2]float64{8, 8}, SliceSpacing: 8,
		SliceThickness: 8, Origin: phantom.LPS{-96, -96, -24}, Seed: 1,
		Identity: phantom.Identity{PatientID: patient, PatientName: "DOE^" + patient, StudyID: strconv.Itoa(n), AccessionNumber: fmt.Sprint("A", patient, n)}}
	ser, err := phantom.Generate(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	testdb.Ingest(e.t, e.archive, ser.Instances...)
	set, err := e.ann.CreateSet(ctx, e.op, e.project.ID, radmark.UID(ser.StudyInstanceUID), radmark.UID(ser.SeriesInstanceUID), "reader-"+patient)
	if err != nil {
		e.t.Fatal(err)
	}
	v, _ := labelmap.NewVolume(labelmap.Grid{Columns: 24, Rows: 24, Slices: 6})
	for k := 1; k < 4; k++ {
		for j := 8; j < 14; j++ {
			for i := 5; i < 12; i++ {
				v.Set(i, j, k, 1)
			}
		}
	}
	ed := annotation.LabelmapEdit{Layer: 0, SeriesUID: radmark.UID(ser.SeriesInstanceUID), Columns: 24, Rows: 24, Slices: 6, Encoding: "raw", Data: map[string][]byte{}}
	for k := 0; k < 6; k++ {
		if !v.SliceEmpty(k) {
			ed.Data[strconv.Itoa(k)] = v.Slice(k)
		}
	}
	rev, err := e.ann.Save(ctx, e.op, set.ID, &annotation.SaveRequest{
		Items:     []radmark.Item{{ID: "s1", Kind: radmark.KindSegmentation, Label: label, Source: radmark.Source{Type: "human"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}}},
		Labelmaps: []annotation.LabelmapEdit{ed}})
	if err != nil {
		e.t.Fatal(err)
	}
	return rev
}

// noTemp fails unless the staging folder is empty.
func (e *env) noTemp() {
	e.t.Helper()
	left, err := os.ReadDir(e.tmp)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(left) > 0 {
		e.t.Errorf("%d files left in the temporary folder: %v", len(left), left[0].Name())
	}
}

func (e *env) download(id, format string) *release.Report {
	e.t.Helper()
	var buf bytes.Buffer
	if err := e.svc.Write(e.t.Context(), id, format, &buf); err != nil {
		e.t.Fatal(err)
	}
	rep, err := release.Verify(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		e.t.Fatalf("the %s download does not verify: %v", format, err)
	}
	return rep
}

func TestCreate(t *testing.T) {
	for _, eng := range testdb.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng.Open)
			ctx := t.Context()
			var revs []radmark.ID
			// P1 has two studies: they must land in the same part.
			for i, p := range []string{"P1", "P1", "P2", "P3", "P4", "P5"} {
				label := "liver"
				if i%2 == 1 {
					label = "nodule"
				}
				revs = append(revs, e.study(p, i, label).ID)
			}
			_, err := e.svc.Create(ctx, e.op, release.Request{Project: e.project.ID, Fractions: release.DefaultFractions}, nil)
			if radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), "no workflow cases") {
				t.Fatalf("release of a project without cases or revisions: %v", err)
			}
			req := release.Request{Project: e.project.ID, Revisions: revs, Fractions: release.Fractions{Train: 0.6, Validation: 0.2, Test: 0.2}, Seed: 3, Stratify: true}
			var steps []string
			res, err := e.svc.Create(ctx, e.op, req, func(done, total int, msg string) { steps = append(steps, fmt.Sprint(done, "/", total, " ", msg)) })
			if err != nil {
				t.Fatal(err)
			}
			e.noTemp()
			r := res.Release
			if res.Existed || r.Selection != "revisions" || r.Cases[release.Train]+r.Cases[release.Validation]+r.Cases[release.Test] != 6 {
				t.Errorf("release %+v", res)
			}
			if len(steps) < 6 || !strings.HasSuffix(steps[len(steps)-1], "done") {
				t.Errorf("progress: %v", steps)
			}
			for _, format := range []string{"tar", "zip"} {
				rep := e.download(r.ID, format)
				m := rep.Manifest
				if rep.ID != r.ID || len(m.Cases) != 6 || len(m.Instances) != 36 || rep.Files != r.Files {
					t.Fatalf("%s: report %s, %d cases, %d instances, %d files", format, rep.ID, len(m.Cases), len(m.Instances), rep.Files)
				}
				parts := map[string]string{}
				for _, c := range m.Cases {
					if p, ok := parts[c.Patient]; ok && p != c.Split {
						t.Errorf("%s is in %s and %s", c.Patient, p, c.Split)
					}
					parts[c.Patient] = c.Split
					if len(c.Files) != 3 {
						t.Errorf("%s files %v", c.ID, c.Files)
					}
				}
				if len(parts) != 5 || m.Split.Patients[release.Train] != 3 || m.Split.Patients[release.Validation] != 1 || m.Split.Patients[release.Test] != 1 {
					t.Errorf("patients %v, split %v", parts, m.Split.Patients)
				}
				var paths []string
				for _, f := range m.Files {
					paths = append(paths, f.Path)
				}
				for _, want := range []string{"measurements.csv", "schema.json", "nnunet/dataset.json", "nnunet/datalist.json", "nnunet/splits_final.json", "seg/case_0000.dcm"} {
					if !slices.Contains(paths, want) {
						t.Errorf("%s: no %s in %v", format, want, paths)
					}
				}
				for _, in := range m.Instances {
					stored, err := e.db.Instance(ctx, in.SOPInstanceUID)
					if err != nil || stored.SHA256 != in.SHA256 {
						t.Errorf("instance %s: %v, sha256 %s", in.SOPInstanceUID, err, in.SHA256)
					}
				}
			}

			// The same request gives the same release; another seed another.
			again, err := e.svc.Create(ctx, e.op, req, nil)
			if err != nil || !again.Existed || again.Release.ID != r.ID {
				t.Errorf("the same release again: %+v, %v", again, err)
			}
			req.Seed = 4
			other, err := e.svc.Create(ctx, e.op, req, nil)
			if err != nil || other.Release.ID == r.ID {
				t.Errorf("another seed: %+v, %v", other, err)
			}

			// A late failure stores nothing and leaves no file.
			before, _ := e.svc.List(ctx, e.project.ID)
			e.blobs.failPrefix = "releases/"
			req.Seed = 5
			if _, err := e.svc.Create(ctx, e.op, req, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Errorf("release onto a full disk: %v", err)
			}
			e.blobs.failPrefix = ""
			e.noTemp()
			after, _ := e.svc.List(ctx, e.project.ID)
			if len(after) != len(before) {
				t.Errorf("%d releases after a failed one, want %d", len(after), len(before))
			}

			// Once the project has a de-identification profile, its
			// (identified) phantom instances stop any release.
			p := &deid.Profile{Version: 1, Name: "basic", CreatedBy: "manager"}
			if err := e.db.PutDeidProfile(ctx, e.project.ID, p, &radmark.AuditEvent{ID: annotation.NewID(), Actor: "manager", Action: "deid.profile.put", ObjectType: "project", ObjectID: string(e.project.ID)}); err != nil {
				t.Fatal(err)
			}
			req.Seed = 6
			_, err = e.svc.Create(ctx, e.op, req, nil)
			if radmark.ErrorCode(err) != radmark.EINVALID || !strings.Contains(err.Error(), "PHI scanner") {
				t.Errorf("release of identified instances under a de-id profile: %v", err)
			}
			e.noTemp()
			if list, _ := e.svc.List(ctx, e.project.ID); len(list) != len(before) {
				t.Errorf("%d releases after refusals, want %d", len(list), len(before))
			}
		})
	}
}

func TestCreateFromWorkflow(t *testing.T) {
	e := newEnv(t, testdb.SQLite)
	ctx := t.Context()
	done := e.study("W1", 1, "liver")
	open := e.study("W2", 2, "liver")
	var cases []radmark.NewCase
	for i, rev := range []*radmark.Revision{done, open} {
		set, _ := e.ann.Set(ctx, rev.SetID)
		c := &radmark.Case{ID: annotation.NewID(), ProjectID: e.project.ID, StudyUID: set.StudyUID, SeriesUID: set.SeriesUID, State: radmark.CaseReading,
			Readers: 1, ConfigVersion: 0, Source: "uid", AddedBy: "manager"}
		if i == 0 {
			c.State, c.FinalSet, c.FinalRevision, c.Outcome = radmark.CaseDone, set.ID, rev.ID, "single"
		}
		cases = append(cases, radmark.NewCase{Case: c, Event: &radmark.AuditEvent{ID: annotation.NewID(), Actor: "manager", Action: "case.add", ObjectType: "case", ObjectID: string(c.ID)}})
	}
	if _, err := e.db.AddCases(ctx, cases); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Create(ctx, e.op, release.Request{Project: e.project.ID, Fractions: release.Fractions{Train: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 1 || res.Release.Selection != "workflow" || res.Release.Cases[release.Train] != 1 {
		t.Errorf("workflow release: %+v", res)
	}
	m := e.download(res.Release.ID, "tar").Manifest
	if len(m.Cases) != 1 || m.Cases[0].Revision != done.ID || m.Cases[0].WorkflowCase != cases[0].Case.ID || m.Cases[0].Outcome != "single" {
		t.Errorf("cases %+v", m.Cases)
	}
}

// TestCreateWithSR: a case with a measurement gets its DICOM SR TID 1500
// report in the release (sr/<case>.dcm, listed with the case's files); a
// case of segmentation only gets none.
func TestCreateWithSR(t *testing.T) {
	for _, eng := range testdb.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng.Open)
			ctx := t.Context()
			sc, err := e.ann.Schema(ctx, e.project.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			labels := slices.Clone(sc.Labels)
			for i := range labels {
				labels[i].Kinds = append(slices.Clone(labels[i].Kinds), radmark.KindLength)
			}
			if _, err := e.ann.PutSchema(ctx, e.op, e.project.ID, sc.Version, labels, nil); err != nil {
				t.Fatal(err)
			}
			segOnly := e.study("P1", 0, "liver")
			measured := e.study("P2", 1, "nodule")
			ins, err := e.archive.Select(ctx, "", measured.Content.Labelmaps[0].SeriesUID, "")
			if err != nil {
				t.Fatal(err)
			}
			length := radmark.Item{ID: "len", Kind: radmark.KindLength, Label: "nodule", Source: radmark.Source{Type: "human"},
				Image: &radmark.ImageRef{SOPInstanceUID: ins[0].SOPInstanceUID}, Points: [][2]float64{{2, 3}, {12, 15}}}
			measured, err = e.ann.Save(ctx, e.op, measured.SetID, &annotation.SaveRequest{Parent: measured.ID, Items: append(slices.Clone(measured.Content.Items), length)})
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.svc.Create(ctx, e.op, release.Request{Project: e.project.ID, Revisions: []radmark.ID{segOnly.ID, measured.ID},
				Fractions: release.Fractions{Train: 0.5, Validation: 0.5}, Seed: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			m := e.download(res.Release.ID, "tar").Manifest
			listed := map[string]bool{}
			for _, f := range m.Files {
				listed[f.Path] = true
			}
			for _, c := range m.Cases {
				var srs []string
				for _, f := range c.Files {
					if strings.HasPrefix(f, "sr/") {
						srs = append(srs, f)
					}
				}
				want := 0
				if c.Revision == measured.ID {
					want = 1
				}
				if len(srs) != want || want == 1 && (srs[0] != "sr/"+c.ID+".dcm" || !listed[srs[0]]) {
					t.Errorf("case %s (revision %s): SR files %v, want %d", c.ID, c.Revision, srs, want)
				}
			}
			e.noTemp()
		})
	}
}

// TestReleaseCOCO: a release of 2D cases (chest X-rays) carries a COCO
// document per part, built from the frozen revisions: a later revision of
// the same set is not in it, and the manifest lists the file with its
// case.
func TestReleaseCOCO(t *testing.T) {
	for _, eng := range testdb.Engines {
		t.Run(eng.Name, func(t *testing.T) {
			e := newEnv(t, eng.Open)
			ctx := t.Context()
			sc, err := e.ann.Schema(ctx, e.project.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			sc.Labels[1].Kinds = append(sc.Labels[1].Kinds, radmark.KindBox2D)
			if _, err := e.ann.PutSchema(ctx, e.op, e.project.ID, sc.Version, sc.Labels, nil); err != nil {
				t.Fatal(err)
			}
			xr, err := phantom.GenerateXRay(phantom.XRaySmall())
			if err != nil {
				t.Fatal(err)
			}
			testdb.Ingest(t, e.archive, xr.Dataset)
			study, series := radmark.UID(xr.Dataset.Strings(0x0020000D)[0]), radmark.UID(xr.Dataset.Strings(0x0020000E)[0])
			img := &radmark.ImageRef{SOPInstanceUID: radmark.UID(xr.Dataset.Strings(0x00080018)[0])}
			set, err := e.ann.CreateSet(ctx, e.op, e.project.ID, study, series, "reader")
			if err != nil {
				t.Fatal(err)
			}
			box := func(x0, y0, x1, y1 float64) *annotation.SaveRequest {
				return &annotation.SaveRequest{Items: []radmark.Item{{ID: "b1", Kind: radmark.KindBox2D, Label: "nodule",
					Source: radmark.Source{Type: "human"}, Image: img, Points: [][2]float64{{x0, y0}, {x1, y1}}}}}
			}
			frozen, err := e.ann.Save(ctx, e.op, set.ID, box(20, 10, 50, 40))
			if err != nil {
				t.Fatal(err)
			}
			later := box(100, 100, 110, 120)
			later.Parent = frozen.ID
			if _, err := e.ann.Save(ctx, e.op, set.ID, later); err != nil {
				t.Fatal(err)
			}
			res, err := e.svc.Create(ctx, e.op, release.Request{Project: e.project.ID, Revisions: []radmark.ID{frozen.ID},
				Fractions: release.Fractions{Train: 1}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := e.svc.Write(ctx, res.Release.ID, "tar", &buf); err != nil {
				t.Fatal(err)
			}
			files := untar(t, buf.Bytes())
			var doc coco.Dataset
			if err := json.Unmarshal(files["release-"+res.Release.ID+"/coco/train.json"], &doc); err != nil {
				t.Fatalf("coco/train.json: %v (files %v)", err, slices.Sorted(maps.Keys(files)))
			}
			if len(doc.Images) != 1 || doc.Images[0].Width != 250 || doc.Images[0].Height != 300 {
				t.Errorf("COCO images %+v, want the one 250×300 X-ray", doc.Images)
			}
			if len(doc.Annotations) != 1 || doc.Annotations[0].BBox != [4]float64{20, 10, 30, 30} {
				t.Errorf("COCO annotations %+v, want the frozen box [20 10 30 30]", doc.Annotations)
			}
			if _, ok := files["release-"+res.Release.ID+"/coco/test.json"]; ok {
				t.Error("an empty test part has a COCO file")
			}
			rep := e.download(res.Release.ID, "zip")
			if c := rep.Manifest.Cases; len(c) != 1 || !slices.Contains(c[0].Files, "coco/train.json") {
				t.Errorf("the manifest's case does not list coco/train.json: %+v", c)
			}
		})
	}
}

// untar reads a tar into name → content.
func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}
