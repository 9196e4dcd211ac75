package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/radmark/radmark"
)

// auditHeader is implemented by stores that keep the chain's head (the seq
// and hash of its last event) beside the chain, so that removing events from
// its end is noticed too.
type auditHeader interface {
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
}

// auditHead returns the store's recorded head, if it keeps one.
func auditHead(t testing.TB, s radmark.AuditStore) (seq int64, hash string, ok bool) {
	t.Helper()
	h, ok := s.(auditHeader)
	if !ok {
		return 0, "", false
	}
	seq, hash, err := h.AuditHead(ctx(t))
	must(t, err, "AuditHead")
	return seq, hash, true
}

// VerifyAudit streams s's whole chain through a radmark.AuditVerifier, as
// `radmark audit verify` does, and returns how many events it read, the hash
// of the last one and the first broken link (nil if the chain holds).
func VerifyAudit(t testing.TB, s radmark.AuditStore) (count int64, head string, broken *radmark.AuditBreak) {
	t.Helper()
	v := radmark.NewAuditVerifier()
	err := s.ScanAudit(ctx(t), func(e *radmark.AuditEvent) error {
		if b := v.Next(e); b != nil && broken == nil {
			broken = b
		}
		return nil
	})
	must(t, err, "ScanAudit")
	return v.Count(), v.Head(), broken
}

// CheckAuditChain fails the test unless s's chain holds n events and
// verifies, and (for stores that record it) ends on the recorded head.
func CheckAuditChain(t testing.TB, s radmark.AuditStore, n int64) {
	t.Helper()
	count, head, broken := VerifyAudit(t, s)
	if broken != nil {
		t.Fatalf("the audit chain is broken at event %d: %s", broken.Seq, broken.Reason)
	}
	if count != n {
		t.Errorf("the audit chain holds %d events, want %d", count, n)
	}
	if seq, hash, ok := auditHead(t, s); ok && (seq != count || hash != head) {
		t.Errorf("the store's recorded head is event %d (%s), the chain ends at %d (%s)", seq, hash, count, head)
	}
}

// auditBase is when AppendChain's events happen.
var auditBase = time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)

var (
	chainActors  = []string{"alice", "bob", "carol", "dave", "service:importer", "mallory", "eve"}
	chainActions = []string{"instance.read", "revision.save", "set.create", "project.update", "schema.put"}
	chainTypes   = []string{"instance", "annotation_set", "project"}
)

// ChainEvent returns the i-th event (from 1) of the chains AppendChain
// makes: actors, actions, objects and times cycle at different periods, and
// every event's time is i seconds and 250 ns after a base time.
func ChainEvent(i int) *radmark.AuditEvent {
	return &radmark.AuditEvent{
		ID:         radmark.ID(fmt.Sprintf("chain-%06d", i)),
		Time:       auditBase.Add(time.Duration(i)*time.Second + 250*time.Nanosecond),
		Actor:      chainActors[i%len(chainActors)],
		Action:     chainActions[i%len(chainActions)],
		ObjectType: chainTypes[i%len(chainTypes)],
		ObjectID:   fmt.Sprintf("obj-%d", i%97),
		BeforeHash: Digest(fmt.Sprint("before ", i)),
		AfterHash:  Digest(fmt.Sprint("after ", i)),
		RequestID:  fmt.Sprintf("req-%d", i/10),
		Detail:     fmt.Sprintf(`{"i":%d}`, i),
	}
}

// AppendChain appends events 1..n of ChainEvent to s in batches of up to
// 1,000 and returns them as the store filled them in. The chain must be
// empty.
func AppendChain(t testing.TB, s radmark.AuditStore, n int) []*radmark.AuditEvent {
	t.Helper()
	events := make([]*radmark.AuditEvent, n)
	for i := range events {
		events[i] = ChainEvent(i + 1)
	}
	for batch := range slices.Chunk(events, 1000) {
		must(t, s.AppendAudit(ctx(t), batch...), "AppendAudit")
	}
	return events
}

