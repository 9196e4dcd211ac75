// Package postgres is radmark's metadata store on PostgreSQL: the archive
// index (radmark.ArchiveStore) through pgx, with its schema migrations
// embedded and applied by Open. The SQL itself is shared with the sqlite
// driver (internal/sqlstore); this package owns connections, migrations and
// the classification of errors worth a retry.
//
// Several stateless replicas may use one database at once: Open takes a
// session advisory lock (per schema) around migrations, so replicas starting
// together apply them once; a write serialises with writers of the same
// instances and studies through transaction advisory locks, takes row locks
// in one global order and re-checks what it read (see internal/sqlstore),
// so concurrent ingest keeps counters exact; deadlocks and serialization
// failures are retried.
//
// A DB has two connection pools, for writes and for queries (which are
// planned for their parameter values; see Open), each sized by the URL's
// pool_max_conns (default: the larger of 4 and the number of CPUs).
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the archive index in a PostgreSQL schema. It is safe for concurrent
// use, also by several processes on the same database.
type DB struct {
	// Store answers the radmark.ArchiveStore methods (and Analyze); its Now
	// field may be replaced by tests before use.
	*sqlstore.Store

	writePool, readPool *pgxpool.Pool
	write, read         *sql.DB
}

var _ radmark.ArchiveStore = (*DB)(nil)

// Open connects to the database at url (postgres://user@host:port/db?...,
// any libpq parameter including search_path and pool_max_conns) and brings
// the schema (the first one on the search path) up to date.
func Open(ctx context.Context, url string) (*DB, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		// pgx would also take key=value strings, and "" as "use PG*
		// environment variables": a mistyped URL must not connect elsewhere.
		return nil, radmark.Errorf(radmark.EINVALID, "postgres: database URL must start with postgres://")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, radmark.Errorf(radmark.EINVALID, "postgres: invalid database URL (want postgres://user@host:port/dbname?param=value)")
	}
	writePool, err := pgxpool.NewWithConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	// Queries get a pool of their own because QIDO filters differ wildly in
	// selectivity (PatientName=smith* or =*): a generic plan for
	// "name LIKE $1", made once for all values, can neither use the index
	// nor estimate rows, and searches ran 5-10 times slower than with plans
	// made for their values. Writes keep cached generic plans.
	readCfg := cfg.Copy()
	if _, ok := readCfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		readCfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	readPool, err := pgxpool.NewWithConfig(ctx, readCfg)
	if err != nil {
		writePool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	db := &DB{
		writePool: writePool,
		readPool:  readPool,
		write:     stdlib.OpenDBFromPool(writePool),
		read:      stdlib.OpenDBFromPool(readPool),
	}
	if err := db.write.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := migrate(ctx, db.write); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	db.Store = sqlstore.New(sqlstore.Config{
		Dialect: sqlstore.Postgres, Write: db.write, Read: db.read, Retryable: retryable,
	})
	return db, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	if !schema.Valid {
		return radmark.Errorf(radmark.EINVALID, "postgres: no existing schema on the search path")
	}
	// Advisory locks are database-wide; deriving the id from the schema lets
	// stores in different schemas of one database migrate independently.
	h := fnv.New64a()
	h.Write([]byte("radmark migrations " + schema.String))
	// Poll every second for up to 5 minutes (goose's default polls every 5 s,
	// which makes every replica but the first wait needlessly).
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	// Not p.Close: it would close db.
	_, err = p.Up(ctx)
	return err
}

// retryable reports failures that mean "run the transaction again":
// deadlocks between writers and serialization failures.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	return false
}

// Close closes all connections.
func (db *DB) Close() error {
	err := errors.Join(db.read.Close(), db.write.Close())
	db.readPool.Close()
	db.writePool.Close()
	return err
}

// Ping reports whether the database answers queries (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	if err := errors.Join(db.writePool.Ping(ctx), db.readPool.Ping(ctx)); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}
