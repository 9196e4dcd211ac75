package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/radmark/radmark"
)

// sqliteTimeLayout is how SQLite stores the times of the project,
// annotation and audit tables: UTC, fixed width, microseconds, so that text
// order is time order (audit time ranges compare as text). PostgreSQL keeps
// them as timestamptz, which has the same precision.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// now returns the store's current time, normalised for storage.
func (s *Store) now() time.Time {
	if s.Now != nil {
		return Timestamp(s.Now())
	}
	return Timestamp(time.Now())
}

// stamp normalises t for storage (see Timestamp); the zero time becomes
// the store's current time.
func (s *Store) stamp(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return Timestamp(t)
}

// timeArg returns a normalised time as the dialect stores it.
func (s *Store) timeArg(t time.Time) any {
	if s.dialect == SQLite {
		return t.Format(sqliteTimeLayout)
	}
	return t
}

// checkTime refuses times that the SQLite form cannot order as text (and
// that no radiology record has).
func checkTime(what string, t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return radmark.Errorf(radmark.EINVALID, "%s %s is out of range (years 1-9999)", what, t.UTC().Format(time.RFC3339))
	}
	return nil
}

// timeScanner reads a time column of either dialect into UTC; NULL (from
// an outer join) reads as the zero time.
type timeScanner struct{ t *time.Time }

func (d timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
		return nil
	case time.Time:
		*d.t = v.UTC()
		return nil
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	}
	return fmt.Errorf("cannot read %T as a time", src)
}

func (d timeScanner) parse(v string) error {
	t, err := time.Parse(sqliteTimeLayout, v)
	if err != nil {
		return fmt.Errorf("stored time %q: %w", v, err)
	}
	*d.t = t.UTC()
	return nil
}

func scanTime(t *time.Time) timeScanner { return timeScanner{t} }

// textField is one string the caller gave, named for error messages.
type textField struct{ name, value string }

// checkText refuses text that PostgreSQL would reject (invalid UTF-8, NUL)
// and SQLite would store, so both engines refuse the same input.
func checkText(what string, fields ...textField) error {
	for _, f := range fields {
		if !utf8.ValidString(f.value) || strings.IndexByte(f.value, 0) >= 0 {
			return radmark.Errorf(radmark.EINVALID, "%s: %s is not valid UTF-8 text (or holds NUL)", what, f.name)
		}
	}
	return nil
}

// mutate runs change and then appends events to the audit chain, in one
// writing transaction: the change and its events commit together or not at
// all. It returns change's error as it is when that is a domain *Error (a
// conflict, a missing object...) and wraps others with what. The events'
// Seq, PrevHash, Hash and normalised Time are set only once the transaction
// committed, so a failed call leaves them as they were. A transaction that
// fails for a retryable reason (deadlock, serialization failure) runs
// again whole; change must therefore compute everything afresh each time.
func (s *Store) mutate(ctx context.Context, what string, events []*radmark.AuditEvent, change func(tx *sql.Tx) error) error {
	staged, err := s.stageEvents(what, events)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = s.mutateOnce(ctx, staged, change)
		if err == nil {
			for i, e := range events {
				*e = staged[i]
			}
			return nil
		}
		if attempt >= maxAttempts || ctx.Err() != nil || !s.retryable(err) {
			break
		}
		// Jitter keeps writers that collided from colliding again in step.
		if err = sleep(ctx, time.Duration(1+rand.IntN(5*attempt))*time.Millisecond); err != nil {
			break
		}
	}
	var domain *radmark.Error
	if errors.As(err, &domain) && domain.Code != radmark.EINTERNAL {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (s *Store) mutateOnce(ctx context.Context, staged []radmark.AuditEvent, change func(tx *sql.Tx) error) (err error) {
	if s.dialect == SQLite {
		return s.groupMutate(ctx, staged, change)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := s.applyMutation(ctx, tx, staged, change); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// applyMutation runs change and appends its events in tx.
func (s *Store) applyMutation(ctx context.Context, tx *sql.Tx, staged []radmark.AuditEvent, change func(tx *sql.Tx) error) error {
	if change != nil {
		if err := change(tx); err != nil {
			return err
		}
	}
	// The chain's head is locked last, so the whole chain is serialised for
	// the shortest time: from here to the commit.
	return s.appendEvents(ctx, tx, staged)
}

// rowsAffected returns how many rows a statement changed.
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// forUpdate returns the row-locking clause a read-then-write needs on
// PostgreSQL. FOR NO KEY UPDATE does not block inserts that only reference
// the row (foreign keys take KEY SHARE). On SQLite the writer's database
// lock already serialises writers.
func (s *Store) forUpdate() string {
	if s.dialect == Postgres {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// limitOffset returns the paging clause for a filter's Limit and Offset (0:
// no limit, no offset) and appends its arguments.
func (s *Store) limitOffset(limit, offset int, args []any) (string, []any) {
	var b strings.Builder
	switch {
	case limit > 0:
		b.WriteString(" LIMIT ?")
		args = append(args, limit)
	case offset > 0 && s.dialect == SQLite:
		b.WriteString(" LIMIT -1") // SQLite's OFFSET needs a LIMIT
	}
	if offset > 0 {
		b.WriteString(" OFFSET ?")
		args = append(args, offset)
	}
	return b.String(), args
}

// nullID maps "" to NULL for optional references.
func nullID(id radmark.ID) any {
	if id == "" {
		return nil
	}
	return string(id)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
