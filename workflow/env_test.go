package workflow_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/phantom"
	"github.com/radmark/radmark/workflow"
)

// Grid of the small phantom CTs: 32×32 pixels of 2 mm, 8 slices 2 mm
// apart, origin (−32, −32, −8): voxel (i, j, k) is at LPS
// (−32+2i, −32+2j, −8+2k).
const gridN, gridSlices = 32, 8

func voxelLPS(i, j, k float64) [3]float64 { return [3]float64{-32 + 2*i, -32 + 2*j, -8 + 2*k} }

var (
	phantomsOnce sync.Once
	phantomCTs   []*phantom.Series
	phantomsErr  error
)

// smallCTs returns n small phantom CT studies, each with its own UIDs.
func smallCTs(t testing.TB, n int) []*phantom.Series {
	t.Helper()
	phantomsOnce.Do(func() {
		for i := range 24 {
			spec := phantom.CTSmall()
			spec.Rows, spec.Columns, spec.Slices = gridN, gridN, gridSlices
			spec.Origin = phantom.LPS{-32, -32, -8}
			spec.Seed = uint64(100 + i)
			s, err := phantom.Generate(spec)
			if err != nil {
				phantomsErr = err
				return
			}
			phantomCTs = append(phantomCTs, s)
		}
	})
	if phantomsErr != nil {
		t.Fatal(phantomsErr)
	}
	return phantomCTs[:n]
}

// env is a workflow over a real archive and annotation service on one
// engine, with a project whose schema has a segmentation label, a box
// label, a landmark label and a required quality question.
type env struct {
	t       *testing.T
	store   testdb.Store
	ann     *annotation.Service
	wf      *workflow.Service
	roster  *workflow.MemoryRoster
	cts     []*phantom.Series
	project *radmark.Project
	users   map[string]*radmark.Actor
}

