package radmark_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyRule keeps the architecture true: domain packages know
// nothing of HTTP or SQL, and no storage driver imports another.
func TestDependencyRule(t *testing.T) {
	const mod = "github.com/radmark/radmark"
	deps := func(pkg string) map[string]bool {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		m := map[string]bool{}
		for _, l := range strings.Fields(string(out)) {
			m[l] = true
		}
		return m
	}
	for _, pkg := range []string{"", "/dicom", "/dicom/codec", "/archive", "/render", "/phantom", "/ontology", "/labelmap", "/annotation", "/volume", "/audit", "/workflow", "/auth", "/dimse", "/deid", "/nifti", "/seg", "/dataset", "/exchange", "/coco", "/sr", "/intake"} {
		d := deps(pkg)
		for _, banned := range []string{"net/http", "database/sql", mod + "/httpapi", mod + "/sqlite", mod + "/postgres"} {
			if d[banned] {
				t.Errorf("domain package %s imports %s", mod+pkg, banned)
			}
		}
	}
	drivers := []string{"/sqlite", "/postgres", "/blob/fsblob"}
	for _, a := range drivers {
		d := deps(a)
		for _, b := range drivers {
			if a != b && d[mod+b] {
				t.Errorf("driver %s imports driver %s", a, b)
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", mod).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != mod {
			t.Errorf("the root package depends on %s; it must use the standard library only", p)
		}
	}
}
