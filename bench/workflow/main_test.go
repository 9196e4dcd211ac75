package main

import (
	"bytes"
	"strings"
	"testing"
)

// A short run with a few annotators: the checks after the load (no task
// given twice or lost, one read per reader per case, audited claims) must
// hold and the report must say so.
func TestShortRun(t *testing.T) {
	var out bytes.Buffer
	err := run(t.Context(), []string{"-annotators", "8", "-duration", "2s", "-cases", "12", "-think", "20ms", "-dir", t.TempDir()}, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"| save (POST revisions) |", "Checks: no task given twice"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
