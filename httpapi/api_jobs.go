package httpapi

import (
	"net/http"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/policy"
)

// jobRoutes are the routes that follow background jobs (releases,
// exports).
func (s *Server) jobRoutes() []apiRoute {
	jobs := s.Jobs
	if jobs == nil {
		return nil
	}
	return []apiRoute{
		{Method: "GET", Path: "/jobs/{job}", ID: "getJob", Tag: "jobs",
			Summary: "A background job: state (queued, running, succeeded, failed), progress (done of total, message), result or error",
			OK:      200, Response: &job.Job{}, Errors: errNotFoundStatus,
			Action: policy.Export, Project: s.projectOfJob,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				j, err := jobs.Job(r.Context(), radmark.ID(r.PathValue("job")))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, j)
			}},
		{Method: "GET", Path: "/projects/{project}/jobs", ID: "listJobs", Tag: "jobs",
			Summary: "The project's newest background jobs", OK: 200, Response: []*job.Job{}, Errors: errNotFoundStatus,
			Action: policy.Export, Project: projectFromPath,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				list, err := jobs.Jobs(r.Context(), radmark.ID(r.PathValue("project")), 100)
				if err != nil {
					return err
				}
				return writeJSON(w, 200, list)
			}},
	}
}

// projectOfJob finds the project of the job the path names; jobs of no
// project are not shown through the API.
func (s *Server) projectOfJob(r *http.Request) (radmark.ID, error) {
	j, err := s.Jobs.Job(r.Context(), radmark.ID(r.PathValue("job")))
	if err != nil {
		return "", err
	}
	if j.ProjectID == "" {
		return "", radmark.Errorf(radmark.ENOTFOUND, "job %s not found", j.ID)
	}
	return j.ProjectID, nil
}
