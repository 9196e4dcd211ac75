package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/radmark/radmark"
)

// auditedDICOMweb records every DICOMweb request on the audit chain before
// serving it: reads of images and metadata, searches and stores alike,
// so the trail shows who saw which patient's images. Nothing is served
// when the event cannot be stored.
func (s *Server) auditedDICOMweb(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Audit == nil {
			h(w, r)
			return
		}
		if err := s.Audit.Record(r.Context(), dicomwebEvent(r)); err != nil {
			s.writeProblem(w, r, radmark.WrapError(radmark.EUNAVAILABLE, err, "the audit trail cannot record this request; nothing is served"))
			return
		}
		h(w, r)
	}
}

// dicomwebEvent describes a DICOMweb request: the most specific object
// it names, and what is done with it.
func dicomwebEvent(r *http.Request) *radmark.AuditEvent {
	objectType, objectID := "archive", ""
	for _, p := range []struct{ name, kind string }{{"study", "study"}, {"series", "series"}, {"instance", "instance"}} {
		if v := r.PathValue(p.name); v != "" {
			objectType, objectID = p.kind, v
		}
	}
	if r.URL.Path == dicomwebRoot+"/wado" {
		objectType, objectID = "instance", r.URL.Query().Get("objectUID")
	}
	var action string
	switch {
	case r.Method == http.MethodPost:
		action = "dicomweb.store"
	case isSearch(r):
		action = "dicomweb.search"
	default:
		action = "dicomweb.read"
	}
	detail := r.URL.Path
	if r.URL.RawQuery != "" {
		detail += "?" + r.URL.RawQuery
	}
	if len(detail) > 2000 {
		detail = detail[:2000]
	}
	id, _ := uuid.NewV7()
	return &radmark.AuditEvent{ID: radmark.ID(id.String()), Time: time.Now().UTC(), Actor: "anonymous", Action: action,
		ObjectType: objectType, ObjectID: objectID, RequestID: RequestID(r.Context()), Detail: detail}
}

// isSearch reports QIDO-RS requests: GETs ending in a resource list.
func isSearch(r *http.Request) bool {
	p := r.URL.Path
	for _, suffix := range []string{"/studies", "/series", "/instances"} {
		if len(p) >= len(suffix) && p[len(p)-len(suffix):] == suffix {
			return true
		}
	}
	return false
}
