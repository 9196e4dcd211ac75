package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
)

// TestOHIFShowsOurSEG stores the DICOM SEG `radmark export seg` makes of a
// phantom lesion's labelmap, opens the study in the OHIF viewer (headless
// Chromium) from radmark's DICOMweb, loads the SEG and checks in the
// screenshot that the segment's colour covers the lesion's pixel box on
// its widest slice and appears nowhere else. A box moved away from the
// lesion must fail the same check.
func TestOHIFShowsOurSEG(t *testing.T) {
	chromium := testenv.LookPath(t, "chromium")
	data, ser, _ := exchangeDataDir(t)
	segFile := filepath.Join(t.TempDir(), "seg.dcm")
	if out, errOut, code := runCLI(t, "export", "seg", "--series", ser.SeriesInstanceUID, "--out", segFile, "--data", data); code != 0 {
		t.Fatalf("export seg: %s%s", out, errOut)
	}
	f, err := dicom.ParseFile(segFile, dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		t.Fatal(err)
	}
	segSeries := f.Dataset.String(dicom.TagSeriesInstanceUID)

	// The lesion segmented in exchangeDataDir (lesion 0): its widest slice
	// and its pixel box there.
	cols, rows, slices := ser.Phantom.Dims()
	best, area := -1, 0
	var box [4]int
	for k := 0; k < slices; k++ {
		n, b := 0, [4]int{cols, rows, -1, -1}
		for j := 0; j < rows; j++ {
			for i := 0; i < cols; i++ {
				if l := ser.Phantom.LabelAt(i, j, k); l.IsLesion() && l.LesionIndex() == 0 {
					n++
					b = [4]int{min(b[0], i), min(b[1], j), max(b[2], i), max(b[3], j)}
				}
			}
		}
		if n > area {
			best, area, box = k, n, b
		}
	}
	if best < 0 {
		t.Fatal("the phantom has no lesion 0")
	}

	srv := startServer(t, "--data", data, "--cors", "*")
	if out, errOut, code := runCLI(t, "ingest", "--quiet", "--server", srv.URL, "--token", srv.Token, segFile); code != 0 {
		t.Fatalf("ingest the SEG: %s%s", out, errOut)
	}
	check := func(b [4]int, shot string) []string {
		return []string{"--dicomweb", srv.DICOMweb(), "--study", ser.StudyInstanceUID, "--seg-series", segSeries,
			"--image-sop", ser.SOPInstanceUID(best), "--box", fmt.Sprintf("%d,%d,%d,%d", b[0], b[1], b[2], b[3]),
			"--screenshot", filepath.Join(t.TempDir(), shot), "--mode", "cors", "--token", srv.Token, "--chromium", chromium}
	}
	report := node(t, "ohif-seg-check.mjs", check(box, "seg.png")...)
	t.Logf("OHIF overlay on slice %d, box %v: %v (loaded by %v)", best, box, report["overlay"], report["seg"].(map[string]any)["loadedBy"])

	// The control: the same box mirrored to the other side of the image
	// (where the phantom has no lesion 0) must fail.
	moved := [4]int{cols - 1 - box[2], rows - 1 - box[3], cols - 1 - box[0], rows - 1 - box[1]}
	if moved[0] <= box[2] && box[0] <= moved[2] && moved[1] <= box[3] && box[1] <= moved[3] {
		t.Fatalf("the mirrored box %v overlaps the lesion's %v", moved, box)
	}
	stdout, stderr, code := runNode(t, "ohif-seg-check.mjs", check(moved, "moved.png")...)
	if code == 0 || !strings.Contains(stdout, "segment colour") {
		t.Errorf("the check passed a box away from the lesion (exit %d):\n%s\n%s", code, tail(stdout, 2000), tail(stderr, 2000))
	}
}
