package pebblestore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/keys"
)

// Concurrent writers share commits: with 64 writers in flight, fewer commits
// (fsyncs) than writes. A store that queued one sync per write would have
// exactly as many.
func TestGroupCommitSharesSyncs(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := keys.NewService(st, time.Now)
	ctx := context.Background()
	c0, w0 := st.CommitStats()
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				if _, err := svc.Create(ctx, keys.Principal{Tenant: "o"}, keys.CreateRequest{}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	c1, w1 := st.CommitStats()
	commits, writes := c1-c0, w1-w0
	if writes != 640 {
		t.Fatalf("%d writes committed, want 640", writes)
	}
	if commits >= writes {
		t.Fatalf("%d commits for %d writes: no sync was shared", commits, writes)
	}
	t.Logf("%d writes in %d commits (%.1f writes per fsync)", writes, commits, float64(writes)/float64(commits))
	page, err := svc.ListNumbered(ctx, keys.Principal{Tenant: "o"}, keys.NumberedQuery{Limit: 1000})
	if err != nil || len(page.Keys) != 640 || page.Total != 640 {
		t.Fatalf("%d keys listed, %d counted (%v), want 640", len(page.Keys), page.Total, err)
	}
}

// Writers racing for one alias inside shared commits: exactly one claims it,
// the others are refused, and the writes grouped with them still land.
func TestGroupCommitConcurrentAliasClaims(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := keys.NewService(st, time.Now)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Half of them race for the same alias: exactly one may win.
			alias := "unique"
			if i%2 == 1 {
				alias = ""
			}
			_, err := svc.Create(ctx, keys.Principal{Tenant: "o"}, keys.CreateRequest{Alias: alias})
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	ok, taken := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, keys.ErrAliasExists):
			taken++
		default:
			t.Fatal(err)
		}
	}
	if ok != 51 || taken != 49 {
		t.Fatalf("%d created, %d refused; want 51 and 49", ok, taken)
	}
}
