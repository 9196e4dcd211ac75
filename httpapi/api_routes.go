package httpapi

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/labelmap"
	"github.com/radmark/radmark/ontology"
	"github.com/radmark/radmark/policy"
	"github.com/radmark/radmark/volume"
)

// Request and response bodies of /api/v1 that are not domain types.
type (
	createProjectRequest struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
	}
	updateProjectRequest struct {
		Name        *string `json:"name,omitempty"`
		Description *string `json:"description,omitempty"`
	}
	schemaRequest struct {
		// BaseVersion is the version the change starts from (0 for the
		// first schema); If-Match: "<version>" may give it instead.
		BaseVersion *int               `json:"baseVersion,omitempty"`
		Labels      []radmark.Label    `json:"labels"`
		Questions   []radmark.Question `json:"questions,omitempty"`
	}
	createSetRequest struct {
		ProjectID radmark.ID  `json:"projectId"`
		StudyUID  radmark.UID `json:"studyUID"`
		SeriesUID radmark.UID `json:"seriesUID,omitempty"`
		Reader    string      `json:"reader,omitempty"`
	}
	revertRequest struct {
		// Parent is the set's head the revert is based on; If-Match may
		// give it instead.
		Parent  radmark.ID `json:"parent,omitempty"`
		Target  radmark.ID `json:"target"`
		Message string     `json:"message,omitempty"`
	}
	ontologyResponse struct {
		Query   string            `json:"query"`
		Results []ontology.Result `json:"results"`
	}
	auditVerifyResponse struct {
		Events int64               `json:"events"`
		Intact bool                `json:"intact"`
		Broken *radmark.AuditBreak `json:"broken,omitempty"`
	}
	labelmapInfo struct {
		radmark.Labelmap
		// Labelled lists the slices holding any label.
		Labelled []int `json:"labelled"`
	}
	findingJSON struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Slice   int    `json:"slice"`
	}
	gridSliceJSON struct {
		SOPInstanceUID radmark.UID `json:"sopInstanceUID"`
		Frame          int         `json:"frame,omitempty"`
		Position       [3]float64  `json:"position"`
	}
	seriesGeometry struct {
		StudyUID    radmark.UID     `json:"studyUID"`
		SeriesUID   radmark.UID     `json:"seriesUID"`
		Columns     int             `json:"columns"`
		Rows        int             `json:"rows"`
		Slices      int             `json:"slices"`
		Origin      [3]float64      `json:"origin"`
		RowDir      [3]float64      `json:"rowDir"`
		ColDir      [3]float64      `json:"colDir"`
		SliceDir    [3]float64      `json:"sliceDir"`
		Spacing     [3]float64      `json:"spacing"`
		Affine      [4][4]float64   `json:"affine"`
		VoxelVolume float64         `json:"voxelVolume"`
		Findings    []findingJSON   `json:"findings"`
		Images      []gridSliceJSON `json:"images"`
	}
)

// op is who acts in a request, for the audit trail.
func op(r *http.Request) annotation.Op {
	return annotation.Op{Actor: ActorFrom(r.Context()).Name(), RequestID: RequestID(r.Context())}
}

var (
	errNotFoundStatus = []int{http.StatusNotFound}
	errConflict       = []int{http.StatusNotFound, http.StatusConflict}
)

// apiRoutes is the /api/v1 route table.
func (s *Server) apiRoutes() []apiRoute {
	routes := s.annotationRoutes()
	routes = append(routes, s.authRoutes()...)
	routes = append(routes, s.releaseRoutes()...)
	routes = append(routes, s.exportRoutes()...)
	routes = append(routes, s.jobRoutes()...)
	routes = append(routes, s.deidRoutes()...)
	return append(routes, s.workflowRoutes()...)
}

