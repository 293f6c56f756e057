package pebblestore_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/keys"
)

func quietOpen(t *testing.T, dir string) *pebblestore.Store {
	t.Helper()
	st, err := pebblestore.Open(dir, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return st
}

// A store holding an item of every kind opens again: a freeze, a tripped
// guard and the tally's counts are read back at start as the rest are.
func TestEveryKindOpensAgain(t *testing.T) {
	dir := t.TempDir()
	st := quietOpen(t, dir)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := keys.Principal{Tenant: "o", AccessKey: "AKIA1"}
	svc := keys.NewService(st, func() time.Time { return now })
	k, err := svc.Create(ctx, p, keys.CreateRequest{Alias: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ScheduleDeletion(ctx, p, k.ID, 7); err != nil {
		t.Fatal(err)
	}
	if err := st.SetFreeze(ctx, keys.FreezeChange{Owner: "o", Frozen: true, Now: now, By: p}, keys.Record{ID: "r1", Owner: "o", At: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetGuard(ctx, keys.GuardChange{Owner: "o", Scope: "tenant", Tripped: true, Now: now, By: p}, keys.Record{ID: "r2", Owner: "o", At: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = quietOpen(t, dir)
	defer st.Close()
	if f, err := st.Freeze(ctx, "o"); err != nil || !f.Frozen {
		t.Fatalf("freeze after reopening: %+v, %v", f, err)
	}
}

// The tally is counted from the keys at open: a reopened store's numbered
// pages are exact, final deletions included.
func TestTallyIsCountedAtOpen(t *testing.T) {
	dir := t.TempDir()
	st := quietOpen(t, dir)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := keys.Principal{Tenant: "o"}
	svc := keys.NewService(st, func() time.Time { return now })
	var made []keys.Key
	for range 30 {
		k, err := svc.Create(ctx, p, keys.CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, k)
	}
	if _, err := svc.ScheduleDeletion(ctx, p, made[0].ID, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteNow(ctx, p, made[0].ID); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		page, err := svc.ListNumbered(ctx, p, keys.NumberedQuery{Offset: 10, Limit: 100})
		if err != nil || page.Total != 29 || len(page.Keys) != 19 {
			t.Fatalf("open %d: total %d, %d keys from the 11th (%v); want 29, 19", round+1, page.Total, len(page.Keys), err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		st = quietOpen(t, dir)
		svc = keys.NewService(st, func() time.Time { return now })
	}
	st.Close()
}
