package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/policy"
	"github.com/radmark/radmark/workflow"
)

// apiRoot prefixes the REST API.
const apiRoot = "/api/v1"

// apiRoute is one route of /api/v1 with what the OpenAPI document says
// of it. The document is generated from this table and the Go types of
// Body and Response, and the mux is registered from it, so neither can
// drift from the code.
type apiRoute struct {
	Method  string
	Path    string // under apiRoot, in ServeMux form: /projects/{project}
	ID      string // operationId
	Tag     string
	Summary string
	Query   []apiParam
	Headers []apiParam
	// Body is a value of the JSON request body's type (nil: no body), or
	// RawBody names a non-JSON body (a file upload).
	Body    any
	RawBody string
	// OK is the success status; Response a value of its JSON body's type
	// (nil: none), or RawType names a non-JSON body.
	OK       int
	Response any
	RawType  string
	// RespHeaders names headers sent with success (ETag, Location).
	RespHeaders []string
	// Errors lists the error statuses the route may answer beyond 400
	// and 500, each with a problem body.
	Errors []int
	// Action is what the route does, for the policy; Project finds the
	// project the request is about, for project-level actions (nil for
	// site-level ones). Every route must say: a test enumerates them.
	Action  policy.Action
	Project func(r *http.Request) (radmark.ID, error)
	Handle  func(w http.ResponseWriter, r *http.Request) error
}

// apiParam is a query parameter or request header.
type apiParam struct {
	Name        string
	Type        string // string, integer, boolean, number
	Required    bool
	Description string
}

// Problem is an error answer (RFC 9457 problem details) with radmark's
// stable error code.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	// Head is, for a save against a stale revision, the annotation set's
	// current head: the change to reload.
	Head string `json:"head,omitempty"`
	// Allowed lists, for a refused task transition, the transitions the
	// task's state allows.
	Allowed []string `json:"allowed,omitempty"`
}

// problemType is the problem's type URI for a code.
func problemType(code string) string { return "urn:radmark:problem:" + code }

// writeProblem answers err as problem+json.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	code := radmark.ErrorCode(err)
	status := http.StatusInternalServerError
	if st, ok := statusOf[code]; ok {
		status = st
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status, code = http.StatusRequestEntityTooLarge, radmark.ETOOLARGE
	}
	if code == "" {
		code = radmark.EINTERNAL
	}
	p := Problem{
		Type: problemType(code), Title: http.StatusText(status), Status: status,
		Detail: radmark.ErrorMessage(err), Code: code, Instance: r.URL.Path, RequestID: RequestID(r.Context()),
	}
	if mbe != nil {
		p.Detail = fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)
	}
	var ce *annotation.ConflictError
	if errors.As(err, &ce) {
		p.Head = string(ce.Head)
		if ce.Head != "" {
			w.Header().Set("ETag", etag(string(ce.Head)))
		}
	}
	var te *workflow.TransitionError
	if errors.As(err, &te) {
		for _, a := range te.Allowed {
			p.Allowed = append(p.Allowed, string(a))
		}
	}
	if status >= 500 {
		s.logger().Error("request failed", "request_id", p.RequestID, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// apiRoutesOn registers the table on mux, and a problem answer for any
// other path under the API root.
func (s *Server) apiRoutesOn(mux *http.ServeMux, routes []apiRoute) {
	for _, rt := range routes {
		h, action, project := rt.Handle, rt.Action, rt.Project
		mux.HandleFunc(rt.Method+" "+apiRoot+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			if action != "" && s.enforcing() {
				if _, err := requireActor(r); err != nil {
					s.recordDenial(r, nil, string(action), "", err)
					s.writeProblem(w, r, err)
					return
				}
				var id radmark.ID
				if project != nil {
					var err error
					if id, err = project(r); err != nil {
						s.writeProblem(w, r, err)
						return
					}
				}
				if err := s.authorize(r, action, id); err != nil {
					s.writeProblem(w, r, err)
					return
				}
			}
			if err := h(w, r); err != nil {
				s.writeProblem(w, r, err)
			}
		})
	}
	// One catch-all per method: a method-less pattern would conflict with
	// the UI's "GET /".
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		mux.HandleFunc(m+" "+apiRoot+"/", func(w http.ResponseWriter, r *http.Request) {
			s.writeProblem(w, r, radmark.Errorf(radmark.ENOTFOUND, "no API route %s %s (see %s/openapi.json)", r.Method, r.URL.Path, apiRoot))
		})
	}
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// maxJSONBody bounds JSON request bodies that are not saves.
const maxJSONBody = 8 << 20

// decodeJSON reads a JSON body into v strictly: the right media type, no
// unknown fields, one value, within limit bytes.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return radmark.Errorf(radmark.EUNSUPPORTED, "the request body must be application/json, not %q", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return radmark.Errorf(radmark.EINVALID, "malformed JSON: more than one value in the body")
	}
	return nil
}

// jsonError turns a decoding error into a message that says where.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return radmark.Errorf(radmark.EINVALID, "malformed JSON: the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return radmark.Errorf(radmark.EINVALID, "malformed JSON: the body ends too early")
	case errors.As(err, &syn):
		return radmark.Errorf(radmark.EINVALID, "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return radmark.Errorf(radmark.EINVALID, "malformed JSON: %s must be %s, not %s (byte %d)", field, jsonKind(typ.Type.Kind().String()), typ.Value, typ.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return radmark.Errorf(radmark.EINVALID, "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return radmark.Errorf(radmark.EINVALID, "malformed JSON: %v", err)
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "uint8", "uint", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return k
}

// etag quotes a strong entity tag.
func etag(v string) string { return `"` + v + `"` }

// ifMatch returns the single entity tag of an If-Match header ("" when
// absent); weak or multiple tags are refused, since they cannot name one
// revision.
func ifMatch(r *http.Request) (string, bool, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return "", false, nil
	}
	if strings.HasPrefix(h, "W/") || strings.Contains(h, ",") || h == "*" {
		return "", false, radmark.Errorf(radmark.EINVALID, "If-Match must name one revision as a strong tag (\"<id>\"), not %s", h)
	}
	v, err := strconv.Unquote(h)
	if err != nil || !strings.HasPrefix(h, `"`) {
		return "", false, radmark.Errorf(radmark.EINVALID, "If-Match %s is not a quoted entity tag", h)
	}
	return v, true, nil
}

// queryInt reads an optional integer query parameter within [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, radmark.Errorf(radmark.EINVALID, "query parameter %s=%q must be an integer in %d..%d", name, v, lo, hi)
	}
	return n, nil
}

// pathInt reads an integer path segment.
func pathInt(r *http.Request, name string, lo, hi int) (int, error) {
	v := r.PathValue(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, radmark.Errorf(radmark.ENOTFOUND, "%s %q is not an integer in %d..%d", name, v, lo, hi)
	}
	return n, nil
}