// annotationRoutes are the routes of projects, schemas, annotations,
// images' geometry and the audit trail.
func (s *Server) annotationRoutes() []apiRoute {
	a := s.Annotations
	etagHeader := apiParam{Name: "If-Match", Type: "string", Description: `the revision (or schema version) the change is based on, as "<id>"`}
	return []apiRoute{
		{Method: "GET", Path: "/openapi.json", ID: "getOpenAPI", Tag: "meta", Summary: "This API's OpenAPI 3.1 document",
			OK: 200, Response: map[string]any{}, Handle: s.openAPI},

		{Method: "GET", Path: "/ontology", ID: "searchOntology", Action: policy.OntologyRead, Tag: "ontology",
			Summary: "Search coded concepts (SNOMED CT via DICOM CIDs, RadLex, ICD-10): prefix and word match, ranked",
			Query: []apiParam{
				{Name: "q", Type: "string", Description: "words or a code"},
				{Name: "scheme", Type: "string", Description: "coding scheme designators to keep, comma-separated (SCT, RADLEX, DCM, I10)"},
				{Name: "list", Type: "string", Description: "lists to keep, comma-separated (\"CID 7151\", \"RadLex\")"},
				{Name: "limit", Type: "integer", Description: "at most this many results (default 20, at most 500)"},
			},
			OK: 200, Response: ontologyResponse{}, Handle: s.searchOntology},

		{Method: "GET", Path: "/projects", ID: "listProjects", Action: policy.ProjectList, Tag: "projects", Summary: "List projects",
			OK: 200, Response: []*radmark.Project{}, Handle: func(w http.ResponseWriter, r *http.Request) error {
				ps, err := a.Projects(r.Context())
				if err != nil {
					return err
				}
				if ps, err = s.memberProjects(r, ps); err != nil {
					return err
				}
				return writeJSON(w, 200, nonNil(ps))
			}},
		{Method: "POST", Path: "/projects", ID: "createProject", Action: policy.ProjectCreate, Tag: "projects", Summary: "Create a project (it has no label schema until one is put)",
			Body: createProjectRequest{}, OK: 201, Response: &radmark.Project{}, RespHeaders: []string{"Location"},
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req createProjectRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				p, err := a.CreateProject(r.Context(), op(r), req.Name, req.Description)
				if err != nil {
					return err
				}
				w.Header().Set("Location", apiRoot+"/projects/"+string(p.ID))
				return writeJSON(w, 201, p)
			}},
		{Method: "GET", Path: "/projects/{project}", ID: "getProject", Action: policy.ProjectRead, Project: projectFromPath, Tag: "projects", Summary: "Get a project",
			OK: 200, Response: &radmark.Project{}, Errors: errNotFoundStatus,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				p, err := a.Project(r.Context(), radmark.ID(r.PathValue("project")))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, p)
			}},
		{Method: "PATCH", Path: "/projects/{project}", ID: "updateProject", Action: policy.ProjectManage, Project: projectFromPath, Tag: "projects", Summary: "Rename or re-describe a project",
			Body: updateProjectRequest{}, OK: 200, Response: &radmark.Project{}, Errors: errNotFoundStatus,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req updateProjectRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				p, err := a.UpdateProject(r.Context(), op(r), radmark.ID(r.PathValue("project")), req.Name, req.Description)
				if err != nil {
					return err
				}
				return writeJSON(w, 200, p)
			}},
		{Method: "GET", Path: "/projects/{project}/schema", ID: "getSchema", Action: policy.ProjectRead, Project: projectFromPath, Tag: "projects",
			Summary: "The project's current label schema (ETag: its version)",
			OK:      200, Response: &radmark.LabelSchema{}, RespHeaders: []string{"ETag"}, Errors: errNotFoundStatus,
			Handle: func(w http.ResponseWriter, r *http.Request) error { return s.getSchema(w, r, 0) }},
		{Method: "GET", Path: "/projects/{project}/schema/{version}", ID: "getSchemaVersion", Action: policy.ProjectRead, Project: projectFromPath, Tag: "projects",
			Summary: "One version of the project's label schema",
			OK:      200, Response: &radmark.LabelSchema{}, RespHeaders: []string{"ETag"}, Errors: errNotFoundStatus,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				v, err := pathInt(r, "version", 1, 1<<30)
				if err != nil {
					return err
				}
				return s.getSchema(w, r, v)
			}},
		{Method: "PUT", Path: "/projects/{project}/schema", ID: "putSchema", Action: policy.ProjectManage, Project: projectFromPath, Tag: "projects",
			Summary: "Store the next version of the label schema; based on the current version (If-Match or baseVersion), else 409",
			Headers: []apiParam{etagHeader}, Body: schemaRequest{}, OK: 201, Response: &radmark.LabelSchema{},
			RespHeaders: []string{"ETag"}, Errors: errConflict, Handle: s.putSchema},

		{Method: "GET", Path: "/annotation-sets", ID: "listAnnotationSets", Action: policy.ProjectRead, Project: s.projectFromQuery("project"), Tag: "annotations", Summary: "List annotation sets",
			Query: []apiParam{
				{Name: "project", Type: "string"}, {Name: "study", Type: "string"}, {Name: "series", Type: "string"},
				{Name: "reader", Type: "string"}, {Name: "limit", Type: "integer", Description: "default 100, at most 1000"},
				{Name: "offset", Type: "integer"},
			},
			OK: 200, Response: []*radmark.AnnotationSet{}, Handle: s.listSets},
		{Method: "POST", Path: "/annotation-sets", ID: "createAnnotationSet", Action: policy.ProjectRead, Project: projectFromBody("projectId"), Tag: "annotations",
			Summary: "Open an annotation set for a reader on a study (or one series of it)",
			Body:    createSetRequest{}, OK: 201, Response: &radmark.AnnotationSet{}, RespHeaders: []string{"Location"}, Errors: errConflict,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req createSetRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				// Readers open their own sets; opening one for someone
				// else is assigning work.
				need := policy.Annotate
				if req.Reader != "" && req.Reader != ActorFrom(r.Context()).Name() {
					need = policy.TaskAssign
				}
				if err := s.authorize(r, need, req.ProjectID); err != nil {
					return err
				}
				if s.enforcing() && s.Workflow != nil {
					if err := s.Workflow.CanCreateSet(r.Context(), ActorFrom(r.Context()), req.ProjectID, req.StudyUID, req.SeriesUID); err != nil {
						return err
					}
				}
				if err := s.canSeeStudy(r, req.StudyUID); err != nil && radmark.ErrorCode(err) != radmark.ENOTFOUND {
					return err
				}
				set, err := a.CreateSet(r.Context(), op(r), req.ProjectID, req.StudyUID, req.SeriesUID, req.Reader)
				if radmark.ErrorCode(err) == radmark.ENOTFOUND {
					return radmark.Errorf(radmark.EINVALID, "%s", radmark.ErrorMessage(err))
				}
				if err != nil {
					return err
				}
				w.Header().Set("Location", apiRoot+"/annotation-sets/"+string(set.ID))
				return writeJSON(w, 201, set)
			}},
		{Method: "GET", Path: "/annotation-sets/{set}", ID: "getAnnotationSet", Action: policy.ProjectRead, Project: s.projectOfSet, Tag: "annotations",
			Summary: "Get an annotation set (ETag: its head revision)",
			OK:      200, Response: &radmark.AnnotationSet{}, RespHeaders: []string{"ETag"}, Errors: errNotFoundStatus,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				set, err := a.Set(r.Context(), radmark.ID(r.PathValue("set")))
				if err != nil {
					return err
				}
				if err := s.checkSet(r, set, false); err != nil {
					return err
				}
				if set.Head != "" {
					w.Header().Set("ETag", etag(string(set.Head)))
				}
				return writeJSON(w, 200, set)
			}},
		{Method: "GET", Path: "/annotation-sets/{set}/revisions", ID: "listRevisions", Action: policy.ProjectRead, Project: s.projectOfSet, Tag: "annotations",
			Summary: "A set's history, newest first (without content)",
			OK:      200, Response: []*radmark.Revision{}, Errors: errNotFoundStatus,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				if err := s.checkSetID(r, radmark.ID(r.PathValue("set")), false); err != nil {
					return err
				}
				revs, err := a.Revisions(r.Context(), radmark.ID(r.PathValue("set")))
				if err != nil {
					return err
				}
				for _, rv := range revs {
					rv.Content = nil
				}
				return writeJSON(w, 200, nonNil(revs))
			}},
		{Method: "POST", Path: "/annotation-sets/{set}/revisions", ID: "saveRevision", Action: policy.Annotate, Project: s.projectOfSet, Tag: "annotations",
			Summary: "Save a new revision: the full item and answer lists, and the labelmap slices that changed. " +
				"If-Match names the head it is based on (If-None-Match: * for the first save); a stale head gets 409 with the current one",
			Headers: []apiParam{etagHeader, {Name: "If-None-Match", Type: "string", Description: "* for the first save of a set"}},
			Body:    annotation.SaveRequest{}, OK: 201, Response: &radmark.Revision{}, RespHeaders: []string{"ETag", "Location"},
			Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge}, Handle: s.saveRevision},
		{Method: "POST", Path: "/annotation-sets/{set}/revert", ID: "revertRevision", Action: policy.Annotate, Project: s.projectOfSet, Tag: "annotations",
			Summary: "Make a new revision with the content of an earlier one (based on the head, as a save)",
			Headers: []apiParam{etagHeader}, Body: revertRequest{}, OK: 201, Response: &radmark.Revision{},
			RespHeaders: []string{"ETag", "Location"}, Errors: errConflict, Handle: s.revert},

		{Method: "GET", Path: "/revisions/{revision}", ID: "getRevision", Action: policy.ProjectRead, Project: s.projectOfRevision("revision", false), Tag: "annotations", Summary: "A revision with its content",
			OK: 200, Response: &radmark.Revision{}, RespHeaders: []string{"ETag"}, Errors: errNotFoundStatus,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				if err := s.checkRevision(r, r.PathValue("revision")); err != nil {
					return err
				}
				rev, err := a.Revision(r.Context(), op(r), radmark.ID(r.PathValue("revision")))
				if err != nil {
					return err
				}
				w.Header().Set("ETag", etag(string(rev.ID)))
				return writeJSON(w, 200, rev)
			}},
		{Method: "GET", Path: "/revisions/{revision}/measurements", ID: "getMeasurements", Action: policy.ProjectRead, Project: s.projectOfRevision("revision", false), Tag: "annotations",
			Summary: "Measurements of every item, computed from the stored pixels (rescale applied) and exact geometry",
			OK:      200, Response: []annotation.Measurement{}, Errors: []int{http.StatusNotFound, http.StatusConflict},
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				if err := s.checkRevision(r, r.PathValue("revision")); err != nil {
					return err
				}
				ms, err := a.Measurements(r.Context(), op(r), radmark.ID(r.PathValue("revision")))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, nonNil(ms))
			}},
		{Method: "GET", Path: "/revisions/{revision}/labelmaps", ID: "listLabelmaps", Action: policy.ProjectRead, Project: s.projectOfRevision("revision", false), Tag: "annotations",
			Summary: "A revision's labelmap layers, with the slices that hold labels",
			OK:      200, Response: []labelmapInfo{}, Errors: errNotFoundStatus, Handle: s.listLabelmaps},
		{Method: "GET", Path: "/revisions/{revision}/labelmaps/{layer}", ID: "getLabelmap", Action: policy.ProjectRead, Project: s.projectOfRevision("revision", false), Tag: "annotations",
			Summary: "A whole labelmap layer: columns×rows×slices bytes, column fastest, then row, then slice (gzip when accepted)",
			OK:      200, RawType: "application/octet-stream", RespHeaders: []string{"X-Labelmap-Columns", "X-Labelmap-Rows", "X-Labelmap-Slices"},
			Errors: errNotFoundStatus, Handle: s.getLabelmap},
		{Method: "GET", Path: "/revisions/{revision}/labelmaps/{layer}/slices/{slice}", ID: "getLabelmapSlice", Action: policy.ProjectRead, Project: s.projectOfRevision("revision", false), Tag: "annotations",
			Summary: "One slice of a labelmap layer: columns×rows bytes (encoding=rle: the run code of package labelmap)",
			Query:   []apiParam{{Name: "encoding", Type: "string", Description: "raw (default) or rle"}},
			OK:      200, RawType: "application/octet-stream", Errors: errNotFoundStatus, Handle: s.getLabelmapSlice},
		{Method: "GET", Path: "/diff", ID: "diffRevisions", Action: policy.ProjectRead, Project: s.projectOfRevision("from", true), Tag: "annotations",
			Summary: "Compare two revisions of a study: items added/removed/changed, answers, voxels per segment",
			Query:   []apiParam{{Name: "from", Type: "string", Required: true}, {Name: "to", Type: "string", Required: true}},
			OK:      200, Response: &annotation.Diff{}, Errors: errNotFoundStatus,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
				if from == "" || to == "" {
					return radmark.Errorf(radmark.EINVALID, "a diff needs from and to revision ids")
				}
				for _, id := range []string{from, to} {
					if err := s.checkRevision(r, id); err != nil {
						return err
					}
				}
				d, err := a.Diff(r.Context(), op(r), radmark.ID(from), radmark.ID(to))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, d)
			}},

		{Method: "GET", Path: "/studies/{study}/series/{series}/geometry", ID: "getSeriesGeometry", Action: policy.ArchiveSearch, Tag: "images",
			Summary: "A series' voxel grid: affine (index to LPS mm), spacing, slice order and continuity findings",
			OK:      200, Response: &seriesGeometry{}, Errors: []int{http.StatusNotFound, http.StatusUnsupportedMediaType},
			Handle: s.seriesGeometry},

		{Method: "GET", Path: "/audit", ID: "listAuditEvents", Action: policy.AuditRead, Tag: "audit", Summary: "Audit events in chain order, filtered",
			Query: []apiParam{
				{Name: "objectType", Type: "string"}, {Name: "object", Type: "string"}, {Name: "actor", Type: "string"},
				{Name: "action", Type: "string"}, {Name: "from", Type: "string", Description: "RFC 3339 time, inclusive"},
				{Name: "to", Type: "string", Description: "RFC 3339 time, inclusive"},
				{Name: "after", Type: "integer", Description: "events after this sequence number (paging)"},
				{Name: "limit", Type: "integer", Description: "default 100, at most 1000"},
			},
			OK: 200, Response: []*radmark.AuditEvent{}, Handle: s.listAudit},
		{Method: "GET", Path: "/audit/verify", ID: "verifyAudit", Action: policy.AuditRead, Tag: "audit", Summary: "Check the whole audit hash chain",
			OK: 200, Response: auditVerifyResponse{}, Handle: func(w http.ResponseWriter, r *http.Request) error {
				n, broken, err := a.VerifyAudit(r.Context())
				if err != nil {
					return err
				}
				resp := auditVerifyResponse{Events: n, Intact: broken == nil, Broken: broken}
				return writeJSON(w, 200, resp)
			}},
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, 200, openAPIDocument(s.apiRoutes(), s.Version))
}

