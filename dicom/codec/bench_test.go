package codec

import (
	"path"
	"strings"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

// BenchmarkDecode decodes the same 512x512 16-bit CT slice (TCIA lung CT,
// slice 15, 12 bits stored) in every syntax; ../shared/data holds it
// transcoded by dcmtk and gdcm. Bytes/s is decoded output.
//
//	go test -run XXX -bench Decode -benchmem ./dicom/codec
func BenchmarkDecode(b *testing.B) {
	root := "syntaxes/generated_from_tcia-lung-ct-slice15/"
	files := []string{
		"04_rle-lossless_1.2.840.10008.1.2.5.dcm",
		"05_jpeg-baseline-process1_1.2.840.10008.1.2.4.50.dcm",
		"06_jpeg-extended-process2-4_1.2.840.10008.1.2.4.51.dcm",
		"07_jpeg-lossless-process14_1.2.840.10008.1.2.4.57.dcm",
		"08_jpeg-lossless-process14-sv1_1.2.840.10008.1.2.4.70.dcm",
		"09_jpeg-ls-lossless_1.2.840.10008.1.2.4.80.dcm",
		"10_jpeg-ls-near-lossless_1.2.840.10008.1.2.4.81.dcm",
		"11_jpeg2000-lossless_1.2.840.10008.1.2.4.90.dcm",
	}
	shared := testenv.SharedData(b)
	for i := range files {
		files[i] = root + files[i] + "=none"
	}
	for _, c := range loadCorpus(b, shared, files) {
		name := strings.TrimSuffix(path.Base(c.Rel), ".dcm")
		b.Run(name[3:], func(b *testing.B) {
			if c.Error != "" {
				b.Fatal(c.Error)
			}
			if !Supported(c.TS) {
				b.Skip("not supported in this build")
			}
			frame, info := c.frames[0].compressed, c.info()
			b.SetBytes(info.frameBytes())
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(c.TS, frame, info); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
