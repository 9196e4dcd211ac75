package release

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/radmark/radmark"
)

// testRelease stages files in a folder and returns the manifest's bytes,
// its id and the tar archive.
func testRelease(t testing.TB) (string, []byte, []byte) {
	dir := t.TempDir()
	contents := map[string]string{
		"nnunet/dataset.json":                   `{"labels":{"background":0}}`,
		"nnunet/imagesTr/case_0000_0000.nii.gz": "image bytes",
		"seg/case_0000.dcm":                     "DICM seg",
		"measurements.csv":                      "study_uid,value\n1.2,3\n",
	}
	m := &Manifest{Format: Format, Project: ProjectRef{ID: "p1", Name: "Liver"}, SchemaVersion: 2, Selection: "workflow",
		Split:     SplitSpec{Unit: "patient", Seed: 1, Fractions: DefaultFractions, Patients: map[string]int{Train: 1}},
		FrozenAt:  time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Cases:     []Case{{ID: "case_0000", Patient: "patient_0001", Split: Train, StudyUID: "1.2", Revision: "r1", Labels: []string{"liver"}}},
		Instances: []Instance{{SOPInstanceUID: "1.2.3.4", SeriesUID: "1.2.3", StudyUID: "1.2", SHA256: strings.Repeat("a", 64), Size: 10}}}
	for _, p := range []string{"measurements.csv", "nnunet/dataset.json", "nnunet/imagesTr/case_0000_0000.nii.gz", "seg/case_0000.dcm"} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(contents[p]), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(contents[p]))
		m.Files = append(m.Files, File{Path: p, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(contents[p]))})
	}
	raw, id, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTar(&buf, id, raw, m.Files, dir, m.FrozenAt); err != nil {
		t.Fatal(err)
	}
	return id, raw, buf.Bytes()
}

func toZip(t testing.TB, tarBytes []byte) []byte {
	var z bytes.Buffer
	if err := TarToZip(bytes.NewReader(tarBytes), &z); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

func TestManifestHashStable(t *testing.T) {
	id1, raw1, tar1 := testRelease(t)
	id2, raw2, tar2 := testRelease(t)
	if id1 != id2 || !bytes.Equal(raw1, raw2) || !bytes.Equal(tar1, tar2) {
		t.Fatal("the same release gave other bytes")
	}
	sum := sha256.Sum256(raw1)
	if hex.EncodeToString(sum[:]) != id1 {
		t.Fatal("the id is not the manifest's sha256")
	}
	// The golden id pins the manifest encoding: a change of it changes
	// every release id and must be deliberate.
	golden := filepath.Join("testdata", "manifest.sha256")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(golden, []byte(id1+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != id1 {
		t.Errorf("manifest id %s, golden %s (UPDATE_GOLDEN=1 after a deliberate format change)", id1, want)
	}
	if !bytes.Equal(toZip(t, tar1), toZip(t, tar2)) {
		t.Error("zip forms differ")
	}
}

func TestVerify(t *testing.T) {
	id, raw, tarBytes := testRelease(t)
	for name, b := range map[string][]byte{"tar": tarBytes, "zip": toZip(t, tarBytes)} {
		rep, err := Verify(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.ID != id || rep.Files != 4 || rep.Manifest.Project.Name != "Liver" {
			t.Errorf("%s: report %+v", name, rep)
		}
	}

	// rewrite rebuilds the tar with one entry changed (nil drops it).
	rewrite := func(change func(name string, data []byte) ([]byte, bool)) []byte {
		tr := tar.NewReader(bytes.NewReader(tarBytes))
		var out bytes.Buffer
		tw := tar.NewWriter(&out)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			data, keep := change(h.Name, data)
			if !keep {
				continue
			}
			h.Size = int64(len(data))
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			tw.Write(data)
		}
		tw.Close()
		return out.Bytes()
	}
	top := Folder(id) + "/"
	tampered := strings.Replace(string(raw), `"seed": 1`, `"seed": 2`, 1)
	tests := []struct {
		name   string
		change func(string, []byte) ([]byte, bool)
		want   string
	}{
		{"tampered file", func(n string, d []byte) ([]byte, bool) {
			if n == top+"seg/case_0000.dcm" {
				d = []byte("DICM sex")
			}
			return d, true
		}, "file seg/case_0000.dcm is corrupted"},
		{"tampered manifest", func(n string, d []byte) ([]byte, bool) {
			if n == top+ManifestName {
				d = []byte(tampered)
			}
			return d, true
		}, "manifest.json was changed"},
		{"missing file", func(n string, d []byte) ([]byte, bool) { return d, n != top+"measurements.csv" }, "file measurements.csv is missing"},
		{"no manifest", func(n string, d []byte) ([]byte, bool) { return d, n != top+ManifestName }, "has no manifest.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := rewrite(tt.change)
			for form, data := range map[string][]byte{"tar": b, "zip": toZip(t, b)} {
				_, err := Verify(bytes.NewReader(data), int64(len(data)))
				if err == nil || !strings.Contains(err.Error(), tt.want) || radmark.ErrorCode(err) != radmark.EINVALID {
					t.Errorf("%s: Verify = %v, want an invalid error containing %q", form, err, tt.want)
				}
			}
		})
	}
	if _, err := Verify(bytes.NewReader([]byte("hello")), 5); err == nil || !strings.Contains(err.Error(), "neither a zip nor a tar") {
		t.Errorf("Verify(hello) = %v", err)
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", "./a", "a/"} {
		if CheckPath(p) == nil {
			t.Errorf("CheckPath(%q) accepted", p)
		}
	}
	for _, p := range []string{"a", "nnunet/imagesTr/case_0000_0000.nii.gz"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v", p, err)
		}
	}
}

// FuzzVerify feeds the archive reader arbitrary bytes: it must never
// panic, and whatever it accepts must be consistent.
func FuzzVerify(f *testing.F) {
	_, _, tarBytes := testRelease(f)
	f.Add(tarBytes)
	f.Add(toZip(f, tarBytes))
	f.Add([]byte("PK\x05\x06"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Verify(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if radmark.ErrorCode(err) != radmark.EINVALID {
				t.Fatalf("error without the invalid code: %v", err)
			}
			return
		}
		if rep.Files != len(rep.Manifest.Files) || !IsID(rep.ID) {
			t.Fatalf("inconsistent report %+v", rep)
		}
	})
}
