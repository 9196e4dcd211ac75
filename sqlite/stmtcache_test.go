package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
)

func TestCacheable(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                                 true,
		"  select * from t where a = ?":            true,
		"INSERT INTO t VALUES (?) RETURNING pk":    true,
		"update t set a = 1":                       true,
		"DELETE FROM t":                            true,
		"WITH x AS (SELECT 1) SELECT * FROM x":     true,
		"(SELECT 1) UNION (SELECT 2)":              true,
		"SELECT 1;":                                true,
		"SELECT 1; SELECT 2":                       false,
		"PRAGMA optimize":                          false,
		"CREATE TABLE t (a)":                       false,
		"BEGIN IMMEDIATE":                          false,
		"":                                         false,
		"-- a comment":                             false,
		"INSERT INTO t VALUES ('a;b')":             false, // conservative, not wrong
		"SELECTED":                                 false,
		"ANALYZE patient, study, series, instance": false,
	} {
		if got := cacheable(q); got != want {
			t.Errorf("cacheable(%q) = %v, want %v", q, got, want)
		}
	}
}

func cacheOf(t *testing.T, db *sql.DB) (n int) {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Raw(func(dc any) error {
		n = len(dc.(*cachingConn).stmts)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStatementCache runs statements through a one-connection pool, as the
// writer is, and checks that the cached statements give the same answers
// as fresh ones would: repeated, nested (the same query while its result
// set is open), after a schema change, after errors, and past the cache's
// size.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := openDB(filepath.Join(t.TempDir(), "c.db") + "?" + commonParams + "&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT)`); err != nil {
		t.Fatal(err)
	}
	ins := `INSERT INTO t (a, b) VALUES (?, ?) RETURNING a`
	for i := 1; i <= 5; i++ {
		var got int
		if err := db.QueryRowContext(ctx, ins, i, "v").Scan(&got); err != nil || got != i {
			t.Fatalf("insert %d: %d, %v", i, got, err)
		}
	}
	// A constraint error leaves the statement usable.
	if err := db.QueryRowContext(ctx, ins, 1, "dup").Scan(new(int)); err == nil {
		t.Fatal("duplicate key inserted")
	}
	if _, err := db.ExecContext(ctx, `UPDATE t SET b = ? WHERE a = ?`, "x", 6); err != nil {
		t.Fatal(err)
	}
	var got int
	if err := db.QueryRowContext(ctx, ins, 6, "v").Scan(&got); err != nil || got != 6 {
		t.Fatalf("insert after an error: %d, %v", got, err)
	}

	// The same query while its result set is open, inside a transaction.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	sel := `SELECT a FROM t WHERE a >= ? ORDER BY a`
	outer, err := tx.QueryContext(ctx, sel, 1)
	if err != nil {
		t.Fatal(err)
	}
	var pairs int
	for outer.Next() {
		var a int
		if err := outer.Scan(&a); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, sel, a)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			pairs++
		}
		if err := inner.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if pairs != 6*7/2 {
		t.Fatalf("nested queries saw %d pairs, want 21", pairs)
	}

	// A schema change under a cached statement.
	if _, err := db.ExecContext(ctx, `ALTER TABLE t ADD COLUMN c TEXT DEFAULT 'new'`); err != nil {
		t.Fatal(err)
	}
	star := `SELECT * FROM t WHERE a = ?`
	for range 2 {
		rows, err := db.QueryContext(ctx, star, 1)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		rows.Close()
		if len(cols) != 3 {
			t.Fatalf("columns after ALTER TABLE: %q", cols)
		}
	}

	// More distinct statements than the cache holds.
	for i := range stmtCacheSize + 20 {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) + `+strconv.Itoa(i)+` FROM t`).Scan(&n); err != nil || n != 6+i {
			t.Fatalf("statement %d: %d, %v", i, n, err)
		}
	}
	if n := cacheOf(t, db); n != stmtCacheSize {
		t.Fatalf("cache holds %d statements, want %d", n, stmtCacheSize)
	}
}
