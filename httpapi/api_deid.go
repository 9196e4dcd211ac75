package httpapi

import (
	"io"
	"net/http"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/intake"
	"github.com/radmark/radmark/policy"
)

// UseIntake serves the de-identification routes and the project doors
// (STOW-RS to a project, case upload) through in.
func (s *Server) UseIntake(in *intake.Service) { s.intake = in }

// Request and response bodies of the de-identification routes.
type (
	deidProfileRequest struct {
		Name        string            `json:"name"`
		Options     deid.Options      `json:"options"`
		SafePrivate []deid.PrivateTag `json:"safe_private,omitempty"`
	}
	releasedInstance struct {
		SOPInstanceUID radmark.UID `json:"sopInstanceUID"`
		StudyUID       radmark.UID `json:"studyUID"`
		SeriesUID      radmark.UID `json:"seriesUID"`
	}
	linkageResponse struct {
		SOPInstanceUID string      `json:"sopInstanceUID"`
		Links          []deid.Link `json:"links"`
	}
)

// deidRoutes are the routes of de-identification profiles, the
// quarantine and the linkage.
func (s *Server) deidRoutes() []apiRoute {
	in := s.intake
	if in == nil {
		return nil
	}
	projectOf := func(r *http.Request) (radmark.ID, error) { return radmark.ID(r.PathValue("project")), nil }
	project := func(r *http.Request) radmark.ID { return radmark.ID(r.PathValue("project")) }
	return []apiRoute{
		{Method: "GET", Path: "/projects/{project}/deid/profiles", ID: "listDeidProfiles", Tag: "deid",
			Summary: "Every version of the project's de-identification profile, oldest first; the last is applied",
			OK:      200, Response: []*deid.Profile{}, Errors: errNotFoundStatus, Action: policy.ProjectRead, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				ps, err := in.Store.DeidProfiles(r.Context(), project(r))
				if err != nil {
					return err
				}
				if ps == nil {
					ps = []*deid.Profile{}
				}
				return writeJSON(w, 200, ps)
			}},
		{Method: "PUT", Path: "/projects/{project}/deid/profiles", ID: "putDeidProfile", Tag: "deid",
			Summary: "Store the next version of the project's de-identification profile (PS3.15 Annex E basic profile and options); " +
				"every instance received afterwards is de-identified with it. Without a profile a project accepts no images",
			Body: deidProfileRequest{}, OK: 201, Response: &deid.Profile{}, Errors: errConflict,
			Action: policy.DeidManage, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				var req deidProfileRequest
				if err := decodeJSON(w, r, maxJSONBody, &req); err != nil {
					return err
				}
				if _, err := s.Annotations.Project(r.Context(), project(r)); err != nil {
					return err
				}
				p := &deid.Profile{Name: req.Name, Options: req.Options, SafePrivate: req.SafePrivate}
				if err := in.PutProfile(r.Context(), wfOp(r), project(r), p); err != nil {
					return err
				}
				return writeJSON(w, 201, p)
			}},
		{Method: "GET", Path: "/projects/{project}/deid/quarantine", ID: "listQuarantine", Tag: "deid",
			Summary: "Instances held for review because they may carry burned-in text (de-identified, not in the project)",
			OK:      200, Response: []*deid.QuarantineItem{}, Errors: errNotFoundStatus, Action: policy.DeidManage, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				items, err := in.Store.Quarantine(r.Context(), project(r))
				if err != nil {
					return err
				}
				if items == nil {
					items = []*deid.QuarantineItem{}
				}
				return writeJSON(w, 200, items)
			}},
		{Method: "GET", Path: "/projects/{project}/deid/quarantine/{sop}", ID: "getQuarantined", Tag: "deid",
			Summary: "The de-identified DICOM file of a held instance, to look for burned-in text",
			OK:      200, RawType: "application/dicom", Errors: errNotFoundStatus, Action: policy.DeidManage, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				rc, err := in.Held(r.Context(), project(r), r.PathValue("sop"))
				if err != nil {
					return err
				}
				defer rc.Close()
				w.Header().Set("Content-Type", "application/dicom")
				w.WriteHeader(200)
				_, err = io.Copy(w, rc)
				return err
			}},
		{Method: "POST", Path: "/projects/{project}/deid/quarantine/{sop}/release", ID: "releaseQuarantined", Tag: "deid",
			Summary: "Let a held instance into the project after review found no burned-in identifying text: stored, its study made a case",
			OK:      200, Response: &releasedInstance{}, Errors: errNotFoundStatus, Action: policy.DeidManage, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				res, err := in.Release(r.Context(), wfOp(r), project(r), r.PathValue("sop"))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, releasedInstance{SOPInstanceUID: res.Instance.SOPInstanceUID, StudyUID: res.Instance.StudyUID, SeriesUID: res.Instance.SeriesUID})
			}},
		{Method: "POST", Path: "/projects/{project}/deid/quarantine/{sop}/reject", ID: "rejectQuarantined", Tag: "deid",
			Summary: "Discard a held instance after review",
			OK:      204, Errors: errNotFoundStatus, Action: policy.DeidManage, Project: projectOf,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				if err := in.Reject(r.Context(), wfOp(r), project(r), r.PathValue("sop")); err != nil {
					return err
				}
				w.WriteHeader(204)
				return nil
			}},
		{Method: "GET", Path: "/projects/{project}/deid/linkage/{sop}", ID: "getDeidLinkage", Tag: "deid",
			Summary: "The original identifiers behind a de-identified instance (site admins only; every look-up is on the audit trail before it is answered)",
			OK:      200, Response: &linkageResponse{}, Errors: errNotFoundStatus, Action: policy.DeidLinkage,
			Handle: func(w http.ResponseWriter, r *http.Request) error {
				links, err := in.Linkage(r.Context(), wfOp(r), project(r), r.PathValue("sop"))
				if err != nil {
					return err
				}
				return writeJSON(w, 200, linkageResponse{SOPInstanceUID: r.PathValue("sop"), Links: links})
			}},
	}
}
