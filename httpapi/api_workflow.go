package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/intake"
	"github.com/radmark/radmark/policy"
	"github.com/radmark/radmark/workflow"
)

// UseWorkflow serves the reading workflow's routes from w.
func (s *Server) UseWorkflow(w *workflow.Service) { s.Workflow = w }

func (s *Server) workflow() *workflow.Service { return s.Workflow }

// Request and response bodies of the workflow routes.
type (
	workflowRequest struct {
		// BaseVersion is the workflow version the change starts from (0
		// for the first); If-Match: "<version>" may give it instead.
		BaseVersion *int              `json:"baseVersion,omitempty"`
		Readers     int               `json:"readers"`
		ReaderRoles []radmark.Role    `json:"readerRoles,omitempty"`
		ReaderUsers []string          `json:"readerUsers,omitempty"`
		Assignment  string            `json:"assignment"`
		Quota       int               `json:"quota,omitempty"`
		DueDays     int               `json:"dueDays,omitempty"`
		Priority    int               `json:"priority,omitempty"`
		Agreement   radmark.Agreement `json:"agreement"`
	}
	addCasesRequest struct {
		Studies []workflow.CaseRef `json:"studies,omitempty"`
		// Query holds QIDO-RS study query parameters (PatientID,
		// StudyDate, ModalitiesInStudy, limit...): every study it finds
		// becomes a case.
		Query    map[string]string `json:"query,omitempty"`
		Priority *int              `json:"priority,omitempty"`
		Due      *time.Time        `json:"due,omitempty"`
	}
	caseDetail struct {
		Case  *radmark.Case   `json:"case"`
		Tasks []*radmark.Task `json:"tasks"`
	}
	taskDetail struct {
		Task *radmark.Task `json:"task"`
		// Allowed lists the transitions the task's state allows.
		Allowed []workflow.Transition `json:"allowed"`
	}
	transitionRequest struct {
		// Version is the task version the change is based on: a task
		// changed since is 409. Omitted: the current state decides.
		Version  *int               `json:"version,omitempty"`
		Assignee string             `json:"assignee,omitempty"`
		Decision *workflow.Decision `json:"decision,omitempty"`
	}
	uploadCasesResponse struct {
		workflow.AddResult
		// Stored counts the instances stored de-identified (or already
		// there); Quarantined lists those held for review (possible
		// burned-in text); Failed says why others were refused.
		Stored      int      `json:"stored"`
		Quarantined []string `json:"quarantined,omitempty"`
		Failed      []string `json:"failed"`
	}
	nextTaskResponse struct {
		// Task is nil when nothing is waiting.
		Task *radmark.Task `json:"task"`
	}
	resolveCommentRequest struct {
		Resolved bool `json:"resolved"`
		Version  int  `json:"version,omitempty"`
	}
	editCommentRequest struct {
		Body    string `json:"body"`
		Version int    `json:"version,omitempty"`
	}
)

func wfOp(r *http.Request) workflow.Op {
	return workflow.Op{Actor: ActorFrom(r.Context()), RequestID: RequestID(r.Context())}
}

