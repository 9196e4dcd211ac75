package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/radmark/radmark"
)

// TestConcurrentAnnotation has writers save, create and append at the same
// time through the given handles, which must all be open on the same
// (initially empty) store; pass several to test writers in different
// connection pools or processes. It checks that of writers saving on the
// same head exactly one succeeds and the others get a head conflict naming
// the winner; that writers who retry on conflicts lose nothing; that saves
// on different sets and plain appends all succeed; and that the audit chain
// stays one contiguous, verifiable chain holding exactly one event per
// successful mutation.
func TestConcurrentAnnotation(t *testing.T, stores ...Stores) {
	const writers = 8
	store := func(i int) Stores { return stores[i%len(stores)] }
	s := stores[0]
	var events atomic.Int64 // audit events of successful calls
	p := createProject(t, s, "Concurrency")
	set := createSet(t, s, p.ID, "1.2.3", "", "alice")
	events.Add(2)
	r1 := newRevision(set.ID, "", "alice")
	must(t, s.SaveRevision(ctx(t), r1, saveEvent(r1, "")), "SaveRevision")
	events.Add(1)

	// Writers saving on the same parent: one wins.
	t.Run("same parent", func(t *testing.T) {
		revs := make([]*radmark.Revision, writers)
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			revs[i] = newRevision(set.ID, r1.ID, fmt.Sprint("writer", i))
			wg.Go(func() {
				<-start
				errs[i] = store(i).SaveRevision(ctx(t), revs[i], saveEvent(revs[i], r1.ContentHash))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Errorf("writers %d and %d both saved on parent %s", winner, i, r1.ID)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("no writer saved: %v", errs)
		}
		events.Add(1)
		for i, err := range errs {
			if i == winner {
				continue
			}
			wantCode(t, err, radmark.ECONFLICT, fmt.Sprintf("writer %d", i))
			var hc *radmark.HeadConflict
			if !errors.As(err, &hc) || hc.Head != revs[winner].ID || hc.Expected != r1.ID {
				t.Errorf("writer %d: %v, want a head conflict naming head %s", i, err, revs[winner].ID)
			}
			if _, err := s.Revision(ctx(t), revs[i].ID); radmark.ErrorCode(err) != radmark.ENOTFOUND {
				t.Errorf("writer %d's refused revision: Revision = %v, want not found", i, err)
			}
		}
		if revs[winner].Number != 2 {
			t.Errorf("the winner's revision has Number %d, want 2", revs[winner].Number)
		}
		checkHead(t, s, set.ID, revs[winner])
		history, err := s.Revisions(ctx(t), set.ID)
		must(t, err, "Revisions")
		if len(history) != 2 {
			t.Errorf("%d revisions, want 2", len(history))
		}
		saves, err := s.AuditEvents(ctx(t), radmark.AuditFilter{Action: "revision.save", ObjectID: string(set.ID)})
		must(t, err, "AuditEvents")
		if len(saves) != 2 || saves[1].Actor != revs[winner].Author {
			t.Errorf("save events: %s; want r1's and the winner's", describeEvents(saves))
		}
	})
	if t.Failed() {
		return
	}

	// Writers that rebase and retry on conflicts all land every save, and
	// the history is one chain numbered without gaps.
	t.Run("retry on conflict", func(t *testing.T) {
		const saves = 6
		var wg sync.WaitGroup
		landed := make([][]*radmark.Revision, writers)
		var conflicts atomic.Int64
		for i := range writers {
			wg.Go(func() {
				st := store(i)
				for len(landed[i]) < saves {
					if conflicts.Load() > 10_000 {
						t.Errorf("writer %d: too many conflicts", i)
						return
					}
					cur, err := st.Set(ctx(t), set.ID)
					if err != nil {
						t.Errorf("writer %d: Set: %v", i, err)
						return
					}
					r := newRevision(set.ID, cur.Head, fmt.Sprint("writer", i))
					err = st.SaveRevision(ctx(t), r, saveEvent(r, ""))
					var hc *radmark.HeadConflict
					switch {
					case err == nil:
						landed[i] = append(landed[i], r)
						events.Add(1)
					case errors.As(err, &hc) && radmark.ErrorCode(err) == radmark.ECONFLICT:
						conflicts.Add(1)
					default:
						t.Errorf("writer %d: SaveRevision: %v", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		history, err := s.Revisions(ctx(t), set.ID)
		must(t, err, "Revisions")
		want := 2 + writers*saves
		if len(history) != want {
			t.Fatalf("%d revisions, want %d", len(history), want)
		}
		byID := map[radmark.ID]*radmark.Revision{}
		for k, r := range history {
			byID[r.ID] = r
			if r.Number != want-k {
				t.Errorf("revision %d of the history has Number %d", want-k, r.Number)
			}
			if k+1 < len(history) && r.Parent != history[k+1].ID {
				t.Errorf("revision %d's parent is %s, want revision %d (%s)", r.Number, r.Parent, r.Number-1, history[k+1].ID)
			}
		}
		for i, revs := range landed {
			for _, r := range revs {
				got, ok := byID[r.ID]
				if !ok {
					t.Errorf("writer %d's saved revision %s is lost", i, r.ID)
				} else if got.Number != r.Number {
					t.Errorf("writer %d's revision %s: told Number %d, stored %d", i, r.ID, r.Number, got.Number)
				}
			}
		}
		checkHead(t, s, set.ID, history[0])
	})
	if t.Failed() {
		return
	}

	// Saves on different sets, set creation and plain appends run side by
	// side; they all succeed and the chain stays one.
	t.Run("different sets", func(t *testing.T) {
		const saves, appends = 10, 5
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				st := store(i)
				mine := &radmark.AnnotationSet{ID: NewID("set"), ProjectID: p.ID, StudyUID: "1.2.9", Reader: fmt.Sprint("reader", i)}
				if err := st.CreateSet(ctx(t), mine, NewEvent(mine.Reader, "set.create", "annotation_set", mine.ID)); err != nil {
					t.Errorf("writer %d: CreateSet: %v", i, err)
					return
				}
				events.Add(1)
				var head radmark.ID
				for k := range saves {
					r := newRevision(mine.ID, head, mine.Reader)
					if err := st.SaveRevision(ctx(t), r, saveEvent(r, "")); err != nil {
						t.Errorf("writer %d: SaveRevision: %v", i, err)
						return
					}
					events.Add(1)
					if r.Number != k+1 {
						t.Errorf("writer %d: revision numbered %d, want %d", i, r.Number, k+1)
					}
					head = r.ID
				}
			})
			wg.Go(func() {
				st := store(i + 1)
				for k := range appends {
					batch := make([]*radmark.AuditEvent, 1+k%3)
					for j := range batch {
						batch[j] = NewEvent(fmt.Sprint("reader", i), "instance.read", "instance", radmark.ID(fmt.Sprintf("1.2.%d.%d", i, k)))
					}
					if err := st.AppendAudit(ctx(t), batch...); err != nil {
						t.Errorf("appender %d: AppendAudit: %v", i, err)
						return
					}
					events.Add(int64(len(batch)))
					for j := 1; j < len(batch); j++ {
						if batch[j].Seq != batch[j-1].Seq+1 || batch[j].PrevHash != batch[j-1].Hash {
							t.Errorf("appender %d: a batch was not appended in one piece: seqs %d, %d", i, batch[j-1].Seq, batch[j].Seq)
						}
					}
				}
			})
		}
		wg.Wait()
	})

	// Readers racing to create the same set: one wins.
	t.Run("same set", func(t *testing.T) {
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				<-start
				set := &radmark.AnnotationSet{ID: NewID("set"), ProjectID: p.ID, StudyUID: "1.2.10", SeriesUID: "1.2.10.1", Reader: "zoe"}
				errs[i] = store(i).CreateSet(ctx(t), set, NewEvent("zoe", "set.create", "annotation_set", set.ID))
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			if err == nil {
				ok++
				continue
			}
			wantCode(t, err, radmark.ECONFLICT, fmt.Sprintf("creator %d", i))
		}
		if ok != 1 {
			t.Errorf("%d creators of the same set succeeded, want 1", ok)
		}
		events.Add(int64(ok))
	})

	// Every successful call left exactly one event per event it passed, in
	// one chain, whichever handle reads it.
	for _, st := range stores {
		CheckAuditChain(t, st, events.Load())
	}
	all, err := s.AuditEvents(ctx(t), radmark.AuditFilter{})
	must(t, err, "AuditEvents")
	ids := make([]radmark.ID, len(all))
	for i, e := range all {
		ids[i] = e.ID
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != len(all) {
		t.Error("an audit event is in the chain twice")
	}
}

// TestConcurrentAppends has many goroutines append batches to one chain
// through the given handles (all open on the same, initially empty store):
// every batch lands whole and in order, and the chain stays contiguous and
// verifiable.
func TestConcurrentAppends(t *testing.T, stores ...radmark.AuditStore) {
	const appenders, rounds = 16, 20
	var wg sync.WaitGroup
	var total atomic.Int64
	appended := make([][]*radmark.AuditEvent, appenders)
	for i := range appenders {
		wg.Go(func() {
			st := stores[i%len(stores)]
			for k := range rounds {
				batch := make([]*radmark.AuditEvent, 1+(i+k)%4)
				for j := range batch {
					batch[j] = NewEvent(fmt.Sprint("appender", i), "instance.read", "instance", radmark.ID(fmt.Sprintf("%d.%d.%d", i, k, j)))
				}
				if err := st.AppendAudit(ctx(t), batch...); err != nil {
					t.Errorf("appender %d: %v", i, err)
					return
				}
				total.Add(int64(len(batch)))
				appended[i] = append(appended[i], batch...)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, st := range stores {
		CheckAuditChain(t, st, total.Load())
	}
	all, err := stores[0].AuditEvents(ctx(t), radmark.AuditFilter{})
	must(t, err, "AuditEvents")
	bySeq := make(map[int64]*radmark.AuditEvent, len(all))
	for _, e := range all {
		bySeq[e.Seq] = e
	}
	for i, evs := range appended {
		for k, e := range evs {
			stored := bySeq[e.Seq]
			if stored == nil || stored.ID != e.ID || stored.Hash != e.Hash {
				t.Errorf("appender %d's event %s was told Seq %d, which holds %+v", i, e.ID, e.Seq, stored)
			}
			if k > 0 && e.Seq <= evs[k-1].Seq {
				t.Errorf("appender %d's events are out of order in the chain: %d after %d", i, e.Seq, evs[k-1].Seq)
			}
		}
	}
}
