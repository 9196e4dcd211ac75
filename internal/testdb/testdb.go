// Package testdb opens fresh, empty metadata stores on both engines for
// tests outside the drivers (annotation, httpapi, cmd), and ingests
// test images into an archive on them: a SQLite file in
// the test's temp dir, and a PostgreSQL schema of its own on the server
// RADMARK_TEST_POSTGRES names (default the local one), dropped when the
// test ends. A missing PostgreSQL skips outside CI and fails in CI.
package testdb

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/postgres"
	"github.com/radmark/radmark/sqlite"
)

// Store is everything a metadata store does.
type Store interface {
	radmark.ArchiveStore
	radmark.ProjectStore
	radmark.AnnotationStore
	radmark.AuditStore
	radmark.UserStore
	radmark.WorkflowStore
	Close() error
}

// Engine opens a fresh store.
type Engine struct {
	Name string
	Open func(tb testing.TB) Store
}

// Engines lists both engines, for table tests.
var Engines = []Engine{{"sqlite", SQLite}, {"postgres", Postgres}}

// SQLite opens a store in a new file, closed when the test ends.
func SQLite(tb testing.TB) Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(tb.TempDir(), "radmark.db"))
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// Postgres opens a store on a fresh schema, closed when the test ends.
func Postgres(tb testing.TB) Store {
	tb.Helper()
	db, err := postgres.Open(context.Background(), testenv.PostgresSchema(tb))
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// Ingest stores datasets in an archive as Part 10 files, failing the test
// if any is refused.
func Ingest(tb testing.TB, a *archive.Service, datasets ...*dicom.Dataset) {
	tb.Helper()
	var sources []archive.Source
	for i, ds := range datasets {
		var buf bytes.Buffer
		if err := dicom.WriteFile(&buf, ds, dicom.WriteOptions{}); err != nil {
			tb.Fatal(err)
		}
		sources = append(sources, archive.Source{Name: fmt.Sprint("part ", i), Data: bytes.NewReader(buf.Bytes()), Size: int64(buf.Len())})
	}
	res, err := a.Ingest(context.Background(), sources, archive.IngestOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			tb.Fatalf("ingest %s: %v", r.Name, r.Err)
		}
	}
}

// Archive returns an archive over store with blobs in the test's temp dir.
func Archive(tb testing.TB, store radmark.ArchiveStore) (*archive.Service, radmark.BlobStore) {
	tb.Helper()
	blobs, err := fsblob.Open(context.Background(), filepath.Join(tb.TempDir(), "blobs"))
	if err != nil {
		tb.Fatal(err)
	}
	return &archive.Service{Store: store, Blobs: blobs}, blobs
}
