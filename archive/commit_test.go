package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/radmark/radmark"
	"github.com/radmark/radmark/phantom"
)

// TestConcurrentIngests runs many one- and few-instance ingests at once,
// with both option sets, so that group commits form, mix callers and pass
// the lead between them; every caller must get its own results, and the
// index must hold every instance once.
func TestConcurrentIngests(t *testing.T) {
	ctx := context.Background()
	svc, db := newService(t)
	ct, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	n := len(ct.Instances)
	var sources []Source
	for k := range n {
		src := slice(t, k, "")
		src.Name = fmt.Sprint("slice ", k)
		sources = append(sources, src)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for round := range 2 {
		for k := 0; k < n; k += 1 + k%3 {
			batch := sources[k:min(n, k+1+k%3)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The second round re-sends everything, half of it with
				// Overwrite: all duplicates either way.
				res, err := svc.Ingest(ctx, batch, IngestOptions{Overwrite: round == 1 && k%2 == 0})
				if err != nil {
					errs <- err
					return
				}
				for i, r := range res {
					want := radmark.PutStored
					if round == 1 {
						want = radmark.PutDuplicate
					}
					if r.Err != nil || r.Name != batch[i].Name || r.SOPInstanceUID != radmark.UID(ct.SOPInstanceUID(k+i)) {
						errs <- fmt.Errorf("round %d, %s: %+v", round, batch[i].Name, r)
					} else if r.Status != want {
						errs <- fmt.Errorf("round %d, %s: status %v, want %v", round, r.Name, r.Status, want)
					}
				}
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, _, got, err := db.Counts(ctx); err != nil || got != n {
		t.Fatalf("index holds %d instances (%v), want %d", got, err, n)
	}
	if got := blobCount(t, svc); got != n {
		t.Fatalf("%d blobs stored, want %d", got, n)
	}
}

// TestConcurrentIngestsMixedOutcomes sends, all at once and with both
// option sets, re-sends of stored instances that are identical
// (duplicates), changed without Overwrite (conflicts), and changed with
// Overwrite (replacements), so that group commits hold records that fail
// beside records that succeed. Each caller must get exactly its own
// outcome; afterwards the index must point at the expected bytes of every
// instance, and the blob store must hold those blobs and nothing else (no
// refused or replaced bytes left behind).
func TestConcurrentIngestsMixedOutcomes(t *testing.T) {
	ctx := context.Background()
	svc, db := newService(t)
	ct, err := phantom.Generate(phantom.CTSmall())
	if err != nil {
		t.Fatal(err)
	}
	n := len(ct.Instances)
	var first []Source
	for k := range n {
		first = append(first, slice(t, k, ""))
	}
	if _, err := svc.Ingest(ctx, first, IngestOptions{}); err != nil {
		t.Fatal(err)
	}

	type outcome int
	const (
		duplicate outcome = iota
		conflict
		replaced
	)
	want := make([]outcome, n)
	final := make([]Source, n) // the bytes each instance must end with
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for k := range n {
		want[k] = outcome(k % 3)
		src := first[k]
		if want[k] != duplicate {
			src = slice(t, k, fmt.Sprint("changed ", k))
		}
		final[k] = first[k]
		if want[k] == replaced {
			final[k] = src
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := svc.Ingest(ctx, []Source{src}, IngestOptions{Overwrite: want[k] == replaced})
			if err != nil {
				errs <- fmt.Errorf("slice %d: %w", k, err)
				return
			}
			r := res[0]
			switch want[k] {
			case duplicate:
				if r.Err != nil || r.Status != radmark.PutDuplicate {
					errs <- fmt.Errorf("slice %d re-sent as is: %+v, want a duplicate", k, r)
				}
			case conflict:
				if radmark.ErrorCode(r.Err) != radmark.ECONFLICT {
					errs <- fmt.Errorf("slice %d changed without overwrite: %+v, want a conflict", k, r)
				}
			case replaced:
				if r.Err != nil || r.Status != radmark.PutReplaced {
					errs <- fmt.Errorf("slice %d changed with overwrite: %+v, want replaced", k, r)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, _, got, err := db.Counts(ctx); err != nil || got != n {
		t.Fatalf("index holds %d instances (%v), want %d", got, err, n)
	}
	for k := range n {
		in, err := db.Instance(ctx, radmark.UID(ct.SOPInstanceUID(k)))
		if err != nil {
			t.Fatal(err)
		}
		rc, _, err := svc.Blobs.Get(ctx, in.BlobKey)
		if err != nil {
			t.Fatalf("slice %d: blob %s: %v", k, in.BlobKey, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, readAll(t, final[k])) {
			t.Errorf("slice %d (%v): the index points at other bytes than expected", k, want[k])
		}
	}
	if got := blobCount(t, svc); got != n {
		t.Fatalf("%d blobs stored, want %d (refused or replaced bytes left behind)", got, n)
	}
}

func readAll(t *testing.T, s Source) []byte {
	t.Helper()
	b := make([]byte, s.Size)
	if _, err := s.Data.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}
