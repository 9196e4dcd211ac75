package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/archive"
	"github.com/radmark/radmark/blob/fsblob"
	"github.com/radmark/radmark/deid"
	"github.com/radmark/radmark/dicom"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/postgres"
	"github.com/radmark/radmark/release"
	"github.com/radmark/radmark/sqlite"
)

// newFlagSet makes a flag set whose flags default to RADMARK_* variables.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// envDefault returns RADMARK_<NAME> if set, else def.
func envDefault(name, def string) string {
	key := "RADMARK_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

// storageFlags are the flags that say where data lives.
type storageFlags struct {
	data, db, blobs string
	// journal has the file blob store acknowledge objects through its
	// journal (fsblob.Options.Journal); serve decides it.
	journal bool
}

func (s *storageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.data, "data", envDefault("data", "./radmark-data"), "data directory (default home of the database and blobs)")
	fs.StringVar(&s.db, "db", envDefault("db", ""), "metadata database URL: sqlite://PATH or postgres://... (default sqlite://DATA/radmark.db)")
	fs.StringVar(&s.blobs, "blobs", envDefault("blobs", ""), "blob store URL: file://DIR or a directory (default DATA/blobs)")
}

func (s *storageFlags) resolve() {
	if s.db == "" {
		s.db = "sqlite://" + filepath.Join(s.data, "radmark.db")
	}
	if s.blobs == "" {
		// A plain path, not a file:// URL: a data folder named with a space
		// or % would not survive as a URL.
		s.blobs = filepath.Join(s.data, "blobs")
	}
}

// metaStore is what the commands need of a metadata store driver.
type metaStore interface {
	radmark.ArchiveStore
	radmark.ProjectStore
	radmark.AnnotationStore
	radmark.AuditStore
	radmark.UserStore
	radmark.WorkflowStore
	release.Store
	job.Store
	deid.Store
	Ping(ctx context.Context) error
	Close() error
}

// openStorage opens the database and blob store the URLs name.
func openStorage(ctx context.Context, s *storageFlags) (metaStore, radmark.BlobStore, error) {
	s.resolve()
	var db metaStore
	var err error
	switch {
	case strings.HasPrefix(s.db, "sqlite://"):
		db, err = sqlite.Open(ctx, s.db)
	case strings.HasPrefix(s.db, "postgres://"), strings.HasPrefix(s.db, "postgresql://"):
		db, err = postgres.Open(ctx, s.db)
	default:
		return nil, nil, usageError{fmt.Sprintf("--db %q: want sqlite://PATH or postgres://URL", s.db)}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	var blobs radmark.BlobStore
	switch {
	case strings.HasPrefix(s.blobs, "file:"), !strings.Contains(s.blobs, "://"):
		blobs, err = fsblob.OpenWith(ctx, s.blobs, fsblob.Options{Journal: s.journal})
	case strings.HasPrefix(s.blobs, "s3://"):
		err = fmt.Errorf("the S3 blob driver is not built yet; use file://")
	default:
		err = usageError{fmt.Sprintf("--blobs %q: want file://DIR", s.blobs)}
	}
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open blob store: %w", err)
	}
	return db, blobs, nil
}

func newArchive(db radmark.ArchiveStore, blobs radmark.BlobStore, log *slog.Logger) *archive.Service {
	return &archive.Service{
		Store:           db,
		Blobs:           blobs,
		Logger:          log,
		VerifyPixelData: true,
		Decode: func(ts string, frame []byte, pi dicom.PixelInfo) error {
			_, err := dicom.DecodeFrame(ts, pi, frame, 0)
			return err
		},
	}
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
