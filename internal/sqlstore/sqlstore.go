// Package sqlstore owns the SQL that implements radmark.ArchiveStore on top
// of database/sql, shared by the sqlite and postgres drivers so that both
// engines index, count and match instances by exactly the same rules. The
// drivers own connections, pragmas, migrations and error classification; this
// package owns the statements and the transaction logic. The statements are
// plain SQL built with a few helpers rather than with a query-builder
// library: there are few of them, the engine differences (placeholders,
// GLOB or LIKE for wildcards, locking) are small, and the SQL stays
// readable as written.
//
// Schema (created by each driver's migrations with the same table and column
// names): patient 1-n study 1-n series 1-n instance. Rows are linked by
// surrogate keys (pk); DICOM identifiers are unique columns. Counters
// (study.num_series, study.num_instances, series.num_instances) and
// study.modalities are stored, not computed on read, so a QIDO page of
// studies costs one indexed query however large the studies are. Columns
// that match case-insensitively have a *_lc twin holding Fold of the value
// (lower case), computed in Go, so that non-ASCII names fold the same way on
// both engines whatever the database's collation or ICU support.
//
// Concurrency. On SQLite a writing transaction holds the database's single
// write lock (BEGIN IMMEDIATE), so everything below is serial. On PostgreSQL
// several processes write at once, at READ COMMITTED. A batch first takes
// transaction-level advisory locks on its SOP Instance UIDs, then on the
// UIDs of the studies involved (those the records name and those the
// instances are in now), and only then reads the stored state, which so
// stays true until commit. It then takes row locks in one global order:
// patients (by PatientID, issuer), studies (by UID), series (by UID),
// instances. Every transaction that changes which instances a series or
// study holds, or which studies a patient has, first locks that row (by
// upserting, updating or selecting it FOR UPDATE), so counter deltas
// (n = n + delta) and the statements that delete what became empty see
// every change committed before them. The writes still check that rows are
// as read (a series indexed meanwhile under another study, an instance
// changed); a mismatch aborts the batch, which is then run again, as it is
// after a deadlock or serialization failure.
//
// Projects, annotations and the audit chain. The same Store implements
// radmark.ProjectStore, radmark.AnnotationStore and radmark.AuditStore
// (project.go, annotation.go, audit.go). Every mutation runs in one writing
// transaction together with its audit events (mutate.go), so a change and
// its record commit together or not at all. Writers of one object lock its
// row (SELECT ... FOR NO KEY UPDATE on PostgreSQL) and compare what they
// read: a stale annotation head or schema version is ECONFLICT, never a
// lost update. The chain's head is one row (audit_head) that every append
// locks last, just before commit, so appends from any number of
// connections or replicas get contiguous seqs in commit order.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/radmark/radmark"
)

// Dialect names the SQL engine, for the few places where syntax differs.
type Dialect int

const (
	SQLite Dialect = iota + 1
	Postgres
)

// Config is what a driver hands to New.
type Config struct {
	Dialect Dialect
	// Write runs every writing transaction. For SQLite it has a single
	// connection: SQLite allows one writer at a time, and queueing writers in
	// the pool is cheaper than having them spin on SQLITE_BUSY.
	Write *sql.DB
	// Read answers queries; for SQLite a pool of read-only connections that
	// run in parallel under WAL. It may be the same as Write.
	Read *sql.DB
	// Retryable reports errors after which a transaction can simply be run
	// again (deadlock, serialization failure). Nil means none are.
	Retryable func(error) bool
}

// Store implements the archive index for a driver. Its methods take the
// current time explicitly so that drivers can keep an injectable Now.
type Store struct {
	// Now returns the current time, used for UpdatedAt and CreatedAt
	// (default time.Now().UTC()); tests may replace it before use.
	Now func() time.Time

	dialect   Dialect
	write     *sql.DB
	read      *sql.DB
	retryable func(error) bool
	group     grouper // SQLite's group commit (group.go)
}

