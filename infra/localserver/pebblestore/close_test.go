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

// Writes racing Close each return: committed if they were queued before it
// (and then durable: they are there after a reopen), ErrClosed otherwise.
// None hangs.
func TestWritesRacingCloseReturn(t *testing.T) {
	for round := 0; round < 20; round++ {
		dir := t.TempDir()
		st, err := pebblestore.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		svc := keys.NewService(st, time.Now)
		const writers = 20
		type result struct {
			id  string
			err error
		}
		results := make(chan result, writers)
		var started sync.WaitGroup
		started.Add(writers)
		for i := 0; i < writers; i++ {
			go func() {
				started.Done()
				k, err := svc.Create(context.Background(), keys.Principal{Tenant: "o"}, keys.CreateRequest{})
				results <- result{k.ID, err}
			}()
		}
		started.Wait()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		// Issued after Close: refused at once.
		if _, err := svc.Create(context.Background(), keys.Principal{Tenant: "o"}, keys.CreateRequest{}); !errors.Is(err, pebblestore.ErrClosed) {
			t.Fatalf("create after Close: %v, want ErrClosed", err)
		}
		var committed []string
		for i := 0; i < writers; i++ {
			select {
			case r := <-results:
				switch {
				case r.err == nil:
					committed = append(committed, r.id)
				case !errors.Is(r.err, pebblestore.ErrClosed):
					t.Fatalf("write racing Close: %v", r.err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: %d of %d writes racing Close never returned", round, writers-i, writers)
			}
		}
		st, err = pebblestore.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range committed {
			if _, err := st.Get(context.Background(), "o", id); err != nil {
				t.Fatalf("acknowledged write %s lost across Close: %v", id, err)
			}
		}
		st.Close()
	}
}
