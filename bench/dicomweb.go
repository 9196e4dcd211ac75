package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
)

// Accept headers of the measurements.
const (
	// acceptFramesAsStored is what Cornerstone's DICOMweb image loader
	// sends for a frame.
	acceptFramesAsStored = `multipart/related; type="application/octet-stream"; transfer-syntax=*`
	// acceptFramesDefault asks for the default: uncompressed, explicit VR
	// little endian.
	acceptFramesDefault  = `multipart/related; type="application/octet-stream"`
	acceptSeriesAsStored = `multipart/related; type="application/dicom"; transfer-syntax=*`
	acceptJSON           = "application/dicom+json"
)

// stowBody is one prepared STOW-RS request.
type stowBody struct {
	body        []byte
	contentType string
	uids        []string // SOP Instance UIDs of its parts, in order
	bytes       int64    // DICOM bytes in it (without multipart framing)
}

// newStowBody frames files as multipart/related; type="application/dicom"
// (PS3.18 10.5), as a STOW-RS uploader sends them.
func newStowBody(files [][]byte, uids []string) stowBody {
	var boundary string
	for {
		var b [16]byte
		_, _ = rand.Read(b[:])
		boundary = "radmark-bench-" + hex.EncodeToString(b[:])
		clash := false
		for _, f := range files {
			if bytes.Contains(f, []byte(boundary)) {
				clash = true
				break
			}
		}
		if !clash {
			break
		}
	}
	var buf bytes.Buffer
	var n int64
	for _, f := range files {
		buf.WriteString("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n")
		buf.Write(f)
		buf.WriteString("\r\n")
		n += int64(len(f))
	}
	buf.WriteString("--" + boundary + "--\r\n")
	return stowBody{
		body:        buf.Bytes(),
		contentType: `multipart/related; type="application/dicom"; boundary=` + boundary,
		uids:        uids,
		bytes:       n,
	}
}

// stowBodies splits files into bodies of perRequest files.
func stowBodies(files [][]byte, uids []string, perRequest int) []stowBody {
	var out []stowBody
	for i := 0; i < len(files); i += perRequest {
		j := min(i+perRequest, len(files))
		out = append(out, newStowBody(files[i:j], uids[i:j]))
	}
	return out
}

// dicomJSON is one DICOM JSON dataset (PS3.18 F.2).
type dicomJSON map[string]struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

func (d dicomJSON) str(tag string) string {
	v := d[tag].Value
	if len(v) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v[0], &s) != nil {
		return ""
	}
	return s
}

func (d dicomJSON) items(tag string) ([]dicomJSON, error) {
	var out []dicomJSON
	for _, raw := range d[tag].Value {
		var item dicomJSON
		if err := json.Unmarshal(raw, &item); err != nil {
			return nil, fmt.Errorf("item of %s: %w", tag, err)
		}
		out = append(out, item)
	}
	return out, nil
}

// stow sends one STOW-RS request and checks that the server acknowledged
// every instance of it by SOP Instance UID (ReferencedSOPSequence) and
// refused none (FailedSOPSequence).
func (s *server) stow(ctx context.Context, b stowBody) error {
	req, err := http.NewRequestWithContext(ctx, "POST", s.dicomweb+"/studies", bytes.NewReader(b.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", b.contentType)
	req.Header.Set("Accept", acceptJSON)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s STOW-RS: %w", s.name, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s STOW-RS: %w", s.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s STOW-RS answered %s: %.500s", s.name, resp.Status, body)
	}
	return checkStowResponse(s.name, body, b.uids)
}

func checkStowResponse(name string, body []byte, uids []string) error {
	var ds dicomJSON
	if err := json.Unmarshal(body, &ds); err != nil {
		return fmt.Errorf("%s STOW-RS response is not DICOM JSON: %w (%.200s)", name, err, body)
	}
	failed, err := ds.items("00081198")
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s STOW-RS refused %d of %d instances, first %s: %s", name, len(failed), len(uids), failed[0].str("00081155"), failed[0].str("00000902"))
	}
	stored, err := ds.items("00081199")
	if err != nil {
		return err
	}
	want := make(map[string]bool, len(uids))
	for _, u := range uids {
		want[u] = true
	}
	for _, it := range stored {
		delete(want, it.str("00081155"))
	}
	if len(want) > 0 || len(stored) != len(uids) {
		return fmt.Errorf("%s STOW-RS acknowledged %d instances of %d sent (%d not acknowledged)", name, len(stored), len(uids), len(want))
	}
	return nil
}

// postInstance stores one file with Orthanc's native REST API
// (POST /instances), the other way Orthanc is commonly filled.
func (s *server) postInstance(ctx context.Context, file []byte) error {
	req, err := http.NewRequestWithContext(ctx, "POST", s.root+"/instances", bytes.NewReader(file))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/dicom")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s POST /instances answered %s: %.300s", s.name, resp.Status, body)
	}
	var r struct{ Status string }
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "Success" {
		return fmt.Errorf("%s POST /instances: status %q: %.300s", s.name, r.Status, body)
	}
	return nil
}

// get fetches url with the Accept header and returns the body and its
// Content-Type, the time to the last byte, and an error unless 200 (or 204,
// an empty QIDO-RS result).
func (s *server) get(ctx context.Context, url, accept string) ([]byte, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, "", 0, err
	}
	req.Header.Set("Accept", accept)
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, "", 0, fmt.Errorf("%s GET %s: %w", s.name, url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	if err != nil {
		return nil, "", 0, fmt.Errorf("%s GET %s: %w", s.name, url, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return nil, "", 0, fmt.Errorf("%s GET %s (Accept: %s) answered %s: %.300s", s.name, url, accept, resp.Status, body)
	}
	return body, resp.Header.Get("Content-Type"), elapsed, nil
}

// multipartParts splits a multipart/related body into its parts' bodies
// and Content-Types.
func multipartParts(contentType string, body []byte) ([][]byte, []string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, nil, fmt.Errorf("content type %q: %w", contentType, err)
	}
	if !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, nil, fmt.Errorf("content type %q is not multipart with a boundary", contentType)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts [][]byte
	var types []string
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return parts, types, nil
		}
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, b)
		types = append(types, p.Header.Get("Content-Type"))
	}
}

// streamParts reads a multipart response part by part without keeping it,
// as a viewer or downloader would, and returns the part count and the bytes
// of their bodies.
func streamParts(resp *http.Response, each func(i int, part io.Reader) (int64, error)) (int, int64, error) {
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		return 0, 0, fmt.Errorf("content type %q is not multipart with a boundary", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var n int
	var total int64
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return n, total, nil
		}
		if err != nil {
			return n, total, err
		}
		m, err := each(n, p)
		if err != nil {
			return n, total, err
		}
		n++
		total += m
	}
}

// qidoCount is the number of results of a QIDO-RS answer.
func qidoCount(body []byte) (int, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return 0, nil // 204 No Content
	}
	var results []json.RawMessage
	if err := json.Unmarshal(body, &results); err != nil {
		return 0, fmt.Errorf("QIDO-RS answer is not a JSON array: %w (%.200s)", err, body)
	}
	return len(results), nil
}
