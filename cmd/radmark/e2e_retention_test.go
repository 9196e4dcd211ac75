package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExportRetentionThroughServer: `radmark serve --export-retention 5s`
// sweeps by itself: an export job's file downloads at first, then answers
// 410 saying it expired and how to export again, and its blob is gone.
func TestExportRetentionThroughServer(t *testing.T) {
	data, _, _ := exchangeDataDir(t)
	s := startServer(t, "--data", data, "--export-retention", "5s")
	api := s.URL + "/api/v1"
	var projects []struct{ ID, Name string }
	getJSON(t, api+"/projects", &projects)
	project := ""
	for _, p := range projects {
		if p.Name == "Phantom" {
			project = p.ID
		}
	}
	if project == "" {
		t.Fatalf("no Phantom project in %+v", projects)
	}
	resp, err := http.Post(api+"/projects/"+project+"/exports", "application/json", strings.NewReader(`{"format":"measurements"}`))
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		ID, State     string
		FileExpiredAt *time.Time
	}
	err = json.NewDecoder(resp.Body).Decode(&j)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("start an export: %d %v", resp.StatusCode, err)
	}
	file := api + "/jobs/" + j.ID + "/file"
	blob := filepath.Join(data, "blobs", "exports", j.ID, "export")
	deadline := time.Now().Add(30 * time.Second)
	downloaded := false
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the export's file did not expire (downloaded before: %v)", downloaded)
		}
		r, body := get(t, file, "")
		if r.StatusCode == http.StatusOK {
			downloaded = true
		}
		if r.StatusCode == http.StatusGone {
			if !downloaded {
				t.Errorf("the file expired before it was ever downloaded; the test's timing is off")
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" ||
				!strings.Contains(string(body), "expired") || !strings.Contains(string(body), "retention of 5s") ||
				!strings.Contains(string(body), "start the export again") {
				t.Errorf("410 answer: %s %s", ct, body)
			}
			break
		}
		if r.StatusCode != http.StatusOK && r.StatusCode != http.StatusConflict {
			t.Fatalf("download: %d %s", r.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	getJSON(t, api+"/jobs/"+j.ID, &j)
	if j.State != "succeeded" || j.FileExpiredAt == nil {
		t.Errorf("the expired job: %+v", j)
	}
	// The job is marked expired (and answers 410) before its file is
	// deleted, so the file may go a moment after.
	for wait := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, err := os.Stat(blob)
		if os.IsNotExist(err) {
			break
		}
		if time.Now().After(wait) {
			t.Errorf("the export's blob is still there: %v", err)
			break
		}
	}
}
