package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/storetest"
)

func openAt(tb testing.TB, path string) *DB {
	tb.Helper()
	db, err := Open(tb.Context(), "sqlite://"+path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func openTest(tb testing.TB) *DB {
	return openAt(tb, filepath.Join(tb.TempDir(), "data", "index.db"))
}

func TestArchiveStore(t *testing.T) {
	storetest.TestArchiveStore(t, func(t *testing.T) radmark.ArchiveStore { return openTest(t) })
}

// Two handles on one file stand for two processes: they share no pool, so
// writers meet at SQLite's file lock (busy_timeout).
func TestConcurrentHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	storetest.TestConcurrentPuts(t, openAt(t, path), openAt(t, path))
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	db, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	r := storetest.Record("1.1", "1.1.1", "1.1.1.1", "v1")
	if res, err := db.PutInstances(t.Context(), []*radmark.InstanceRecord{r}, radmark.PutOptions{}); err != nil || res[0].Err != nil {
		t.Fatalf("PutInstances: %v %v", err, res)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Opening again also re-runs the migrations, which must be a no-op.
	db = openAt(t, path)
	in, err := db.Instance(t.Context(), "1.1.1.1")
	if err != nil || in.SHA256 != r.Instance.SHA256 {
		t.Fatalf("after reopen: %v, %v", in, err)
	}
	storetest.CheckInvariants(t, db)
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	openAt(t, path)
	// Concurrent opens (as by separate processes) of an existing file and
	// of fresh ones.
	paths := []string{path, path}
	for i := range 3 {
		fresh := filepath.Join(t.TempDir(), fmt.Sprintf("fresh%d.db", i))
		paths = append(paths, fresh, fresh, fresh, fresh)
	}
	var wg sync.WaitGroup
	for _, p := range paths {
		wg.Go(func() { openAt(t, p) })
	}
	wg.Wait()
	db := openAt(t, path)
	var versions int
	if err := db.read.QueryRow(`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if want := countMigrations(t); versions != want {
		t.Errorf("%d migrations recorded, want %d", versions, want)
	}
}

func TestConnectionSettings(t *testing.T) {
	db := openTest(t)
	for _, c := range []struct {
		pool   string
		pragma string
		want   string
	}{
		{"write", "journal_mode", "wal"},
		{"write", "synchronous", "2"}, // FULL
		{"write", "foreign_keys", "1"},
		{"write", "busy_timeout", "10000"},
		{"write", "wal_autocheckpoint", fmt.Sprint(writerAutoCheckpoint)},
		{"ckpt", "synchronous", "2"},
		{"read", "synchronous", "2"},
		{"read", "query_only", "1"},
		{"read", "busy_timeout", "10000"},
		{"read", "foreign_keys", "1"},
	} {
		pool := db.write
		switch c.pool {
		case "read":
			pool = db.read
		case "ckpt":
			pool = db.ckpt
		}
		var got string
		if err := pool.QueryRow("PRAGMA " + c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s pool: PRAGMA %s = %s, want %s", c.pool, c.pragma, got, c.want)
		}
	}
	if n := db.write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("write pool allows %d connections, want 1", n)
	}
}

func TestOpenDSN(t *testing.T) {
	t.Run("relative path and missing directories", func(t *testing.T) {
		t.Chdir(t.TempDir())
		db, err := Open(t.Context(), "sqlite://var/lib/radmark/index.db")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := os.Stat("var/lib/radmark/index.db"); err != nil {
			t.Error(err)
		}
		if err := db.Ping(t.Context()); err != nil {
			t.Error(err)
		}
	})
	t.Run("absolute path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a", "b.db")
		db, err := Open(t.Context(), "sqlite://"+path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := os.Stat(path); err != nil {
			t.Error(err)
		}
	})
	for _, dsn := range []string{"", "index.db", "postgres://x/y", "sqlite://", "sqlite://:memory:", "sqlite://a.db?_pragma=x", "sqlite://file:a.db"} {
		t.Run("invalid "+dsn, func(t *testing.T) {
			db, err := Open(t.Context(), dsn)
			if err == nil {
				db.Close()
			}
			if radmark.ErrorCode(err) != radmark.EINVALID {
				t.Errorf("Open(%q) = %v, want an invalid error", dsn, err)
			}
		})
	}
}

func TestInjectedTime(t *testing.T) {
	db := openTest(t)
	at := time.Date(2031, 2, 3, 4, 5, 6, 789123456, time.FixedZone("X", 3600))
	db.Now = func() time.Time { return at }
	r := storetest.Record("1.1", "1.1.1", "1.1.1.1", "v1")
	if _, err := db.PutInstances(t.Context(), []*radmark.InstanceRecord{r}, radmark.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	want := at.UTC().Truncate(time.Microsecond)
	in, err := db.Instance(t.Context(), "1.1.1.1")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := db.FindStudies(t.Context(), radmark.Query{})
	se, _ := db.FindSeries(t.Context(), radmark.Query{})
	for name, got := range map[string]time.Time{"instance": in.CreatedAt, "study": st[0].UpdatedAt, "series": se[0].UpdatedAt} {
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s time = %v, want %v", name, got, want)
		}
	}
}

// A record the database refuses must not stop the others in its batch.
func TestFailingRecordFallsBack(t *testing.T) {
	db := openTest(t)
	if _, err := db.write.Exec(`CREATE TRIGGER poison BEFORE INSERT ON instance
		WHEN NEW.sop_uid = 'POISON' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`); err != nil {
		t.Fatal(err)
	}
	storetest.TestFailingRecord(t, db, "POISON")
}

func TestPatientsWithoutStudiesAreRemoved(t *testing.T) {
	db := openTest(t)
	storetest.TestPatientCleanup(t, db, func() int {
		var n int
		if err := db.read.QueryRow(`SELECT count(*) FROM patient`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	})
}

func TestPing(t *testing.T) {
	db := openTest(t)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := db.Ping(ctx); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Ping with a cancelled context = %v", err)
	}
}

func BenchmarkFindStudies(b *testing.B) {
	storetest.BenchmarkFindStudies(b, func(tb testing.TB) radmark.ArchiveStore { return openTest(tb) })
}

func BenchmarkPutInstances(b *testing.B) {
	storetest.BenchmarkPutInstances(b, func(tb testing.TB) radmark.ArchiveStore { return openTest(tb) })
}

// countMigrations returns how many migrations the driver embeds.
func countMigrations(tb testing.TB) int {
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) < 2 {
		tb.Fatalf("%d migrations embedded, want the archive's and the annotation's", len(entries))
	}
	return len(entries)
}

func TestAnnotationStores(t *testing.T) {
	storetest.TestAnnotationStores(t, func(t *testing.T) storetest.Stores { return openTest(t) })
}

// Two handles on one file stand for two processes: appends from both must
// still form one chain, and saves on one head still have one winner.
func TestAnnotationConcurrentHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	storetest.TestConcurrentAnnotation(t, openAt(t, path), openAt(t, path))
}

func TestAuditConcurrentHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	storetest.TestConcurrentAppends(t, openAt(t, path), openAt(t, path))
}

func TestAuditTampering(t *testing.T) {
	storetest.TestAuditTampering(t, func(t *testing.T) (radmark.AuditStore, storetest.Tamper) {
		db := openTest(t)
		return db, rawSQL(t, db)
	})
}

// The annotation migration goes down (also with data in its tables, which
// reference each other) and up again.
func TestAnnotationMigrationDown(t *testing.T) {
	db := openTest(t)
	storetest.FillAnnotations(t, db)
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.write, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), 1); err != nil {
		t.Fatalf("migrate down to the archive: %v", err)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatalf("migrate up again: %v", err)
	}
	storetest.FillAnnotations(t, db)
}

func TestUserStore(t *testing.T) {
	storetest.TestUserStore(t, func(t *testing.T) storetest.AuthStores { return openTest(t) })
}

func TestWorkflowStore(t *testing.T) {
	storetest.TestWorkflowStore(t, func(t *testing.T) storetest.WorkflowStores { return openTest(t) })
}

// Claims from two handles on one file (two processes) never give a task
// twice.
func TestWorkflowConcurrentHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	storetest.TestConcurrentClaims(t, openAt(t, path), openAt(t, path))
}

// TestPutsIntoIndexedSeries follows a series as uploaders send it, an
// instance at a time: most puts find the patient, study and series stored
// with the attributes they carry (and only count), some change them. Every
// step must leave the derived columns right.
func TestPutsIntoIndexedSeries(t *testing.T) {
	db := openTest(t)
	put := func(r *radmark.InstanceRecord) {
		t.Helper()
		res, err := db.PutInstances(t.Context(), []*radmark.InstanceRecord{r}, radmark.PutOptions{})
		if err != nil || res[0].Err != nil || res[0].Status != radmark.PutStored {
			t.Fatalf("put %s: %v %+v", r.Instance.SOPInstanceUID, err, res)
		}
		storetest.CheckInvariants(t, db)
	}
	for i := range 3 {
		put(storetest.Record("1.1", "1.1.1", radmark.UID(fmt.Sprintf("1.1.1.%d", i+1)), "v1"))
	}
	// The series' modality changes with its newest instance.
	r := storetest.Record("1.1", "1.1.1", "1.1.1.4", "v1")
	r.Series.Modality = "PT"
	put(r)
	st, _ := db.FindStudies(t.Context(), radmark.Query{})
	if len(st) != 1 || !slices.Equal(st[0].ModalitiesInStudy, []string{"PT"}) || st[0].NumInstances != 4 {
		t.Fatalf("after a modality change: %+v", st)
	}
	// A second series of the same study, then more of both.
	put(storetest.Record("1.1", "1.1.2", "1.1.2.1", "v1"))
	r = storetest.Record("1.1", "1.1.1", "1.1.1.5", "v1")
	r.Series.Modality = "PT"
	put(r)
	put(storetest.Record("1.1", "1.1.2", "1.1.2.2", "v1"))
	// The study's description and the patient's name change.
	r = storetest.Record("1.1", "1.1.2", "1.1.2.3", "v1")
	r.Study.Description, r.Study.Patient.Name = "Corrected", "Other^Name"
	put(r)
	st, _ = db.FindStudies(t.Context(), radmark.Query{})
	if len(st) != 1 || st[0].NumSeries != 2 || st[0].NumInstances != 8 || st[0].Description != "Corrected" ||
		st[0].Patient.Name != "Other^Name" || !slices.Equal(st[0].ModalitiesInStudy, []string{"CT", "PT"}) {
		t.Fatalf("after all puts: %+v", st)
	}
}

func TestDeidStore(t *testing.T) {
	storetest.TestDeidStore(t, func(t *testing.T) storetest.DeidStores { return openTest(t) })
}

func TestReleaseStore(t *testing.T) {
	storetest.TestReleaseStore(t, func(t *testing.T) (storetest.ReleaseStores, storetest.Tamper) {
		db := openTest(t)
		return db, rawSQL(t, db)
	})
}

// rawSQL runs statements on the database behind the store's back.
func rawSQL(t *testing.T, db *DB) storetest.Tamper {
	return func(stmt string) error {
		_, err := db.write.ExecContext(t.Context(), stmt)
		return err
	}
}

// TestUnsyncedPut commits a put without waiting for the disk and leaves
// the writer connection synchronous=FULL again for every other commit;
// SyncFiles then makes it durable.
func TestUnsyncedPut(t *testing.T) {
	db := openTest(t)
	r := storetest.Record("1.2", "1.2.1", "1.2.1.1", "unsynced")
	res, err := db.PutInstances(t.Context(), []*radmark.InstanceRecord{r}, radmark.PutOptions{Unsynced: true})
	if err != nil || res[0].Err != nil || res[0].Status != radmark.PutStored {
		t.Fatalf("unsynced put: %+v %v", res, err)
	}
	var sync string
	if err := db.write.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil || sync != "2" {
		t.Fatalf("after an unsynced put the writer is synchronous=%s (%v), want 2 (FULL)", sync, err)
	}
	if _, err := db.Instance(t.Context(), "1.2.1.1"); err != nil {
		t.Fatal(err)
	}
	if err := db.SyncFiles(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestBackgroundCheckpoint writes more log than SQLite's default
// checkpoint threshold (1000 pages) and finds it copied into the database
// file by the background checkpointer, the writer's own threshold being
// far higher.
func TestBackgroundCheckpoint(t *testing.T) {
	dir := t.TempDir()
	db := openAt(t, filepath.Join(dir, "ckpt.db"))
	if _, err := db.write.Exec("CREATE TABLE filler (b BLOB)"); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(db.path)
	if err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte{7}, 3000)
	for range 1500 { // about 1500 pages, each its own commit
		if _, err := db.write.Exec("INSERT INTO filler VALUES (?)", blob); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(db.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= before.Size()+1400*4096 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes (was %d) 10 s after 1500 pages were logged: no checkpoint", fi.Size(), before.Size())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