// workflowRoutes are the routes of cases, tasks, review and arbitration.
func (s *Server) workflowRoutes() []apiRoute {
	wf := s.workflow()
	if wf == nil {
		return nil
	}
	projectOf := func(r *http.Request) (radmark.ID, error) { return radmark.ID(r.PathValue("project")), nil }
	taskProject := func(r *http.Request) (radmark.ID, error) {
		t, err := wf.Task(r.Context(), radmark.ID(r.PathValue("task")))
		if err != nil {
			return "", err
		}
		return t.ProjectID, nil
	}
	caseProject := func(r *http.Request) (radmark.ID, error) {
		c, err := wf.Case(r.Context(), radmark.ID(r.PathValue("case")))
		if err != nil {
			return "", err
		}
		return c.ProjectID, nil
	}
	commentProject := func(r *http.Request) (radmark.ID, error) {
		c, err := wf.Store.Comment(r.Context(), radmark.ID(r.PathValue("comment")))
		if err != nil {
			return "", err
		}
		return c.ProjectID, nil
	}
	etagHeader := apiParam{Name: "If-Match", Type: "string", Description: `the workflow version the change is based on, as "<version>"`}
	routes := []apiRoute{
		{Method: "GET", Path: "/projects/{project}/workflow", ID: "getWorkflow", Tag: "workflow",
			Summary: "The project's reading workflow (version 0: the default, until one is put)",
			OK:      200, Response: &radmark.WorkflowConfig{}, RespHeaders: []string{"ETag"}, Errors: errNotFoundStatus,
			Action: policy.ProjectRead, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				c, err := wf.Config(r.Context(), radmark.ID(r.PathValue("project")))
				if err != nil {
					return err
				}
				w.Header().Set("ETag", etag(strconv.Itoa(c.Version)))
				return writeJSON(w, 200, c)
			}},
		{Method: "PUT", Path: "/projects/{project}/workflow", ID: "putWorkflow", Tag: "workflow",
			Summary: "Store the next version of the reading workflow (readers, who reads, assignment, quota, due dates, priority, agreement bounds); " +
				"based on the current version (If-Match or baseVersion), else 409. It applies to cases added afterwards",
			Headers: []apiParam{etagHeader}, Body: workflowRequest{}, OK: 201, Response: &radmark.WorkflowConfig{},
			RespHeaders: []string{"ETag"}, Errors: errConflict, Action: policy.ProjectManage, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req workflowRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				base, err := baseVersion(r, req.BaseVersion)
				if err != nil {
					return err
				}
				c := &radmark.WorkflowConfig{ProjectID: radmark.ID(r.PathValue("project")), Readers: req.Readers,
					ReaderRoles: req.ReaderRoles, ReaderUsers: req.ReaderUsers, Assignment: req.Assignment, Quota: req.Quota,
					DueDays: req.DueDays, Priority: req.Priority, Agree: req.Agreement}
				if _, err := s.Annotations.Project(r.Context(), c.ProjectID); err != nil {
					return err
				}
				out, err := wf.PutConfig(r.Context(), wfOp(r), c, base)
				if err != nil {
					return err
				}
				w.Header().Set("ETag", etag(strconv.Itoa(out.Version)))
				return writeJSON(w, 201, out)
			}},
		{Method: "POST", Path: "/projects/{project}/cases", ID: "addCases", Tag: "workflow",
			Summary: "Add studies (or series) as cases, by UID or by a QIDO-RS query over the archive; each gets its read tasks. " +
				"Studies the project already reads are skipped",
			Body: addCasesRequest{}, OK: 201, Response: &workflow.AddResult{}, Errors: errNotFoundStatus,
			Action: policy.ProjectManage, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req addCasesRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				add := workflow.AddRequest{Studies: req.Studies, Priority: req.Priority, Due: req.Due}
				if req.Query != nil {
					vals := url.Values{}
					for k, v := range req.Query {
						vals.Set(k, v)
					}
					search, err := archive.ParseSearch(radmark.StudyLevel, "", "", vals)
					if err != nil {
						return err
					}
					add.Query = &search.Query
				}
				res, err := wf.AddCases(r.Context(), wfOp(r), radmark.ID(r.PathValue("project")), add)
				if err != nil {
					return err
				}
				return writeJSON(w, 201, res)
			}},
		{Method: "POST", Path: "/projects/{project}/cases/upload", ID: "uploadCases", Tag: "workflow",
			Summary: "De-identify DICOM instances (a STOW-RS body: multipart/related; type=\"application/dicom\") with the project's profile, " +
				"store the copies and add their studies (by=series: their series) as cases; possible burned-in text goes to the quarantine; " +
				"refused instances are listed, the others' studies still become cases. A project without a de-identification profile accepts nothing (403)",
			Query: []apiParam{{Name: "by", Type: "string", Description: "study (default) or series"}},
			OK:    201, Response: &uploadCasesResponse{}, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType},
			Action: policy.ProjectManage, Project: projectOf,
			Handle: s.uploadCases},
		{Method: "GET", Path: "/projects/{project}/cases", ID: "listCases", Tag: "workflow", Summary: "A project's cases, oldest first",
			Query: []apiParam{{Name: "state", Type: "string", Description: "reading, review, arbitration or done"},
				{Name: "study", Type: "string"}, {Name: "limit", Type: "integer", Description: "default 100, at most 1000"}, {Name: "offset", Type: "integer"}},
			OK: 200, Response: []*radmark.Case{}, Action: policy.ProjectRead, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				limit, offset, err := paging(r)
				if err != nil {
					return err
				}
				q := r.URL.Query()
				cs, err := wf.Cases(r.Context(), radmark.CaseFilter{ProjectID: radmark.ID(r.PathValue("project")),
					State: radmark.CaseState(q.Get("state")), StudyUID: radmark.UID(q.Get("study")), Limit: limit, Offset: offset})
				if err != nil {
					return err
				}
				return writeJSON(w, 200, cs)
			}},
		{Method: "GET", Path: "/cases/{case}", ID: "getCase", Tag: "workflow", Summary: "A case with its tasks",
			OK: 200, Response: &caseDetail{}, Errors: errNotFoundStatus, Action: policy.ProjectRead, Project: caseProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				id := radmark.ID(r.PathValue("case"))
				c, err := wf.Case(r.Context(), id)
				if err != nil {
					return err
				}
				tasks, err := wf.Tasks(r.Context(), radmark.TaskFilter{CaseID: id})
				if err != nil {
					return err
				}
				return writeJSON(w, 200, caseDetail{Case: c, Tasks: tasks})
			}},
		{Method: "GET", Path: "/projects/{project}/tasks", ID: "listTasks", Tag: "workflow",
			Summary: "A project's tasks: mine=true for the caller's, queue=review (reads waiting for or in review), " +
				"queue=arbitration (open arbitrations), queue=unassigned; or by state, kind, assignee",
			Query: []apiParam{{Name: "mine", Type: "boolean"}, {Name: "queue", Type: "string"}, {Name: "state", Type: "string"},
				{Name: "kind", Type: "string"}, {Name: "assignee", Type: "string"}, {Name: "case", Type: "string"},
				{Name: "limit", Type: "integer", Description: "default 100, at most 1000"}, {Name: "offset", Type: "integer"}},
			OK: 200, Response: []*radmark.Task{}, Action: policy.ProjectRead, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				limit, offset, err := paging(r)
				if err != nil {
					return err
				}
				q := r.URL.Query()
				f := radmark.TaskFilter{ProjectID: radmark.ID(r.PathValue("project")), Kind: radmark.TaskKind(q.Get("kind")),
					Assignee: q.Get("assignee"), CaseID: radmark.ID(q.Get("case")), Limit: limit, Offset: offset}
				if st := q.Get("state"); st != "" {
					f.States = []radmark.TaskState{radmark.TaskState(st)}
				}
				if q.Get("mine") == "true" {
					f.Assignee = ActorFrom(r.Context()).Name()
				}
				switch q.Get("queue") {
				case "":
				case "review":
					f.Kind, f.States = radmark.TaskRead, []radmark.TaskState{radmark.TaskSubmitted, radmark.TaskInReview}
				case "arbitration":
					f.Kind, f.States = radmark.TaskArbitration, []radmark.TaskState{radmark.TaskUnassigned, radmark.TaskAssigned, radmark.TaskInProgress}
				case "unassigned":
					f.States = []radmark.TaskState{radmark.TaskUnassigned}
				default:
					return radmark.Errorf(radmark.EINVALID, "queue must be review, arbitration or unassigned, not %q", q.Get("queue"))
				}
				ts, err := wf.Tasks(r.Context(), f)
				if err != nil {
					return err
				}
				return writeJSON(w, 200, ts)
			}},
		{Method: "POST", Path: "/projects/{project}/next-task", ID: "nextTask", Tag: "workflow",
			Summary: "Pull the caller's next task (kind=read, the default, or arbitration): one already assigned and not started, " +
				"else the best unassigned one, claimed atomically; task is null when nothing waits",
			Query: []apiParam{{Name: "kind", Type: "string", Description: "read or arbitration"}},
			OK:    200, Response: nextTaskResponse{}, Errors: []int{http.StatusForbidden, http.StatusNotFound},
			Action: policy.TaskClaim, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				t, err := wf.Next(r.Context(), wfOp(r), radmark.ID(r.PathValue("project")), radmark.TaskKind(r.URL.Query().Get("kind")))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, nextTaskResponse{Task: t})
			}},
		{Method: "GET", Path: "/tasks/{task}", ID: "getTask", Tag: "workflow", Summary: "A task, with the transitions its state allows",
			OK: 200, Response: &taskDetail{}, Errors: errNotFoundStatus, Action: policy.ProjectRead, Project: taskProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				t, err := wf.Task(r.Context(), radmark.ID(r.PathValue("task")))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, taskDetail{Task: t, Allowed: workflow.Allowed(t)})
			}},
		{Method: "GET", Path: "/projects/{project}/progress", ID: "getProgress", Tag: "workflow",
			Summary: "Progress: cases and tasks by state, by reader, and the time spent on each task",
			OK:      200, Response: &workflow.Progress{}, Action: policy.ProjectRead, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				p, err := wf.Progress(r.Context(), radmark.ID(r.PathValue("project")))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, p)
			}},
		{Method: "GET", Path: "/cases/{case}/comments", ID: "listComments", Tag: "review",
			Summary: "A case's review comments (comments on another reader's read stay hidden while reads are blinded)",
			OK:      200, Response: []*radmark.Comment{}, Errors: errNotFoundStatus, Action: policy.ProjectRead, Project: caseProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				cs, err := wf.Comments(r.Context(), ActorFrom(r.Context()), radmark.ID(r.PathValue("case")))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, cs)
			}},
		{Method: "POST", Path: "/cases/{case}/comments", ID: "addComment", Tag: "review",
			Summary: "Comment on a case, or on one read (taskId), pinned to an item or to an LPS point on an image",
			Body:    workflow.CommentRequest{}, OK: 201, Response: &radmark.Comment{}, Errors: []int{http.StatusForbidden, http.StatusNotFound},
			Action: policy.Review, Project: caseProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req workflow.CommentRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				c, err := wf.AddComment(r.Context(), wfOp(r), radmark.ID(r.PathValue("case")), req)
				if err != nil {
					return err
				}
				return writeJSON(w, 201, c)
			}},
		{Method: "PATCH", Path: "/comments/{comment}", ID: "editComment", Tag: "review", Summary: "Edit a comment's text (its author)",
			Body: editCommentRequest{}, OK: 200, Response: &radmark.Comment{}, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
			Action: policy.Review, Project: commentProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req editCommentRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				c, err := wf.UpdateComment(r.Context(), wfOp(r), radmark.ID(r.PathValue("comment")), workflow.CommentChange{Body: &req.Body, Version: req.Version})
				if err != nil {
					return err
				}
				return writeJSON(w, 200, c)
			}},
		{Method: "POST", Path: "/comments/{comment}/resolve", ID: "resolveComment", Tag: "review",
			Summary: "Resolve (or reopen, resolved=false) a comment: the reader it is addressed to, its author or a manager",
			Body:    resolveCommentRequest{}, OK: 200, Response: &radmark.Comment{}, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict},
			Action: policy.TaskClaim, Project: commentProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req resolveCommentRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				c, err := wf.UpdateComment(r.Context(), wfOp(r), radmark.ID(r.PathValue("comment")), workflow.CommentChange{Resolved: &req.Resolved, Version: req.Version})
				if err != nil {
					return err
				}
				return writeJSON(w, 200, c)
			}},
		{Method: "DELETE", Path: "/comments/{comment}", ID: "deleteComment", Tag: "review", Summary: "Delete a comment (its author or a manager)",
			OK: 204, Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict}, Action: policy.Review, Project: commentProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				if err := wf.DeleteComment(r.Context(), wfOp(r), radmark.ID(r.PathValue("comment"))); err != nil {
					return err
				}
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
	}
	summaries := map[workflow.Transition]string{
		workflow.Assign:         "Assign (or reassign) a task to a user (managers)",
		workflow.Claim:          "Claim an unassigned task for oneself",
		workflow.Release:        "Give an assigned, unstarted task back",
		workflow.Start:          "Start (or, after changes were requested, resume) work; opens the reader's annotation set",
		workflow.Submit:         "Submit a read: its set's head revision, which must answer the required questions",
		workflow.StartReview:    "Take a submitted read into review",
		workflow.Accept:         "Accept a read in review; the last accepted read sends the case to done or, when reads disagree, to arbitration",
		workflow.RequestChanges: "Send a read in review back to its reader",
		workflow.Resolve:        "Resolve an arbitration: pick a read, merge reads, or take the arbiter's edited set as the case's result",
	}
	operationIDs := map[workflow.Transition]string{
		workflow.Assign: "assignTask", workflow.Claim: "claimTask", workflow.Release: "releaseTask", workflow.Start: "startTask",
		workflow.Submit: "submitTask", workflow.StartReview: "reviewTask", workflow.Accept: "acceptTask",
		workflow.RequestChanges: "requestChanges", workflow.Resolve: "resolveArbitration",
	}
	for _, tr := range workflow.Transitions {
		path := string(tr)
		if tr == workflow.RequestChanges {
			path = "request-changes"
		}
		routes = append(routes, apiRoute{Method: "POST", Path: "/tasks/{task}/" + path, ID: operationIDs[tr], Tag: "workflow",
			Summary: summaries[tr] + ". A transition the task's state does not allow is 409 with the allowed ones",
			Body:    transitionRequest{}, OK: 200, Response: &taskDetail{},
			Errors: []int{http.StatusForbidden, http.StatusNotFound, http.StatusConflict}, Action: tr.Action(), Project: taskProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req transitionRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				t, err := wf.Transition(r.Context(), wfOp(r), radmark.ID(r.PathValue("task")), tr,
					workflow.Args{Expect: req.Version, Assignee: req.Assignee, Decision: req.Decision})
				if err != nil {
					return err
				}
				return writeJSON(w, 200, taskDetail{Task: t, Allowed: workflow.Allowed(t)})
			}})
	}
	return routes
}

