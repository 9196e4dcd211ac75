package postgres

import (
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/internal/testenv"
	"github.com/radmark/radmark/storetest"
)

func serverURL() string { return testenv.PostgresURL() }

// freshSchema creates an empty schema, dropped when the test ends, and
// returns a URL whose connections use it.
func freshSchema(tb testing.TB) string { return testenv.PostgresSchema(tb) }

func openURL(tb testing.TB, dsn string) *DB {
	tb.Helper()
	db, err := Open(tb.Context(), dsn)
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

func openTest(tb testing.TB) *DB { return openURL(tb, freshSchema(tb)) }

func TestArchiveStore(t *testing.T) {
	storetest.TestArchiveStore(t, func(t *testing.T) radmark.ArchiveStore { return openTest(t) })
}

// Two pools on one schema stand for two replicas.
func TestConcurrentReplicas(t *testing.T) {
	dsn := freshSchema(t)
	storetest.TestConcurrentPuts(t, openURL(t, dsn), openURL(t, dsn))
}

func TestOpenRace(t *testing.T) {
	dsn := freshSchema(t)
	const replicas = 4
	dbs := make([]*DB, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Open: %v", i, err)
			continue
		}
		defer dbs[i].Close()
	}
	if t.Failed() {
		return
	}
	// All replicas work on the one schema.
	for i, db := range dbs {
		r := storetest.Record("1.1", "1.1.1", radmark.UID("1.1.1."+string(rune('1'+i))), "v1")
		if res, err := db.PutInstances(t.Context(), []*radmark.InstanceRecord{r}, radmark.PutOptions{}); err != nil || res[0].Err != nil {
			t.Fatalf("replica %d: %v %v", i, err, res)
		}
	}
	storetest.CheckInvariants(t, dbs[0])
	var versions int
	if err := dbs[0].write.QueryRow(`SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if want := countMigrations(t); versions != want {
		t.Errorf("%d migrations recorded, want %d", versions, want)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	dsn := freshSchema(t)
	a := openURL(t, dsn)
	r := storetest.Record("1.1", "1.1.1", "1.1.1.1", "v1")
	if _, err := a.PutInstances(t.Context(), []*radmark.InstanceRecord{r}, radmark.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b := openURL(t, dsn)
	if _, err := b.Instance(t.Context(), "1.1.1.1"); err != nil {
		t.Fatalf("after reopening: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	freshSchema(t) // skips (or fails in CI) without a server
	if _, err := Open(t.Context(), "postgres://u:secret@[::1/x"); radmark.ErrorCode(err) != radmark.EINVALID {
		t.Errorf("Open(bad URL) = %v, want an invalid error", err)
	} else if msg := err.Error(); strings.Contains(msg, "secret") {
		t.Errorf("error %q shows the password", msg)
	}
	for _, bad := range []string{"", "host=localhost user=postgres", "sqlite:///tmp/x.db"} {
		if db, err := Open(t.Context(), bad); radmark.ErrorCode(err) != radmark.EINVALID {
			if err == nil {
				db.Close()
			}
			t.Errorf("Open(%q) = %v, want an invalid error", bad, err)
		}
	}
	u, _ := url.Parse(serverURL())
	q := u.Query()
	q.Set("search_path", "radmark_no_such_schema")
	u.RawQuery = q.Encode()
	if db, err := Open(t.Context(), u.String()); err == nil {
		db.Close()
		t.Error("Open with a missing schema succeeded")
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
	for _, stmt := range []string{
		`CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.sop_uid = 'POISON' THEN RAISE EXCEPTION 'poisoned row'; END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER poison BEFORE INSERT ON instance FOR EACH ROW EXECUTE FUNCTION poison()`,
	} {
		if _, err := db.write.Exec(stmt); err != nil {
			t.Fatal(err)
		}
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

// Two pools on one schema stand for two replicas: saves on one head have
// one winner across them, and their appends form one chain.
func TestAnnotationConcurrentReplicas(t *testing.T) {
	dsn := freshSchema(t)
	storetest.TestConcurrentAnnotation(t, openURL(t, dsn), openURL(t, dsn), openURL(t, dsn))
}

func TestAuditConcurrentReplicas(t *testing.T) {
	dsn := freshSchema(t)
	storetest.TestConcurrentAppends(t, openURL(t, dsn), openURL(t, dsn), openURL(t, dsn))
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
	p, err := goose.NewProvider(goose.DialectPostgres, db.write, fsys)
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

// Claims from three pools on one schema (three replicas) never give a
// task twice.
func TestWorkflowConcurrentReplicas(t *testing.T) {
	dsn := freshSchema(t)
	storetest.TestConcurrentClaims(t, openURL(t, dsn), openURL(t, dsn), openURL(t, dsn))
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