func testAuditAppend(t *testing.T, open StoresOpener) {
	s := open(t)
	must(t, s.AppendAudit(ctx(t)), "AppendAudit of nothing")
	if n := chainLen(t, s); n != 0 {
		t.Fatalf("AppendAudit of nothing appended %d events", n)
	}
	CheckAuditChain(t, s, 0)
	if _, head, _ := VerifyAudit(t, s); head != radmark.GenesisHash {
		t.Errorf("the head of an empty chain is %s, want the genesis hash", head)
	}

	at := time.Date(2025, 6, 7, 8, 9, 10, 111222333, time.FixedZone("X", -7*3600))
	evs := []*radmark.AuditEvent{
		{ID: NewID("ev"), Time: at, Actor: "alice", Action: "instance.read", ObjectType: "instance", ObjectID: "1.2.3.4"},
		// Field separators, escapes and non-ASCII text are data like any other.
		{ID: NewID("ev"), Time: at.Add(time.Nanosecond), Actor: "bob\x1f\x1e", Action: "revision.save",
			ObjectType: "annotation_set", ObjectID: "set-1", BeforeHash: Digest("a"), AfterHash: Digest("b"),
			RequestID: "r\x1f", Detail: "{\"note\":\"Müller «ok» 山田 \u2028\\n\"}\n\ttab"},
		{ID: NewID("ev"), Actor: "carol", Action: "project.create", ObjectType: "project", ObjectID: "p-1"},
	}
	from := time.Now()
	must(t, s.AppendAudit(ctx(t), evs...), "AppendAudit")
	checkStoredTime(t, "Time of an appended event", evs[0].Time, normalised(at))
	checkStoredTime(t, "Time of an appended event", evs[1].Time, normalised(at))
	checkRecentTime(t, "Time of an event appended without one", evs[2].Time, from)
	if evs[0].PrevHash != radmark.GenesisHash {
		t.Errorf("first event's PrevHash = %s, want the genesis hash", evs[0].PrevHash)
	}
	expectAppended(t, s, 0, evs...)

	// Appends continue the chain.
	more := &radmark.AuditEvent{ID: NewID("ev"), Actor: "dave", Action: "instance.read"}
	must(t, s.AppendAudit(ctx(t), more), "AppendAudit")
	if more.PrevHash != evs[2].Hash {
		t.Errorf("PrevHash of event 4 = %s, want event 3's hash %s", more.PrevHash, evs[2].Hash)
	}
	expectAppended(t, s, 3, more)
	CheckAuditChain(t, s, 4)

	// ScanAudit stops at fn's error and returns it.
	stop := errors.New("enough")
	var seen []int64
	err := s.ScanAudit(ctx(t), func(e *radmark.AuditEvent) error {
		seen = append(seen, e.Seq)
		if e.Seq == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("ScanAudit returned %v, want fn's error", err)
	}
	if !slices.Equal(seen, []int64{1, 2}) {
		t.Errorf("ScanAudit called fn for %v, want [1 2]", seen)
	}
}

func testAuditValidation(t *testing.T, open StoresOpener) {
	s := open(t)
	stored := &radmark.AuditEvent{ID: NewID("ev"), Actor: "alice", Action: "instance.read"}
	must(t, s.AppendAudit(ctx(t), stored), "AppendAudit")
	good := func() *radmark.AuditEvent {
		return &radmark.AuditEvent{ID: NewID("ev"), Actor: "alice", Action: "instance.read", ObjectType: "instance", ObjectID: "1.2"}
	}
	tests := []struct {
		name  string
		batch func() []*radmark.AuditEvent
		code  string
	}{
		{"nil event", func() []*radmark.AuditEvent { return []*radmark.AuditEvent{good(), nil} }, radmark.EINVALID},
		{"no ID", func() []*radmark.AuditEvent { e := good(); e.ID = ""; return []*radmark.AuditEvent{good(), e} }, radmark.EINVALID},
		{"no actor", func() []*radmark.AuditEvent { e := good(); e.Actor = ""; return []*radmark.AuditEvent{good(), e} }, radmark.EINVALID},
		{"no action", func() []*radmark.AuditEvent { e := good(); e.Action = ""; return []*radmark.AuditEvent{e} }, radmark.EINVALID},
		{"ID twice in the batch", func() []*radmark.AuditEvent {
			a, b := good(), good()
			b.ID = a.ID
			return []*radmark.AuditEvent{a, b}
		}, radmark.EINVALID},
		{"actor not UTF-8", func() []*radmark.AuditEvent { e := good(); e.Actor = "al\xffice"; return []*radmark.AuditEvent{e} }, radmark.EINVALID},
		{"NUL in detail", func() []*radmark.AuditEvent { e := good(); e.Detail = "a\x00"; return []*radmark.AuditEvent{good(), e} }, radmark.EINVALID},
		{"time out of range", func() []*radmark.AuditEvent {
			e := good()
			e.Time = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)
			return []*radmark.AuditEvent{e}
		}, radmark.EINVALID},
		{"ID already in the chain", func() []*radmark.AuditEvent { e := good(); e.ID = stored.ID; return []*radmark.AuditEvent{e} }, radmark.ECONFLICT},
		{"ID already in the chain, after new ones", func() []*radmark.AuditEvent {
			// The new IDs sort before the stored one.
			a, b, e := good(), good(), good()
			a.ID, b.ID, e.ID = "0-new-a", "0-new-b", stored.ID
			return []*radmark.AuditEvent{a, b, e}
		}, radmark.ECONFLICT},
	}
	for _, tt := range tests {
		batch := tt.batch()
		err := s.AppendAudit(ctx(t), batch...)
		wantCode(t, err, tt.code, "AppendAudit: "+tt.name)
		if tt.code == radmark.ECONFLICT && (err == nil || !strings.Contains(err.Error(), string(stored.ID))) {
			t.Errorf("AppendAudit: %s: %v does not name the stored event %s", tt.name, err, stored.ID)
		}
		for _, e := range batch {
			expectNotWritten(t, s, 1, e)
		}
	}
	CheckAuditChain(t, s, 1)

	for _, f := range []radmark.AuditFilter{
		{Limit: -1},
		{AfterSeq: -1},
		{From: auditBase.Add(time.Hour), To: auditBase},
		{Actor: "\xff"},
		{To: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		_, err := s.AuditEvents(ctx(t), f)
		wantCode(t, err, radmark.EINVALID, fmt.Sprintf("AuditEvents(%+v)", f))
	}
}

// testAuditChain appends a long chain in batches, verifies it and reads it
// back whole, across ScanAudit's pages.
func testAuditChain(t *testing.T, open StoresOpener) {
	s := open(t)
	const n = 10_000
	events := AppendChain(t, s, n)
	CheckAuditChain(t, s, n)
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d was given Seq %d", i+1, e.Seq)
		}
	}
	var scanned []*radmark.AuditEvent
	must(t, s.ScanAudit(ctx(t), func(e *radmark.AuditEvent) error {
		scanned = append(scanned, e)
		return nil
	}), "ScanAudit")
	if diff := cmp.Diff(events, scanned); diff != "" {
		t.Errorf("ScanAudit (-appended +scanned):\n%s", diff)
	}
	_, head, _ := VerifyAudit(t, s)
	if head != events[n-1].Hash {
		t.Errorf("verified head %s, want the last event's hash %s", head, events[n-1].Hash)
	}
}

