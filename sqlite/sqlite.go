// Package sqlite is radmark's embedded metadata store: the archive index
// (radmark.ArchiveStore) kept in one SQLite file through the pure-Go
// modernc.org/sqlite driver, with its schema migrations embedded and applied
// by Open. The SQL itself is shared with the postgres driver
// (internal/sqlstore); this package owns the file, its connections and
// pragmas, and the migrations.
//
// Durability: WAL with synchronous=FULL, so a committed transaction survives
// a crash or power loss, not only a process crash. The one exception is a
// put with radmark.PutOptions.Unsynced, whose records the blob journal has
// made durable already: it commits with synchronous=NORMAL, and SyncFiles
// is the barrier that makes such commits durable before the journal lets
// them go. Concurrency: SQLite
// allows one writer at a time, so writes go through a pool of exactly one
// connection (writers queue in Go instead of spinning on SQLITE_BUSY) and
// begin with BEGIN IMMEDIATE (a transaction never has to upgrade a read lock,
// which can fail); reads use a separate pool of read-only connections that
// run in parallel with the writer under WAL. busy_timeout covers another
// process using the same file.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Connection settings common to both pools. busy_timeout is in ms.
const commonParams = "_busy_timeout=10000&_foreign_keys=1&_synchronous=FULL"

// DB is the archive index in one SQLite file. It is safe for concurrent use.
type DB struct {
	// Store answers the radmark.ArchiveStore methods (and Analyze); its Now
	// field may be replaced by tests before use.
	*sqlstore.Store

	path  string
	write *sql.DB
	read  *sql.DB
	// ckpt is the background checkpointer's connection (see checkpointer).
	ckpt               *sql.DB
	ckptStop, ckptDone chan struct{}
	ckptOnce           sync.Once
}

var _ radmark.ArchiveStore = (*DB)(nil)

// Open opens (creating if needed, with its parent directory) the database
// named by dsn, "sqlite://<path>": sqlite:///abs/file.db or
// sqlite://relative/file.db. It brings the schema up to date.
func Open(ctx context.Context, dsn string) (*DB, error) {
	path, ok := strings.CutPrefix(dsn, "sqlite://")
	if !ok {
		return nil, radmark.Errorf(radmark.EINVALID, "sqlite: DSN %q must start with sqlite://", dsn)
	}
	switch {
	case path == "":
		return nil, radmark.Errorf(radmark.EINVALID, "sqlite: DSN %q names no file", dsn)
	case strings.ContainsRune(path, '?'):
		// The driver reads everything after '?' as its own parameters.
		return nil, radmark.Errorf(radmark.EINVALID, "sqlite: DSN %q: parameters and '?' in file names are not supported", dsn)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// Each connection would get its own database; readers would not
		// see the writer.
		return nil, radmark.Errorf(radmark.EINVALID, "sqlite: DSN %q must name a file", dsn)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory for %s: %w", path, err)
	}

	// The writer checkpoints only if the background checkpointer (see
	// checkpointer) has fallen far behind.
	write, err := openDB(path + "?" + commonParams + "&_journal_mode=WAL&_txlock=immediate&_pragma=wal_autocheckpoint(" + fmt.Sprint(writerAutoCheckpoint) + ")")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	if err := pingWhileBusy(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	// SQLite's advice for long-lived connections: refresh planner statistics
	// that have gone stale (cheap when none have; bounded work when some have).
	if _, err := write.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: optimize %s: %w", path, err)
	}

	// Opened after the writer so the file is already in WAL mode (a
	// persistent property of the file).
	read, err := openDB(path + "?" + commonParams + "&_query_only=1")
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	ckpt, err := openDB(path + "?" + commonParams)
	if err == nil {
		ckpt.SetMaxOpenConns(1)
		err = ckpt.PingContext(ctx)
	}
	if err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db := &DB{
		path:     path,
		write:    write,
		read:     read,
		ckpt:     ckpt,
		ckptStop: make(chan struct{}),
		ckptDone: make(chan struct{}),
		Store:    sqlstore.New(sqlstore.Config{Dialect: sqlstore.SQLite, Write: write, Read: read}),
	}
	go db.checkpointer()
	return db, nil
}

// Checkpoints. SQLite's default has the committing connection copy the
// write-ahead log into the database file (and fsync both) whenever the log
// passes 1000 pages: every few dozen instances one of them waits several
// milliseconds for it. Here a connection of its own does that work in the
// background (a PASSIVE checkpoint, which never blocks the writer or
// readers), and the writer checkpoints itself only past a much longer log.
// Durability is unchanged: a checkpoint syncs the log before copying and
// the database file after.
const (
	checkpointInterval   = 250 * time.Millisecond
	writerAutoCheckpoint = 16000 // pages: 64 MiB of log
)

func (db *DB) checkpointer() {
	defer close(db.ckptDone)
	tick := time.NewTicker(checkpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-db.ckptStop:
			return
		case <-tick.C:
		}
		var busy, log, done int
		// An error (the file busy with another process, say) leaves the
		// work to the next round, or to the writer's own checkpoint.
		_ = db.ckpt.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
	}
}

// pingWhileBusy opens the writer's first connection. Switching a new file
// to WAL (a pragma of the connection) takes an exclusive lock and reports
// SQLITE_BUSY at once, without the busy timeout, when another process is
// opening the same new file: that is retried for as long as the busy
// timeout would have waited.
func pingWhileBusy(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.PingContext(ctx)
		var se *msqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

// openDB opens a pool of connections with a statement cache (stmtcache.go).
func openDB(dsn string) (*sql.DB, error) {
	c, err := newCachingConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys)
	if err != nil {
		return err
	}
	// Not p.Close: it would close db.
	//
	// goose has no lock for SQLite, so two processes opening a new file at
	// once can both decide to apply a migration; the second one's
	// transaction then fails (table exists) and rolls back whole. Looking
	// again finds the migration applied. Real failures repeat and surface.
	for attempt := 1; ; attempt++ {
		_, err = p.Up(ctx)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			return err
		}
	}
}

// SyncFiles makes every committed transaction durable, including those
// committed with PutOptions.Unsynced: it fsyncs the write-ahead log, where
// such commits are, and the database file, where a checkpoint may have
// moved them. It is the blob journal's index barrier.
func (db *DB) SyncFiles(ctx context.Context) error {
	for _, p := range []string{db.path + "-wal", db.path} {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no log: everything is in the database file
		}
		if err != nil {
			return fmt.Errorf("sqlite: sync %s: %w", p, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sqlite: sync %s: %w", p, err)
		}
	}
	return nil
}

// Close closes the database. Updating the planner's statistics first keeps
// queries on good indexes as the archive grows.
func (db *DB) Close() error {
	db.ckptOnce.Do(func() { close(db.ckptStop) })
	<-db.ckptDone
	_, optErr := db.write.Exec("PRAGMA optimize")
	return errors.Join(db.ckpt.Close(), db.read.Close(), db.write.Close(), ignoreClosed(optErr))
}

func ignoreClosed(err error) error {
	if errors.Is(err, sql.ErrConnDone) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: optimize: %w", err)
	}
	return nil
}

// Ping reports whether the database answers queries (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping %s: %w", db.path, err)
	}
	return nil
}
