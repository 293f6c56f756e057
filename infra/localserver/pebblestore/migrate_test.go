package pebblestore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/keys"
)

// A data folder written by the previous version (testdata/legacy/keys.db,
// made by its bbolt store: keys in every state, aliases, tags, a pending
// window, the trail, a finalized key with its tombstone, an outbox with one
// record published) opens, and holds everything it held.
func TestLegacyStoreIsMigrated(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile("testdata/legacy/keys.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pebblestore.LegacyFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(st *pebblestore.Store) {
		t.Helper()
		const (
			enabled   = "ffc91820-5968-4943-abd7-1ab97f20d0a6"
			disabled  = "4a4799ee-8a7d-4896-b6f1-353fc5b3570a"
			pending   = "fe50eb07-964d-484d-9308-a92eb2be5c22"
			cancelled = "a045556c-cf6d-43c4-b33b-df6851607f10"
			gone      = "c9d582ef-b9f4-4236-a0d0-683b6d649559"
		)
		for id, state := range map[string]keys.State{enabled: keys.Enabled, disabled: keys.Disabled, pending: keys.PendingDeletion, cancelled: keys.Disabled} {
			k, err := st.Get(ctx, "dev-a", id)
			if err != nil || k.State != state {
				t.Fatalf("key %s: %+v %v, want %s", id, k, err, state)
			}
		}
		if k, _ := st.Get(ctx, "dev-a", enabled); k.Tags["team"] != "a" || k.LastChange.By.AccessKey != "AKIADEVA0000000000AA" {
			t.Fatalf("tags and stamp: %+v", k)
		}
		if id, err := st.ResolveAlias(ctx, "dev-a", "legacy-pending"); err != nil || id != pending {
			t.Fatalf("alias: %s %v", id, err)
		}
		if _, err := st.ResolveAlias(ctx, "dev-b", "legacy-gone"); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("the finalized key's alias: %v", err)
		}
		if tomb, err := st.Tombstone(ctx, "dev-b", gone); err != nil || tomb.Alias != "legacy-gone" {
			t.Fatalf("tombstone: %+v %v", tomb, err)
		}
		far := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		if due, err := st.Due(ctx, far, 10); err != nil || len(due) != 1 || due[0].ID != pending {
			t.Fatalf("due: %+v %v", due, err)
		}
		if un, err := st.Unreported(ctx, far, 10); err != nil || len(un) != 1 || un[0].KeyID != gone {
			t.Fatalf("unreported: %+v %v", un, err)
		}
		page, err := st.Records(ctx, "dev-a", keys.TrailQuery{Limit: 10}, time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
		if err != nil || len(page.Records) != 3 || page.Records[0].Op != keys.OpSchedule || page.Records[0].Alias != "legacy-pending" {
			t.Fatalf("dev-a's trail: %+v %v", page, err)
		}
		if un, err := st.Unpublished(ctx, far, 10); err != nil || len(un) != 4 {
			t.Fatalf("unpublished: %d %v", len(un), err)
		}
	}
	check(st)
	// The legacy file is kept beside, renamed; a second open migrates nothing.
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, pebblestore.LegacyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("keys.db still there: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, pebblestore.LegacyFile+".migrated-*")); len(m) != 1 {
		t.Fatalf("the migrated file kept: %v", m)
	}
	st, err = pebblestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check(st)
}

// A file that is not a bbolt store is refused with its name.
func TestCorruptLegacyStoreIsRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, pebblestore.LegacyFile), []byte("not a database, just bytes"), 0o600)
	_, err := pebblestore.Open(dir, nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, pebblestore.LegacyFile)) {
		t.Fatalf("open over a corrupt keys.db: %v", err)
	}
}
