package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/policy"
	"github.com/radmark/radmark/release"
)

// releaseRequest starts a release job.
type releaseRequest struct {
	// Revisions to freeze; required when the project has no workflow
	// cases (else: the final revision of every done case).
	Revisions []radmark.ID `json:"revisions,omitempty"`
	// Fractions of patients for train, validation and test (default
	// 0.7, 0.15, 0.15).
	Fractions *release.Fractions `json:"fractions,omitempty"`
	Seed      int64              `json:"seed"`
	Stratify  bool               `json:"stratify,omitempty"`
}

// releaseRoutes are the routes of dataset releases and of the background
// jobs that make them.
func (s *Server) releaseRoutes() []apiRoute {
	rs, jobs := s.Releases, s.Jobs
	if rs == nil || jobs == nil {
		return nil
	}
	projectOf := func(r *http.Request) (radmark.ID, error) { return radmark.ID(r.PathValue("project")), nil }
	releaseProject := func(r *http.Request) (radmark.ID, error) {
		rel, err := rs.Get(r.Context(), r.PathValue("release"))
		if err != nil {
			return "", err
		}
		return rel.ProjectID, nil
	}
	return []apiRoute{
		{Method: "POST", Path: "/projects/{project}/releases", ID: "createRelease", Tag: "releases",
			Summary: "Start a background job that freezes the project's accepted annotations into an immutable release " +
				"(split by patient, nnU-Net + SEG + SR + measurements, manifest with sha256s); poll the job, then download the release",
			Body: releaseRequest{}, OK: 202, Response: &job.Job{}, RespHeaders: []string{"Location"}, Errors: errNotFoundStatus,
			Action: policy.Export, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req releaseRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				p := radmark.ID(r.PathValue("project"))
				if _, err := s.Annotations.Project(r.Context(), p); err != nil {
					return err
				}
				params := release.Request{Project: p, Revisions: req.Revisions, Fractions: release.DefaultFractions, Seed: req.Seed, Stratify: req.Stratify}
				if req.Fractions != nil {
					params.Fractions = *req.Fractions
				}
				if err := params.Fractions.Validate(); err != nil {
					return err
				}
				j, err := job.Enqueue(r.Context(), jobs, ActorFrom(r.Context()).Name(), RequestID(r.Context()), release.JobKind, p, params)
				if err != nil {
					return err
				}
				w.Header().Set("Location", apiRoot+"/jobs/"+string(j.ID))
				return writeJSON(w, http.StatusAccepted, j)
			}},
		{Method: "GET", Path: "/projects/{project}/releases", ID: "listReleases", Tag: "releases",
			Summary: "The project's releases, newest first", OK: 200, Response: []*release.Release{}, Errors: errNotFoundStatus,
			Action: policy.ProjectRead, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				list, err := rs.List(r.Context(), radmark.ID(r.PathValue("project")))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, list)
			}},
		{Method: "GET", Path: "/releases/{release}", ID: "getRelease", Tag: "releases",
			Summary: "One release (its id is the sha256 of its manifest)", OK: 200, Response: &release.Release{}, Errors: errNotFoundStatus,
			Action: policy.ProjectRead, Project: releaseProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				rel, err := rs.Get(r.Context(), r.PathValue("release"))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, rel)
			}},
		{Method: "GET", Path: "/releases/{release}/archive", ID: "downloadRelease", Tag: "releases",
			Summary: "Download a release as a tar (as stored) or zip archive; `radmark release verify` checks it",
			Query:   []apiParam{{Name: "format", Type: "string", Description: "tar (default) or zip"}},
			OK:      200, RawType: "application/octet-stream", Errors: errNotFoundStatus,
			Action: policy.Export, Project: releaseProject,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				format := r.URL.Query().Get("format")
				if format == "" {
					format = "tar"
				}
				rel, err := rs.Get(r.Context(), r.PathValue("release"))
				if err != nil {
					return err
				}
				if format != "tar" && format != "zip" {
					return radmark.Errorf(radmark.EINVALID, "format %q: want tar or zip", format)
				}
				ctype := map[string]string{"tar": "application/x-tar", "zip": "application/zip"}[format]
				w.Header().Set("Content-Type", ctype)
				w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="release-%s.%s"`, rel.ID[:12], format))
				if format == "tar" {
					w.Header().Set("Content-Length", strconv.FormatInt(rel.Size, 10))
				}
				if err := rs.Write(r.Context(), rel.ID, format, w); err != nil {
					// Headers are gone: cut the body short so the client sees a broken download.
					s.logger().Error("release download", "release", rel.ID, "err", err)
					panic(http.ErrAbortHandler)
				}
				return nil
			}},
	}
}
