package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/radmark/radmark"
)

// auditPage is how many events ScanAudit reads per query: memory stays
// bounded however long the chain, and no read holds a connection (or, on
// SQLite, a snapshot that stops WAL checkpoints) while the caller works.
const auditPage = 1000

const auditColumns = 13

// AppendAudit implements radmark.AuditStore.AppendAudit: it appends events
// in order, in one transaction (all or none), setting each event's Seq,
// PrevHash and Hash and normalising its Time (UTC, microseconds; the zero
// time becomes the store's Now) before hashing, so that the hash covers
// exactly what is stored. Every event needs an ID (unique in the chain:
// ECONFLICT for one already stored, EINVALID for a repeat within the call),
// an Actor and an Action; text must be UTF-8 without NUL (EINVALID).
// Nothing is written when any event is refused.
func (s *Store) AppendAudit(ctx context.Context, events ...*radmark.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.mutate(ctx, "append audit events", events, nil)
}

// stageEvents checks events and returns copies with normalised times, ready
// for appendEvents.
func (s *Store) stageEvents(what string, events []*radmark.AuditEvent) ([]radmark.AuditEvent, error) {
	staged := make([]radmark.AuditEvent, len(events))
	seen := make(map[radmark.ID]bool, len(events))
	for i, e := range events {
		if e == nil {
			return nil, radmark.Errorf(radmark.EINVALID, "%s: an audit event is required", what)
		}
		switch {
		case e.ID == "":
			return nil, radmark.Errorf(radmark.EINVALID, "%s: audit event %q has no ID", what, e.Action)
		case e.Actor == "":
			return nil, radmark.Errorf(radmark.EINVALID, "%s: audit event %s has no actor", what, e.ID)
		case e.Action == "":
			return nil, radmark.Errorf(radmark.EINVALID, "%s: audit event %s has no action", what, e.ID)
		case seen[e.ID]:
			return nil, radmark.Errorf(radmark.EINVALID, "%s: audit event ID %s is given twice", what, e.ID)
		}
		seen[e.ID] = true
		if err := checkText(what+": audit event "+string(e.ID),
			textField{"ID", string(e.ID)}, textField{"actor", e.Actor}, textField{"action", e.Action},
			textField{"object type", e.ObjectType}, textField{"object ID", e.ObjectID},
			textField{"before hash", e.BeforeHash}, textField{"after hash", e.AfterHash},
			textField{"request ID", e.RequestID}, textField{"detail", e.Detail}); err != nil {
			return nil, err
		}
		if err := checkTime(what+": audit event time", e.Time); err != nil {
			return nil, err
		}
		staged[i] = *e
		staged[i].Time = s.stamp(e.Time)
	}
	return staged, nil
}

