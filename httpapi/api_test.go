package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testdb"
	"github.com/radmark/radmark/phantom"
)

// apiClient calls a test server and checks every request and response
// against the server's own OpenAPI document, recording which operations
// were exercised.
type apiClient struct {
	t      *testing.T
	base   string
	router routers.Router
	mu     sync.Mutex
	seen   map[string]map[int]bool // operationId → statuses
}

type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r apiResponse) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (r apiResponse) problem(t *testing.T) Problem {
	t.Helper()
	var p Problem
	r.json(t, &p)
	if r.Header.Get("Content-Type") != "application/problem+json" || p.Status != r.Status || p.Code == "" || p.Detail == "" {
		t.Fatalf("not a problem answer: %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	return p
}

func (c *apiClient) do(method, path string, body any, headers ...string) apiResponse {
	c.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	out := apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: rb}
	c.validate(req, raw, out)
	return out
}

// validate checks the exchange against the OpenAPI document. Requests
// that are meant to be bad are not validated as requests, but their
// problem answers are validated as responses.
func (c *apiClient) validate(req *http.Request, body []byte, resp apiResponse) {
	c.t.Helper()
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		if resp.Status != http.StatusNotFound && resp.Status != http.StatusMethodNotAllowed {
			c.t.Errorf("%s %s answered %d but is not in the OpenAPI document: %v", req.Method, req.URL.Path, resp.Status, err)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if resp.Status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			c.t.Errorf("%s %s: request does not follow the OpenAPI document: %v", req.Method, req.URL.Path, err)
		}
	}
	body2 := resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		body2 = nil // raw bytes: the schema says only "binary"
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.Status, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: body2 == nil}}
	out.SetBodyBytes(body2)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Errorf("%s %s → %d: response does not follow the OpenAPI document: %v\n%.500s", req.Method, req.URL.Path, resp.Status, err, resp.Body)
	}
	c.mu.Lock()
	if c.seen[route.Operation.OperationID] == nil {
		c.seen[route.Operation.OperationID] = map[int]bool{}
	}
	c.seen[route.Operation.OperationID][resp.Status] = true
	c.mu.Unlock()
}

type apiEnv struct {
	srv    *Server
	client *apiClient
	ct     *phantom.Series
	xray   *phantom.XRayImage
}

func newAPIEnv(t *testing.T, engine testdb.Engine) *apiEnv {
	t.Helper()
	store := engine.Open(t)
	arch, blobs := testdb.Archive(t, store)
	ct, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	xr, err := phantom.GenerateXRay(phantom.XRaySmall())
	if err != nil {
		t.Fatal(err)
	}
	testdb.Ingest(t, arch, append(append([]*dicom.Dataset{}, ct.Instances...), xr.Dataset)...)
	srv := &Server{Archive: arch, Version: "test", Logger: slog.New(slog.DiscardHandler),
		Annotations: &annotation.Service{Store: store, Blobs: blobs, Images: &annotation.ArchiveImages{Source: arch}}}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &apiEnv{srv: srv, ct: ct, xray: xr, client: newAPIClient(t, ts.URL)}
}

