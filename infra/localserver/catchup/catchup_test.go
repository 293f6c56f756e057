package catchup_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/localserver/catchup"
	"github.com/keydeletion/service/infra/teststores"
	"github.com/keydeletion/service/shared/events"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/storetest"
)

// publisher records what is published.
type publisher struct {
	mu     sync.Mutex
	events []events.Event
}

func (p *publisher) Publish(_ context.Context, evs []events.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, evs...)
	return nil
}

// take returns what was published since the last take.
func (p *publisher) take() []events.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.events
	p.events = nil
	return out
}

type fixture struct {
	t   *testing.T
	ctx context.Context
	svc *keys.Service
	st  storetest.Store
	p   keys.Principal
}

// schedule creates a key of f.p's tenant and schedules its deletion.
func (f *fixture) schedule(days int) keys.Key {
	f.t.Helper()
	k, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.ScheduleDeletion(f.ctx, f.p, k.ID, days); err != nil {
		f.t.Fatal(err)
	}
	if k, err = f.st.Get(f.ctx, f.p.Tenant, k.ID); err != nil {
		f.t.Fatal(err)
	}
	return k
}

// tenantClocks is a clock per tenant, as the local server keeps them.
type tenantClocks struct {
	mu      sync.Mutex
	base    *storetest.Clock
	offsets map[string]time.Duration
}

func (c *tenantClocks) now(tenant string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Now().Add(c.offsets[tenant])
}

func (c *tenantClocks) latest() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var most time.Duration
	for _, o := range c.offsets {
		most = max(most, o)
	}
	return c.base.Now().Add(most)
}

func (c *tenantClocks) move(tenant string, by time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offsets[tenant] += by
}

// Each tenant's keys are due by its own clock: moving one tenant's clock
// past a window ends its keys' windows and no other tenant's, in the sweep
// and in CatchUp, which carries out everything due (final deletions and
// their events) before it returns.
func TestTenantsClocksAreTheirOwn(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		clocks := &tenantClocks{base: storetest.NewClock(storetest.RealNow()), offsets: map[string]time.Duration{}}
		pub := &publisher{}
		quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
		svc := keys.NewServiceWithClock(st, clocks.now)
		fin := expiry.New(st, expiry.Config{Now: clocks.latest, Clock: clocks.now, Log: quiet, Publisher: pub, Reminders: []time.Duration{}})
		w := &catchup.Worker{Finalizer: fin, Store: st, Clock: clocks.now, Log: quiet}
		f := &fixture{t: t, ctx: t.Context(), st: st, svc: svc}
		schedule := func(tenant string) keys.Key {
			f.p = keys.Principal{Tenant: tenant, Dialect: "aws"}
			return f.schedule(7)
		}
		a1, a2, b := schedule("tenant-a"), schedule("tenant-a"), schedule("tenant-b")

		clocks.move("tenant-b", 8*24*time.Hour)
		if _, err := fin.Sweep(f.ctx); err != nil {
			t.Fatal(err)
		}
		if k, err := st.Get(f.ctx, "tenant-a", a1.ID); err != nil || k.State != keys.PendingDeletion {
			t.Fatalf("tenant-a's key after tenant-b's clock moved: %+v %v", k, err)
		}
		if _, err := st.Tombstone(f.ctx, "tenant-b", b.ID); err != nil {
			t.Fatalf("tenant-b's key, its window ended by its clock: no tombstone after a sweep (%v)", err)
		}
		pub.take()

		clocks.move("tenant-a", 8*24*time.Hour)
		res, err := w.CatchUp(f.ctx, "tenant-a", time.Time{})
		if err != nil || res.Finalized != 2 || !res.Complete {
			t.Fatalf("CatchUp: %+v, %v; want 2 finalized, complete", res, err)
		}
		for _, k := range []keys.Key{a1, a2} {
			tomb, err := st.Tombstone(f.ctx, "tenant-a", k.ID)
			if err != nil {
				t.Fatalf("%s: no tombstone when CatchUp returned: %v", k.ID, err)
			}
			if want := clocks.now("tenant-a"); tomb.DeletedAt.Before(k.DeleteAt) || tomb.DeletedAt.After(want) {
				t.Fatalf("deleted at %v: not by tenant-a's clock (window end %v, clock %v)", tomb.DeletedAt, k.DeleteAt, want)
			}
		}
		deleted := 0
		for _, e := range pub.take() {
			if e.DetailType == events.KeyDeleted {
				deleted++
			}
		}
		if deleted != 2 {
			t.Fatalf("%d final-deletion events published by CatchUp, want 2", deleted)
		}
		if res, err := w.CatchUp(f.ctx, "tenant-a", time.Time{}); err != nil || res.Finalized != 0 || !res.Complete {
			t.Fatalf("CatchUp again: %+v, %v; want 0 finalized", res, err)
		}
	})
}

// A catch-up given a stop starts no work after it, says it is not complete,
// and leaves the rest due; the next one carries it out.
func TestCatchUpStops(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		clock := storetest.NewClock(storetest.RealNow())
		svc := keys.NewService(st, clock.Now)
		quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
		fin := expiry.New(st, expiry.Config{Now: clock.Now, Log: quiet, Reminders: []time.Duration{}, Parallelism: 1})
		w := &catchup.Worker{Finalizer: fin, Store: st, Clock: func(string) time.Time { return clock.Now() }, Log: quiet}
		f := &fixture{t: t, ctx: t.Context(), st: st, svc: svc, p: keys.Principal{Tenant: "tenant-a"}}
		for range 5 {
			f.schedule(7)
		}
		clock.Advance(8 * 24 * time.Hour)
		res, err := w.CatchUp(f.ctx, "tenant-a", time.Now()) // stopped before it starts
		if err != nil || res.Complete || res.Finalized != 0 {
			t.Fatalf("stopped catch-up: %+v %v", res, err)
		}
		if n, err := w.DueCount(f.ctx, "tenant-a"); err != nil || n != 5 {
			t.Fatalf("due after it: %d %v", n, err)
		}
		if res, err := w.CatchUp(f.ctx, "tenant-a", time.Time{}); err != nil || !res.Complete || res.Finalized != 5 {
			t.Fatalf("the next catch-up: %+v %v", res, err)
		}
		if n, err := w.DueCount(f.ctx, "tenant-a"); err != nil || n != 0 {
			t.Fatalf("due at the end: %d %v", n, err)
		}
	})
}