// uploadCases stores a STOW-RS body and adds what it held as cases.
func (s *Server) uploadCases(w http.ResponseWriter, r *http.Request) error {
	bySeries := false
	switch r.URL.Query().Get("by") {
	case "", "study":
	case "series":
		bySeries = true
	default:
		return radmark.Errorf(radmark.EINVALID, "by must be study or series, not %q", r.URL.Query().Get("by"))
	}
	project := radmark.ID(r.PathValue("project"))
	in, boundary, maxBody, err := s.projectUpload(r, project)
	if err != nil {
		return err
	}
	resp := &uploadCasesResponse{Failed: []string{}, AddResult: workflow.AddResult{Added: []*radmark.Case{}, Skipped: []workflow.CaseRef{}}}
	req := intake.Request{Project: project, Op: wfOp(r), Door: "upload", BySeries: bySeries}
	_, err = readParts(http.MaxBytesReader(w, r.Body, maxBody), boundary, maxBody, s.TempDir, func(batch []*spooled) error {
		var sources []archive.Source
		for _, sp := range batch {
			if sp.partErr != nil {
				resp.Failed = append(resp.Failed, sp.src.Name+": "+radmark.ErrorMessage(sp.partErr))
				continue
			}
			sources = append(sources, sp.src)
		}
		if len(sources) == 0 {
			return nil
		}
		res, cases, err := in.Ingest(r.Context(), req, sources)
		for _, rr := range res {
			switch {
			case rr.Err != nil:
				resp.Failed = append(resp.Failed, rr.Name+": "+radmark.ErrorMessage(rr.Err))
			case rr.Quarantined != "":
				resp.Quarantined = append(resp.Quarantined, rr.Name+": "+rr.Quarantined)
			default:
				resp.Stored++
			}
		}
		resp.Added = append(resp.Added, cases.Added...)
		resp.Skipped = append(resp.Skipped, cases.Skipped...)
		return err
	})
	if err != nil {
		return err
	}
	if resp.Stored == 0 && len(resp.Quarantined) == 0 {
		return radmark.Errorf(radmark.EINVALID, "no instance was stored: %s", strings.Join(resp.Failed, "; "))
	}
	return writeJSON(w, 201, resp)
}

// baseVersion reads the version a change is based on from If-Match or
// the body.
func baseVersion(r *http.Request, body *int) (int, error) {
	tag, ok, err := ifMatch(r)
	if err != nil {
		return 0, err
	}
	base := -1
	if ok {
		if base, err = strconv.Atoi(tag); err != nil || base < 0 {
			return 0, radmark.Errorf(radmark.EINVALID, "If-Match %q is not a version", tag)
		}
	}
	if body != nil {
		if ok && *body != base {
			return 0, radmark.Errorf(radmark.EINVALID, "If-Match says version %d and baseVersion %d", base, *body)
		}
		base = *body
	}
	if base < 0 {
		return 0, radmark.Errorf(radmark.EINVALID, `say which version the change is based on: If-Match: "<version>" or baseVersion (0 for the first)`)
	}
	return base, nil
}

func paging(r *http.Request) (limit, offset int, err error) {
	if limit, err = queryInt(r, "limit", 100, 1, 1000); err != nil {
		return 0, 0, err
	}
	offset, err = queryInt(r, "offset", 0, 0, 1<<30)
	return limit, offset, err
}