// appendEvents appends staged events to the chain inside tx, filling in
// their Seq, PrevHash and Hash.
//
// The chain's head (the seq and hash of its last event) lives in the
// single-row table audit_head. An append reads it, locking it on
// PostgreSQL (SELECT ... FOR UPDATE): every other appender, in this process
// or another replica, then waits at that statement until this transaction
// ends, and at READ COMMITTED reads the head as this one left it. On SQLite
// the transaction already holds the database's write lock (BEGIN
// IMMEDIATE). So seqs are assigned strictly in commit order, without gaps
// or forks; and a transaction that rolls back leaves the head as it was.
// audit_event's primary key on seq is the backstop: two events can never
// share a place in the chain.
func (s *Store) appendEvents(ctx context.Context, tx *sql.Tx, staged []radmark.AuditEvent) error {
	if len(staged) == 0 {
		return nil
	}
	q := `SELECT seq, hash FROM audit_head WHERE id = 1`
	if s.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var seq int64
	var prev string
	if err := tx.QueryRowContext(ctx, q).Scan(&seq, &prev); err != nil {
		return fmt.Errorf("read the audit chain's head: %w", err)
	}
	for i := range staged {
		e := &staged[i]
		seq++
		e.Seq, e.PrevHash = seq, prev
		e.Hash = e.ComputeHash()
		prev = e.Hash
	}
	row := "(" + placeholders(auditColumns) + ")"
	for chunk := range slices.Chunk(staged, chunkSize) {
		args := make([]any, 0, len(chunk)*auditColumns)
		for i := range chunk {
			e := &chunk[i]
			args = append(args, e.Seq, string(e.ID), s.timeArg(e.Time), e.Actor, e.Action, e.ObjectType,
				e.ObjectID, e.BeforeHash, e.AfterHash, e.RequestID, e.Detail, e.PrevHash, e.Hash)
		}
		n, err := s.countReturned(ctx, tx, `INSERT INTO audit_event (seq, id, occurred_at, actor, action,
	object_type, object_id, before_hash, after_hash, request_id, detail, prev_hash, hash)
VALUES `+strings.TrimSuffix(strings.Repeat(row+", ", len(chunk)), ", ")+`
ON CONFLICT DO NOTHING RETURNING seq`, args...)
		if err != nil {
			return fmt.Errorf("insert audit events: %w", err)
		}
		if n != len(chunk) {
			return s.auditConflict(ctx, tx, chunk)
		}
	}
	if _, err := tx.ExecContext(ctx, s.rebind(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`), seq, prev); err != nil {
		return fmt.Errorf("move the audit chain's head: %w", err)
	}
	return nil
}

// appendPutEvents appends an index transaction's events
// (PutOptions.Audit), skipping those already on the chain on a replay.
func (s *Store) appendPutEvents(ctx context.Context, tx *sql.Tx, opts radmark.PutOptions, staged []radmark.AuditEvent) error {
	if opts.Replay {
		return s.appendNewEvents(ctx, tx, staged)
	}
	return s.appendEvents(ctx, tx, staged)
}

// appendNewEvents is appendEvents for the events whose ID is not on the
// chain yet; the others are left as they are (PutOptions.Replay).
func (s *Store) appendNewEvents(ctx context.Context, tx *sql.Tx, staged []radmark.AuditEvent) error {
	if len(staged) == 0 {
		return nil
	}
	ids := make([]any, len(staged))
	for i := range staged {
		ids[i] = string(staged[i].ID)
	}
	rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id FROM audit_event WHERE id IN (`+placeholders(len(ids))+`)`), ids...)
	if err != nil {
		return fmt.Errorf("look up audit events: %w", err)
	}
	onChain := map[radmark.ID]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("look up audit events: %w", err)
		}
		onChain[radmark.ID(id)] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up audit events: %w", err)
	}
	if len(onChain) == 0 {
		return s.appendEvents(ctx, tx, staged)
	}
	var fresh []radmark.AuditEvent
	var at []int
	for i := range staged {
		if !onChain[staged[i].ID] {
			fresh = append(fresh, staged[i])
			at = append(at, i)
		}
	}
	if err := s.appendEvents(ctx, tx, fresh); err != nil {
		return err
	}
	for k, i := range at {
		staged[i] = fresh[k]
	}
	return nil
}

// auditConflict explains why some events of chunk were not inserted. The
// others of the chunk were (ON CONFLICT DO NOTHING skips rows one by one)
// and are visible to tx, so an event whose ID is stored at another seq than
// the one it was given is the one already in the chain.
func (s *Store) auditConflict(ctx context.Context, tx *sql.Tx, chunk []radmark.AuditEvent) error {
	ids := make([]string, len(chunk))
	for i := range chunk {
		ids[i] = string(chunk[i].ID)
	}
	rows, err := tx.QueryContext(ctx, s.rebind(`SELECT id, seq FROM audit_event WHERE id IN (`+placeholders(len(ids))+`)`), anys(ids)...)
	if err != nil {
		return fmt.Errorf("insert audit events: %w", err)
	}
	storedAt := make(map[radmark.ID]int64, len(ids))
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			rows.Close()
			return fmt.Errorf("insert audit events: %w", err)
		}
		storedAt[radmark.ID(id)] = seq
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("insert audit events: %w", err)
	}
	for i := range chunk {
		if seq, ok := storedAt[chunk[i].ID]; ok && seq != chunk[i].Seq {
			return radmark.Errorf(radmark.ECONFLICT, "audit event ID %s is already in the chain (event %d)", chunk[i].ID, seq)
		}
	}
	// Only a seq can have clashed: audit_head is behind the stored events,
	// which the store never leaves so.
	return fmt.Errorf("the audit chain's head (table audit_head) is behind its stored events")
}

// countReturned runs a statement with a RETURNING clause and counts its rows.
func (s *Store) countReturned(ctx context.Context, tx *sql.Tx, q string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	return n, rows.Err()
}

// AuditHead returns the seq and hash of the chain's last event as the store
// recorded them when appending (0 and radmark.GenesisHash for an empty
// chain). A verifier that streamed the whole chain must end on the same
// hash; otherwise events were removed from its end. (Keeping the head also
// outside the database, e.g. in signed logs, protects it from someone who
// can edit both.)
func (s *Store) AuditHead(ctx context.Context) (seq int64, hash string, err error) {
	if err := s.read.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", fmt.Errorf("read the audit chain's head: %w", err)
	}
	return seq, hash, nil
}

