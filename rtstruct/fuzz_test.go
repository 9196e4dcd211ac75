package rtstruct

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/volume"
)

// FuzzDecode feeds the reader RT structure sets: the shipped ones and
// their mutations. Decode and Rasterise must return an error or a result,
// never panic or run away.
func FuzzDecode(f *testing.F) {
	data := testenv.SharedData(f)
	for _, p := range []string{
		"annotations/generated_on_tcia-lung-ct/rtstruct_example.dcm",
		"annotations/pydicom_rt-sr/rtstruct.dcm",
		"annotations/dicompyler-core_rt/rtss.dcm",
	} {
		b, err := os.ReadFile(filepath.Join(data, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	g := &volume.Grid{Columns: 16, Rows: 12, NumSlices: 4, Origin: volume.Vec3{-8, -6, -2},
		RowDir: volume.Vec3{1, 0, 0}, ColDir: volume.Vec3{0, 1, 0}, SliceDir: volume.Vec3{0, 0, 1}, Spacing: volume.Vec3{1, 1, 1}}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := dicom.ParseBytes(b, dicom.ParseOptions{})
		if err != nil {
			return
		}
		ss, err := Decode(file.Dataset)
		if err != nil {
			return
		}
		for i := range ss.ROIs {
			masks, err := Rasterise(g, &ss.ROIs[i])
			if err != nil {
				continue
			}
			for k, m := range masks {
				if k < 0 || k >= g.NumSlices || len(m) != g.Columns*g.Rows {
					t.Fatalf("ROI %d: mask of slice %d has %d bytes", ss.ROIs[i].Number, k, len(m))
				}
			}
		}
	})
}
