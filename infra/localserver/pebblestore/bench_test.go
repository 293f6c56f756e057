package pebblestore_test

import (
	"context"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/keys"
)

func benchStore(b *testing.B) (*pebblestore.Store, *keys.Service) {
	st, err := pebblestore.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, keys.NewService(st, time.Now)
}

// One writer: every disable/enable is its own fsynced commit.
func BenchmarkTransitionSerial(b *testing.B) {
	st, svc := benchStore(b)
	ctx := context.Background()
	k, _ := svc.Create(ctx, keys.Principal{Tenant: "o"}, keys.CreateRequest{})
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var err error
		if i%2 == 0 {
			_, err = svc.Disable(ctx, keys.Principal{Tenant: "o"}, k.ID)
		} else {
			_, err = svc.Enable(ctx, keys.Principal{Tenant: "o"}, k.ID)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	reportGroup(b, st)
}

// Many writers on distinct keys: writes that arrive during an fsync share
// the next one. writes/commit is the group commit's effect.
func BenchmarkTransitionParallel(b *testing.B) {
	st, svc := benchStore(b)
	ctx := context.Background()
	b.SetParallelism(16) // 16 × GOMAXPROCS writers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		k, err := svc.Create(ctx, keys.Principal{Tenant: "o"}, keys.CreateRequest{})
		if err != nil {
			b.Error(err)
			return
		}
		for i := 0; pb.Next(); i++ {
			if i%2 == 0 {
				_, err = svc.Disable(ctx, keys.Principal{Tenant: "o"}, k.ID)
			} else {
				_, err = svc.Enable(ctx, keys.Principal{Tenant: "o"}, k.ID)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportGroup(b, st)
}

func BenchmarkGet(b *testing.B) {
	_, svc := benchStore(b)
	ctx := context.Background()
	k, _ := svc.Create(ctx, keys.Principal{Tenant: "o"}, keys.CreateRequest{})
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Get(ctx, keys.Principal{Tenant: "o"}, k.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func reportGroup(b *testing.B, st *pebblestore.Store) {
	commits, writes := st.CommitStats()
	if commits > 0 {
		b.ReportMetric(float64(writes)/float64(commits), "writes/commit")
	}
}
