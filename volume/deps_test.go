package volume_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainDependencies: volume is a domain package; it knows nothing of
// HTTP, SQL, the storage drivers or the archive (which may import it).
func TestDomainDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/radmark/radmark/volume").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const mod = "github.com/radmark/radmark"
	for _, dep := range strings.Fields(string(out)) {
		switch dep {
		case "net/http", "database/sql", mod + "/archive", mod + "/httpapi", mod + "/sqlite", mod + "/postgres":
			t.Errorf("package volume depends on %s", dep)
		}
	}
}
