package archive

import (
	"context"
	"fmt"
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
