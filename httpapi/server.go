// Package httpapi is all of radmark's HTTP: DICOMweb (STOW-RS, QIDO-RS,
// WADO-RS, WADO-URI) under /dicomweb, health checks, and later the
// /api/v1 routes and the embedded UI. It translates HTTP to calls on the
// domain services and domain errors to HTTP statuses, in one table.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/audit"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/intake"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/ontology"
	"github.com/radmark/radmark/policy"
	"github.com/radmark/radmark/release"
	"github.com/radmark/radmark/workflow"
)

// Server holds what the HTTP layer needs.
type Server struct {
	Archive *archive.Service
	// Annotations serves /api/v1; nil leaves the API out.
	Annotations *annotation.Service
	// Workflow serves the reading workflow's routes (cases, tasks,
	// review, arbitration); nil leaves them out.
	Workflow *workflow.Service
	// Releases and Jobs serve dataset releases and the background jobs
	// that make them; nil leaves those routes out.
	Releases *release.Service
	Jobs     job.Store
	// Exports stores and serves the files of export jobs (with Jobs);
	// nil leaves the export and import routes out.
	Exports *exchange.Exports
	// intake de-identifies what projects receive (see UseIntake); nil:
	// projects accept no images.
	intake *intake.Service
	// Audit records DICOMweb requests on the audit chain; nil records none.
	Audit *audit.Recorder
	// Auth authenticates requests and Policy decides them; with Auth nil
	// nothing is enforced (tests of other layers only). Studies links
	// studies to projects and Gate guards annotation sets (the workflow's
	// blinding); nil means annotation sets decide both.
	Auth    Authenticator
	Policy  *policy.Policy
	Studies StudyAccess
	Gate    SetGate
	// reads remembers the recorded pixel reads (actor and series → time),
	// see guardedDICOMweb.
	reads     sync.Map
	readCount atomic.Int64
	// Ontology is searched by /api/v1/ontology (default: the shipped one).
	Ontology *ontology.Index
	Logger   *slog.Logger
	// CORSOrigins lists origins allowed to call the API from a browser;
	// "*" allows any. Empty disables CORS.
	CORSOrigins []string
	// MaxRequestBody bounds STOW-RS request bodies (default 1 GiB).
	MaxRequestBody int64
	// TempDir receives uploads too large to keep in memory ("" = os temp).
	TempDir string
	// Ready reports whether the server can serve (database and blob store
	// reachable) for /readyz.
	Ready func(ctx context.Context) error
	// UI serves everything outside the API (the embedded web app).
	UI http.Handler
	// Version is shown on the home page.
	Version string
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.dicomwebRoutes(mux)
	if s.Annotations != nil {
		s.apiRoutesOn(mux, s.apiRoutes())
	}
	// The status page moves to /status when the UI takes "/".
	mux.HandleFunc("GET /status", s.home)
	if s.UI != nil {
		mux.Handle("GET /", s.UI)
	} else {
		mux.HandleFunc("GET /", s.home)
	}
	return s.middleware(mux)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.logger().Warn("not ready", "err", err)
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ready\n"))
}

type ctxKey int

const requestIDKey ctxKey = 1

// RequestID returns the request's id (also sent as X-Request-ID).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// middleware adds a request id, CORS, panic recovery and an access log.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 64 {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger().Error("panic serving request", "request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeError(w, r, s.logger(), fmt.Errorf("panic: %v", v))
				}
			}
			s.logger().Info("http", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "bytes", rec.bytes, "ms", time.Since(start).Milliseconds())
		}()
		if s.cors(rec, r) {
			return
		}
		r = s.authenticate(rec, r)
		next.ServeHTTP(rec, r)
	})
}

// cors sets CORS headers for allowed origins and answers preflight
// requests; it reports whether the request was fully handled.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.CORSOrigins) == 0 {
		return false
	}
	allowed := false
	for _, o := range s.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			allowed = true
			break
		}
	}
	if !allowed {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Content-Type, Content-Length, Warning, X-Request-ID, Content-Location")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}
