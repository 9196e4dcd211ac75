package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/radmark/radmark"
)

const auditUsage = `Usage: radmark audit verify [--data DIR] [--db URL]

verify reads the whole audit chain, checks every event's hash and its link
to the event before, and compares the chain's end with the head the store
recorded. It prints "audit chain intact: N events, head HASH" and exits 0,
or names the first broken link and exits 1.
`

// runAudit runs `radmark audit SUBCOMMAND`.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return usageError{"no audit command given (want verify)"}
	}
	switch args[0] {
	case "verify":
		return auditVerifyCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	fmt.Fprint(stderr, auditUsage)
	return usageError{fmt.Sprintf("unknown audit command %q (want verify)", args[0])}
}

// auditHeadStore is implemented by stores that record the chain's head
// beside it (both drivers do): without it, events removed from the end of
// the chain would go unnoticed.
type auditHeadStore interface {
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}

func auditVerifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", stderr)
	var st storageFlags
	st.register(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, auditUsage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	// Opening a SQLite database creates it: verifying a path with nothing
	// there must not report an empty, intact chain.
	st.resolve()
	if path, ok := strings.CutPrefix(st.db, "sqlite://"); ok {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("no database to verify at %s: %w", path, err)
		}
	}
	db, _, err := openStorage(ctx, &st)
	if err != nil {
		return err
	}
	defer db.Close()
	var chain radmark.AuditStore = db

	v := radmark.NewAuditVerifier()
	var broken *radmark.AuditBreak
	err = chain.ScanAudit(ctx, func(e *radmark.AuditEvent) error {
		if b := v.Next(e); b != nil {
			broken = b
			return errStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return fmt.Errorf("read the audit chain: %w", err)
	}
	if broken == nil {
		if hs, ok := any(db).(auditHeadStore); ok {
			seq, hash, err := hs.AuditHead(ctx)
			if err != nil {
				return err
			}
			broken = checkRecordedHead(v.Count(), v.Head(), seq, hash)
		}
	}
	if broken != nil {
		fmt.Fprintf(stdout, "audit chain BROKEN at event %d: %s\n", broken.Seq, broken.Reason)
		fmt.Fprintf(stdout, "events before %d verify; event %d and everything after it cannot be trusted\n", broken.Seq, broken.Seq)
		return fmt.Errorf("the audit chain is broken at event %d", broken.Seq)
	}
	fmt.Fprintf(stdout, "audit chain intact: %d events, head %s\n", v.Count(), v.Head())
	return nil
}

// errStopScan ends a scan at the first broken link: nothing after it can
// be trusted, and the report names only the first.
var errStopScan = errors.New("stop scan")

// checkRecordedHead compares the end of a chain that verified (count
// events, the last hashed head) with the head the store recorded when it
// last appended.
func checkRecordedHead(count int64, head string, seq int64, hash string) *radmark.AuditBreak {
	switch {
	case seq > count:
		return &radmark.AuditBreak{Seq: count + 1, Reason: fmt.Sprintf(
			"the chain ends at event %d but the store recorded %d events: events were removed from its end", count, seq)}
	case seq < count:
		return &radmark.AuditBreak{Seq: seq + 1, Reason: fmt.Sprintf(
			"the store recorded %d events but the chain holds %d: events were added behind the store's back", seq, count)}
	case hash != head:
		return &radmark.AuditBreak{Seq: count, Reason: fmt.Sprintf(
			"the last event's hash is %s but the store recorded %s: the end of the chain was replaced", head, hash)}
	}
	return nil
}
