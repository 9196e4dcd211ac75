package annotation_test

import (
	"sync"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/phantom"
)

// env is an annotation service over a real archive on one engine, with
// the small phantom CT and X-ray ingested.
type env struct {
	t       *testing.T
	store   testdb.Store
	svc     *annotation.Service
	archive *archive.Service
	ct      *phantom.Series
	xray    *phantom.XRayImage
	project *radmark.Project
	schema  *radmark.LabelSchema
	op      annotation.Op
}

var (
	phantomOnce sync.Once
	phantomCT   *phantom.Series
	phantomXR   *phantom.XRayImage
	phantomErr  error
)

func phantoms(t *testing.T) (*phantom.Series, *phantom.XRayImage) {
	t.Helper()
	phantomOnce.Do(func() {
		phantomCT, phantomErr = phantom.Generate(phantom.CTSmall())
		if phantomErr == nil {
			phantomXR, phantomErr = phantom.GenerateXRay(phantom.XRaySmall())
		}
	})
	if phantomErr != nil {
		t.Fatal(phantomErr)
	}
	return phantomCT, phantomXR
}

func ingest(t *testing.T, a *archive.Service, datasets ...*dicom.Dataset) {
	t.Helper()
	testdb.Ingest(t, a, datasets...)
}

func newEnv(t *testing.T, engine testdb.Engine) *env {
	t.Helper()
	store := engine.Open(t)
	a, blobs := testdb.Archive(t, store)
	var err error
	ct, xr := phantoms(t)
	ingest(t, a, append(append([]*dicom.Dataset{}, ct.Instances...), xr.Dataset)...)
	e := &env{
		t: t, store: store, archive: a, ct: ct, xray: xr,
		svc: &annotation.Service{Store: store, Blobs: blobs, Images: &annotation.ArchiveImages{Source: a}},
		op:  annotation.Op{Actor: "reader-1", RequestID: "req-1"},
	}
	e.project, err = e.svc.CreateProject(t.Context(), e.op, "Chest phantom", "tests")
	if err != nil {
		t.Fatal(err)
	}
	e.schema, err = e.svc.PutSchema(t.Context(), e.op, e.project.ID, 0, testLabels(), testQuestions())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testLabels() []radmark.Label {
	all := []radmark.Kind{radmark.KindSegmentation, radmark.KindBox2D, radmark.KindBox3D, radmark.KindContour,
		radmark.KindLandmark, radmark.KindLength, radmark.KindAngle, radmark.KindBidirectional,
		radmark.KindEllipseROI, radmark.KindRectangleROI}
	return []radmark.Label{
		{ID: "nodule", Name: "Lung nodule", Color: "#ff0000",
			Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
			Type:     radmark.Code{Value: "27925004", Scheme: "SCT", Meaning: "Nodule"}, Kinds: all},
		{ID: "liver", Name: "Liver", Color: "#00ff00",
			Category: radmark.Code{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"},
			Type:     radmark.Code{Value: "10200004", Scheme: "SCT", Meaning: "Liver"},
			Kinds:    []radmark.Kind{radmark.KindSegmentation, radmark.KindContour}},
		{ID: "carina", Name: "Carina", Color: "#0000ff",
			Category: radmark.Code{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"},
			Type:     radmark.Code{Value: "21082005", Scheme: "SCT", Meaning: "Carina"},
			Kinds:    []radmark.Kind{radmark.KindLandmark}},
	}
}

func testQuestions() []radmark.Question {
	return []radmark.Question{
		{ID: "quality", Text: "Image quality", Type: radmark.QuestionSingle, Level: radmark.LevelStudy, Required: true,
			Options: []radmark.Option{{Value: "good"}, {Value: "poor"}}},
		{ID: "malignancy", Text: "Malignancy score", Type: radmark.QuestionNumber, Level: radmark.LevelAnnotation,
			Min: ptr(1.0), Max: ptr(5.0), Labels: []string{"nodule"}},
	}
}

func ptr[T any](v T) *T { return &v }

func (e *env) ctSet(reader string) *radmark.AnnotationSet {
	e.t.Helper()
	set, err := e.svc.CreateSet(e.t.Context(), e.op, e.project.ID, radmark.UID(e.ct.StudyInstanceUID), radmark.UID(e.ct.SeriesInstanceUID), reader)
	if err != nil {
		e.t.Fatal(err)
	}
	return set
}

func (e *env) xraySet(reader string) *radmark.AnnotationSet {
	e.t.Helper()
	study := radmark.UID(e.xray.Dataset.Strings(dicom.NewTag(0x0020, 0x000D))[0])
	set, err := e.svc.CreateSet(e.t.Context(), e.op, e.project.ID, study, "", reader)
	if err != nil {
		e.t.Fatal(err)
	}
	return set
}

// ctImage names slice k of the phantom CT.
func (e *env) ctImage(k int) *radmark.ImageRef {
	return &radmark.ImageRef{SOPInstanceUID: radmark.UID(e.ct.SOPInstanceUID(k))}
}

func (e *env) xrayImage() *radmark.ImageRef {
	return &radmark.ImageRef{SOPInstanceUID: radmark.UID(e.xray.Dataset.Strings(dicom.NewTag(0x0008, 0x0018))[0])}
}

// ctVoxel is the LPS centre of phantom CT voxel (i, j, k): CTSmall's
// voxel centres are x = −128 + 2i, y = −128 + 2j, z = −64 + 2k.
func ctVoxel(i, j, k float64) [3]float64 { return [3]float64{-128 + 2*i, -128 + 2*j, -64 + 2*k} }

func human() radmark.Source { return radmark.Source{Type: "human"} }

func (e *env) auditCount() int {
	e.t.Helper()
	n := 0
	if err := e.store.ScanAudit(e.t.Context(), func(*radmark.AuditEvent) error { n++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return n
}
