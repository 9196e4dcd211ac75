package sqlite

import (
	"container/list"
	"context"
	"database/sql/driver"
	"strings"

	msqlite "modernc.org/sqlite"
)

// Statement cache. database/sql hands every Exec and Query to the driver
// as SQL text, and the driver compiles it (sqlite3_prepare_v2) and throws
// the compiled statement away afterwards. The archive, audit and annotation
// stores run the same few statements over and over, and compiling them was
// a tenth of ingest's CPU. So each connection keeps its most recently used
// statements compiled, and runs a query it has seen before by resetting and
// rebinding the compiled statement instead. SQLite recompiles a cached
// statement by itself if the schema changes under it (prepare_v2), so a
// cached statement never runs against a stale schema. The cache is per
// connection, like the statements; database/sql never uses one connection
// from two goroutines at once.

// stmtCacheSize bounds the compiled statements one connection keeps; the
// stores' statements with IN lists or multi-row VALUES have one form per
// batch size, so more forms than statements exist.
const stmtCacheSize = 128

// sqliteConn is what the connections of modernc.org/sqlite implement and
// database/sql uses.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// sqliteStmt is what its statements implement.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// sqliteRows is what its result sets implement.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// cachingConnector opens connections of modernc.org/sqlite with a
// statement cache.
type cachingConnector struct {
	inner driver.Connector
}

func newCachingConnector(dsn string) (driver.Connector, error) {
	inner, err := msqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return cachingConnector{inner: inner}, nil
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(sqliteConn)
	if !ok {
		return conn, nil // a driver version without these methods: no cache
	}
	return &cachingConn{sqliteConn: sc, stmts: map[string]*list.Element{}, lru: list.New()}, nil
}

func (c cachingConnector) Driver() driver.Driver { return c.inner.Driver() }

// cachingConn is a connection with its statement cache.
type cachingConn struct {
	sqliteConn
	stmts map[string]*list.Element // of *cachedStmt, most recently used at the front
	lru   *list.List
}

type cachedStmt struct {
	query string
	stmt  sqliteStmt
	// busy is set while a result set of the statement is open: the
	// statement cannot run again (nor be finalised) until it is closed.
	busy bool
}

// cacheable reports whether query is worth keeping compiled: a single
// data statement, not a script (whose statements the driver compiles one
// by one on every run anyway), a PRAGMA or a schema command.
func cacheable(query string) bool {
	q := strings.TrimRight(query, " \t\r\n;")
	if strings.Contains(q, ";") {
		return false
	}
	q = strings.TrimLeft(q, " \t\r\n(")
	end := strings.IndexFunc(q, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') })
	if end < 0 {
		end = len(q)
	}
	switch strings.ToUpper(q[:end]) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "VALUES":
		return true
	}
	return false
}

// statement returns the compiled statement of query, compiling it if it is
// not cached; nil means run query uncached (it is not cacheable, its
// statement is busy, or it does not compile: the uncached path reports the
// error).
func (c *cachingConn) statement(ctx context.Context, query string) *cachedStmt {
	if e, ok := c.stmts[query]; ok {
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			return nil
		}
		c.lru.MoveToFront(e)
		return cs
	}
	if !cacheable(query) {
		return nil
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	ss, ok := st.(sqliteStmt)
	if !ok {
		_ = st.Close()
		return nil
	}
	for c.lru.Len() >= stmtCacheSize {
		if !c.evictOne() {
			break
		}
	}
	cs := &cachedStmt{query: query, stmt: ss}
	c.stmts[query] = c.lru.PushFront(cs)
	return cs
}

// evictOne finalises the least recently used statement that is not busy.
func (c *cachingConn) evictOne() bool {
	for e := c.lru.Back(); e != nil; e = e.Prev() {
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			continue
		}
		c.lru.Remove(e)
		delete(c.stmts, cs.query)
		_ = cs.stmt.Close()
		return true
	}
	return false
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs := c.statement(ctx, query)
	if cs == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return cs.stmt.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs := c.statement(ctx, query)
	if cs == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	if sr, ok := rows.(sqliteRows); ok {
		return &cachedRows{sqliteRows: sr, cs: cs}, nil
	}
	return &plainCachedRows{Rows: rows, cs: cs}, nil
}

// Close finalises the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		_ = e.Value.(*cachedStmt).stmt.Close()
	}
	c.stmts, c.lru = nil, list.New()
	return c.sqliteConn.Close()
}

// cachedRows returns its statement to the cache when closed (closing the
// driver's rows resets the statement for its next run).
type cachedRows struct {
	sqliteRows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.sqliteRows.Close()
	r.cs.busy = false
	return err
}

// plainCachedRows is cachedRows for result sets without column types.
type plainCachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *plainCachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}
