package dicom

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

// sharedDICOMFiles lists the DICOM files of ../shared/data outside
// malformed/ (those are meant to fail).
func sharedDICOMFiles(t *testing.T) (root string, files []string) {
	t.Helper()
	root = testenv.SharedData(t)
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if info.IsDir() {
			if rel == "malformed" || rel == "licenses" || strings.HasSuffix(rel, "nifti-reference") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".dcm") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return root, files
}

// TestAgainstPydicom reads every file of the shared corpus with our parser
// and with pydicom and requires the same DICOM JSON (pixel data aside):
// same elements, VRs, decoded strings (character sets included), numbers
// and binary values.
func TestAgainstPydicom(t *testing.T) {
	py := testenv.Python(t)
	root, files := sharedDICOMFiles(t)
	// pydicom's charset test files exercise every Specific Character Set.
	charsets, _ := filepath.Glob("/usr/lib/python3/dist-packages/pydicom/data/charset_files/*.dcm")
	files = append(files, charsets...)
	cmd := exec.Command(py, "testdata/pydicom_json.py")
	cmd.Args = append(cmd.Args, files...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pydicom: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	checked := 0
	for sc.Scan() {
		var rec struct {
			File  string          `json:"file"`
			JSON  json.RawMessage `json:"json"`
			Error string          `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, rec.File)
		if strings.HasPrefix(name, "..") {
			name = filepath.Base(rec.File)
		}
		f, err := ParseFile(rec.File, ParseOptions{})
		if rec.Error != "" {
			if err == nil {
				t.Logf("%s: pydicom fails (%s), we parse it", name, rec.Error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: pydicom reads it, we fail: %v", name, err)
			continue
		}
		ours := MarshalJSON(f.Dataset, JSONOptions{Keep: func(t Tag) bool { return t.Group() != 0x7FE0 }})
		var a, b any
		if err := json.Unmarshal(ours, &a); err != nil {
			t.Errorf("%s: our JSON does not parse: %v", name, err)
			continue
		}
		if err := json.Unmarshal(rec.JSON, &b); err != nil {
			t.Fatal(err)
		}
		var diffs []string
		compareJSON(&diffs, "", a, b)
		if len(diffs) > 0 {
			if len(diffs) > 8 {
				diffs = append(diffs[:8], fmt.Sprintf("... %d more", len(diffs)-8))
			}
			t.Errorf("%s differs from pydicom:\n  %s", name, strings.Join(diffs, "\n  "))
		}
		checked++
	}
	if checked < 250 {
		t.Errorf("only %d files compared", checked)
	}
	t.Logf("%d files equal to pydicom's reading", checked)
}

// compareJSON records where two decoded DICOM JSON values differ, treating
// numbers as equal within float32 precision and padding as insignificant.
func compareJSON(diffs *[]string, path string, a, b any) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: ours %v, pydicom %v", path, a, b))
			return
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			x, inA := av[k]
			y, inB := bv[k]
			if m, ok := x.(map[string]any); ok && len(k) == 8 && isPrivateUN(k, m) {
				continue // we have no private dictionary; pydicom does
			}
			switch {
			case strings.HasSuffix(k, "0000") && len(k) == 8:
				// Group lengths: PS3.18 leaves them out; pydicom writes them.
			case !inA && k == "Value" && isEmptyValue(y):
			case !inB && k == "Value" && isEmptyValue(x):
			case !inA:
				*diffs = append(*diffs, fmt.Sprintf("%s/%s: missing in ours (pydicom %.200v)", path, k, y))
			case !inB:
				*diffs = append(*diffs, fmt.Sprintf("%s/%s: not in pydicom (ours %.200v)", path, k, x))
			default:
				compareJSON(diffs, path+"/"+k, x, y)
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			*diffs = append(*diffs, fmt.Sprintf("%s: ours %.200v, pydicom %.200v", path, a, b))
			return
		}
		for i := range av {
			compareJSON(diffs, fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])
		}
	case float64:
		bf, ok := b.(float64)
		if !ok || !closeEnough(av, bf) {
			*diffs = append(*diffs, fmt.Sprintf("%s: ours %v, pydicom %v", path, a, b))
		}
	case string:
		bs, _ := b.(string)
		if b == nil {
			bs = ""
		}
		if strings.HasSuffix(path, "/Alphabetic") || strings.HasSuffix(path, "/Ideographic") || strings.HasSuffix(path, "/Phonetic") {
			av, bs = strings.TrimRight(av, "^ "), strings.TrimRight(bs, "^ ")
		}
		if strings.TrimSpace(av) != strings.TrimSpace(bs) {
			*diffs = append(*diffs, fmt.Sprintf("%s: ours %q, pydicom %q", path, av, b))
		}
	case nil:
		if bs, ok := b.(string); !(b == nil || ok && strings.TrimSpace(bs) == "") {
			*diffs = append(*diffs, fmt.Sprintf("%s: ours null, pydicom %v", path, b))
		}
	default:
		if fmt.Sprint(a) != fmt.Sprint(b) {
			*diffs = append(*diffs, fmt.Sprintf("%s: ours %v, pydicom %v", path, a, b))
		}
	}
}

func isPrivateUN(key string, el map[string]any) bool {
	group, err := ParseTag(key)
	return err == nil && group.IsPrivate() && el["vr"] == "UN"
}

func isEmptyValue(v any) bool {
	arr, ok := v.([]any)
	if !ok {
		return false
	}
	for _, x := range arr {
		if pn, ok := x.(map[string]any); ok {
			for _, g := range pn {
				if s, _ := g.(string); strings.Trim(s, "^ =") != "" {
					return false
				}
			}
			continue
		}
		if s, ok := x.(string); x != nil && !(ok && s == "") {
			return false
		}
	}
	return true
}

func closeEnough(a, b float64) bool {
	if a == b || float32(a) == float32(b) {
		return true
	}
	return math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b))
}