// testAuditQueries checks AuditEvents' filters and paging on a chain of
// 3,000 events against the same filters applied to the whole chain.
func testAuditQueries(t *testing.T, open StoresOpener) {
	s := open(t)
	events := AppendChain(t, s, 3000)
	at := func(i int) time.Time { return events[i-1].Time }
	match := func(f radmark.AuditFilter) []*radmark.AuditEvent {
		var out []*radmark.AuditEvent
		for _, e := range events {
			if (f.ObjectType == "" || e.ObjectType == f.ObjectType) && (f.ObjectID == "" || e.ObjectID == f.ObjectID) &&
				(f.Actor == "" || e.Actor == f.Actor) && (f.Action == "" || e.Action == f.Action) &&
				(f.From.IsZero() || !e.Time.Before(f.From)) && (f.To.IsZero() || !e.Time.After(f.To)) && e.Seq > f.AfterSeq {
				out = append(out, e)
			}
		}
		if f.Limit > 0 && len(out) > f.Limit {
			out = out[:f.Limit]
		}
		return out
	}
	tests := []struct {
		name string
		f    radmark.AuditFilter
		want int // how many events match, as a check on match itself
	}{
		{"everything", radmark.AuditFilter{}, 3000},
		{"object", radmark.AuditFilter{ObjectID: "obj-5"}, 31},
		{"object of a type", radmark.AuditFilter{ObjectType: "project", ObjectID: "obj-5"}, 11},
		{"type", radmark.AuditFilter{ObjectType: "annotation_set"}, 1000},
		{"actor", radmark.AuditFilter{Actor: "mallory"}, 428},
		{"action", radmark.AuditFilter{Action: "revision.save"}, 600},
		{"actor and action", radmark.AuditFilter{Actor: "bob", Action: "set.create"}, 86},
		{"nobody", radmark.AuditFilter{Actor: "nobody"}, 0},
		{"time range, inclusive", radmark.AuditFilter{From: at(100), To: at(200)}, 101},
		{"time range given in another zone", radmark.AuditFilter{From: at(100).In(time.FixedZone("Y", 5*3600)), To: at(200).In(time.FixedZone("Z", -3600))}, 101},
		// Stored times are whole microseconds: bounds inside one round
		// inwards.
		{"time range inside microseconds", radmark.AuditFilter{From: at(100).Add(time.Nanosecond), To: at(200).Add(999 * time.Nanosecond)}, 100},
		{"time range ending inside a microsecond", radmark.AuditFilter{From: at(100), To: at(200).Add(-time.Nanosecond)}, 100},
		{"from only", radmark.AuditFilter{From: at(2990)}, 11},
		{"to only", radmark.AuditFilter{To: at(10)}, 10},
		{"one instant", radmark.AuditFilter{From: at(7), To: at(7)}, 1},
		{"time range and actor", radmark.AuditFilter{From: at(1000), To: at(1999), Actor: "alice"}, 143},
		{"limit", radmark.AuditFilter{Limit: 25}, 25},
		{"after seq", radmark.AuditFilter{AfterSeq: 2995}, 5},
		{"after seq, actor, limit", radmark.AuditFilter{AfterSeq: 1000, Actor: "eve", Limit: 7}, 7},
		{"after the end", radmark.AuditFilter{AfterSeq: 3000}, 0},
	}
	for _, tt := range tests {
		want := match(tt.f)
		if len(want) != tt.want {
			t.Fatalf("%s: the test's own filter finds %d events, want %d", tt.name, len(want), tt.want)
		}
		got, err := s.AuditEvents(ctx(t), tt.f)
		must(t, err, "AuditEvents "+tt.name)
		if diff := cmp.Diff(seqs(want), seqs(got)); diff != "" {
			t.Errorf("AuditEvents %s (%+v) (-want +got seqs):\n%s", tt.name, tt.f, diff)
		} else if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("AuditEvents %s (-want +got):\n%s", tt.name, diff)
		}
	}

	// Paging by AfterSeq walks a filter's results without gaps or repeats.
	for _, f := range []radmark.AuditFilter{{Actor: "carol"}, {ObjectID: "obj-1"}, {}} {
		want := match(f)
		var got []*radmark.AuditEvent
		f.Limit = 97
		for page := 0; ; page++ {
			if page > 100 {
				t.Fatalf("paging %+v does not end", f)
			}
			evs, err := s.AuditEvents(ctx(t), f)
			must(t, err, "AuditEvents page")
			got = append(got, evs...)
			if len(evs) < f.Limit {
				break
			}
			f.AfterSeq = evs[len(evs)-1].Seq
		}
		if diff := cmp.Diff(seqs(want), seqs(got)); diff != "" {
			t.Errorf("AuditEvents in pages of 97 (-want +got seqs):\n%s", diff)
		}
	}
}

