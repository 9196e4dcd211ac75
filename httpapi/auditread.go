package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/policy"
)

// guardedDICOMweb checks access to a DICOMweb request (storing needs the
// archive.write action, searching a project membership — results are
// limited to the studies of the user's projects — and anything else the
// right to see the study it names), then records it on the audit chain
// before serving it: reads of images and metadata, searches and stores
// alike, so the trail shows who saw which patient's images. Nothing is
// served when the event cannot be stored.
//
// A viewer fetches a series frame by frame, hundreds of requests for one
// look at the images: the first pixel read of a series by a user records
// an event that covers that user's pixel reads of the series for the next
// readCoverage (its detail says so), so the trail keeps who saw which
// images when without an fsync per frame. Metadata, whole-instance,
// search and store requests are recorded one by one.
func (s *Server) guardedDICOMweb(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.dicomwebAccess(r); err != nil {
			writeError(w, r, s.logger(), err)
			return
		}
		if s.Audit == nil {
			h(w, r)
			return
		}
		ev := dicomwebEvent(r)
		if r.Method == http.MethodPost {
			s.storeAudited(w, r, ev, h)
			return
		}
		key, covered := s.pixelReadCovered(r, ev)
		if !covered {
			if err := s.Audit.Record(r.Context(), ev); err != nil {
				s.writeProblem(w, r, radmark.WrapError(radmark.EUNAVAILABLE, err, "the audit trail cannot record this request; nothing is served"))
				return
			}
			if key != "" {
				s.rememberRead(key, ev.Time)
			}
		}
		h(w, r)
	}
}

// storeAudited serves a store request while its audit event is being
// stored, instead of before: the event's commit (an fsync, queued behind
// others) then overlaps with receiving and writing the upload rather than
// adding to every upload's time. The order that matters is kept: the
// handler must wait for the event (auditGate.wait, through the ingest's
// BeforeIndex) before any instance is indexed, and nothing is answered
// before the event is stored — the response writer waits too.
func (s *Server) storeAudited(w http.ResponseWriter, r *http.Request, ev *radmark.AuditEvent, h http.HandlerFunc) {
	gate := &auditGate{done: make(chan struct{})}
	go func() {
		gate.err = s.Audit.Record(context.WithoutCancel(r.Context()), ev)
		close(gate.done)
	}()
	ctx := context.WithValue(r.Context(), auditGateKey{}, gate)
	gw := &gatedResponse{ResponseWriter: w, gate: gate}
	h(gw, r.WithContext(ctx))
	if !gw.wrote {
		// The handler answered nothing; still, the request does not end
		// before its event is settled.
		_ = gate.wait()
	}
}

// auditGate is a store request's audit event being stored.
type auditGate struct {
	done chan struct{}
	err  error
}

// wait returns once the event is stored, or why it could not be.
func (g *auditGate) wait() error {
	<-g.done
	if g.err != nil {
		return radmark.WrapError(radmark.EUNAVAILABLE, g.err, "the audit trail cannot record this request")
	}
	return nil
}

type auditGateKey struct{}

// awaitAudit is the wait for the request's audit event when it is being
// stored alongside the request (see storeAudited), or nil.
func awaitAudit(ctx context.Context) func() error {
	if g, ok := ctx.Value(auditGateKey{}).(*auditGate); ok {
		return g.wait
	}
	return nil
}

// gatedResponse holds the response back until the audit event is stored.
// A handler that goes on after a failed wait can only be answering with
// an error (it indexed nothing), which may then go out.
type gatedResponse struct {
	http.ResponseWriter
	gate  *auditGate
	wrote bool
}

func (g *gatedResponse) WriteHeader(code int) {
	if !g.wrote {
		g.wrote = true
		_ = g.gate.wait()
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gatedResponse) Write(b []byte) (int, error) {
	if !g.wrote {
		g.wrote = true
		_ = g.gate.wait()
	}
	return g.ResponseWriter.Write(b)
}

func (g *gatedResponse) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// readCoverage is how long one recorded pixel read of a series covers the
// same user's further pixel reads of it.
const readCoverage = 5 * time.Minute

// pixelReadCovered reports whether r is a pixel read (frames, rendered,
// thumbnail, bulk data) of a series whose reading by the same actor was
// recorded less than readCoverage ago; key identifies the pair ("" for
// other requests). ev's detail is marked as covering later reads.
func (s *Server) pixelReadCovered(r *http.Request, ev *radmark.AuditEvent) (key string, covered bool) {
	series := r.PathValue("series")
	if r.Method != http.MethodGet || series == "" || !isPixelRead(r.URL.Path) {
		return "", false
	}
	key = ev.Actor + "\x00" + series
	if t, ok := s.reads.Load(key); ok && ev.Time.Sub(t.(time.Time)) < readCoverage {
		return key, true
	}
	ev.Detail += " (and this user's pixel reads of series " + series + " for " + readCoverage.String() + ")"
	return key, false
}

func isPixelRead(path string) bool {
	for _, part := range []string{"/frames/", "/rendered", "/thumbnail", "/bulkdata/"} {
		if strings.Contains(path, part) {
			return true
		}
	}
	return false
}

func (s *Server) dicomwebAccess(r *http.Request) error {
	if !s.enforcing() {
		return nil
	}
	switch {
	case r.Method == http.MethodPost:
		return s.authorize(r, policy.ArchiveWrite, "")
	case isSearch(r):
		if err := s.authorize(r, policy.ArchiveSearch, ""); err != nil {
			return err
		}
		if study := r.PathValue("study"); study != "" {
			return s.canSeeStudy(r, radmark.UID(study))
		}
		return nil
	case r.URL.Path == dicomwebRoot+"/wado":
		return s.canSeeStudy(r, radmark.UID(r.URL.Query().Get("studyUID")))
	default:
		return s.canSeeStudy(r, radmark.UID(r.PathValue("study")))
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
	return &radmark.AuditEvent{ID: radmark.ID(id.String()), Time: time.Now().UTC(), Actor: ActorFrom(r.Context()).Name(), Action: action,
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

// rememberRead records a covered pixel read, and now and then forgets the
// ones whose coverage ended, so the map stays as small as the recent reads.
func (s *Server) rememberRead(key string, t time.Time) {
	s.reads.Store(key, t)
	if s.readCount.Add(1)%1024 == 0 {
		s.reads.Range(func(k, v any) bool {
			if t.Sub(v.(time.Time)) >= readCoverage {
				s.reads.Delete(k)
			}
			return true
		})
	}
}