func (s *Server) searchOntology(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit", ontology.DefaultLimit, 1, ontology.MaxLimit)
	if err != nil {
		return err
	}
	opts := ontology.SearchOptions{Limit: limit, Schemes: splitList(q.Get("scheme")), Lists: splitList(q.Get("list"))}
	ix := s.Ontology
	if ix == nil {
		ix = ontology.Default()
	}
	return writeJSON(w, 200, ontologyResponse{Query: q.Get("q"), Results: nonNil(ix.Search(q.Get("q"), opts))})
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) getSchema(w http.ResponseWriter, r *http.Request, version int) error {
	sc, err := s.Annotations.Schema(r.Context(), radmark.ID(r.PathValue("project")), version)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(strconv.Itoa(sc.Version)))
	return writeJSON(w, 200, sc)
}

func (s *Server) putSchema(w http.ResponseWriter, r *http.Request) error {
	var req schemaRequest
	if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	tag, ok, err := ifMatch(r)
	if err != nil {
		return err
	}
	base := -1
	if ok {
		if base, err = strconv.Atoi(tag); err != nil || base < 0 {
			return radmark.Errorf(radmark.EINVALID, "If-Match %q is not a schema version", tag)
		}
	}
	if req.BaseVersion != nil {
		if ok && *req.BaseVersion != base {
			return radmark.Errorf(radmark.EINVALID, "If-Match says version %d and baseVersion %d", base, *req.BaseVersion)
		}
		base = *req.BaseVersion
	}
	if base < 0 {
		return radmark.Errorf(radmark.EINVALID, `say which schema version the change is based on: If-Match: "<version>" or baseVersion (0 for the first schema)`)
	}
	sc, err := s.Annotations.PutSchema(r.Context(), op(r), radmark.ID(r.PathValue("project")), base, req.Labels, req.Questions)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(strconv.Itoa(sc.Version)))
	return writeJSON(w, 201, sc)
}

