package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/radmark/radmark/internal/testenv"
)

// TestQuick runs the smoke version of the measurement end to end.
func TestQuick(t *testing.T) {
	testenv.LookPath(t, "dcm2niix")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-quick", "-reps", "1"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"radmark image → .nii.gz", "dcm2niix -z y", "labelmap → SEG"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