func seqs(evs []*radmark.AuditEvent) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// Tamper is how a driver edits its database behind the store's back: it
// runs stmt (plain SQL, no parameters) directly on the database.
type Tamper func(stmt string) error

// TestAuditTampering builds a chain of 10,000 events in each store made by
// open, then edits it with the store's own SQL the way someone with access
// to the database could, and checks that verifying the chain reports the
// first broken link where the edit was made: an altered field, a removed
// event, a changed hash, an altered event whose hash was recomputed, and
// (for stores that record the chain's head) removed last events.
func TestAuditTampering(t *testing.T, open func(t *testing.T) (radmark.AuditStore, Tamper)) {
	const n = 10_000
	tests := []struct {
		name string
		// stmts returns the edits, given the chain's events.
		stmts      func(events []*radmark.AuditEvent) []string
		seq        int64  // where the chain breaks (0: it verifies)
		reason     string // in the break's reason
		truncateTo int64  // with seq 0: the chain verifies with this many events
	}{
		{name: "actor changed", seq: 5000, reason: "altered", stmts: func([]*radmark.AuditEvent) []string {
			return []string{`UPDATE audit_event SET actor = 'mallory' WHERE seq = 5000`}
		}},
		{name: "detail changed", seq: 5000, reason: "altered", stmts: func([]*radmark.AuditEvent) []string {
			return []string{`UPDATE audit_event SET detail = '{"i":4999}' WHERE seq = 5000`}
		}},
		{name: "time changed", seq: 5000, reason: "altered", stmts: func(evs []*radmark.AuditEvent) []string {
			return []string{fmt.Sprintf(`UPDATE audit_event SET occurred_at = %s WHERE seq = 5000`, sqlTime(evs[4998].Time))}
		}},
		{name: "event deleted", seq: 5000, reason: "missing", stmts: func([]*radmark.AuditEvent) []string {
			return []string{`DELETE FROM audit_event WHERE seq = 5000`}
		}},
		{name: "first event deleted", seq: 1, reason: "missing", stmts: func([]*radmark.AuditEvent) []string {
			return []string{`DELETE FROM audit_event WHERE seq = 1`}
		}},
		{name: "hash changed", seq: 5000, reason: "altered", stmts: func([]*radmark.AuditEvent) []string {
			return []string{`UPDATE audit_event SET hash = '` + Digest("forged") + `' WHERE seq = 5000`}
		}},
		{name: "previous hash changed", seq: 5000, reason: "previous", stmts: func([]*radmark.AuditEvent) []string {
			return []string{`UPDATE audit_event SET prev_hash = '` + Digest("forged") + `' WHERE seq = 5000`}
		}},
		{name: "altered and rehashed", seq: 5001, reason: "previous", stmts: func(evs []*radmark.AuditEvent) []string {
			forged := *evs[4999]
			forged.Actor = "mallory"
			return []string{`UPDATE audit_event SET actor = 'mallory', hash = '` + forged.ComputeHash() + `' WHERE seq = 5000`}
		}},
		{name: "events swapped", seq: 5000, reason: "", stmts: func([]*radmark.AuditEvent) []string {
			return []string{
				`UPDATE audit_event SET seq = -1 WHERE seq = 5000`,
				`UPDATE audit_event SET seq = 5000 WHERE seq = 5001`,
				`UPDATE audit_event SET seq = 5001 WHERE seq = -1`,
			}
		}},
		{name: "event renumbered below the chain", seq: 1, reason: "missing", stmts: func([]*radmark.AuditEvent) []string {
			return []string{`UPDATE audit_event SET seq = -7 WHERE seq = 10000`}
		}},
		{name: "last events removed", truncateTo: n - 2, stmts: func([]*radmark.AuditEvent) []string {
			return []string{fmt.Sprintf(`DELETE FROM audit_event WHERE seq > %d`, n-2)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, tamper := open(t)
			events := AppendChain(t, s, n)
			CheckAuditChain(t, s, n)
			for _, stmt := range tt.stmts(events) {
				if err := tamper(stmt); err != nil {
					t.Fatalf("tamper with %q: %v", stmt, err)
				}
			}
			count, head, broken := VerifyAudit(t, s)
			switch {
			case tt.seq == 0 && broken != nil:
				t.Fatalf("the chain breaks at %d (%s), want it to verify up to %d", broken.Seq, broken.Reason, tt.truncateTo)
			case tt.seq == 0:
				if count != tt.truncateTo || head != events[tt.truncateTo-1].Hash {
					t.Errorf("verified %d events ending on %s, want %d ending on %s", count, head, tt.truncateTo, events[tt.truncateTo-1].Hash)
				}
				if seq, hash, ok := auditHead(t, s); ok && (seq == count || hash == head) {
					t.Errorf("the store's recorded head (%d, %s) does not show that events were removed", seq, hash)
				}
			case broken == nil:
				t.Fatalf("tampering went unnoticed: %d events verify", count)
			case broken.Seq != tt.seq || !strings.Contains(broken.Reason, tt.reason):
				t.Errorf("the chain breaks at %d (%s), want %d (%s)", broken.Seq, broken.Reason, tt.seq, tt.reason)
			}
		})
	}
}

// sqlTime is a time literal both engines compare with their stored form.
func sqlTime(t time.Time) string {
	return "'" + t.UTC().Format("2006-01-02T15:04:05.000000Z") + "'"
}