func (s *Server) listSets(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	sets, err := s.Annotations.Sets(r.Context(), radmark.SetFilter{
		ProjectID: radmark.ID(q.Get("project")), StudyUID: radmark.UID(q.Get("study")), SeriesUID: radmark.UID(q.Get("series")),
		Reader: q.Get("reader"), Limit: limit, Offset: offset,
	})
	if err != nil {
		return err
	}
	if s.enforcing() {
		visible := sets[:0]
		for _, set := range sets {
			if s.gate().CanReadSet(r.Context(), ActorFrom(r.Context()), set) == nil {
				visible = append(visible, set)
			}
		}
		sets = visible
	}
	return writeJSON(w, 200, nonNil(sets))
}

// baseRevision reads the revision a change is based on from If-Match,
// If-None-Match: * (no revision yet) or the body's parent.
func baseRevision(r *http.Request, body radmark.ID) (radmark.ID, error) {
	tag, ok, err := ifMatch(r)
	if err != nil {
		return "", err
	}
	none := strings.TrimSpace(r.Header.Get("If-None-Match"))
	switch {
	case none != "" && none != "*":
		return "", radmark.Errorf(radmark.EINVALID, "If-None-Match may only be * (for the first save of a set)")
	case none == "*" && ok:
		return "", radmark.Errorf(radmark.EINVALID, "give If-Match or If-None-Match, not both")
	case ok && body != "" && radmark.ID(tag) != body:
		return "", radmark.Errorf(radmark.EINVALID, "If-Match names revision %s but the body's parent is %s", tag, body)
	case none == "*" && body != "":
		return "", radmark.Errorf(radmark.EINVALID, "If-None-Match: * says this is the first save, but the body names parent %s", body)
	case ok:
		return radmark.ID(tag), nil
	}
	return body, nil
}

