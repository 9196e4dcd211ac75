package httpapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/policy"
	"github.com/radmark/radmark/workflow"
)

// TestImportsFollowTheWorkflow: an import writes where a save may write
// and nowhere else. Before the study is a case, a reader imports into
// their own set and a manager into a model's; once it is a case, the
// reader of its in-progress task imports into the task's set, but nobody
// writes into a set of the case outside its task (another reader's
// blinded read, a set of one's own from before, a set that would be
// opened beside the task), nothing after the read is submitted, and an
// annotator does not add labels to the schema. Each refusal says why,
// writes nothing and is audited like a refused save.
func TestImportsFollowTheWorkflow(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) { testImportsFollowTheWorkflow(t, engine) })
	}
}

func testImportsFollowTheWorkflow(t *testing.T, engine testdb.Engine) {
	e := newAuthzEnvOn(t, engine)
	ctx := t.Context()
	store := e.store
	roster := &workflow.MemoryRoster{}
	for name, roles := range testRoles {
		roster.Set(name, roles...)
	}
	wf := &workflow.Service{Store: store.(workflow.Store), Annotations: e.srv.Annotations, Archive: store, Roster: roster}
	x := e.srv.Exports.Exchange
	e.srv.Workflow, e.srv.Studies, e.srv.Gate = wf, wf, wf
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)

	// A segmentation label, and a SEG of one lesion made by a reader of
	// no consequence to the test.
	admin := annotation.Op{Actor: "admin"}
	svc := e.srv.Annotations
	lesion := radmark.Label{ID: "lesion", Name: "Lesion", Color: "#00ff00",
		Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
		Type:     radmark.Code{Value: "52988006", Scheme: "SCT", Meaning: "Lesion"}, Kinds: []radmark.Kind{radmark.KindSegmentation}}
	sc, err := svc.Schema(ctx, e.project, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = svc.PutSchema(ctx, admin, e.project, sc.Version, append(sc.Labels, lesion), nil); err != nil {
		t.Fatal(err)
	}
	study, series := radmark.UID(e.ct.StudyInstanceUID), radmark.UID(e.ct.SeriesInstanceUID)
	seed, err := svc.CreateSet(ctx, admin, e.project, study, series, "seed")
	if err != nil {
		t.Fatal(err)
	}
	cols, rows, _ := e.ct.Phantom.Dims()
	mask := make([]byte, cols*rows)
	for j := rows / 3; j < rows/2; j++ {
		for i := cols / 3; i < cols/2; i++ {
			mask[j*cols+i] = 1
		}
	}
	rev, err := svc.Save(ctx, admin, seed.ID, &annotation.SaveRequest{
		Items: []radmark.Item{{ID: "l1", Kind: radmark.KindSegmentation, Label: "lesion", Source: radmark.Source{Type: "human"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}}},
		Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: series, Columns: cols, Rows: rows, Slices: len(e.ct.Instances), Encoding: "raw",
			Data: map[string][]byte{"2": mask, "3": mask}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var segFile bytes.Buffer
	if _, err := x.ExportFile(ctx, admin, e.project, exchange.ExportRequest{Format: "seg", Revision: rev.ID}, &segFile); err != nil {
		t.Fatal(err)
	}
	pp := apiRoot + "/projects/" + string(e.project)
	importAs := func(user, path string) (int, Problem, *exchange.ImportResult) {
		t.Helper()
		st, b := e.call(t, user, "POST", pp+path, segFile.String(), "Content-Type", "application/octet-stream")
		var p Problem
		var res exchange.ImportResult
		if st >= 400 {
			_ = json.Unmarshal(b, &p)
			return st, p, nil
		}
		if err := json.Unmarshal(b, &res); err != nil || res.Revision == nil {
			t.Fatalf("%s POST %s = %d %s", user, path, st, b)
		}
		return st, p, &res
	}
	heads := func() map[string]radmark.ID {
		sets, err := svc.Sets(ctx, radmark.SetFilter{ProjectID: e.project})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]radmark.ID{}
		for _, s := range sets {
			out[s.Reader] = s.Head
		}
		return out
	}

	// No case yet: one's own set, and a model's for a manager.
	if st, p, _ := importAs("ann", "/imports?format=seg"); st != http.StatusCreated {
		t.Fatalf("an annotator importing into their own set outside the workflow: %d %+v", st, p)
	}
	if st, p, _ := importAs("mgr", "/readers/model-x/imports?format=seg"); st != http.StatusCreated {
		t.Fatalf("a manager importing a model's output: %d %+v", st, p)
	}

	// The study becomes a case with one read, pulled and started by ann2.
	wop := workflow.Op{Actor: &radmark.Actor{User: &radmark.User{ID: "u-admin", Name: "admin", Admin: true}}}
	if _, err := wf.PutConfig(ctx, wop, &radmark.WorkflowConfig{ProjectID: e.project, Readers: 1,
		ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignPull}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := wf.AddCases(ctx, wop, e.project, workflow.AddRequest{Studies: []workflow.CaseRef{{StudyUID: study}}}); err != nil {
		t.Fatal(err)
	}
	reader := workflow.Op{Actor: &radmark.Actor{User: &radmark.User{ID: "u-ann2", Name: "ann2"}}}
	task, err := wf.Next(ctx, reader, e.project, radmark.TaskRead)
	if err != nil {
		t.Fatal(err)
	}
	if task, err = wf.Transition(ctx, reader, task.ID, workflow.Start, workflow.Args{}); err != nil {
		t.Fatal(err)
	}
	st, p, res := importAs("ann2", "/imports?format=seg")
	if st != http.StatusCreated || res.Revision.SetID != task.SetID {
		t.Fatalf("the reader importing into their task's set: %d %+v, set %v (task's %s)", st, p, res, task.SetID)
	}

	before := heads()
	schemaBefore, _ := svc.Schema(ctx, e.project, 0)
	for _, tt := range []struct {
		user, path string
		status     int
		why        string
	}{
		{"ann", "/imports?format=seg", http.StatusForbidden, "annotate it through your task"},
		{"rad", "/imports?format=seg", http.StatusForbidden, "the set opens when the task starts"},
		{"mgr", "/readers/ann2/imports?format=seg", http.StatusForbidden, "change only through their tasks"},
		{"mgr", "/readers/model-x/imports?format=seg", http.StatusForbidden, "change only through their tasks"},
		{"mgr", "/readers/newcomer/imports?format=seg", http.StatusForbidden, "change only through their tasks"},
		{"ann2", "/imports?format=seg&addLabels=true", http.StatusForbidden, string(policy.ProjectManage) + " needs one of the roles"},
	} {
		st, p, _ := importAs(tt.user, tt.path)
		if st != tt.status || !strings.Contains(p.Detail, tt.why) {
			t.Errorf("%s POST %s = %d %q, want %d saying %q", tt.user, tt.path, st, p.Detail, tt.status, tt.why)
		}
	}
	// Submitted: the read is no longer the reader's to change.
	if _, err := wf.Transition(ctx, reader, task.ID, workflow.Submit, workflow.Args{}); err != nil {
		t.Fatal(err)
	}
	if st, p, _ := importAs("ann2", "/imports?format=seg"); st != http.StatusConflict || !strings.Contains(p.Detail, "not in progress") {
		t.Errorf("importing into a submitted read: %d %q, want 409 saying it is not in progress", st, p.Detail)
	}
	before["ann2"] = heads()["ann2"] // the submission may complete the head
	if after := heads(); !maps.Equal(after, before) {
		t.Errorf("refused imports wrote: sets before %v, after %v", before, after)
	}
	if sc, _ := svc.Schema(ctx, e.project, 0); sc.Version != schemaBefore.Version {
		t.Errorf("a refused import changed the schema: version %d, was %d", sc.Version, schemaBefore.Version)
	}
	for _, user := range []string{"ann", "rad", "mgr"} {
		denied, err := store.AuditEvents(ctx, radmark.AuditFilter{Action: "access.denied", Actor: user, ObjectType: "annotation_set"})
		if err != nil {
			t.Fatal(err)
		}
		if len(denied) == 0 {
			t.Errorf("%s's refused imports are not on the audit trail", user)
		}
	}
}
