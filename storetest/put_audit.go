package storetest

import (
	"errors"
	"testing"

	"github.com/radmark/radmark"
)

// testPutAudit checks PutOptions.Audit: the events are appended in the
// records' transaction — whether the records are stored, duplicates or
// refused one by one, since the request they record happened — never
// when that transaction fails, and only once however often the same
// events are put again as a journal replay (PutOptions.Replay); outside a
// replay an event already on the chain fails the transaction.
func testPutAudit(t *testing.T, open Opener) {
	s := open(t)
	chain, ok := s.(radmark.AuditStore)
	if !ok {
		t.Fatalf("%T keeps no audit chain, which PutOptions.Audit needs", s)
	}
	withEvent := func(ev *radmark.AuditEvent) radmark.PutOptions {
		return radmark.PutOptions{Audit: []*radmark.AuditEvent{ev}}
	}
	rec := Record("7.1", "7.1.1", "7.1.1.1", "v1")

	stored := NewEvent("alice", "dicomweb.store", "archive", "")
	replay := *stored // as a journal keeps it, before the commit
	if got := statuses(put(t, s, withEvent(stored), rec)); got[0] != "stored" {
		t.Fatalf("put with an event: %v", got)
	}
	expectAppended(t, chain, 0, stored)

	// Put again, as a replay after a crash that lost nothing: the record
	// is a duplicate and the event is on the chain already.
	again := *stored
	if _, err := s.PutInstances(ctx(t), []*radmark.InstanceRecord{rec}, withEvent(&again)); err == nil {
		t.Fatal("an event already on the chain was accepted outside a replay")
	}
	replayed := withEvent(&replay)
	replayed.Replay = true
	if got := statuses(put(t, s, replayed, rec)); got[0] != "duplicate" {
		t.Fatalf("put again: %v", got)
	}
	if n := chainLen(t, chain); n != 1 {
		t.Fatalf("an event put twice is on the chain %d times", n)
	}

	// A record refused on its own still records its request.
	conflicting := NewEvent("bob", "dicomweb.store", "archive", "")
	if res := put(t, s, withEvent(conflicting), Record("7.1", "7.1.1", "7.1.1.1", "v2")); radmark.ErrorCode(res[0].Err) != radmark.ECONFLICT {
		t.Fatalf("conflicting put: %v", res[0].Err)
	}
	expectAppended(t, chain, 1, conflicting)
	invalid := NewEvent("bob", "dicomweb.store", "archive", "")
	if res := put(t, s, withEvent(invalid), &radmark.InstanceRecord{}); radmark.ErrorCode(res[0].Err) != radmark.EINVALID {
		t.Fatalf("invalid record: %v", res[0].Err)
	}
	expectAppended(t, chain, 2, invalid)

	// A transaction that fails takes its events with it.
	lost := NewEvent("carol", "dicomweb.store", "archive", "")
	opts := withEvent(lost)
	opts.BeforeCommit = func() error { return errors.New("the journal's disk is gone") }
	if _, err := s.PutInstances(ctx(t), []*radmark.InstanceRecord{Record("7.2", "7.2.1", "7.2.1.1", "v1")}, opts); err == nil {
		t.Fatal("PutInstances succeeded although its BeforeCommit failed")
	}
	expectNotWritten(t, chain, 3, lost)
	if _, err := s.Instance(ctx(t), "7.2.1.1"); radmark.ErrorCode(err) != radmark.ENOTFOUND {
		t.Fatalf("instance of a failed transaction: %v", err)
	}
	CheckAuditChain(t, chain, 3)
}
