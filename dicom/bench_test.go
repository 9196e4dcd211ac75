package dicom

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

// BenchmarkParseCTHeader reads the header of a real 512x512 CT slice (the
// pixel data located, not loaded) from memory and from a file.
func BenchmarkParseCTHeader(b *testing.B) {
	path := filepath.Join(testenv.SharedData(b), "ct", "tcia_lung-pet-ct-dx_A0002_chest-8mm", "1-15.dcm")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("bytes", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseBytes(data, ParseOptions{SkipPixelData: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(bytes.NewReader(data), int64(len(data)), ParseOptions{SkipPixelData: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
