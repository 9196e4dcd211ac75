package ontology

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

// TestDICOMDataRegenerates runs the generator's DICOM part against Debian's
// python3-pydicom and checks the result is the committed data/dicom.tsv, so
// the file stays what the generator makes from the standard's tables. (The
// RadLex and ICD-10 parts need source tables that are not on the machine;
// SOURCES.md says how to run them.)
func TestDICOMDataRegenerates(t *testing.T) {
	py := testenv.Python(t)
	if out, err := exec.Command(py, "-c", "import pydicom; assert pydicom.__version__ == '2.3.1', pydicom.__version__").CombinedOutput(); err != nil {
		t.Skipf("the data was generated with pydicom 2.3.1; this machine has another version: %s", out)
	}
	dir := t.TempDir()
	cmd := exec.Command(py, filepath.Join("gen", "gen.py"), "dicom", "--out", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.py dicom: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "dicom.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("data", "dicom.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("gen.py dicom makes a different data/dicom.tsv; run `/usr/bin/python3 ontology/gen/gen.py dicom` and review the diff")
	}
}
