package expiry_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/teststores"
	"github.com/keydeletion/service/infra/testtool"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/storetest"
)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	store storetest.Store
	clock *storetest.Clock
	svc   *keys.Service
	fin   *expiry.Finalizer
	logs  *testtool.Logs
}

func setup(t *testing.T, st storetest.Store) *fixture {
	clock := storetest.NewClock(storetest.RealNow())
	l := &testtool.Logs{}
	log := slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &fixture{t: t, ctx: context.Background(), store: st, clock: clock,
		svc: keys.NewService(st, clock.Now), fin: expiry.New(st, expiry.Config{Now: clock.Now, Log: log}), logs: l}
}

// pending creates a key and schedules its deletion.
func (f *fixture) pending(alias string) keys.Key {
	f.t.Helper()
	k, err := f.svc.Create(f.ctx, keys.Principal{Tenant: "tenant-a"}, keys.CreateRequest{Alias: alias})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err = f.svc.ScheduleDeletion(f.ctx, keys.Principal{Tenant: k.Owner}, k.ID, 7); err != nil {
		f.t.Fatal(err)
	}
	if k, err = f.store.Get(f.ctx, k.Owner, k.ID); err != nil {
		f.t.Fatal(err)
	}
	return k
}

// finalRecords counts the final-deletion records of key id in its trail.
func (f *fixture) finalRecords(id string) int {
	f.t.Helper()
	page, err := f.store.Records(f.ctx, "tenant-a", keys.TrailQuery{KeyID: id, Limit: 100}, f.clock.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, r := range page.Records {
		if r.Op == keys.OpFinalize {
			n++
		}
	}
	return n
}

func (f *fixture) deletedLines(id string) int {
	n := 0
	for _, l := range f.logs.Lines("INFO", "key deleted") {
		if l["key"] == id {
			n++
		}
	}
	return n
}

// A final deletion is reported once, when its tombstone is written; a
// redelivery finds nothing to do and says so at debug level only.
func TestFinalDeletionIsReportedOnce(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		f := setup(t, st)
		k := f.pending("reported-once")
		f.clock.Set(k.DeleteAt)
		for i := 0; i < 4; i++ { // the first delivery and three redeliveries
			if err := f.fin.Finalize(f.ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.deletedLines(k.ID); n != 1 {
			t.Fatalf("%d \"key deleted\" lines for one key, want 1", n)
		}
		if n := len(f.logs.Lines("DEBUG", "key already deleted and reported: nothing left to do")); n != 3 {
			t.Fatalf("%d debug lines for 3 redeliveries", n)
		}
		line := f.logs.Lines("INFO", "key deleted")[0]
		if line["owner"] != "tenant-a" || line["alias"] != "reported-once" || line["recovered"] != false {
			t.Fatalf("report: %v", line)
		}
		if tomb, err := st.Tombstone(f.ctx, k.Owner, k.ID); err != nil || tomb.ReportedAt.IsZero() {
			t.Fatalf("tombstone after the report: %+v %v", tomb, err)
		}
		if n := f.finalRecords(k.ID); n != 1 {
			t.Fatalf("%d final-deletion records in the trail after 4 deliveries, want 1", n)
		}
	})
}

// A crash between the tombstone's write and its report loses nothing: the
// stream's redelivery (Lambda) or the next sweep (local loop) reports it,
// once.
func TestDeletionLeftUnreportedByACrashIsReported(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		f := setup(t, st)
		byStream, bySweep := f.pending(""), f.pending("")
		f.clock.Set(byStream.DeleteAt)
		// What a process killed right after the commit leaves behind.
		for _, k := range []keys.Key{byStream, bySweep} {
			fin, err := keys.Finalize(k, f.clock.Now(), keys.System(k.Owner, "crash"))
			if err != nil {
				t.Fatal(err)
			}
			if _, created, err := st.Finalize(f.ctx, fin); err != nil || !created {
				t.Fatalf("finalize: %v %v", created, err)
			}
		}
		if err := f.fin.Finalize(f.ctx, byStream); err != nil { // the stream redelivers
			t.Fatal(err)
		}
		if n := f.deletedLines(byStream.ID); n != 1 {
			t.Fatalf("redelivery after a crash: %d reports, want 1", n)
		}
		if _, err := f.fin.Sweep(f.ctx); err != nil { // the local loop's next round
			t.Fatal(err)
		}
		if _, err := f.fin.Sweep(f.ctx); err != nil {
			t.Fatal(err)
		}
		for _, k := range []keys.Key{byStream, bySweep} {
			if n := f.deletedLines(k.ID); n != 1 {
				t.Errorf("key %s: %d reports, want 1", k.ID, n)
			}
		}
		for _, l := range f.logs.Lines("INFO", "key deleted") {
			if l["recovered"] != true {
				t.Errorf("a report made after a crash does not say so: %v", l)
			}
		}
		for _, k := range []keys.Key{byStream, bySweep} {
			if tomb, err := st.Tombstone(f.ctx, k.Owner, k.ID); err != nil || tomb.ReportedAt.IsZero() {
				t.Errorf("key %s: tombstone %+v %v, want one marked reported", k.ID, tomb, err)
			}
			if n := f.finalRecords(k.ID); n != 1 {
				t.Errorf("key %s: %d final-deletion records, want 1", k.ID, n)
			}
		}
	})
}

// A refused final deletion says whether a retry can succeed: a key whose
// deletion was cancelled is refused for good (ErrChanged); one whose window
// has not ended by the finalizer's clock only for now (ErrNotYetDue);
// nothing is written either way.
func TestFinalizeRefusalsAreTyped(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		f := setup(t, st)
		early := f.pending("not-yet")
		err := f.fin.Finalize(f.ctx, early)
		if !errors.Is(err, expiry.ErrNotYetDue) || expiry.Permanent(err) {
			t.Fatalf("finalize before the window ended: %v; want ErrNotYetDue, not permanent", err)
		}
		cancelled := f.pending("cancelled")
		if _, err := f.svc.CancelDeletion(f.ctx, keys.Principal{Tenant: cancelled.Owner}, cancelled.ID); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(8 * 24 * time.Hour)
		err = f.fin.Finalize(f.ctx, cancelled)
		if !errors.Is(err, expiry.ErrChanged) || !expiry.Permanent(err) {
			t.Fatalf("finalize a cancelled deletion: %v; want ErrChanged, permanent", err)
		}
		if k, err := st.Get(f.ctx, cancelled.Owner, cancelled.ID); err != nil || k.State != keys.Disabled {
			t.Fatalf("the cancelled key after the refusal: %+v %v", k, err)
		}
		if _, err := st.Tombstone(f.ctx, cancelled.Owner, cancelled.ID); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("a refused final deletion wrote a tombstone: %v", err)
		}
		if err := f.fin.Finalize(f.ctx, early); err != nil {
			t.Fatalf("the same key once its window ended: %v", err)
		}
	})
}