func newEnv(t *testing.T, engine testdb.Engine, studies int) *env {
	t.Helper()
	store := engine.Open(t)
	a, blobs := testdb.Archive(t, store)
	cts := smallCTs(t, studies)
	var ds []*dicom.Dataset
	for _, ct := range cts {
		ds = append(ds, ct.Instances...)
	}
	testdb.Ingest(t, a, ds...)
	ann := &annotation.Service{Store: store, Blobs: blobs, Images: &annotation.ArchiveImages{Source: a}}
	wfs, ok := store.(workflow.Store)
	if !ok {
		t.Fatalf("%T is not a workflow store", store)
	}
	r := &workflow.MemoryRoster{}
	e := &env{t: t, store: store, ann: ann, roster: r, cts: cts, users: map[string]*radmark.Actor{},
		wf: &workflow.Service{Store: wfs, Annotations: ann, Archive: store, Roster: r}}
	var err error
	e.project, err = ann.CreateProject(t.Context(), annotation.Op{Actor: "mgr"}, "Reading study", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ann.PutSchema(t.Context(), annotation.Op{Actor: "mgr"}, e.project.ID, 0, []radmark.Label{
		{ID: "liver", Name: "Liver", Color: "#00ff00", Category: radmark.Code{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"},
			Type: radmark.Code{Value: "10200004", Scheme: "SCT", Meaning: "Liver"}, Kinds: []radmark.Kind{radmark.KindSegmentation}},
		{ID: "nodule", Name: "Nodule", Color: "#ff0000", Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
			Type: radmark.Code{Value: "27925004", Scheme: "SCT", Meaning: "Nodule"}, Kinds: []radmark.Kind{radmark.KindBox2D}},
		{ID: "carina", Name: "Carina", Color: "#0000ff", Category: radmark.Code{Value: "123037004", Scheme: "SCT", Meaning: "Anatomical Structure"},
			Type: radmark.Code{Value: "21082005", Scheme: "SCT", Meaning: "Carina"}, Kinds: []radmark.Kind{radmark.KindLandmark}},
	}, []radmark.Question{{ID: "quality", Text: "Image quality", Type: radmark.QuestionSingle, Level: radmark.LevelStudy, Required: true,
		Options: []radmark.Option{{Value: "good"}, {Value: "poor"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, roles := range map[string][]radmark.Role{
		"mgr": {radmark.RoleManager}, "ann": {radmark.RoleAnnotator}, "bob": {radmark.RoleAnnotator},
		"cat": {radmark.RoleAnnotator}, "rev": {radmark.RoleReviewer}, "rad": {radmark.RoleRadiologist},
		"vic": {radmark.RoleViewer},
	} {
		r.Set(name, roles...)
		e.users[name] = &radmark.Actor{User: &radmark.User{ID: radmark.ID("user-" + name), Name: name}, Via: "session"}
	}
	e.users["root"] = &radmark.Actor{User: &radmark.User{ID: "user-root", Name: "root", Admin: true}, Via: "session"}
	e.users["eve"] = &radmark.Actor{User: &radmark.User{ID: "user-eve", Name: "eve"}, Via: "session"} // no member
	return e
}

func (e *env) op(user string) workflow.Op {
	a := e.users[user]
	if a == nil {
		e.t.Fatalf("no user %s", user)
	}
	return workflow.Op{Actor: a, RequestID: "req-" + user}
}

func (e *env) configure(c radmark.WorkflowConfig) *radmark.WorkflowConfig {
	e.t.Helper()
	c.ProjectID = e.project.ID
	cur, err := e.wf.Config(e.t.Context(), e.project.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := e.wf.PutConfig(e.t.Context(), e.op("mgr"), &c, cur.Version)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) addCases(n int) []*radmark.Case {
	e.t.Helper()
	var refs []workflow.CaseRef
	for _, ct := range e.cts[:n] {
		refs = append(refs, workflow.CaseRef{StudyUID: radmark.UID(ct.StudyInstanceUID), SeriesUID: radmark.UID(ct.SeriesInstanceUID)})
	}
	res, err := e.wf.AddCases(e.t.Context(), e.op("mgr"), e.project.ID, workflow.AddRequest{Studies: refs})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(res.Added) != n {
		e.t.Fatalf("added %d cases, want %d", len(res.Added), n)
	}
	return res.Added
}

func (e *env) do(user string, task radmark.ID, tr workflow.Transition, args workflow.Args) *radmark.Task {
	e.t.Helper()
	t, err := e.wf.Transition(e.t.Context(), e.op(user), task, tr, args)
	if err != nil {
		e.t.Fatalf("%s %s %s: %v", user, tr, task, err)
	}
	return t
}

func (e *env) next(user string) *radmark.Task {
	e.t.Helper()
	t, err := e.wf.Next(e.t.Context(), e.op(user), e.project.ID, radmark.TaskRead)
	if err != nil {
		e.t.Fatalf("next task for %s: %v", user, err)
	}
	return t
}

// read is what one reader annotates on a case.
type read struct {
	quality string
	cube    *[6]int // liver voxels x0,x1,y0,y1,k0,k1 (half-open)
	boxes   [][4]float64
	marks   [][3]float64 // carina landmarks, voxel indices
}

// save stores r as the next revision of the task's set.
func (e *env) save(user string, task *radmark.Task, r read) *radmark.Revision {
	e.t.Helper()
	set, err := e.ann.Set(e.t.Context(), task.SetID)
	if err != nil {
		e.t.Fatal(err)
	}
	ct := e.ctOf(task.StudyUID)
	img := &radmark.ImageRef{SOPInstanceUID: radmark.UID(ct.SOPInstanceUID(3))}
	req := &annotation.SaveRequest{Parent: set.Head, Items: []radmark.Item{}}
	if r.quality != "" {
		req.Answers = []radmark.Answer{{Question: "quality", Choices: []string{r.quality}}}
	}
	human := radmark.Source{Type: "human"}
	if r.cube != nil {
		c := r.cube
		req.Items = append(req.Items, radmark.Item{ID: "liver", Kind: radmark.KindSegmentation, Label: "liver", Source: human, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}})
		edit := annotation.LabelmapEdit{Layer: 0, SeriesUID: task.SeriesUID, Columns: gridN, Rows: gridN, Slices: gridSlices, Encoding: "raw", Replace: true, Data: map[string][]byte{}}
		for k := c[4]; k < c[5]; k++ {
			sl := make([]byte, gridN*gridN)
			for j := c[2]; j < c[3]; j++ {
				for i := c[0]; i < c[1]; i++ {
					sl[j*gridN+i] = 1
				}
			}
			edit.Data[strconv.Itoa(k)] = sl
		}
		req.Labelmaps = []annotation.LabelmapEdit{edit}
	} else if set.Head != "" {
		req.Labelmaps = []annotation.LabelmapEdit{{Layer: 0, Remove: true}}
	}
	for i, b := range r.boxes {
		req.Items = append(req.Items, radmark.Item{ID: fmt.Sprint("box", i), Kind: radmark.KindBox2D, Label: "nodule", Source: human, Image: img,
			Points: [][2]float64{{b[0], b[1]}, {b[2], b[3]}}})
	}
	for i, m := range r.marks {
		req.Items = append(req.Items, radmark.Item{ID: fmt.Sprint("mark", i), Kind: radmark.KindLandmark, Label: "carina", Source: human,
			Image: &radmark.ImageRef{SOPInstanceUID: radmark.UID(ct.SOPInstanceUID(int(m[2])))}, LPS: [][3]float64{voxelLPS(m[0], m[1], m[2])}})
	}
	rev, err := e.ann.Save(e.t.Context(), annotation.Op{Actor: user}, task.SetID, req)
	if err != nil {
		e.t.Fatalf("save by %s: %v", user, err)
	}
	return rev
}

func (e *env) ctOf(study radmark.UID) *phantom.Series {
	for _, ct := range e.cts {
		if radmark.UID(ct.StudyInstanceUID) == study {
			return ct
		}
	}
	e.t.Fatalf("no phantom study %s", study)
	return nil
}

func (e *env) set(id radmark.ID) *radmark.AnnotationSet {
	e.t.Helper()
	s, err := e.ann.Set(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// wantErr fails unless err has code; it returns the TransitionError
// carried, if any.
func wantErr(t *testing.T, err error, code, what string) *workflow.TransitionError {
	t.Helper()
	if got := radmark.ErrorCode(err); got != code {
		t.Errorf("%s: %v (code %q), want %q", what, err, got, code)
		return nil
	}
	if msg := radmark.ErrorMessage(err); msg == "" || msg == "internal error" {
		t.Errorf("%s: message %q says nothing", what, msg)
	}
	var te *workflow.TransitionError
	errors.As(err, &te)
	return te
}

func (e *env) auditActions(object radmark.ID) []string {
	e.t.Helper()
	evs, err := e.store.AuditEvents(e.t.Context(), radmark.AuditFilter{ObjectID: string(object)})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Actor+":"+ev.Action)
	}
	return out
}

var _ = time.Second