// New returns a Store over the given connections; the schema must exist.
func New(cfg Config) *Store {
	if cfg.Read == nil {
		cfg.Read = cfg.Write
	}
	if cfg.Retryable == nil {
		cfg.Retryable = func(error) bool { return false }
	}
	return &Store{dialect: cfg.Dialect, write: cfg.Write, read: cfg.Read, retryable: cfg.Retryable}
}

// Timestamp normalises a time for storage: PostgreSQL keeps microseconds,
// so both engines store (and return) UTC truncated to the microsecond.
func Timestamp(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// Fold maps a value to the form case-insensitive columns store and match:
// strings.ToLower, plus Greek final sigma folded to sigma, since
// ToLower("Σ") is "σ" while names end in "ς" ("ΠΑΠΑΔΌΠΟΥΛΟΣ" must find
// "Παπαδόπουλος"). Lower-casing in Go rather than with the database's
// lower() makes non-ASCII text fold the same on every engine and collation.
func Fold(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "ς", "σ")
}

// rebind turns the ? placeholders the statements are written with into the
// dialect's; statements here never contain a literal '?' outside quotes.
func (s *Store) rebind(query string) string {
	if s.dialect != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	quoted := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Counts returns how many studies, series and instances are indexed.
func (s *Store) Counts(ctx context.Context) (studies, series, instances int, err error) {
	err = s.read.QueryRowContext(ctx,
		`SELECT (SELECT count(*) FROM study), (SELECT count(*) FROM series), (SELECT count(*) FROM instance)`,
	).Scan(&studies, &series, &instances)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("count archive: %w", err)
	}
	return studies, series, instances, nil
}

// Analyze refreshes the query planner's statistics of the archive tables.
func (s *Store) Analyze(ctx context.Context) error {
	q := `ANALYZE`
	if s.dialect == Postgres {
		q = `ANALYZE patient, study, series, instance`
	}
	if _, err := s.write.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

// Instance returns one instance, or ENOTFOUND.
func (s *Store) Instance(ctx context.Context, uid radmark.UID) (*radmark.Instance, error) {
	row := s.read.QueryRowContext(ctx, s.rebind(instanceSelect+` WHERE i.sop_uid = ?`), string(uid))
	inst, err := scanInstance(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, radmark.Errorf(radmark.ENOTFOUND, "instance %s not found", uid)
	}
	if err != nil {
		return nil, fmt.Errorf("get instance %s: %w", uid, err)
	}
	return inst, nil
}

const instanceSelect = `SELECT i.sop_uid, i.sop_class_uid, se.uid, st.uid, i.instance_number,
	i.transfer_syntax_uid, i.number_of_frames, i.num_rows, i.num_columns, i.blob_key, i.size,
	i.sha256, i.pixel, i.metadata, i.created_at
FROM instance i
JOIN series se ON se.pk = i.series_pk
JOIN study st ON st.pk = se.study_pk`

type scanner interface{ Scan(dest ...any) error }

func scanInstance(row scanner) (*radmark.Instance, error) {
	var (
		in     radmark.Instance
		number sql.NullInt64
		pixel  sql.NullString
	)
	err := row.Scan((*string)(&in.SOPInstanceUID), (*string)(&in.SOPClassUID), (*string)(&in.SeriesUID),
		(*string)(&in.StudyUID), &number, (*string)(&in.TransferSyntaxUID), &in.NumberOfFrames,
		&in.Rows, &in.Columns, &in.BlobKey, &in.Size, &in.SHA256, &pixel, &in.Metadata, &in.CreatedAt)
	if err != nil {
		return nil, err
	}
	in.InstanceNumber = intPtr(number)
	in.CreatedAt = in.CreatedAt.UTC()
	if pixel.Valid {
		in.Pixel = new(radmark.PixelLocation)
		if err := json.Unmarshal([]byte(pixel.String), in.Pixel); err != nil {
			return nil, fmt.Errorf("decode pixel location of %s: %w", in.SOPInstanceUID, err)
		}
	}
	return &in, nil
}

func intPtr(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}

func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

// nullBytes stores nil as NULL so that it comes back as nil.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
