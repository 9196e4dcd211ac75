package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/intake"
	"github.com/radmark/radmark/policy"
)

// projectIntake returns the intake for a project that may receive images:
// none is configured, or the project has no de-identification profile,
// and it accepts nothing (checked before a byte of the body is read).
func (s *Server) projectIntake(ctx context.Context, project radmark.ID) (*intake.Service, error) {
	if s.intake == nil {
		return nil, radmark.Errorf(radmark.EUNAVAILABLE, "de-identification is not configured on this server, so project %s accepts no images", project)
	}
	if _, err := s.intake.Profile(ctx, project); err != nil {
		return nil, err
	}
	return s.intake, nil
}

// projectUpload checks, before a byte of the body is read, that a
// multipart upload into a project can be taken: the project exists, has a
// usable de-identification profile, and the body is multipart/related
// within the size limit. It returns the body's boundary and that limit.
func (s *Server) projectUpload(r *http.Request, project radmark.ID) (in *intake.Service, boundary string, maxBody int64, err error) {
	if s.Annotations != nil {
		if _, err := s.Annotations.Project(r.Context(), project); err != nil {
			return nil, "", 0, err
		}
	}
	if in, err = s.projectIntake(r.Context(), project); err != nil {
		return nil, "", 0, err
	}
	if boundary, err = stowBoundary(r.Header.Get("Content-Type")); err != nil {
		return nil, "", 0, err
	}
	maxBody = s.maxBody()
	if r.ContentLength > maxBody {
		return nil, "", 0, radmark.Errorf(radmark.ETOOLARGE, "request body of %d bytes exceeds the limit of %d bytes; send fewer instances per request", r.ContentLength, maxBody)
	}
	return in, boundary, maxBody, nil
}

// projectStow answers STOW-RS to a project (POST
// /dicomweb/projects/{project}/studies): every instance is de-identified
// with the project's profile and only the copy is stored, under its new
// UIDs, which the response lists. Instances that may carry burned-in text
// are held for review (a warning, no retrieve URL). DICOMweb clients use
// it by taking /dicomweb/projects/{project} as their STOW-RS root.
func (s *Server) projectStow(w http.ResponseWriter, r *http.Request) {
	if err := s.stowToProject(w, r); err != nil {
		writeError(w, r, s.logger(), err)
	}
}

func (s *Server) stowToProject(w http.ResponseWriter, r *http.Request) error {
	project := radmark.ID(r.PathValue("project"))
	if err := s.authorize(r, policy.ProjectManage, project); err != nil {
		return err
	}
	if !acceptsJSON(parseAccept(r.Header.Get("Accept"))) {
		return errNotAcceptable{"STOW-RS answers with application/dicom+json"}
	}
	in, boundary, maxBody, err := s.projectUpload(r, project)
	if err != nil {
		return err
	}
	if s.Audit != nil {
		ev := &radmark.AuditEvent{ID: annotation.NewID(), Time: time.Now(), Actor: ActorFrom(r.Context()).Name(), Action: "dicomweb.store",
			ObjectType: "project", ObjectID: string(project), RequestID: RequestID(r.Context())}
		if err := s.Audit.Record(r.Context(), ev); err != nil {
			return radmark.WrapError(radmark.EUNAVAILABLE, err, "the audit trail cannot record this request; nothing is stored")
		}
	}
	req := intake.Request{Project: project, Op: wfOp(r), Door: "stow"}
	var results []intake.Result
	// Parts go to memory or a temporary file, never to the blob store:
	// an original is stored only when the site keeps an identifiable
	// archive, and then by intake.
	n, err := readParts(http.MaxBytesReader(w, r.Body, maxBody), boundary, maxBody, s.TempDir, func(batch []*spooled) error {
		var sources []archive.Source
		for _, sp := range batch {
			if sp.partErr != nil {
				results = append(results, intake.Result{Name: sp.src.Name, Err: sp.partErr})
				continue
			}
			sources = append(sources, sp.src)
		}
		if len(sources) == 0 {
			return nil
		}
		res, _, err := in.Ingest(r.Context(), req, sources)
		results = append(results, res...)
		return err
	})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = radmark.Errorf(radmark.ETOOLARGE, "request body exceeds the limit of %d bytes (%d instances before the limit were processed); send fewer instances per request", maxBody, n)
		}
		return err
	}
	if len(results) == 0 {
		return radmark.Errorf(radmark.EINVALID, "the request holds no application/dicom parts")
	}
	writeProjectStow(w, r, results)
	return nil
}

// writeProjectStow writes the STOW-RS response: stored instances under
// their de-identified UIDs, held ones with a warning, refused ones with a
// reason.
func writeProjectStow(w http.ResponseWriter, r *http.Request, results []intake.Result) {
	urls := archive.URLs{Base: baseURL(r)}
	var ok, failed []string
	for _, res := range results {
		in := res.Instance
		switch {
		case res.Err != nil:
			failed = append(failed, fmt.Sprintf(`{"00000902":{"vr":"LO","Value":[%s]},"00081197":{"vr":"US","Value":[%d]}}`,
				jsonString(res.Name+": "+radmark.ErrorMessage(res.Err)), failureReason(res.Err)))
		case res.Quarantined != "":
			ok = append(ok, fmt.Sprintf(`{"00000902":{"vr":"LO","Value":[%s]},"00081150":%s,"00081155":%s,"00081196":{"vr":"US","Value":[45056]}}`,
				jsonString("held for review: "+res.Quarantined), uidElement(in.SOPClassUID), uidElement(in.SOPInstanceUID)))
		default:
			ok = append(ok, fmt.Sprintf(`{"00000902":{"vr":"LO","Value":["de-identified"]},"00081150":%s,"00081155":%s,"00081190":{"vr":"UR","Value":[%s]},"00081196":{"vr":"US","Value":[45056]}}`,
				uidElement(in.SOPClassUID), uidElement(in.SOPInstanceUID), jsonString(urls.Instance(in.StudyUID, in.SeriesUID, in.SOPInstanceUID))))
		}
	}
	writeStowResponse(w, "", failed, ok)
}
