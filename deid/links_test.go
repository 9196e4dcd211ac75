package deid

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
)

func uidsUnder(ds *dicom.Dataset, tag dicom.Tag, into map[string]bool) {
	for i := range ds.Elements {
		e := &ds.Elements[i]
		if e.Tag == tag {
			for _, v := range e.Strings(ds.Charset()) {
				into[v] = true
			}
		}
		for _, it := range e.Items {
			uidsUnder(it, tag, into)
		}
	}
}

// TestSEGReferencesFollowImages: a SEG de-identified with the images it
// segments still points at them, through the remapped UIDs.
func TestSEGReferencesFollowImages(t *testing.T) {
	dir := filepath.Join(testenv.SharedData(t), "annotations", "dcmqi_liver-seg_ct-3slice")
	d := mustNew(t, testProfile(), "project-a")
	imageSOP, imageSeries, imageStudy := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, n := range []string{"01.dcm", "02.dcm", "03.dcm"} {
		f, err := dicom.ParseFile(filepath.Join(dir, "images", n), dicom.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Apply(f.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		imageSOP[res.Dataset.String(dicom.TagSOPInstanceUID)] = true
		imageSeries[res.Dataset.String(tagSeriesInstanceUID)] = true
		imageStudy[res.Dataset.String(tagStudyInstanceUID)] = true
	}
	if len(imageSeries) != 1 || len(imageStudy) != 1 || len(imageSOP) != 3 {
		t.Fatalf("series %v study %v instances %v: a series must stay one series", imageSeries, imageStudy, imageSOP)
	}
	for _, seg := range []string{"liver.seg.dcm", "partial_overlaps.seg.dcm"} {
		f, err := dicom.ParseFile(filepath.Join(dir, seg), dicom.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Apply(f.Dataset)
		if err != nil {
			t.Fatal(err)
		}
		refs := map[string]bool{}
		uidsUnder(res.Dataset, dicom.TagReferencedSOPInstanceUID, refs)
		if len(refs) == 0 {
			t.Fatalf("%s: no references left", seg)
		}
		for r := range refs {
			if !imageSOP[r] {
				t.Errorf("%s: reference %s points at no de-identified image", seg, r)
			}
		}
		series := map[string]bool{}
		for _, it := range res.Dataset.Items(dicom.NewTag(0x0008, 0x1115)) {
			series[it.String(tagSeriesInstanceUID)] = true
		}
		for s := range series {
			if !imageSeries[s] {
				t.Errorf("%s: referenced series %s is not the de-identified image series", seg, s)
			}
		}
		if !imageStudy[res.Dataset.String(tagStudyInstanceUID)] {
			t.Errorf("%s: left its study", seg)
		}
	}
}

// TestDatesShiftPerPatient: every file of a patient moves by the same
// number of days; the two CT patients move differently.
func TestDatesShiftPerPatient(t *testing.T) {
	d := mustNew(t, testProfile(), "project-a")
	root := testenv.SharedData(t)
	shifts := map[string]int{}
	for _, series := range []string{"ct/tcia_lung-pet-ct-dx_A0002_chest-8mm", "ct/tcia_tcga-thca_DE-A4MA_abdomen-subset-56of269"} {
		files, _ := filepath.Glob(filepath.Join(root, series, "*.dcm"))
		if len(files) < 20 {
			t.Fatalf("%s: %d files", series, len(files))
		}
		got := map[int]bool{}
		for _, p := range files {
			f, err := dicom.ParseFile(p, dicom.ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := d.Apply(f.Dataset)
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range []dicom.Tag{dicom.NewTag(0x0008, 0x0020), dicom.NewTag(0x0008, 0x0021), dicom.NewTag(0x0008, 0x0023)} {
				a, b := f.Dataset.String(tag), res.Dataset.String(tag)
				if a == "" {
					continue
				}
				ta, err1 := time.Parse("20060102", a)
				tb, err2 := time.Parse("20060102", b)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s %s: %q -> %q", p, tag, a, b)
				}
				got[int(tb.Sub(ta).Hours()/24)] = true
			}
		}
		if len(got) != 1 {
			t.Fatalf("%s: shifts %v, want one per patient", series, got)
		}
		for s := range got {
			if s >= 0 {
				t.Errorf("%s: shift %d is not into the past", series, s)
			}
			shifts[series] = s
		}
	}
	if len(shifts) == 2 && shifts["ct/tcia_lung-pet-ct-dx_A0002_chest-8mm"] == shifts["ct/tcia_tcga-thca_DE-A4MA_abdomen-subset-56of269"] {
		t.Error("two patients got the same shift")
	}
}

// TestPydicomAndDciodvfy writes the de-identified corpus and checks it with
// the peers: pydicom reads every file and finds no Table E.1-1 attribute
// (that the profile does not keep) with its original value; dciodvfy
// reports no error the original did not have, on every file.
func TestPydicomAndDciodvfy(t *testing.T) {
	py := testenv.Python(t)
	dciodvfy := testenv.LookPath(t, "dciodvfy")
	d := mustNew(t, testProfile(), "project-a")
	tmp := t.TempDir()
	var pairs []string
	r := &run{d: d}
	keep := map[string]bool{}
	for tag, rule := range profileTable.byTag {
		if a := r.effectiveAction(rule); a == Keep || a == Clean {
			keep[tag.Hex()] = true
		}
	}
	var keepList []string
	for k := range keep {
		keepList = append(keepList, k)
	}
	sort.Strings(keepList)
	var checked []string
	for tag := range profileTable.byTag {
		checked = append(checked, tag.Hex())
	}
	sort.Strings(checked)
	for _, c := range corpus(t) {
		res, err := d.Apply(c.f.Dataset)
		if err != nil {
			t.Fatalf("%s: %v", c.rel, err)
		}
		if c.f.Meta == nil || c.f.TransferSyntax.BigEndian {
			continue // raw datasets and big endian: not rewritten in their own syntax
		}
		out := filepath.Join(tmp, strings.ReplaceAll(c.rel, "/", "_"))
		if err := os.WriteFile(out, encode(t, c.f, res.Dataset), 0o600); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, filepath.Join(testenv.SharedData(t), c.rel)+"\t"+out)
	}
	list := filepath.Join(tmp, "pairs.tsv")
	if err := os.WriteFile(list, []byte(strings.Join(pairs, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, pydicom
checked = set(int(x, 16) for x in sys.argv[2].split(","))
keep = set(int(x, 16) for x in sys.argv[3].split(",") if x)
bad = 0
def values(ds, into):
    for el in ds.iterall():
        if el.tag in checked and el.tag not in keep and el.VR not in ("SQ",) and el.value not in (None, "", b""):
            v = str(el.value)
            if not v.startswith("1.2.840.10008."):
                into.setdefault(int(el.tag), set()).add(v)
for line in open(sys.argv[1]):
    orig, out = line.rstrip("\n").split("\t")
    a, b = {}, {}
    values(pydicom.dcmread(orig, force=True), a)
    values(pydicom.dcmread(out), b)
    for tag, vs in b.items():
        same = vs & a.get(tag, set())
        same -= {"ANONYMIZED", "ANONYMOUS", "REMOVED", "0", "19000101", "000000"}
        if same:
            bad += 1
            print("%s: (%04X,%04X) keeps %r" % (orig, tag >> 16, tag & 0xFFFF, sorted(same)[:3]))
print("checked", sum(1 for _ in open(sys.argv[1])))
sys.exit(1 if bad else 0)
`
	cmd := exec.Command(py, "-c", script, list, strings.Join(checked, ","), strings.Join(keepList, ","))
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pydicom: %v\n%s", err, outb)
	}
	t.Logf("pydicom: %s", strings.TrimSpace(string(outb)))
	errs := func(p string) map[string]bool {
		o, _ := exec.Command(dciodvfy, p).CombinedOutput()
		m := map[string]bool{}
		for _, l := range strings.Split(string(o), "\n") {
			if strings.HasPrefix(l, "Error") {
				m[l] = true
			}
		}
		return m
	}
	for _, pair := range pairs {
		orig, out, _ := strings.Cut(pair, "\t")
		before, after := errs(orig), errs(out)
		bogus := bogusReferences(t, orig)
		for e := range after {
			if bogus && strings.Contains(e, "Referenced SOP Instance is not listed in CurrentRequestedProcedureEvidenceSequence") {
				// The original references "0" and the like, which dciodvfy
				// skips; remapped, they are UIDs it looks up in the (absent)
				// evidence lists.
				continue
			}
			if !before[e] {
				t.Errorf("%s: dciodvfy reports a new error: %s", orig, e)
			}
		}
	}
	t.Logf("dciodvfy: %d files, no new errors", len(pairs))
}

var validUID = regexp.MustCompile(`^[0-2](\.(0|[1-9][0-9]*))+$`)

// bogusReferences reports whether a file references an instance by a
// value that is not a UID.
func bogusReferences(t *testing.T, path string) bool {
	f, err := dicom.ParseFile(path, dicom.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	uidsUnder(f.Dataset, dicom.TagReferencedSOPInstanceUID, refs)
	for r := range refs {
		if !validUID.MatchString(r) {
			return true
		}
	}
	return false
}
