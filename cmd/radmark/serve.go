package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/radmark/radmark/annotation"
	"github.com/radmark/radmark/audit"
	"github.com/radmark/radmark/exchange"
	"github.com/radmark/radmark/httpapi"
	"github.com/radmark/radmark/job"
	"github.com/radmark/radmark/policy"
	"github.com/radmark/radmark/release"
	"github.com/radmark/radmark/ui"
	"github.com/radmark/radmark/workflow"
)

// serverGCPercent is the garbage collector's target for the server
// unless GOGC is set: ingest allocates about an instance's size per
// instance for a moment (parsing, the de-identified copy), and at 300 a
// C-STORE run of a CT series took a seventh less CPU than at the default
// of 100, for 69 MB peak resident against 54 MB. GOMEMLIMIT, where set,
// still bounds the heap.
const serverGCPercent = 300

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
}

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var st storageFlags
	st.register(fs)
	addr := fs.String("addr", envDefault("addr", "127.0.0.1:8080"), "address to listen on (port 0 picks a free port)")
	cors := fs.String("cors", envDefault("cors", ""), "comma-separated origins allowed to call the API from browsers (* for any)")
	maxUpload := fs.Int64("max-upload", int64(envInt("max-upload", 1<<30)), "largest STOW-RS request body in bytes")
	var acct accountFlags
	acct.register(fs)
	var dicom dimseFlags
	dicom.register(fs)
	var in intakeFlags
	in.register(fs)
	retention := fs.String("export-retention", envDefault("export-retention", "168h"),
		"how long the file of a finished export job is kept before it is deleted (e.g. 72h; 0 keeps files forever); releases are always kept")
	logLevel := fs.String("log-level", envDefault("log-level", "info"), "log level: debug, info, warn, error")
	blobJournal := fs.String("blob-journal", envDefault("blob-journal", "auto"),
		"acknowledge stored instances through the file blob store's journal (one durable write each, moved into the folder tree in the background): on, off, or auto (on with the SQLite database, where one server process owns the data folder; off with PostgreSQL, whose replicas may share the blob folder)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	keepExports, err := parseRetention(*retention)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	tuneGC()
	st.resolve()
	switch *blobJournal {
	case "auto":
		st.journal = strings.HasPrefix(st.db, "sqlite://")
	case "on", "off":
		st.journal = *blobJournal == "on"
	default:
		return usageError{fmt.Sprintf("--blob-journal %q (or RADMARK_BLOB_JOURNAL): want on, off or auto", *blobJournal)}
	}
	db, blobs, err := openStorage(ctx, &st)
	if err != nil {
		return err
	}
	defer db.Close()
	if c, ok := blobs.(io.Closer); ok {
		// After the server, DIMSE and the workers have stopped (deferred
		// later, so run earlier): the journal's objects are moved into
		// the folder tree before the process ends.
		defer func() {
			if err := c.Close(); err != nil {
				log.Error("closing the blob store", "err", err)
			}
		}()
	}
	tmp := filepath.Join(st.data, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("create temp dir: %w", err)
	}
	arch := newArchive(db, blobs, log)
	if restored, err := arch.EnableIndexJournal(ctx); err != nil {
		return err
	} else if restored > 0 {
		log.Warn("instances indexed again from the blob journal after an unclean stop", "instances", restored)
	}
	recorder := audit.NewRecorder(db, 0)
	defer recorder.Close()
	accounts, err := acct.build(ctx, db)
	if err != nil {
		return err
	}
	annotations := &annotation.Service{Store: db, Blobs: blobs, Images: &annotation.ArchiveImages{Source: arch}}
	reading := &workflow.Service{Store: db, Annotations: annotations, Archive: db, Roster: workflow.AccountRoster{Accounts: db}}
	projectIntake, err := in.build(st.data, db, arch, blobs, reading, log)
	if err != nil {
		return err
	}
	stopDIMSE, err := dicom.start(ctx, arch, projectIntake, log)
	if err != nil {
		return err
	}
	defer stopDIMSE()
	srv := &httpapi.Server{
		Archive:     arch,
		Audit:       recorder,
		Annotations: annotations,
		// Everything but sign-in, health and the UI's files needs an
		// identity, and the policy decides every route.
		Auth:           accounts,
		Policy:         &policy.Policy{Members: db},
		Studies:        reading,
		Gate:           reading,
		Logger:         log,
		MaxRequestBody: *maxUpload,
		TempDir:        tmp,
		Ready:          db.Ping,
		Version:        versionString(),
		UI:             ui.Handler(),
	}
	srv.UseWorkflow(reading)
	srv.UseIntake(projectIntake)
	srv.Releases, srv.Jobs = newReleases(db, blobs, arch, annotations, tmp), db
	srv.Exports = &exchange.Exports{Exchange: srv.Releases.Exchange, Blobs: blobs, TempDir: tmp, Keep: keepExports}
	jobHandlers := srv.Exports.Handlers()
	jobHandlers[release.JobKind] = srv.Releases.RunJob
	go (&job.Runner{Store: db, Logger: log, Handlers: jobHandlers}).Run(ctx)
	if sweep := srv.Exports.Retention(db, log); sweep != nil {
		go sweep.Run(ctx)
	}
	if *cors != "" {
		for _, o := range strings.Split(*cors, ",") {
			if o = strings.TrimSpace(o); o != "" {
				srv.CORSOrigins = append(srv.CORSOrigins, o)
			}
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	// Tests and scripts read this line to find the port.
	fmt.Fprintf(stdout, "radmark %s listening on http://%s\n", versionString(), ln.Addr())
	log.Info("serving", "addr", ln.Addr().String(), "db", redact(st.db), "blobs", st.blobs)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// parseRetention reads --export-retention: a Go duration (72h, 30m) or
// 0 for "keep forever".
func parseRetention(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	switch {
	case err != nil:
		return 0, usageError{fmt.Sprintf("--export-retention %q (or RADMARK_EXPORT_RETENTION): want a duration such as 168h or 30m, or 0 to keep export files forever", v)}
	case d < 0:
		return 0, usageError{fmt.Sprintf("--export-retention %q: a retention cannot be negative (0 keeps export files forever)", v)}
	}
	return d, nil
}

// redact hides a password in a database URL for logging.
func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.Index(u[i+3:], "@"); j >= 0 {
			cred := u[i+3 : i+3+j]
			if k := strings.Index(cred, ":"); k >= 0 {
				return u[:i+3] + cred[:k] + ":***" + u[i+3+j:]
			}
		}
	}
	return u
}

func envInt(name string, def int) int {
	v := envDefault(name, "")
	if v == "" {
		return def
	}
	var n int
	if _, err := fmt.Sscan(v, &n); err != nil {
		return def
	}
	return n
}
