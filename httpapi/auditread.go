package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
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

// storeAudited serves a store request and records its event with what it
// stores: the ingest appends the event to the audit chain in the index
// transaction of the request's instances (archive.RequestAudit), so an
// upload costs one durable commit, not two, and no instance is stored
// without the event of the request that sent it. A request that
// stores nothing (every part refused, a bad request) has its event
// recorded before its answer goes out; if that fails, the answer is a 503
// instead — nothing is answered whose request is not on the trail.
func (s *Server) storeAudited(w http.ResponseWriter, r *http.Request, ev *radmark.AuditEvent, h http.HandlerFunc) {
	ra := &archive.RequestAudit{Event: ev}
	gw := &gatedResponse{ResponseWriter: w, req: r, srv: s, settle: func() error {
		if ra.Stored() {
			return nil
		}
		if err := s.Audit.Record(context.WithoutCancel(r.Context()), ev); err != nil {
			return radmark.WrapError(radmark.EUNAVAILABLE, err, "the audit trail cannot record this request")
		}
		return nil
	}}
	h(gw, r.WithContext(context.WithValue(r.Context(), requestAuditKey{}, ra)))
	if !gw.wrote {
		// The handler answered nothing; still, the request does not end
		// before its event is settled.
		_ = gw.settle()
	}
}

type requestAuditKey struct{}

// requestAudit is the event of the store request ctx serves, to be stored
// with its instances (see storeAudited), or nil.
func requestAudit(ctx context.Context) *archive.RequestAudit {
	ra, _ := ctx.Value(requestAuditKey{}).(*archive.RequestAudit)
	return ra
}

// gatedResponse holds the response back until the request's audit event
// is stored. When it cannot be, the handler's answer is replaced by a 503
// and whatever the handler writes after is dropped.
type gatedResponse struct {
	http.ResponseWriter
	settle  func() error
	req     *http.Request
	srv     *Server
	wrote   bool
	refused bool
}

// open settles the event before the first byte of the answer.
func (g *gatedResponse) open() {
	if g.wrote {
		return
	}
	g.wrote = true
	if err := g.settle(); err != nil {
		g.refused = true
		g.srv.writeProblem(g.ResponseWriter, g.req, radmark.WrapError(radmark.EUNAVAILABLE, err, "the audit trail cannot record this request; its answer is withheld"))
	}
}

func (g *gatedResponse) WriteHeader(code int) {
	g.open()
	if !g.refused {
		g.ResponseWriter.WriteHeader(code)
	}
}

func (g *gatedResponse) Write(b []byte) (int, error) {
	g.open()
	if g.refused {
		return len(b), nil
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
