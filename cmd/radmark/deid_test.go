package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
)

func TestDeidCheck(t *testing.T) {
	orig := filepath.Join(testenv.SharedData(t), "ct", "tcia_lung-pet-ct-dx_A0002_chest-8mm", "1-01.dcm")
	f, err := dicom.ParseFile(orig, dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := deid.New(deid.Profile{Version: 1, Name: "basic"}, deid.ProjectKey([]byte("test secret of thirty-two bytes!!"), "p"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Apply(f.Dataset)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "deid.dcm")
	var b bytes.Buffer
	if err := dicom.WriteFile(&b, res.Dataset, dicom.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"deid", "check", "--original", orig, out}, &stdout, &stderr); code != 0 {
		t.Fatalf("check of a de-identified file: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run(t.Context(), []string{"deid", "check", orig}, &stdout, &stderr); code != 1 || !strings.Contains(stdout.String(), "should have been removed") {
		t.Fatalf("check of an identified file: exit %d\n%s", code, stdout.String())
	}
}
