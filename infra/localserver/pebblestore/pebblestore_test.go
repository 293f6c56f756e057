package pebblestore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		st, err := pebblestore.Open(t.TempDir(), slog.New(slog.NewJSONHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// Audit records leave by their owner's clock: a tenant whose clock was
// moved past a record's retention loses it, another tenant's stays.
func TestRecordsExpireByTheirOwnersClock(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetRetention(24 * time.Hour)
	now := time.Now()
	svc := keys.NewService(st, func() time.Time { return now })
	ctx := context.Background()
	for _, owner := range []string{"ahead", "behind"} {
		p := keys.Principal{Tenant: owner}
		k, err := svc.Create(ctx, p, keys.CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.ScheduleDeletion(ctx, p, k.ID, 7); err != nil {
			t.Fatal(err)
		}
	}
	clock := func(owner string) time.Time {
		if owner == "ahead" {
			return now.Add(48 * time.Hour)
		}
		return now
	}
	if n, err := st.ExpireRecords(ctx, clock); err != nil || n != 1 {
		t.Fatalf("ExpireRecords: %d removed, %v; want 1", n, err)
	}
	for owner, want := range map[string]int{"ahead": 0, "behind": 1} {
		page, err := st.Records(ctx, owner, keys.TrailQuery{Limit: 10}, now)
		if err != nil || len(page.Records) != want {
			t.Fatalf("%s's records: %d, %v; want %d", owner, len(page.Records), err, want)
		}
	}
}

// A store whose items do not decode is refused at open, naming its folder,
// and so is one whose manifest is damaged; neither panics.
func TestDamagedStoreIsRefusedAtOpen(t *testing.T) {
	t.Run("item", func(t *testing.T) {
		data := t.TempDir()
		db, err := pebble.Open(filepath.Join(data, pebblestore.Dir), &pebble.Options{FormatMajorVersion: pebble.FormatNewest})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Set([]byte("kdev\x00ab"), []byte{0xff, 0x01}, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = pebblestore.Open(data, nil)
		if !errors.Is(err, pebblestore.ErrCorrupt) || !strings.Contains(err.Error(), data) {
			t.Fatalf("open: %v, want ErrCorrupt naming %s", err, data)
		}
	})
	t.Run("manifest", func(t *testing.T) {
		data := t.TempDir()
		st, err := pebblestore.Open(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		manifests, _ := filepath.Glob(filepath.Join(data, pebblestore.Dir, "MANIFEST-*"))
		if len(manifests) == 0 {
			t.Fatal("no manifest")
		}
		f, err := os.OpenFile(manifests[0], os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte("garbagegarbage"), 10)
		f.Close()
		_, err = pebblestore.Open(data, nil)
		if !errors.Is(err, pebblestore.ErrCorrupt) || !strings.Contains(err.Error(), data) {
			t.Fatalf("open: %v, want ErrCorrupt naming %s", err, data)
		}
	})
}

// A second store on the same folder is refused at once.
func TestStoreInUseIsRefused(t *testing.T) {
	data := t.TempDir()
	st, err := pebblestore.Open(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	started := time.Now()
	_, err = pebblestore.Open(data, nil)
	if !errors.Is(err, pebblestore.ErrInUse) || !strings.Contains(err.Error(), data) || time.Since(started) > time.Second {
		t.Fatalf("second open: %v after %v, want ErrInUse at once", err, time.Since(started))
	}
}

// MemoryStats counts the memtable the writes went to: what make bench's
// load run reports as held by the store.
func TestMemoryStatsCountTheMemtable(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir(), slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := keys.NewService(st, time.Now)
	for range 10 {
		if _, err := svc.Create(context.Background(), keys.Principal{Tenant: "a"}, keys.CreateRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if m := st.MemoryStats(); m.MemTableBytes == 0 || m.BlockCacheBytes < 0 {
		t.Fatalf("memory after 10 creates: %+v, want the memtable counted", m)
	}
}