const auditSelect = `SELECT seq, id, occurred_at, actor, action, object_type, object_id, before_hash,
	after_hash, request_id, detail, prev_hash, hash FROM audit_event`

func scanEvent(row scanner) (*radmark.AuditEvent, error) {
	var e radmark.AuditEvent
	err := row.Scan(&e.Seq, (*string)(&e.ID), scanTime(&e.Time), &e.Actor, &e.Action, &e.ObjectType,
		&e.ObjectID, &e.BeforeHash, &e.AfterHash, &e.RequestID, &e.Detail, &e.PrevHash, &e.Hash)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// AuditEvents implements radmark.AuditStore.AuditEvents: the events matching
// every non-empty field of f, in Seq order. From and To bound Time
// inclusively (either may be zero); AfterSeq pages (events with a greater
// Seq); Limit 0 means no limit. A negative Limit or AfterSeq, or From after
// To, is EINVALID. Each filter has an index that also yields Seq order
// (object ID, object type, actor, action; time ranges use the time index),
// so a page stays cheap on a long chain.
func (s *Store) AuditEvents(ctx context.Context, f radmark.AuditFilter) ([]*radmark.AuditEvent, error) {
	switch {
	case f.Limit < 0:
		return nil, radmark.Errorf(radmark.EINVALID, "audit query: limit %d is negative", f.Limit)
	case f.AfterSeq < 0:
		return nil, radmark.Errorf(radmark.EINVALID, "audit query: after-seq %d is negative", f.AfterSeq)
	case !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To):
		return nil, radmark.Errorf(radmark.EINVALID, "audit query: the time range starts (%s) after it ends (%s)", f.From.UTC().Format(time.RFC3339Nano), f.To.UTC().Format(time.RFC3339Nano))
	}
	if err := checkText("audit query", textField{"object type", f.ObjectType}, textField{"object ID", f.ObjectID},
		textField{"actor", f.Actor}, textField{"action", f.Action}); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.ObjectType != "" {
		add("object_type = ?", f.ObjectType)
	}
	if f.ObjectID != "" {
		add("object_id = ?", f.ObjectID)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.From.IsZero() {
		if err := checkTime("audit query: from", f.From); err != nil {
			return nil, err
		}
		// Stored times are whole microseconds: a bound inside one rounds
		// inwards, so From is inclusive of what it names and no more.
		from := Timestamp(f.From)
		if from.Before(f.From.UTC()) {
			from = from.Add(time.Microsecond)
		}
		add("occurred_at >= ?", s.timeArg(from))
	}
	if !f.To.IsZero() {
		if err := checkTime("audit query: to", f.To); err != nil {
			return nil, err
		}
		add("occurred_at <= ?", s.timeArg(Timestamp(f.To)))
	}
	if f.AfterSeq > 0 {
		add("seq > ?", f.AfterSeq)
	}
	q := auditSelect
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq"
	paging, args := s.limitOffset(f.Limit, 0, args)
	rows, err := s.read.QueryContext(ctx, s.rebind(q+paging), args...)
	if err != nil {
		return nil, fmt.Errorf("query audit events: %w", err)
	}
	defer rows.Close()
	out := []*radmark.AuditEvent{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("query audit events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query audit events: %w", err)
	}
	return out, nil
}

// ScanAudit implements radmark.AuditStore.ScanAudit: fn sees every event in
// Seq order, exactly as stored, until it returns an error, which ScanAudit
// then returns. The chain is read in pages by Seq, so memory stays bounded;
// events appended during the scan are included (appends commit in Seq order,
// so a page never shows a later event without the earlier ones).
func (s *Store) ScanAudit(ctx context.Context, fn func(*radmark.AuditEvent) error) error {
	// From the lowest seq there is, not from 1: a row renumbered to 0 or
	// below (only tampering makes one) must be seen, not skipped.
	after := int64(math.MinInt64)
	page := make([]*radmark.AuditEvent, 0, auditPage)
	for {
		page = page[:0]
		rows, err := s.read.QueryContext(ctx, s.rebind(auditSelect+` WHERE seq > ? ORDER BY seq LIMIT ?`), after, auditPage)
		if err != nil {
			return fmt.Errorf("scan audit events: %w", err)
		}
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("scan audit events: %w", err)
			}
			page = append(page, e)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("scan audit events: %w", err)
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < auditPage {
			return nil
		}
		after = page[len(page)-1].Seq
	}
}