func (s *Server) saveRevision(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkSetID(r, radmark.ID(r.PathValue("set")), true); err != nil {
		return err
	}
	var req annotation.SaveRequest
	if err := decodeJSON(w, r, s.maxBody(), &req); err != nil {
		return err
	}
	parent, err := baseRevision(r, req.Parent)
	if err != nil {
		return err
	}
	req.Parent = parent
	rev, err := s.Annotations.Save(r.Context(), op(r), radmark.ID(r.PathValue("set")), &req)
	if err != nil {
		return err
	}
	return writeRevisionCreated(w, rev)
}

func writeRevisionCreated(w http.ResponseWriter, rev *radmark.Revision) error {
	out := *rev
	out.Content = nil
	w.Header().Set("ETag", etag(string(rev.ID)))
	w.Header().Set("Location", apiRoot+"/revisions/"+string(rev.ID))
	return writeJSON(w, 201, &out)
}

func (s *Server) revert(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkSetID(r, radmark.ID(r.PathValue("set")), true); err != nil {
		return err
	}
	var req revertRequest
	if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
		return err
	}
	parent, err := baseRevision(r, req.Parent)
	if err != nil {
		return err
	}
	if req.Target == "" {
		return radmark.Errorf(radmark.EINVALID, "a revert needs the target revision")
	}
	rev, err := s.Annotations.Revert(r.Context(), op(r), radmark.ID(r.PathValue("set")), parent, req.Target, req.Message)
	if err != nil {
		return err
	}
	return writeRevisionCreated(w, rev)
}

