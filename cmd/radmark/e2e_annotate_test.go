package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/radmark/radmark"
)

// TestAnnotateThroughTheBinary runs the user's path with the real binary:
// demo data and project, serve, read the project's schema, open a set,
// save a landmark, see the DICOMweb reads and the save in the audit
// trail, then stop the server, edit a stored event and have
// `radmark audit verify` name it.
func TestAnnotateThroughTheBinary(t *testing.T) {
	srv := startServer(t)
	if out, errOut, code := runCLI(t, "demo", "--small", "--data", srv.Data); code != 0 || !strings.Contains(out, "demo project") {
		t.Fatalf("demo: %d %s %s", code, out, errOut)
	}
	call := func(method, path string, body any, headers ...string) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var projects []radmark.Project
	if st, b := call("GET", "/api/v1/projects", nil); st != 200 || json.Unmarshal(b, &projects) != nil {
		t.Fatalf("projects: %d %s", st, b)
	}
	// The demo project without cases: personal annotation sets (the
	// workflow demo's studies are annotated through tasks).
	projects = slices.DeleteFunc(projects, func(p radmark.Project) bool { return p.Name != demoProjectName })
	if len(projects) != 1 || projects[0].SchemaVersion != 1 {
		t.Fatalf("projects: %+v", projects)
	}
	// The phantom CT from QIDO-RS.
	st, b := call("GET", "/dicomweb/series?Modality=CT", nil)
	var series []map[string]struct{ Value []any }
	if st != 200 || json.Unmarshal(b, &series) != nil || len(series) != 1 {
		t.Fatalf("QIDO CT series: %d %s", st, b)
	}
	study, seriesUID := series[0]["0020000D"].Value[0].(string), series[0]["0020000E"].Value[0].(string)
	var geo struct {
		Slices int `json:"slices"`
		Images []struct {
			SOPInstanceUID string     `json:"sopInstanceUID"`
			Position       [3]float64 `json:"position"`
		} `json:"images"`
	}
	if st, b := call("GET", "/api/v1/studies/"+study+"/series/"+seriesUID+"/geometry", nil); st != 200 || json.Unmarshal(b, &geo) != nil || geo.Slices != 64 {
		t.Fatalf("geometry: %d %s", st, b)
	}
	var set radmark.AnnotationSet
	if st, b := call("POST", "/api/v1/annotation-sets", map[string]string{"projectId": string(projects[0].ID), "studyUID": study, "seriesUID": seriesUID}); st != 201 || json.Unmarshal(b, &set) != nil {
		t.Fatalf("create set: %d %s", st, b)
	}
	img := geo.Images[32]
	save := map[string]any{"message": "first landmark", "items": []radmark.Item{{
		ID: "lm-1", Kind: radmark.KindLandmark, Label: "vertebra", Source: radmark.Source{Type: "human"},
		Image: &radmark.ImageRef{SOPInstanceUID: radmark.UID(img.SOPInstanceUID)},
		LPS:   [][3]float64{{img.Position[0] + 128, img.Position[1] + 178, img.Position[2]}},
	}}}
	if st, b := call("POST", "/api/v1/annotation-sets/"+string(set.ID)+"/revisions", save, "If-None-Match", "*"); st != 201 {
		t.Fatalf("save: %d %s", st, b)
	}
	if st, b := call("GET", "/api/v1/audit?action=dicomweb.search", nil); st != 200 || !bytes.Contains(b, []byte("Modality=CT")) {
		t.Fatalf("QIDO search not audited: %d %s", st, b)
	}
	var saves []radmark.AuditEvent
	if st, b := call("GET", "/api/v1/audit?action=revision.save", nil); st != 200 || json.Unmarshal(b, &saves) != nil || len(saves) != 1 {
		t.Fatalf("save not audited: %d %s", st, b)
	}
	out, errOut, code := runCLI(t, "audit", "verify", "--data", srv.Data)
	if code != 0 || !strings.HasPrefix(out, "audit chain intact") {
		t.Fatalf("verify while serving: %d %s %s", code, out, errOut)
	}
	tamper(t, srv.Data, "UPDATE audit_event SET actor = 'mallory' WHERE seq = "+itoa(saves[0].Seq))
	out, _, code = runCLI(t, "audit", "verify", "--data", srv.Data)
	if code != 1 || !strings.Contains(out, "BROKEN at event "+itoa(saves[0].Seq)) {
		t.Fatalf("verify after tampering: exit %d, %s", code, out)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
