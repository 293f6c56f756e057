package pebblestore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/keys"
)

// The write-ahead log's reserved space counts in its size, so a write and
// its fdatasync change no inode metadata (Pebble's own reservation keeps the
// size, and every append grows it). A store that reserved with the size kept
// would leave the log exactly as long as what was written, and the log must
// still read back after a restart.
func TestWALSpaceReservedWithItsSize(t *testing.T) {
	dir := t.TempDir()
	st, err := pebblestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := keys.NewService(st, time.Now)
	ctx := context.Background()
	// Pebble reserves the first stretch on the log's second write.
	var k keys.Key
	for range 2 {
		if k, err = svc.Create(ctx, keys.Principal{Tenant: "o"}, keys.CreateRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	if len(logs) == 0 {
		t.Fatalf("no write-ahead log under %s", dir)
	}
	var biggest int64
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil && fi.Size() > biggest {
			biggest = fi.Size()
		}
	}
	if biggest < 1<<20 {
		t.Fatalf("the write-ahead log is %d bytes after two writes: its reserved space is not in its size", biggest)
	}
	st.Close()

	st, err = pebblestore.Open(dir, nil)
	if err != nil {
		t.Fatalf("reopen with a sized log: %v", err)
	}
	defer st.Close()
	if _, err := keys.NewService(st, time.Now).Get(ctx, keys.Principal{Tenant: "o"}, k.ID); err != nil {
		t.Fatalf("the key written before the restart: %v", err)
	}
}