func (s *Server) listLabelmaps(w http.ResponseWriter, r *http.Request) error {
	if err := s.checkRevision(r, r.PathValue("revision")); err != nil {
		return err
	}
	rev, err := s.Annotations.Revision(r.Context(), op(r), radmark.ID(r.PathValue("revision")))
	if err != nil {
		return err
	}
	out := make([]labelmapInfo, 0, len(rev.Content.Labelmaps))
	for _, m := range rev.Content.Labelmaps {
		info := labelmapInfo{Labelmap: m, Labelled: []int{}}
		for k, c := range m.Chunks {
			if c != "" {
				info.Labelled = append(info.Labelled, k)
			}
		}
		out = append(out, info)
	}
	return writeJSON(w, 200, out)
}

func (s *Server) getLabelmap(w http.ResponseWriter, r *http.Request) error {
	layer, err := pathInt(r, "layer", 0, 255)
	if err != nil {
		return err
	}
	if err := s.checkRevision(r, r.PathValue("revision")); err != nil {
		return err
	}
	v, m, err := s.Annotations.Labelmap(r.Context(), op(r), radmark.ID(r.PathValue("revision")), layer)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("X-Labelmap-Columns", strconv.Itoa(m.Columns))
	h.Set("X-Labelmap-Rows", strconv.Itoa(m.Rows))
	h.Set("X-Labelmap-Slices", strconv.Itoa(m.Slices))
	h.Set("X-Labelmap-Series", string(m.SeriesUID))
	writeBytes(w, r, v.Voxels)
	return nil
}

