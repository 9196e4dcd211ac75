//go:build !cgo

package codec

import (
	"strings"
	"testing"

	"github.com/radmark/radmark"
)

// TestNoCgo: without cgo the CharLS and OpenJPEG syntaxes are reported as
// unsupported, with a message that says what the build lacks.
func TestNoCgo(t *testing.T) {
	info := Info{Rows: 8, Columns: 8, SamplesPerPixel: 1, BitsAllocated: 8, BitsStored: 8}
	for _, ts := range []string{JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless, JPEG2000, HTJ2KLossless, HTJ2K} {
		if Supported(ts) {
			t.Errorf("Supported(%s) = true without cgo", ts)
		}
		_, err := Decode(ts, []byte{0xFF, 0x4F}, info)
		if radmark.ErrorCode(err) != radmark.EUNSUPPORTED || !strings.Contains(err.Error(), "cgo") {
			t.Errorf("%s: got %v, want EUNSUPPORTED naming cgo", ts, err)
		}
	}
}
