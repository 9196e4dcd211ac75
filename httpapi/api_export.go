package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/policy"
)

// maxImportBody bounds an uploaded SEG, SR, RTSTRUCT or NIfTI: a
// fractional SEG of a 600-slice 512² CT is about 160 MB.
const maxImportBody = 1 << 30

// exportRoutes are the routes of export jobs (start one, download its
// file; GET /jobs/{job} follows it) and of imports.
func (s *Server) exportRoutes() []apiRoute {
	x, jobs := s.Exports, s.Jobs
	if x == nil || jobs == nil {
		return nil
	}
	return []apiRoute{
		{Method: "POST", Path: "/projects/{project}/exports", ID: "createExport", Tag: "exports",
			Summary: "Start a background job that exports the project's annotations or a series' image: " +
				strings.Join(exchange.ExportFormats, ", ") + " (nnunet and coco are folders, sent as a tar); poll the job, then download its file",
			Body: exchange.ExportRequest{}, OK: 202, Response: &job.Job{}, RespHeaders: []string{"Location"}, Errors: errNotFoundStatus,
			Action: policy.Export, Project: projectFromPath,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req exchange.ExportRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				p := radmark.ID(r.PathValue("project"))
				// What the request names is checked now, so a bad one fails
				// here and not in the job; the job checks it again.
				if err := x.Exchange.ResolveExport(r.Context(), op(r), p, &req); err != nil {
					return err
				}
				j, err := job.Enqueue(r.Context(), jobs, ActorFrom(r.Context()).Name(), RequestID(r.Context()), exchange.ExportJobKind(req.Format), p, req)
				if err != nil {
					return err
				}
				w.Header().Set("Location", apiRoot+"/jobs/"+string(j.ID))
				return writeJSON(w, http.StatusAccepted, j)
			}},
		{Method: "GET", Path: "/jobs/{job}/file", ID: "downloadExport", Tag: "exports",
			Summary: "Download the file of a succeeded export job (a folder export as a tar); its sha256 is in the job's result. " +
				"410 once the file has expired (the job's fileExpiredAt): start the export again",
			OK: 200, RawType: "application/octet-stream", RespHeaders: []string{"Content-Disposition"},
			Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusGone},
			Action: policy.Export, Project: s.projectOfJob,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				j, err := jobs.Job(r.Context(), radmark.ID(r.PathValue("job")))
				if err != nil {
					return err
				}
				if !strings.HasPrefix(j.Kind, exchange.ExportJobPrefix) {
					return radmark.Errorf(radmark.ENOTFOUND, "job %s is a %s job, which has no file", j.ID, j.Kind)
				}
				if j.State != job.Succeeded {
					return radmark.Errorf(radmark.ECONFLICT, "export job %s is %s; its file is there once it has succeeded", j.ID, j.State)
				}
				if j.FileExpiredAt != nil {
					return expiredExport(j, x.Keep)
				}
				var res exchange.ExportResult
				if err := json.Unmarshal(j.Result, &res); err != nil {
					return fmt.Errorf("export job %s: unreadable result: %w", j.ID, err)
				}
				rc, info, err := x.Blobs.Get(r.Context(), exchange.ExportKey(j.ID))
				if err != nil {
					return fmt.Errorf("export job %s: %w", j.ID, err)
				}
				defer rc.Close()
				name := res.Name
				if res.Folder {
					name += ".tar"
				}
				w.Header().Set("Content-Type", res.ContentType)
				w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
				w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
				w.Header().Set("Cache-Control", "no-store")
				if _, err := io.Copy(w, rc); err != nil {
					s.logger().Error("export download", "job", j.ID, "err", err)
					panic(http.ErrAbortHandler)
				}
				return nil
			}},
		{Method: "POST", Path: "/projects/{project}/imports", ID: "importAnnotations", Tag: "exports",
			Summary: "Import a DICOM SEG, SR TID 1500, RTSTRUCT or NIfTI label map (the request body) as a new revision of one's own annotation set",
			Query:   importQuery, RawBody: "application/octet-stream", OK: 201, Response: &exchange.ImportResult{}, Errors: importErrors,
			Action: policy.Annotate, Project: projectFromPath,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				return s.importFile(w, r, x.Exchange, ActorFrom(r.Context()).Name())
			}},
		{Method: "POST", Path: "/projects/{project}/readers/{reader}/imports", ID: "importAnnotationsFor", Tag: "exports",
			Summary: "Import a file as importAnnotations does, into another reader's annotation set (a model's output, another tool's reads)",
			Query:   importQuery, RawBody: "application/octet-stream", OK: 201, Response: &exchange.ImportResult{}, Errors: importErrors,
			Action: policy.ProjectManage, Project: projectFromPath,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				return s.importFile(w, r, x.Exchange, r.PathValue("reader"))
			}},
	}
}

