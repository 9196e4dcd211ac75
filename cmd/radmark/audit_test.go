package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/sqlite"
	"github.com/radmark/radmark/storetest"
)

// auditDataDir makes a data folder whose database holds a chain of n
// events, and returns the folder and the events.
func auditDataDir(t *testing.T, n int) (string, []*radmark.AuditEvent) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), "sqlite://"+filepath.Join(dir, "radmark.db"))
	if err != nil {
		t.Fatal(err)
	}
	events := storetest.AppendChain(t, db, n)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, events
}

// tamper runs SQL on a data folder's database behind radmark's back.
func tamper(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "radmark.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func verify(ctx context.Context, args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := runAudit(ctx, append([]string{"verify"}, args...), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestAuditVerify(t *testing.T) {
	const n = 3000
	dir, events := auditDataDir(t, n)
	want := fmt.Sprintf("audit chain intact: %d events, head %s\n", n, events[n-1].Hash)
	out, _, err := verify(t.Context(), "--data", dir)
	if err != nil || out != want {
		t.Fatalf("verify an intact chain: %q, %v; want %q", out, err, want)
	}
	// --db names the database directly, and RADMARK_DATA is --data's default.
	out, _, err = verify(t.Context(), "--data", t.TempDir(), "--db", "sqlite://"+filepath.Join(dir, "radmark.db"))
	if err != nil || out != want {
		t.Errorf("verify with --db: %q, %v; want %q", out, err, want)
	}
	t.Setenv("RADMARK_DATA", dir)
	out, _, err = verify(t.Context())
	if err != nil || out != want {
		t.Errorf("verify with RADMARK_DATA: %q, %v; want %q", out, err, want)
	}

	tamper(t, dir, `UPDATE audit_event SET actor = 'mallory' WHERE seq = 1500`)
	out, _, err = verify(t.Context(), "--data", dir)
	if err == nil || !strings.Contains(err.Error(), "event 1500") {
		t.Errorf("verify after an event was altered: error %v, want one naming event 1500", err)
	}
	if !strings.Contains(out, "BROKEN at event 1500: ") || !strings.Contains(out, "altered") {
		t.Errorf("verify after an event was altered printed %q", out)
	}
	if errors.As(err, new(usageError)) {
		t.Errorf("a broken chain is reported as a usage error: %v", err)
	}
}

func TestAuditVerifyFindsFirstBreak(t *testing.T) {
	const n = 1200
	tests := []struct {
		name  string
		stmts []string
		seq   int64
		why   string
	}{
		{"deleted event", []string{`DELETE FROM audit_event WHERE seq = 700`}, 700, "missing"},
		{"changed hash", []string{`UPDATE audit_event SET hash = '` + storetest.Digest("x") + `' WHERE seq = 700`}, 700, "altered"},
		{"two edits, the first reported", []string{
			`UPDATE audit_event SET detail = 'x' WHERE seq = 1100`,
			`UPDATE audit_event SET object_id = 'obj-x' WHERE seq = 700`,
		}, 700, "altered"},
		{"altered and rehashed", nil, 701, "previous"},
		{"last events removed", []string{`DELETE FROM audit_event WHERE seq > 1195`}, 1196, "removed from its end"},
		{"event appended behind the store's back", nil, n + 1, "added behind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, events := auditDataDir(t, n)
			stmts := tt.stmts
			switch tt.name {
			case "altered and rehashed":
				e := *events[699]
				e.Actor = "mallory"
				stmts = []string{fmt.Sprintf(`UPDATE audit_event SET actor = '%s', hash = '%s' WHERE seq = 700`, e.Actor, e.ComputeHash())}
			case "event appended behind the store's back":
				// A forger who can hash: the chain itself verifies, only
				// the recorded head disagrees.
				last := events[n-1]
				e := radmark.AuditEvent{Seq: n + 1, ID: "forged", Time: last.Time, Actor: "mallory", Action: "instance.read", PrevHash: last.Hash}
				e.Hash = e.ComputeHash()
				stmts = []string{fmt.Sprintf(`INSERT INTO audit_event (seq, id, occurred_at, actor, action, object_type, object_id,
	before_hash, after_hash, request_id, detail, prev_hash, hash)
VALUES (%d, 'forged', '%s', 'mallory', 'instance.read', '', '', '', '', '', '', '%s', '%s')`,
					e.Seq, e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), e.PrevHash, e.Hash)}
			}
			tamper(t, dir, stmts...)
			out, _, err := verify(t.Context(), "--data", dir)
			if err == nil {
				t.Fatalf("verify after tampering succeeded: %q", out)
			}
			if want := fmt.Sprintf("event %d", tt.seq); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
			if want := fmt.Sprintf("BROKEN at event %d: ", tt.seq); !strings.Contains(out, want) || !strings.Contains(out, tt.why) {
				t.Errorf("printed %q, want %q and %q", out, want, tt.why)
			}
		})
	}
}

func TestAuditVerifyEmptyChain(t *testing.T) {
	dir, _ := auditDataDir(t, 0)
	out, _, err := verify(t.Context(), "--data", dir)
	if want := "audit chain intact: 0 events, head " + radmark.GenesisHash + "\n"; err != nil || out != want {
		t.Errorf("verify an empty chain: %q, %v; want %q", out, err, want)
	}
}

func TestAuditUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing-here")
	if _, _, err := verify(t.Context(), "--data", missing); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("verify a folder without a database: %v", err)
	}
	for _, args := range [][]string{nil, {"frobnicate"}, {"verify", "extra"}, {"verify", "--no-such-flag"}} {
		var stdout, stderr bytes.Buffer
		err := runAudit(t.Context(), args, &stdout, &stderr)
		if err == nil {
			t.Errorf("radmark audit %q succeeded", args)
			continue
		}
		if !errors.As(err, new(usageError)) && !strings.Contains(err.Error(), "flag provided but not defined") {
			t.Errorf("radmark audit %q: %v, want a usage error", args, err)
		}
	}
	var stdout, stderr bytes.Buffer
	if err := runAudit(t.Context(), []string{"help"}, &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), "radmark audit verify") {
		t.Errorf("radmark audit help: %v, %q", err, stdout.String())
	}
}