// newAPIClient returns a client of the server at base that validates
// every exchange against the OpenAPI document the server serves.
func newAPIClient(t *testing.T, base string) *apiClient {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	specBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(specBytes)
	if err != nil {
		t.Fatalf("load OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &apiClient{t: t, base: base, router: router, seen: map[string]map[int]bool{}}
}

func schemaBody() map[string]any {
	return map[string]any{
		"labels": []radmark.Label{
			{ID: "nodule", Name: "Lung nodule", Color: "#ff0000",
				Category: radmark.Code{Value: "49755003", Scheme: "SCT", Meaning: "Morphologically Altered Structure"},
				Type:     radmark.Code{Value: "27925004", Scheme: "SCT", Meaning: "Nodule"},
				Kinds:    []radmark.Kind{radmark.KindSegmentation, radmark.KindLength, radmark.KindLandmark, radmark.KindBox2D}},
		},
		"questions": []radmark.Question{{ID: "quality", Text: "Image quality", Type: radmark.QuestionSingle, Level: radmark.LevelStudy,
			Required: true, Options: []radmark.Option{{Value: "good"}, {Value: "poor"}}}},
	}
}

// TestAPIFollowsOpenAPI drives every /api/v1 route through its normal and
// error answers, validating each exchange against the served OpenAPI
// document, and fails if a route in the table was never exercised.
func TestAPIFollowsOpenAPI(t *testing.T) {
	for _, engine := range testdb.Engines {
		t.Run(engine.Name, func(t *testing.T) {
			e := newAPIEnv(t, engine)
			c := e.client
			study, series := e.ct.StudyInstanceUID, e.ct.SeriesInstanceUID

			// Ontology.
			r := c.do("GET", "/api/v1/ontology?q=liver&limit=5", nil)
			var onto ontologyResponse
			r.json(t, &onto)
			if r.Status != 200 || len(onto.Results) == 0 || !strings.Contains(strings.ToLower(onto.Results[0].Concept.Meaning), "liver") {
				t.Fatalf("ontology search: %d %s", r.Status, r.Body)
			}
			if r := c.do("GET", "/api/v1/ontology?q=x&limit=0", nil); r.Status != 400 {
				t.Errorf("limit=0: %d", r.Status)
			}

			// Projects.
			if r := c.do("POST", "/api/v1/projects", `{"name": "x",`); r.Status != 400 || !strings.Contains(r.problem(t).Detail, "malformed JSON") {
				t.Errorf("malformed JSON: %d %s", r.Status, r.Body)
			}
			if r := c.do("POST", "/api/v1/projects", `{"name": "x", "colour": 1}`); r.Status != 400 || !strings.Contains(r.problem(t).Detail, "unknown field") {
				t.Errorf("unknown field: %d %s", r.Status, r.Body)
			}
			r = c.do("POST", "/api/v1/projects", createProjectRequest{Name: "Lung screening", Description: "test"})
			var project radmark.Project
			r.json(t, &project)
			if r.Status != 201 || r.Header.Get("Location") != "/api/v1/projects/"+string(project.ID) {
				t.Fatalf("create project: %d %v %s", r.Status, r.Header, r.Body)
			}
			pp := "/api/v1/projects/" + string(project.ID)
			if r := c.do("GET", "/api/v1/projects", nil); r.Status != 200 || !bytes.Contains(r.Body, []byte(project.ID)) {
				t.Errorf("list projects: %d %s", r.Status, r.Body)
			}
			if r := c.do("GET", pp, nil); r.Status != 200 {
				t.Errorf("get project: %d", r.Status)
			}
			if r := c.do("GET", "/api/v1/projects/nope", nil); r.Status != 404 || r.problem(t).Code != radmark.ENOTFOUND {
				t.Errorf("missing project: %d %s", r.Status, r.Body)
			}
			if r := c.do("PATCH", pp, map[string]string{"name": "Lung screening 2026"}); r.Status != 200 || !bytes.Contains(r.Body, []byte("2026")) {
				t.Errorf("patch project: %d %s", r.Status, r.Body)
			}

			// Schema: none yet, then version 1 based on 0, then a stale put.
			if r := c.do("GET", pp+"/schema", nil); r.Status != 404 {
				t.Errorf("schema before any: %d", r.Status)
			}
			if r := c.do("PUT", pp+"/schema", schemaBody()); r.Status != 400 || !strings.Contains(r.problem(t).Detail, "based on") {
				t.Errorf("schema without base: %d %s", r.Status, r.Body)
			}
			r = c.do("PUT", pp+"/schema", schemaBody(), "If-Match", `"0"`)
			if r.Status != 201 || r.Header.Get("ETag") != `"1"` {
				t.Fatalf("put schema: %d %s", r.Status, r.Body)
			}
			if r := c.do("PUT", pp+"/schema", schemaBody(), "If-Match", `"0"`); r.Status != 409 {
				t.Errorf("stale schema put: %d %s", r.Status, r.Body)
			}
			if r := c.do("GET", pp+"/schema", nil); r.Status != 200 || r.Header.Get("ETag") != `"1"` {
				t.Errorf("get schema: %d %v", r.Status, r.Header)
			}
			if r := c.do("GET", pp+"/schema/1", nil); r.Status != 200 {
				t.Errorf("get schema 1: %d", r.Status)
			}
			if r := c.do("GET", pp+"/schema/7", nil); r.Status != 404 {
				t.Errorf("get schema 7: %d", r.Status)
			}

			// Annotation sets.
			if r := c.do("POST", "/api/v1/annotation-sets", createSetRequest{ProjectID: project.ID, StudyUID: "1.2.3"}); r.Status != 400 {
				t.Errorf("set on an unknown study: %d %s", r.Status, r.Body)
			}
			r = c.do("POST", "/api/v1/annotation-sets", createSetRequest{ProjectID: project.ID, StudyUID: radmark.UID(study), SeriesUID: radmark.UID(series), Reader: "reader-1"})
			var set radmark.AnnotationSet
			r.json(t, &set)
			if r.Status != 201 {
				t.Fatalf("create set: %d %s", r.Status, r.Body)
			}
			if r := c.do("POST", "/api/v1/annotation-sets", createSetRequest{ProjectID: project.ID, StudyUID: radmark.UID(study), SeriesUID: radmark.UID(series), Reader: "reader-1"}); r.Status != 409 {
				t.Errorf("duplicate set: %d", r.Status)
			}
			if r := c.do("GET", "/api/v1/annotation-sets?project="+string(project.ID), nil); r.Status != 200 || !bytes.Contains(r.Body, []byte(set.ID)) {
				t.Errorf("list sets: %d %s", r.Status, r.Body)
			}
			sp := "/api/v1/annotation-sets/" + string(set.ID)
			if r := c.do("GET", sp, nil); r.Status != 200 || r.Header.Get("ETag") != "" {
				t.Errorf("get set: %d %v", r.Status, r.Header)
			}

			// First save: a landmark, a length and a 3×3 block on slice 20.
			slice := make([]byte, 128*128)
			for j := 60; j < 63; j++ {
				for i := 30; i < 33; i++ {
					slice[j*128+i] = 1
				}
			}
			img := &radmark.ImageRef{SOPInstanceUID: radmark.UID(e.ct.SOPInstanceUID(20))}
			save := annotation.SaveRequest{
				Message: "first",
				Items: []radmark.Item{
					{ID: "seg", Kind: radmark.KindSegmentation, Label: "nodule", Source: radmark.Source{Type: "human"}, Segment: &radmark.SegmentRef{Layer: 0, Value: 1}},
					{ID: "len", Kind: radmark.KindLength, Label: "nodule", Source: radmark.Source{Type: "human"}, Image: img, Points: [][2]float64{{10.5, 10.5}, {13.5, 14.5}}},
				},
				Answers:   []radmark.Answer{{Question: "quality", Choices: []string{"good"}}},
				Labelmaps: []annotation.LabelmapEdit{{Layer: 0, SeriesUID: radmark.UID(series), Columns: 128, Rows: 128, Slices: 64, Encoding: "raw", Data: map[string][]byte{"20": slice}}},
			}
			bad := save
			bad.Items = []radmark.Item{{ID: "len", Kind: radmark.KindLength, Label: "nodule", Source: radmark.Source{Type: "human"}, Image: img, Points: [][2]float64{{10, 10}, {200, 10}}}}
			if r := c.do("POST", sp+"/revisions", bad, "If-None-Match", "*"); r.Status != 400 || !strings.Contains(r.problem(t).Detail, "outside the 128×128 image") {
				t.Errorf("point outside: %d %s", r.Status, r.Body)
			}
			r = c.do("POST", sp+"/revisions", save, "If-None-Match", "*")
			var rev1 radmark.Revision
			r.json(t, &rev1)
			if r.Status != 201 || r.Header.Get("ETag") != etag(string(rev1.ID)) || rev1.Number != 1 {
				t.Fatalf("first save: %d %s", r.Status, r.Body)
			}
			// A second writer who also thinks it is first gets the head.
			r = c.do("POST", sp+"/revisions", save, "If-None-Match", "*")
			if p := r.problem(t); r.Status != 409 || p.Head != string(rev1.ID) || r.Header.Get("ETag") != etag(string(rev1.ID)) {
				t.Fatalf("second first save: %d %s", r.Status, r.Body)
			}
			save2 := save
			save2.Message, save2.Labelmaps = "second", nil
			save2.Items = append(save2.Items[:1:1], radmark.Item{ID: "len", Kind: radmark.KindLength, Label: "nodule", Source: radmark.Source{Type: "human"}, Image: img, Points: [][2]float64{{10.5, 10.5}, {16.5, 18.5}}})
			r = c.do("POST", sp+"/revisions", save2, "If-Match", etag(string(rev1.ID)))
			var rev2 radmark.Revision
			r.json(t, &rev2)
			if r.Status != 201 || rev2.Parent != rev1.ID {
				t.Fatalf("second save: %d %s", r.Status, r.Body)
			}
			if r := c.do("POST", sp+"/revisions", save2, "If-Match", etag(string(rev1.ID))); r.Status != 409 || r.problem(t).Head != string(rev2.ID) {
				t.Errorf("stale save: %d %s", r.Status, r.Body)
			}
			if r := c.do("POST", sp+"/revisions", save2, "If-Match", "W/\"x\""); r.Status != 400 {
				t.Errorf("weak If-Match: %d", r.Status)
			}

			// Reads.
			if r := c.do("GET", sp+"/revisions", nil); r.Status != 200 || bytes.Contains(r.Body, []byte(`"content"`)) {
				t.Errorf("history: %d %s", r.Status, r.Body)
			}
			rp := "/api/v1/revisions/" + string(rev2.ID)
			var full radmark.Revision
			r = c.do("GET", rp, nil)
			r.json(t, &full)
			if r.Status != 200 || full.Content == nil || len(full.Content.Labelmaps) != 1 {
				t.Fatalf("get revision: %d %s", r.Status, r.Body)
			}
			var ms []annotation.Measurement
			r = c.do("GET", rp+"/measurements", nil)
			r.json(t, &ms)
			if r.Status != 200 || len(ms) != 2 {
				t.Fatalf("measurements: %d %s", r.Status, r.Body)
			}
			for _, m := range ms {
				switch m.Item {
				case "len": // 6 × 8 px of 2 mm: 20 mm
					if math.Abs(m.Length.Value-20) > 1e-9 {
						t.Errorf("length = %v", m.Length)
					}
				case "seg": // 9 voxels of 8 mm³
					if math.Abs(m.Volume.Value-72) > 1e-9 {
						t.Errorf("volume = %v", m.Volume)
					}
				}
			}
			if r := c.do("GET", rp+"/labelmaps", nil); r.Status != 200 || !bytes.Contains(r.Body, []byte(`"labelled":[20]`)) {
				t.Errorf("labelmaps: %d %s", r.Status, r.Body)
			}
			r = c.do("GET", rp+"/labelmaps/0", nil, "Accept-Encoding", "gzip")
			vol := gunzip(t, r)
			if r.Status != 200 || len(vol) != 128*128*64 || vol[20*128*128+61*128+31] != 1 || vol[20*128*128+61*128+33] != 0 || r.Header.Get("X-Labelmap-Slices") != "64" {
				t.Errorf("labelmap volume: %d, %d bytes", r.Status, len(vol))
			}
			r = c.do("GET", rp+"/labelmaps/0/slices/20", nil)
			if r.Status != 200 || !bytes.Equal(r.Body, slice) {
				t.Errorf("labelmap slice: %d, %d bytes", r.Status, len(r.Body))
			}
			if r := c.do("GET", rp+"/labelmaps/0/slices/20?encoding=rle", nil); r.Status != 200 || len(r.Body) >= 1000 {
				t.Errorf("rle slice: %d, %d bytes", r.Status, len(r.Body))
			}
			if r := c.do("GET", rp+"/labelmaps/0/slices/64", nil); r.Status != 404 {
				t.Errorf("slice 64: %d", r.Status)
			}
			if r := c.do("GET", rp+"/labelmaps/3", nil); r.Status != 404 {
				t.Errorf("layer 3: %d", r.Status)
			}
			var d annotation.Diff
			r = c.do("GET", "/api/v1/diff?from="+string(rev1.ID)+"&to="+string(rev2.ID), nil)
			r.json(t, &d)
			if r.Status != 200 || len(d.Changed) != 1 || d.Changed[0].ID != "len" {
				t.Errorf("diff: %d %s", r.Status, r.Body)
			}
			if r := c.do("GET", "/api/v1/diff?from="+string(rev1.ID), nil); r.Status != 400 {
				t.Errorf("diff without to: %d", r.Status)
			}

			// Revert to revision 1.
			if r := c.do("POST", sp+"/revert", revertRequest{Target: rev1.ID}, "If-Match", etag(string(rev1.ID))); r.Status != 409 {
				t.Errorf("stale revert: %d", r.Status)
			}
			r = c.do("POST", sp+"/revert", revertRequest{Target: rev1.ID}, "If-Match", etag(string(rev2.ID)))
			var rev3 radmark.Revision
			r.json(t, &rev3)
			if r.Status != 201 || rev3.ContentHash != rev1.ContentHash || rev3.Number != 3 {
				t.Errorf("revert: %d %s", r.Status, r.Body)
			}

			// Geometry of the phantom CT: origin (−128, −128, −64), 2 mm.
			var g seriesGeometry
			r = c.do("GET", "/api/v1/studies/"+study+"/series/"+series+"/geometry", nil)
			r.json(t, &g)
			if r.Status != 200 || g.Slices != 64 || g.Origin != [3]float64{-128, -128, -64} || g.Spacing != [3]float64{2, 2, 2} || len(g.Images) != 64 {
				t.Errorf("geometry: %d %+v", r.Status, g)
			}
			if r := c.do("GET", "/api/v1/studies/"+study+"/series/1.2.3/geometry", nil); r.Status != 404 {
				t.Errorf("geometry of a missing series: %d", r.Status)
			}

			// Audit.
			var events []radmark.AuditEvent
			r = c.do("GET", "/api/v1/audit?object="+string(set.ID), nil)
			r.json(t, &events)
			if r.Status != 200 || len(events) != 4 || events[1].Action != "revision.save" || events[3].Action != "revision.revert" {
				t.Errorf("audit: %d %s", r.Status, r.Body)
			}
			if r := c.do("GET", "/api/v1/audit?from=yesterday", nil); r.Status != 400 {
				t.Errorf("bad from: %d", r.Status)
			}
			var v auditVerifyResponse
			r = c.do("GET", "/api/v1/audit/verify", nil)
			r.json(t, &v)
			if r.Status != 200 || !v.Intact || v.Events < 10 {
				t.Errorf("verify: %d %s", r.Status, r.Body)
			}
			if r := c.do("GET", "/api/v1/openapi.json", nil); r.Status != 200 {
				t.Errorf("openapi: %d", r.Status)
			}
			if r := c.do("GET", "/api/v1/nothing-here", nil); r.Status != 404 || r.problem(t).Code != radmark.ENOTFOUND {
				t.Errorf("unknown route: %d %s", r.Status, r.Body)
			}

			// Every route of the table was exercised, with success.
			for _, rt := range e.srv.apiRoutes() {
				if !c.seen[rt.ID][rt.OK] {
					t.Errorf("route %s %s (%s) was never exercised with %d", rt.Method, rt.Path, rt.ID, rt.OK)
				}
			}
		})
	}
}

func gunzip(t *testing.T, r apiResponse) []byte {
	t.Helper()
	if r.Header.Get("Content-Encoding") != "gzip" {
		return r.Body
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