func (s *Server) getLabelmapSlice(w http.ResponseWriter, r *http.Request) error {
	layer, err := pathInt(r, "layer", 0, 255)
	if err != nil {
		return err
	}
	k, err := pathInt(r, "slice", 0, 1<<20)
	if err != nil {
		return err
	}
	enc := r.URL.Query().Get("encoding")
	if enc != "" && enc != "raw" && enc != "rle" {
		return radmark.Errorf(radmark.EINVALID, "encoding %q is not raw or rle", enc)
	}
	if err := s.checkRevision(r, r.PathValue("revision")); err != nil {
		return err
	}
	data, m, err := s.Annotations.LabelmapSlice(r.Context(), op(r), radmark.ID(r.PathValue("revision")), layer, k)
	if err != nil {
		return err
	}
	w.Header().Set("X-Labelmap-Columns", strconv.Itoa(m.Columns))
	w.Header().Set("X-Labelmap-Rows", strconv.Itoa(m.Rows))
	if enc == "rle" {
		data = labelmap.EncodeRuns(data)
	}
	writeBytes(w, r, data)
	return nil
}

// writeBytes sends b, gzipped when the client accepts it: label data is
// mostly zeros and shrinks a hundredfold.
func writeBytes(w http.ResponseWriter, r *http.Request, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept-Encoding")
	if len(b) < 1024 || !acceptsGzip(r) {
		h.Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
		return
	}
	h.Set("Content-Encoding", "gzip")
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	_, _ = zw.Write(b)
	_ = zw.Close()
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") {
			return true
		}
	}
	return false
}

func (s *Server) seriesGeometry(w http.ResponseWriter, r *http.Request) error {
	if s.Annotations.Images == nil {
		return radmark.Errorf(radmark.EUNAVAILABLE, "no image archive")
	}
	study, series := radmark.UID(r.PathValue("study")), radmark.UID(r.PathValue("series"))
	if err := s.canSeeStudy(r, study); err != nil {
		return err
	}
	g, err := s.Annotations.Images.Grid(r.Context(), study, series)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, geometryJSON(study, series, g))
}

func geometryJSON(study, series radmark.UID, g *volume.Grid) *seriesGeometry {
	out := &seriesGeometry{
		StudyUID: study, SeriesUID: series, Columns: g.Columns, Rows: g.Rows, Slices: g.NumSlices,
		Origin: g.Origin, RowDir: g.RowDir, ColDir: g.ColDir, SliceDir: g.SliceDir, Spacing: g.Spacing,
		Affine: g.Affine(), VoxelVolume: g.VoxelVolume(), Findings: []findingJSON{}, Images: []gridSliceJSON{},
	}
	for _, f := range g.Findings {
		out.Findings = append(out.Findings, findingJSON{Code: f.Code, Message: f.Message, Slice: f.Slice})
	}
	for _, sl := range g.Slices {
		out.Images = append(out.Images, gridSliceJSON{SOPInstanceUID: sl.Image.SOPInstanceUID, Frame: sl.Image.Frame, Position: sl.Plane.Position})
	}
	return out
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	f := radmark.AuditFilter{ObjectType: q.Get("objectType"), ObjectID: q.Get("object"), Actor: q.Get("actor"),
		Action: q.Get("action"), AfterSeq: int64(after), Limit: limit}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return radmark.Errorf(radmark.EINVALID, "query parameter %s=%q is not an RFC 3339 time (2026-01-31T12:00:00Z)", p.name, v)
			}
			*p.dst = t
		}
	}
	events, err := s.Annotations.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, 200, nonNil(events))
}

// maxBody bounds request bodies of uploads and saves.
func (s *Server) maxBody() int64 {
	if s.MaxRequestBody > 0 {
		return s.MaxRequestBody
	}
	return 1 << 30
}
