package deid

import (
	"bytes"
	"errors"
	"testing"

	"github.com/radmark/radmark/dicom"
)

// FuzzApply: whatever a sender delivers, Apply either refuses it with
// ErrUnprocessable or returns a dataset that writes, parses again and
// passes the PHI scanner; it never panics (a recovered panic is a bug).
func FuzzApply(f *testing.F) {
	var b bytes.Buffer
	if err := dicom.WriteFile(&b, sample(), dicom.WriteOptions{}); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	d := mustNew(f, testProfile(), "fuzz")
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := dicom.ParseBytes(in, dicom.ParseOptions{MaxElements: 1 << 16})
		if err != nil {
			return
		}
		res, err := d.Apply(file.Dataset)
		if err != nil {
			if !errors.Is(err, ErrUnprocessable) {
				t.Fatalf("error outside ErrUnprocessable: %v", err)
			}
			if panicked(err) {
				t.Fatalf("panic: %v", err)
			}
			return
		}
		if fs := d.Scan(file.Dataset, res.Dataset); len(fs) > 0 {
			t.Fatalf("scanner: %v", fs)
		}
	})
}
