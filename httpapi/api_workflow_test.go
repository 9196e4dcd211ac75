package httpapi

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/intake"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/phantom"
	"github.com/radmark/radmark/workflow"
)

// newWorkflowAPIEnv serves the API with the workflow; the request header
// X-Test-User names the actor (standing in for authentication).
func newWorkflowAPIEnv(t *testing.T, engine testdb.Engine) (*apiEnv, *Server) {
	t.Helper()
	store := engine.Open(t)
	arch, blobs := testdb.Archive(t, store)
	ct, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	xr, err := phantom.GenerateXRay(phantom.XRaySmall())
	if err != nil {
		t.Fatal(err)
	}
	testdb.Ingest(t, arch, append(append([]*dicom.Dataset{}, ct.Instances...), xr.Dataset)...)
	ann := &annotation.Service{Store: store, Blobs: blobs, Images: &annotation.ArchiveImages{Source: arch}}
	srv := &Server{Archive: arch, Version: "test", Logger: slog.New(slog.DiscardHandler), Annotations: ann}
	roster := &workflow.MemoryRoster{}
	for name, role := range map[string]radmark.Role{"mgr": radmark.RoleManager, "ann": radmark.RoleAnnotator, "bob": radmark.RoleAnnotator,
		"cat": radmark.RoleAnnotator, "rev": radmark.RoleReviewer, "rad": radmark.RoleRadiologist} {
		roster.Set(name, role)
	}
	wf := &workflow.Service{Store: store.(workflow.Store), Annotations: ann, Archive: store, Roster: roster}
	srv.UseWorkflow(wf)
	ds := store.(deid.Store)
	srv.UseIntake(&intake.Service{Archive: arch, Store: ds, Blobs: blobs, Cases: wf,
		Deid: &deid.Service{Profiles: ds, SiteSecret: bytes.Repeat([]byte("x"), 32)}})
	h := srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name := r.Header.Get("X-Test-User"); name != "" {
			r = r.WithContext(WithActor(r.Context(), &radmark.Actor{User: &radmark.User{ID: radmark.ID("user-" + name), Name: name}, Via: "session"}))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	resp, err := http.Get(ts.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &apiEnv{srv: srv, ct: ct, xray: xr, client: &apiClient{t: t, base: ts.URL, router: router, seen: map[string]map[int]bool{}}}, srv
}

// TestWorkflowAPI drives every workflow route, validating each exchange
// against the OpenAPI document: two readers pull and read a case, the
// reviewer sends one back with comments, accepts both, the reads disagree
// and an arbiter picks one; a second case is assigned by hand.
func TestWorkflowAPI(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			e, srv := newWorkflowAPIEnv(t, engine)
			c := e.client
			as := func(user, method, path string, body any, headers ...string) apiResponse {
				t.Helper()
				return c.do(method, path, body, append([]string{"X-Test-User", user}, headers...)...)
			}
			expect := func(r apiResponse, status int, what string) {
				t.Helper()
				if r.Status != status {
					t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Body, status)
				}
			}
			var project radmark.Project
			r := as("mgr", "POST", "/api/v1/projects", createProjectRequest{Name: "Readers"})
			r.json(t, &project)
			pp := "/api/v1/projects/" + string(project.ID)
			expect(as("mgr", "PUT", pp+"/schema", schemaBody(), "If-Match", `"0"`), 201, "schema")

			// Workflow configuration.
			r = as("ann", "GET", pp+"/workflow", nil)
			expect(r, 200, "default workflow")
			if r.Header.Get("ETag") != `"0"` {
				t.Errorf("default workflow ETag %q", r.Header.Get("ETag"))
			}
			cfg := workflowRequest{Readers: 2, ReaderRoles: []radmark.Role{radmark.RoleAnnotator}, Assignment: radmark.AssignPull}
			expect(as("mgr", "PUT", pp+"/workflow", cfg), 400, "workflow without base")
			bad := cfg
			bad.Readers = 0
			expect(as("mgr", "PUT", pp+"/workflow", bad, "If-Match", `"0"`), 400, "no readers")
			r = as("mgr", "PUT", pp+"/workflow", cfg, "If-Match", `"0"`)
			expect(r, 201, "put workflow")
			expect(as("mgr", "PUT", pp+"/workflow", cfg, "If-Match", `"0"`), 409, "stale workflow")
			expect(as("mgr", "PUT", "/api/v1/projects/nope/workflow", cfg, "If-Match", `"0"`), 404, "workflow of a missing project")

			// Cases: by UID and by query.
			study, series := radmark.UID(e.ct.StudyInstanceUID), radmark.UID(e.ct.SeriesInstanceUID)
			xrStudy := e.xray.Dataset.Strings(dicom.NewTag(0x0020, 0x000D))[0]
			var added workflow.AddResult
			r = as("mgr", "POST", pp+"/cases", addCasesRequest{Studies: []workflow.CaseRef{{StudyUID: study, SeriesUID: series}}})
			expect(r, 201, "add a case")
			r.json(t, &added)
			if len(added.Added) != 1 {
				t.Fatalf("added: %s", r.Body)
			}
			caseID := added.Added[0].ID
			r = as("mgr", "POST", pp+"/cases", addCasesRequest{Studies: []workflow.CaseRef{{StudyUID: study, SeriesUID: series}},
				Query: map[string]string{"StudyInstanceUID": xrStudy}})
			expect(r, 201, "add by query")
			r.json(t, &added)
			if len(added.Added) != 1 || added.Added[0].StudyUID != radmark.UID(xrStudy) || added.Added[0].Source != "query" || len(added.Skipped) != 1 {
				t.Errorf("add by query: %s", r.Body)
			}
			xrCase := added.Added[0].ID
			expect(as("mgr", "POST", pp+"/cases", addCasesRequest{Studies: []workflow.CaseRef{{StudyUID: "1.2.3"}}}), 400, "a study not archived")
			var cases []*radmark.Case
			r = as("ann", "GET", pp+"/cases", nil)
			expect(r, 200, "list cases")
			r.json(t, &cases)
			if len(cases) != 2 {
				t.Errorf("cases: %s", r.Body)
			}
			var detail caseDetail
			r = as("ann", "GET", "/api/v1/cases/"+string(caseID), nil)
			expect(r, 200, "get case")
			r.json(t, &detail)
			if len(detail.Tasks) != 2 {
				t.Errorf("case tasks: %s", r.Body)
			}
			expect(as("ann", "GET", "/api/v1/cases/nope", nil), 404, "missing case")

			// Pull, start, save, submit.
			pull := func(user, kind string) *radmark.Task {
				t.Helper()
				var next nextTaskResponse
				path := pp + "/next-task"
				if kind != "" {
					path += "?kind=" + kind
				}
				r := as(user, "POST", path, nil)
				expect(r, 200, user+" pulls")
				r.json(t, &next)
				return next.Task
			}
			ta, tb := pull("ann", ""), pull("bob", "")
			if ta == nil || tb == nil || ta.CaseID != caseID || tb.CaseID != caseID {
				t.Fatalf("pulled %+v %+v", ta, tb)
			}
			expect(as("rev", "POST", pp+"/next-task", nil), 403, "a reviewer pulls a read")
			transition := func(user string, task radmark.ID, tr string, body transitionRequest, status int) *taskDetail {
				t.Helper()
				r := as(user, "POST", "/api/v1/tasks/"+string(task)+"/"+tr, body)
				expect(r, status, user+" "+tr)
				if status != 200 {
					p := r.problem(t)
					if status == 409 && !strings.Contains(p.Detail, "allowed from") {
						t.Errorf("409 without the allowed transitions: %s", p.Detail)
					}
					return nil
				}
				var d taskDetail
				r.json(t, &d)
				return &d
			}
			transition("ann", ta.ID, "submit", transitionRequest{}, 409)
			transition("bob", ta.ID, "start", transitionRequest{}, 403)
			stale := 0
			transition("ann", ta.ID, "start", transitionRequest{Version: &stale}, 409)
			d := transition("ann", ta.ID, "start", transitionRequest{}, 200)
			if d.Task.SetID == "" || len(d.Allowed) != 2 {
				t.Errorf("started: %+v", d)
			}
			ta = d.Task
			tb = transition("bob", tb.ID, "start", transitionRequest{}, 200).Task
			save := func(user string, task *radmark.Task, quality string) {
				t.Helper()
				set := e.srv.Annotations
				s, _ := set.Set(t.Context(), task.SetID)
				req := annotation.SaveRequest{Parent: s.Head, Items: []radmark.Item{}, Answers: []radmark.Answer{{Question: "quality", Choices: []string{quality}}}}
				h := []string{"If-None-Match", "*"}
				if s.Head != "" {
					h = []string{"If-Match", etag(string(s.Head))}
				}
				expect(as(user, "POST", "/api/v1/annotation-sets/"+string(task.SetID)+"/revisions", req, h...), 201, user+" saves")
			}
			save("ann", ta, "good")
			save("bob", tb, "poor")
			transition("ann", ta.ID, "submit", transitionRequest{}, 200)
			transition("bob", tb.ID, "submit", transitionRequest{}, 200)

			// Review queue, changes requested with comments.
			var queue []*radmark.Task
			r = as("rev", "GET", pp+"/tasks?queue=review", nil)
			expect(r, 200, "review queue")
			r.json(t, &queue)
			if len(queue) != 2 {
				t.Errorf("review queue: %s", r.Body)
			}
			expect(as("rev", "GET", pp+"/tasks?queue=bogus", nil), 400, "unknown queue")
			transition("ann", ta.ID, "review", transitionRequest{}, 403)
			transition("rev", ta.ID, "review", transitionRequest{}, 200)
			transition("rev", ta.ID, "request-changes", transitionRequest{}, 200)
			var cm radmark.Comment
			r = as("rev", "POST", "/api/v1/cases/"+string(caseID)+"/comments", workflow.CommentRequest{TaskID: ta.ID, Body: "check the apex", LPS: &[3]float64{1, 2, 3}})
			expect(r, 201, "comment")
			r.json(t, &cm)
			expect(as("ann", "POST", "/api/v1/cases/"+string(caseID)+"/comments", workflow.CommentRequest{Body: "x"}), 403, "an annotator comments")
			var other radmark.Comment
			as("rev", "POST", "/api/v1/cases/"+string(caseID)+"/comments", workflow.CommentRequest{Body: "typo"}).json(t, &other)
			r = as("rev", "PATCH", "/api/v1/comments/"+string(other.ID), editCommentRequest{Body: "never mind"})
			expect(r, 200, "edit comment")
			expect(as("rev", "DELETE", "/api/v1/comments/"+string(other.ID), nil), 204, "delete comment")
			var comments []*radmark.Comment
			r = as("ann", "GET", "/api/v1/cases/"+string(caseID)+"/comments", nil)
			expect(r, 200, "ann's comments")
			r.json(t, &comments)
			if len(comments) != 1 || comments[0].ID != cm.ID {
				t.Errorf("comments: %s", r.Body)
			}
			expect(as("ann", "POST", "/api/v1/comments/"+string(cm.ID)+"/resolve", resolveCommentRequest{Resolved: true, Version: 7}), 409, "stale resolve")
			r = as("ann", "POST", "/api/v1/comments/"+string(cm.ID)+"/resolve", resolveCommentRequest{Resolved: true})
			expect(r, 200, "resolve")
			ta = transition("ann", ta.ID, "start", transitionRequest{}, 200).Task
			save("ann", ta, "good")
			transition("ann", ta.ID, "submit", transitionRequest{}, 200)
			for _, id := range []radmark.ID{ta.ID, tb.ID} {
				transition("rev", id, "review", transitionRequest{}, 200)
				transition("rev", id, "accept", transitionRequest{}, 200)
			}
			transition("ann", ta.ID, "start", transitionRequest{}, 409)

			// The reads disagree: arbitration.
			r = as("rad", "GET", pp+"/tasks?queue=arbitration", nil)
			expect(r, 200, "arbitration queue")
			r.json(t, &queue)
			if len(queue) != 1 {
				t.Fatalf("arbitration queue: %s", r.Body)
			}
			arb := pull("rad", "arbitration")
			if arb == nil || arb.ID != queue[0].ID {
				t.Fatalf("arbitration pulled: %+v", arb)
			}
			transition("rad", arb.ID, "start", transitionRequest{}, 200)
			transition("rad", arb.ID, "resolve", transitionRequest{}, 400)
			transition("rad", arb.ID, "resolve", transitionRequest{Decision: &workflow.Decision{Pick: ta.ID, Note: "good"}}, 200)
			as("ann", "GET", "/api/v1/cases/"+string(caseID), nil).json(t, &detail)
			if detail.Case.State != radmark.CaseDone || detail.Case.Outcome != "picked" || detail.Case.FinalRevision == "" {
				t.Errorf("case after arbitration: %+v", detail.Case)
			}

			// The second case, by hand: assign, claim, release.
			as("mgr", "GET", "/api/v1/cases/"+string(xrCase), nil).json(t, &detail)
			x1, x2 := detail.Tasks[0], detail.Tasks[1]
			transition("ann", x1.ID, "assign", transitionRequest{Assignee: "cat"}, 403)
			transition("mgr", x1.ID, "assign", transitionRequest{Assignee: "cat"}, 200)
			transition("ann", x2.ID, "claim", transitionRequest{}, 200)
			transition("ann", x2.ID, "release", transitionRequest{}, 200)
			var td taskDetail
			r = as("cat", "GET", "/api/v1/tasks/"+string(x1.ID), nil)
			expect(r, 200, "get task")
			r.json(t, &td)
			if td.Task.Assignee != "cat" || len(td.Allowed) != 3 {
				t.Errorf("task: %s", r.Body)
			}
			expect(as("cat", "GET", "/api/v1/tasks/nope", nil), 404, "missing task")
			r = as("cat", "GET", pp+"/tasks?mine=true", nil)
			expect(r, 200, "my tasks")
			r.json(t, &queue)
			if len(queue) != 1 || queue[0].ID != x1.ID {
				t.Errorf("cat's tasks: %s", r.Body)
			}
			var prog workflow.Progress
			r = as("mgr", "GET", pp+"/progress", nil)
			expect(r, 200, "progress")
			r.json(t, &prog)
			if prog.Cases != 2 || prog.CasesBy[radmark.CaseDone] != 1 || prog.ArbitrateBy[radmark.TaskResolved] != 1 || len(prog.Readers) != 4 {
				t.Errorf("progress: %s", r.Body)
			}
			// Every exchange was audited with its actor.
			var events []radmark.AuditEvent
			as("mgr", "GET", "/api/v1/audit?object="+string(ta.ID), nil).json(t, &events)
			if len(events) != 9 || events[0].Actor != "ann" || events[0].Action != "task.claim" {
				t.Errorf("audit of read 1: %+v", events)
			}

			// Upload: a new radiograph becomes a case; a part that is not
			// DICOM is listed as failed; the same image again adds nothing.
			xr2, err := phantom.GenerateXRay(phantom.XRaySpec{Rows: 32, Columns: 32, PixelSpacing: [2]float64{1, 1}, Background: 50, Seed: 77})
			if err != nil {
				t.Fatal(err)
			}
			var part bytes.Buffer
			if err := dicom.WriteFile(&part, xr2.Dataset, dicom.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			body := "--b\r\nContent-Type: application/dicom\r\n\r\n" + part.String() + "\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
			ct := `multipart/related; type="application/dicom"; boundary=b`
			var up uploadCasesResponse
			// Fail closed: no de-identification profile, no upload.
			expect(as("mgr", "POST", pp+"/cases/upload", body, "Content-Type", ct), 403, "upload without a profile")
			expect(as("mgr", "PUT", pp+"/deid/profiles", `{"name":"research","options":{"clean_descriptors":true,"clean_structured_content":false,"retain_device_identity":false,`+
				`"retain_longitudinal_modified_dates":true,"retain_patient_characteristics":false,"retain_safe_private":false}}`), 201, "put profile")
			r = as("mgr", "POST", pp+"/cases/upload", body, "Content-Type", ct)
			expect(r, 201, "upload")
			r.json(t, &up)
			if up.Stored != 1 || len(up.Failed) != 1 || len(up.Added) != 1 || up.Added[0].Source != "upload" ||
				up.Added[0].StudyUID == radmark.UID(xr2.Dataset.Strings(dicom.TagStudyInstanceUID)[0]) ||
				!strings.HasPrefix(string(up.Added[0].StudyUID), "2.25.") {
				t.Errorf("upload (the case must be the de-identified study): %s", r.Body)
			}
			r = as("mgr", "POST", pp+"/cases/upload?by=series", body, "Content-Type", ct)
			expect(r, 201, "upload by series")
			r.json(t, &up)
			if len(up.Added) != 1 || up.Added[0].SeriesUID == "" {
				t.Errorf("upload by series: %s", r.Body)
			}
			expect(as("mgr", "POST", pp+"/cases/upload", "--b--\r\n", "Content-Type", ct), 400, "empty upload")
			expect(as("mgr", "POST", pp+"/cases/upload", body, "Content-Type", "application/json"), 415, "upload of JSON")

			for _, rt := range srv.workflowRoutes() {
				if !c.seen[rt.ID][rt.OK] {
					t.Errorf("route %s %s (%s) was never exercised with %d", rt.Method, rt.Path, rt.ID, rt.OK)
				}
				if rt.Action == "" || rt.Project == nil {
					t.Errorf("route %s %s declares no action or project", rt.Method, rt.Path)
				}
			}
		})
	}
}
