package deid

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
)

var testSecret = []byte("radmark test site secret, 32 bytes or more")

func testProfile() Profile {
	return Profile{Version: 1, Name: "research", Options: Options{
		RetainLongitudinalModifiedDates: true,
		CleanDescriptors:                true,
		CleanStructuredContent:          true,
	}}
}

func mustNew(t testing.TB, p Profile, project string) *Deidentifier {
	t.Helper()
	d, err := New(p, ProjectKey(testSecret, project))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type corpusFile struct {
	rel string
	f   *dicom.File
}

// corpus parses every DICOM file of the shared data that parses.
func corpus(t *testing.T) []corpusFile {
	t.Helper()
	root := testenv.SharedData(t)
	var out []corpusFile
	err := filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".txt") || strings.HasSuffix(p, ".json") || strings.Contains(p, ".nii") || strings.HasSuffix(p, "SHA256SUMS") {
			return nil
		}
		f, err := dicom.ParseFile(p, dicom.ParseOptions{})
		if err != nil || f.Dataset.String(dicom.TagSOPInstanceUID) == "" || f.Dataset.String(dicom.TagSOPClassUID) == "" {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, corpusFile{rel, f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 250 {
		t.Fatalf("only %d parseable DICOM files in %s", len(out), root)
	}
	return out
}

func encode(t testing.TB, f *dicom.File, ds *dicom.Dataset) []byte {
	t.Helper()
	b, err := Encode(f, ds)
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	return b
}

// TestCorpus de-identifies every parseable file of the shared data: the
// PHI scanner finds nothing, the result parses again, the method is
// recorded, the same input and key give the same bytes.
func TestCorpus(t *testing.T) {
	d := mustNew(t, testProfile(), "project-a")
	other := mustNew(t, testProfile(), "project-b")
	quarantined := 0
	for _, c := range corpus(t) {
		res, err := d.Apply(c.f.Dataset)
		if err != nil {
			t.Errorf("%s: %v", c.rel, err)
			continue
		}
		if fs := d.Scan(c.f.Dataset, res.Dataset); len(fs) > 0 {
			t.Errorf("%s: PHI scanner: %v", c.rel, fs)
		}
		if fs := d.Check(res.Dataset); len(fs) > 0 {
			t.Errorf("%s: check: %v", c.rel, fs)
		}
		if res.Quarantine != "" {
			quarantined++
		}
		out := res.Dataset
		if out.String(tagPatientIdentityRemoved) != "YES" || len(out.Items(tagDeidentificationMethodCode)) == 0 || out.String(tagDeidentificationMethod) == "" {
			t.Errorf("%s: de-identification not recorded", c.rel)
		}
		if orig := c.f.Dataset.String(dicom.TagSOPInstanceUID); out.String(dicom.TagSOPInstanceUID) == orig || !strings.HasPrefix(out.String(dicom.TagSOPInstanceUID), "2.25.") {
			t.Errorf("%s: SOP Instance UID not remapped", c.rel)
		}
		b1 := encode(t, c.f, out)
		if _, err := dicom.ParseBytes(b1, dicom.ParseOptions{}); err != nil {
			t.Errorf("%s: result does not parse: %v", c.rel, err)
		}
		res2, err := d.Apply(c.f.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, encode(t, c.f, res2.Dataset)) {
			t.Errorf("%s: same input and key gave different output", c.rel)
		}
		resB, err := other.Apply(c.f.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		if (c.f.Dataset.Has(dicom.TagPatientID) && resB.Dataset.String(dicom.TagPatientID) == out.String(dicom.TagPatientID)) || resB.Dataset.String(dicom.TagSOPInstanceUID) == out.String(dicom.TagSOPInstanceUID) {
			t.Errorf("%s: two projects share pseudonyms", c.rel)
		}
	}
	if quarantined == 0 {
		t.Error("nothing was quarantined; the corpus holds secondary captures and ultrasound")
	}
}
