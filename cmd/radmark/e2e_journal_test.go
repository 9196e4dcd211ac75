package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/phantom"
)

// TestAcknowledgedInstancesSurviveKill stores instances one per request
// through the blob journal (on by default with SQLite), kills the server
// without warning right after the last answer, and finds every
// acknowledged instance, byte for byte, after a restart on the same data
// folder — whether it was still only in the journal (replayed at start)
// or already moved into the folder tree.
func TestAcknowledgedInstancesSurviveKill(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, "--data", data)
	ser, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	sent := map[string][]byte{} // SOP Instance UID → bytes
	for _, ds := range ser.Instances {
		var buf bytes.Buffer
		if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		code, resp := stow(t, srv.DICOMweb()+"/studies", "", buf.Bytes())
		if code != http.StatusOK || resp.stored() != 1 {
			t.Fatalf("STOW: %d %s", code, resp.raw)
		}
		sent[ds.String(dicom.TagSOPInstanceUID)] = buf.Bytes()
	}
	if _, err := os.Stat(filepath.Join(data, "blobs", ".journal", "checkpoint")); err != nil {
		t.Fatalf("the server does not journal: %v", err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = srv.cmd.Process.Wait()
	// A kill keeps what the mover wrote in the page cache; a power loss
	// may not. Remove from the folder tree every object whose journal
	// record is past the checkpoint (whose file no syncfs has covered):
	// the start must write them again from the journal.
	blobs := filepath.Join(data, "blobs")
	replay, err := fsblob.Replayable(blobs)
	if err != nil {
		t.Fatal(err)
	}
	// New instances are named by a fresh random key (hashed while the
	// journal syncs), a re-send by its digest: what a moved file holds
	// must be one of the instances sent.
	ours := map[string]bool{}
	for _, b := range sent {
		sum := sha256.Sum256(b)
		ours[hex.EncodeToString(sum[:])] = true
	}
	freshKey := regexp.MustCompile(`^dicom/[0-9a-f]{2}/[0-9a-f]{32}$`)
	lost := 0
	for _, key := range replay {
		path := filepath.Join(blobs, filepath.FromSlash(key))
		if !freshKey.MatchString(key) && !ours[filepath.Base(key)] {
			t.Errorf("the journal holds %s, which is no key of an instance sent", key)
		}
		if b, err := os.ReadFile(path); err == nil {
			if sum := sha256.Sum256(b); !ours[hex.EncodeToString(sum[:])] {
				t.Errorf("%s holds %d bytes that nobody stored", key, len(b))
			}
		}
		if err := os.Remove(path); err == nil {
			lost++
		}
	}
	t.Logf("%d of %d instances were only durable in the journal when the server was killed (%d files removed)", len(replay), len(sent), lost)

	restarted := startServer(t, "--data", data)
	// Each request's audit event went with its instance, into the journal
	// too: the replay brings back what was lost and repeats nothing.
	var events []radmark.AuditEvent
	getJSON(t, restarted.URL+"/api/v1/audit?action=dicomweb.store&limit=1000", &events)
	if len(events) != len(sent) {
		t.Errorf("%d dicomweb.store audit events after the restart, want one per request (%d)", len(events), len(sent))
	}
	for uid, want := range sent {
		url := restarted.DICOMweb() + "/studies/" + ser.StudyInstanceUID + "/series/" + ser.SeriesInstanceUID + "/instances/" + uid
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", `multipart/related; type="application/dicom"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("instance %s after the restart: %d %s", uid, resp.StatusCode, body)
		}
		parts := multipartParts(t, resp, body)
		if len(parts) != 1 || !bytes.Equal(parts[0], want) {
			t.Fatalf("instance %s after the restart: %d parts, not the bytes stored", uid, len(parts))
		}
	}
}
