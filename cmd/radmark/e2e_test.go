package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

// stow sends files in one STOW-RS request and returns the status and the
// decoded response.
func stow(t *testing.T, url string, contentType string, parts ...[]byte) (int, dicomJSONResponse) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", "application/dicom")
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(p)
	}
	_ = mw.Close()
	if contentType == "" {
		contentType = `multipart/related; type="application/dicom"; boundary=` + mw.Boundary()
	}
	req, _ := http.NewRequest(http.MethodPost, url, &body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out dicomJSONResponse
	out.raw = b
	_ = json.Unmarshal(b, &out.obj)
	return resp.StatusCode, out
}

type dicomJSONResponse struct {
	raw []byte
	obj map[string]struct {
		Value []dicomJSON `json:"Value"`
	}
}

// failures returns "reason comment" for each FailedSOPSequence item.
func (r dicomJSONResponse) failures() []string {
	var out []string
	for _, item := range r.obj["00081198"].Value {
		out = append(out, fmt.Sprintf("%s %s", string(item["00081197"].Value[0]), item.str("00000902")))
	}
	return out
}

func (r dicomJSONResponse) stored() int { return len(r.obj["00081199"].Value) }

// pydicomReading is pydicom's DICOM JSON of each file (pixel data aside).
func pydicomReading(t *testing.T, files []string) map[string]dicomJSON {
	t.Helper()
	py := testenv.Python(t)
	script := filepath.Join(testenv.RepoRoot(t), "dicom", "testdata", "pydicom_json.py")
	out, err := exec.Command(py, append([]string{script}, files...)...).Output()
	if err != nil {
		t.Fatalf("pydicom: %v", err)
	}
	res := map[string]dicomJSON{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var rec struct {
			File string    `json:"file"`
			JSON dicomJSON `json:"json"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		res[rec.File] = rec.JSON
	}
	return res
}

// corpusFiles lists the DICOM files of ../shared/data outside malformed/.
func corpusFiles(t *testing.T) []string {
	root := testenv.SharedData(t)
	var files []string
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && filepath.Base(p) == "malformed" {
			return filepath.SkipDir
		}
		if !info.IsDir() && strings.HasSuffix(p, ".dcm") {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files
}

// Key attributes compared between radmark's WADO-RS metadata / QIDO-RS
// and pydicom's reading of the same file.
var comparedTags = []string{
	"00080016", "00080018", "00080020", "00080060", "00100010", "00100020",
	"0020000D", "0020000E", "00200013", "00280010", "00280011", "00280100",
	"00280008", "00200032", "00280030",
}

// TestCorpusThroughDICOMweb stores every file of the shared corpus through
// STOW-RS and reads it back through QIDO-RS and WADO-RS, comparing with
// what pydicom and dcmdump say of the same file.
func TestCorpusThroughDICOMweb(t *testing.T) {
	files := corpusFiles(t)
	dcmdump := testenv.LookPath(t, "dcmdump")
	ref := pydicomReading(t, files)
	srv := startServer(t)
	transcoded := t.TempDir()
	stored := 0
	for _, path := range files {
		name := strings.TrimPrefix(path, testenv.SharedData(t)+"/")
		want := ref[path]
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Several corpus files are the same instance in other transfer
		// syntaxes: overwrite makes each file the stored one in turn.
		status, resp := stow(t, srv.DICOMweb()+"/studies?overwrite=true", "", data)
		hasUIDs := want.str("00080018") != "" && want.str("00080016") != "" && want.str("0020000D") != "" && want.str("0020000E") != ""
		if !hasUIDs {
			if status != http.StatusConflict || len(resp.failures()) != 1 || !strings.Contains(resp.failures()[0], "missing") {
				t.Errorf("%s lacks a required UID: want 409 with a 'missing' reason, got %d %s", name, status, resp.raw)
			}
			continue
		}
		if status != http.StatusOK || resp.stored() != 1 {
			t.Errorf("%s: STOW-RS %d %s", name, status, resp.raw)
			continue
		}
		stored++
		study, series, sop := want.str("0020000D"), want.str("0020000E"), want.str("00080018")
		instURL := srv.DICOMweb() + "/studies/" + study + "/series/" + series + "/instances/" + sop

		// WADO-RS as stored: the very bytes sent.
		r, body := get(t, instURL, `multipart/related; type="application/dicom"; transfer-syntax=*`)
		parts := multipartParts(t, r, body)
		if len(parts) != 1 || !bytes.Equal(parts[0], data) {
			t.Errorf("%s: WADO-RS transfer-syntax=* did not return the stored bytes", name)
		}
		// WADO-RS default (Explicit VR Little Endian): dcmdump must read it.
		r, body = get(t, instURL, `multipart/related; type="application/dicom"`)
		if r.StatusCode == http.StatusOK {
			parts = multipartParts(t, r, body)
			if len(parts) == 1 {
				_ = os.WriteFile(filepath.Join(transcoded, sop+".dcm"), parts[0], 0o644)
			}
		} else if r.StatusCode == http.StatusNotAcceptable {
			t.Logf("%s: not deliverable as Explicit VR Little Endian: %s", name, body)
		} else {
			t.Errorf("%s: WADO-RS Explicit VR Little Endian: %d %s", name, r.StatusCode, body)
		}

		// Metadata against pydicom.
		r, body = get(t, instURL+"/metadata", "application/dicom+json")
		var md []dicomJSON
		if r.StatusCode != http.StatusOK || json.Unmarshal(body, &md) != nil || len(md) != 1 {
			t.Errorf("%s: metadata %d %s", name, r.StatusCode, tail(string(body), 200))
			continue
		}
		for _, tag := range comparedTags {
			if got, exp := md[0].raw(tag), want.raw(tag); got != exp {
				t.Errorf("%s: metadata %s = %s, pydicom %s", name, tag, got, exp)
			}
		}
		// QIDO-RS finds the instance in its series.
		r, body = get(t, srv.DICOMweb()+"/instances?SOPInstanceUID="+sop, "application/dicom+json")
		var found []dicomJSON
		if r.StatusCode != http.StatusOK || json.Unmarshal(body, &found) != nil || len(found) != 1 ||
			found[0].str("0020000E") != series || found[0].raw("00280010") != want.raw("00280010") {
			t.Errorf("%s: QIDO-RS by SOPInstanceUID: %d %s", name, r.StatusCode, tail(string(body), 300))
		}
	}
	if stored < 200 {
		t.Errorf("only %d corpus files stored", stored)
	}
	dumped, _ := filepath.Glob(filepath.Join(transcoded, "*.dcm"))
	if len(dumped) < stored/2 {
		t.Errorf("only %d instances retrievable as Explicit VR Little Endian", len(dumped))
	}
	for _, f := range dumped {
		if out, err := exec.Command(dcmdump, "-q", f).CombinedOutput(); err != nil || len(out) == 0 {
			t.Errorf("dcmdump cannot read the Explicit VR Little Endian copy %s: %v %s", filepath.Base(f), err, out)
		}
	}
	t.Logf("%d corpus files stored and read back; %d transcoded copies read by dcmdump", stored, len(dumped))
}

// raw returns an attribute's Value as compact JSON for comparison, with
// numbers normalised.
func (d dicomJSON) raw(tag string) string {
	el, ok := d[tag]
	if !ok || len(el.Value) == 0 {
		return ""
	}
	var vals []any
	for _, v := range el.Value {
		var x any
		_ = json.Unmarshal(v, &x)
		if pn, ok := x.(map[string]any); ok {
			if a, ok := pn["Alphabetic"].(string); ok {
				x = strings.TrimRight(a, "^ ")
			}
		}
		if f, ok := x.(float64); ok {
			x = fmt.Sprintf("%.6g", f)
		}
		vals = append(vals, x)
	}
	if len(vals) == 1 && (vals[0] == "" || vals[0] == nil) {
		return "" // an empty value written out, or left out: the same
	}
	b, _ := json.Marshal(vals)
	return string(b)
}

// multipartParts splits a multipart/related response.
func multipartParts(t *testing.T, r *http.Response, body []byte) [][]byte {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		t.Errorf("response Content-Type %q (status %d): %s", r.Header.Get("Content-Type"), r.StatusCode, tail(string(body), 200))
		return nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Errorf("multipart: %v", err)
			return parts
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, b)
	}
	return parts
}