// expiredExport is the 410 of an export job whose file the retention
// deleted: when, why, and how to get the file again.
func expiredExport(j *job.Job, keep time.Duration) error {
	after := "the server's export retention"
	if keep > 0 {
		after += " of " + durationText(keep)
	}
	return radmark.Errorf(radmark.EGONE, "the file of export job %s expired: it was deleted on %s, after %s from the end of the job; "+
		"start the export again (POST %s/projects/%s/exports with the job's params) to get a new file",
		j.ID, j.FileExpiredAt.UTC().Format(time.RFC3339), after, apiRoot, j.ProjectID)
}

// durationText says 168h as "7 days", 36h as "36h0m0s".
func durationText(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}

var (
	importQuery = []apiParam{
		{Name: "format", Type: "string", Required: true, Description: strings.Join(exchange.ImportFormats, ", ")},
		{Name: "series", Type: "string", Description: "the series to place it on (required for nifti)"},
		{Name: "addLabels", Type: "boolean", Description: "add labels (sr: and questions) for codes the schema lacks"},
		{Name: "labels", Type: "string", Description: "nifti: VALUE=LABEL,... maps values to label ids"},
		{Name: "model", Type: "string", Description: "nifti: the model that made the label map"},
		{Name: "modelVersion", Type: "string", Description: "nifti: the model's version"},
		{Name: "message", Type: "string", Description: "the revision's message"},
	}
	importErrors = []int{http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge}
)

// importFile imports the request body into reader's annotation set.
func (s *Server) importFile(w http.ResponseWriter, r *http.Request, x *exchange.Service, reader string) error {
	q := r.URL.Query()
	opt := exchange.ImportOptions{Project: radmark.ID(r.PathValue("project")), Reader: reader, Series: radmark.UID(q.Get("series")),
		Message: q.Get("message"), AddLabels: q.Get("addLabels") == "true" || q.Get("addLabels") == "1"}
	if m, v := q.Get("model"), q.Get("modelVersion"); m != "" || v != "" {
		if m == "" || v == "" {
			return radmark.Errorf(radmark.EINVALID, "model and modelVersion go together")
		}
		opt.Source = radmark.Source{Type: "model", Name: m, Version: v}
	}
	if opt.AddLabels {
		// Adding labels changes the project's schema, which is managing it.
		if err := s.authorize(r, policy.ProjectManage, opt.Project); err != nil {
			return err
		}
	}
	opt.MayWrite = s.mayImport(r)
	values, err := exchange.ParseValueLabels(q.Get("labels"))
	if err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImportBody))
	if err != nil {
		return err // too large: 413 (writeProblem)
	}
	if len(data) == 0 {
		return radmark.Errorf(radmark.EINVALID, "no file: the request body is empty")
	}
	res, err := x.Import(r.Context(), op(r), q.Get("format"), data, opt, values)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, res)
}

// mayImport applies a save's rules to an import's target set: into one's
// own set what the set gate allows a save (and, for a set not there yet,
// what opening one allows: not on a workflow case, whose sets open with
// their tasks); into another reader's set (importAnnotationsFor), never
// into the reads of a workflow case. Refusals are audited as a save's.
func (s *Server) mayImport(r *http.Request) func(ctx context.Context, set *radmark.AnnotationSet, exists bool) error {
	return func(ctx context.Context, set *radmark.AnnotationSet, exists bool) error {
		if !s.enforcing() {
			return nil
		}
		actor, err := requireActor(r)
		if err == nil {
			switch {
			case set.Reader != actor.Name():
				if s.Workflow != nil {
					err = s.Workflow.CanWriteSetFor(ctx, actor, set)
				}
			case exists:
				err = s.gate().CanWriteSet(ctx, actor, set)
			case s.Workflow != nil:
				err = s.Workflow.CanCreateSet(ctx, actor, set.ProjectID, set.StudyUID, set.SeriesUID)
			}
		}
		if err != nil {
			s.recordDenial(r, actor, "annotation_set", string(set.ID), err)
		}
		return err
	}
}
