package expiry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/teststores"
	"github.com/keydeletion/service/shared/events"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/storetest"
)

// publisher records what is published; failing makes it refuse.
type publisher struct {
	mu      sync.Mutex
	events  []events.Event
	failing bool
}

func (p *publisher) Publish(_ context.Context, evs []events.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing {
		return errors.New("bus unavailable")
	}
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

func detailTypes(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.DetailType
	}
	return out
}

type sweepFixture struct {
	t     *testing.T
	ctx   context.Context
	st    storetest.Store
	clock *storetest.Clock
	svc   *keys.Service
	fin   *expiry.Finalizer
	pub   *publisher
	p     keys.Principal
}

func newSweep(t *testing.T, st storetest.Store, grace time.Duration) *sweepFixture {
	clock := storetest.NewClock(storetest.RealNow())
	pub := &publisher{}
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return &sweepFixture{t: t, ctx: context.Background(), st: st, clock: clock, svc: keys.NewService(st, clock.Now), pub: pub,
		fin: expiry.New(st, expiry.Config{Now: clock.Now, Log: quiet, Publisher: pub, Grace: grace}),
		p:   keys.Principal{Tenant: "tenant-a", Dialect: "aws", AccessKey: "AKIAALICE"}}
}

func (f *sweepFixture) schedule(days int) keys.Key {
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

func (f *sweepFixture) sweep() []events.Event {
	f.t.Helper()
	if _, err := f.fin.Sweep(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	return f.pub.take()
}

// reminders are the reminder events among evs.
func reminders(evs []events.Event) []events.Event {
	var out []events.Event
	for _, e := range evs {
		if e.DetailType == events.DeletionReminder {
			out = append(out, e)
		}
	}
	return out
}

// The sweep publishes the event of every audit record once, in order, with
// the record's id as the dedupe id; a publication that fails is made again
// by the next sweep.
func TestSweepPublishesTheTrail(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		f := newSweep(t, st, 0)
		k := f.schedule(7)
		if _, err := f.svc.CancelDeletion(f.ctx, f.p, k.ID); err != nil {
			t.Fatal(err)
		}
		f.pub.failing = true
		if _, err := f.fin.Sweep(f.ctx); err == nil {
			t.Fatal("a failed publication went unreported")
		}
		f.pub.failing = false
		got := f.sweep()
		if !slices.Equal(detailTypes(got), []string{events.DeletionScheduled, events.DeletionCancelled}) {
			t.Fatalf("published %v", detailTypes(got))
		}
		recs, _ := f.svc.Trail(f.ctx, f.p, keys.TrailQuery{Limit: 10})
		for i, e := range got {
			if e.Detail.EventID != recs.Records[i].ID || e.Detail.KeyID != k.ID || e.Detail.Principal.AccessKey != "AKIAALICE" {
				t.Fatalf("event %d: %+v, record %+v", i, e, recs.Records[i])
			}
		}
		if again := f.sweep(); len(again) != 0 {
			t.Fatalf("published again: %v", detailTypes(again))
		}
	})
}

// With a grace period (the sweep function's), the sweep leaves fresh work
// to the stream and TTL, and takes over what they left past it.
func TestSweepIsTheBackstop(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		f := newSweep(t, st, 5*time.Minute)
		k := f.schedule(7)
		if got := f.sweep(); len(got) != 0 {
			t.Fatalf("fresh work taken from the stream: %v", detailTypes(got))
		}
		f.clock.Set(k.DeleteAt.Add(4 * time.Minute)) // the window ended, within the grace
		if got := f.sweep(); !slices.Equal(detailTypes(got), []string{events.DeletionScheduled}) {
			t.Fatalf("past the grace, the schedule's event: %v", detailTypes(got))
		}
		if _, err := st.Tombstone(f.ctx, k.Owner, k.ID); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("finalized within the grace: %v", err)
		}
		f.clock.Set(k.DeleteAt.Add(6 * time.Minute))
		f.sweep()
		tomb, err := st.Tombstone(f.ctx, k.Owner, k.ID)
		if err != nil || tomb.ReportedAt.IsZero() {
			t.Fatalf("past the grace the sweep finalizes and reports: %+v %v", tomb, err)
		}
		f.clock.Advance(6 * time.Minute)
		if got := f.sweep(); !slices.Equal(detailTypes(got), []string{events.KeyDeleted}) || got[0].Detail.KeyID != k.ID {
			t.Fatalf("the final deletion's event: %v", detailTypes(got))
		}
	})
}

// Reminders go out at the offsets before the deletion date, once each, the
// smallest due only when the sweep comes late, never at offsets as long as
// the window, and again for a new window.
func TestReminders(t *testing.T) {
	day := 24 * time.Hour
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		f := newSweep(t, st, 0)
		// Off a whole second, as nearly every schedule is: the window's end
		// is rounded up, so 7 days measure a fraction more.
		f.clock.Set(storetest.RealNow().Truncate(time.Second).Add(400 * time.Millisecond))
		k := f.schedule(8)
		short := f.schedule(3) // NCP's window: the 7-day reminder would precede the schedule
		seven := f.schedule(7) // AWS's and Huawei's minimum: the 7-day reminder is the schedule itself
		for range 2 {          // the schedules' events, then a second later (the local loop's pace) nothing
			if got := reminders(f.sweep()); len(got) != 0 {
				t.Fatalf("reminders 8, 3 and 7 days out: %+v", got)
			}
			f.clock.Advance(time.Second)
		}

		f.clock.Set(k.DeleteAt.Add(-7*day + time.Second))
		got := reminders(f.sweep())
		if len(got) != 1 || got[0].Detail.KeyID != k.ID || got[0].Detail.RemindBefore != int64(7*day/time.Second) ||
			got[0].Detail.EventID != events.ReminderID(k, 7*day) || !got[0].Detail.DeletionDate.Equal(k.DeleteAt) {
			t.Fatalf("7 days before: %+v", got)
		}
		if again := reminders(f.sweep()); len(again) != 0 {
			t.Fatalf("reminded twice: %+v", again)
		}
		f.clock.Set(short.DeleteAt.Add(-day + time.Second))
		got = reminders(f.sweep())
		if len(got) != 1 || got[0].Detail.KeyID != short.ID || got[0].Detail.RemindBefore != int64(day/time.Second) {
			t.Fatalf("a day before the short window ends: %+v", got)
		}
		f.clock.Set(seven.DeleteAt.Add(-day + time.Second))
		if got := reminders(f.sweep()); len(got) != 1 || got[0].Detail.KeyID != seven.ID || got[0].Detail.RemindBefore != int64(day/time.Second) {
			t.Fatalf("a day before the 7-day window ends: %+v", got)
		}
		// A sweep that comes late sends the reminder now due, not the ones
		// it missed.
		late := f.schedule(9)
		f.clock.Set(late.DeleteAt.Add(-12 * time.Hour))
		got = reminders(f.sweep())
		ids := map[string]time.Duration{}
		for _, e := range got {
			ids[e.Detail.KeyID] = time.Duration(e.Detail.RemindBefore) * time.Second
		}
		if ids[late.ID] != day || len(got) != 1 { // k's window has ended by now: no reminder, its deletion
			t.Fatalf("late sweep: %+v", ids)
		}
		// A new window is reminded anew.
		if _, err := f.svc.CancelDeletion(f.ctx, f.p, late.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ScheduleDeletion(f.ctx, f.p, late.ID, 7); err != nil {
			t.Fatal(err)
		}
		renewed, _ := st.Get(f.ctx, late.Owner, late.ID)
		f.clock.Set(renewed.DeleteAt.Add(-day + time.Second))
		got = reminders(f.sweep())
		if len(got) != 1 || got[0].Detail.KeyID != late.ID || got[0].Detail.EventID != events.ReminderID(renewed, day) ||
			got[0].Detail.EventID == events.ReminderID(late, day) {
			t.Fatalf("the new window's reminder: %+v", got)
		}
	})
}

// An event has one shape whatever the store: the same detail types in the
// same order, each naming the key's alias, its principal and window, on
// the embedded store and on DynamoDB (whose schedule and cancel records are
// written without the alias).
func TestEventsHaveOneShapeOnEveryStore(t *testing.T) {
	dynamodblocal.Endpoint(t) // a comparison of both stores, or none
	shapes := map[string][]string{}
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		f := newSweep(t, st, 0)
		p := f.p
		p.RequestID = "req-shape"
		k, err := f.svc.Create(f.ctx, p, keys.CreateRequest{Alias: "shape"})
		if err != nil {
			t.Fatal(err)
		}
		steps := []func() error{
			func() error { _, err := f.svc.ScheduleDeletion(f.ctx, p, k.ID, 7); return err },
			func() error { _, err := f.svc.CancelDeletion(f.ctx, p, k.ID); return err },
			func() error { _, err := f.svc.ScheduleDeletion(f.ctx, p, k.ID, 3); return err },
			func() error { _, err := f.svc.DeleteNow(f.ctx, p, k.ID); return err },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Second)
		}
		var shape []string
		for _, e := range f.sweep() {
			d := e.Detail
			if d.Alias != "shape" || d.KeyID != k.ID || d.Principal == nil || d.Principal.AccessKey != "AKIAALICE" {
				t.Errorf("%s: %+v (principal %+v)", e.DetailType, d, d.Principal)
			}
			shape = append(shape, fmt.Sprintf("%s alias=%s days=%d dated=%v by=%s", e.DetailType, d.Alias, d.PendingDays,
				d.DeletionDate != nil, d.Principal.Dialect))
		}
		shapes[t.Name()] = shape
	})
	var first []string
	for name, shape := range shapes {
		if first == nil {
			first = shape
			continue
		}
		if !slices.Equal(shape, first) {
			t.Fatalf("%s's events differ:\n%q\n%q", name, shape, first)
		}
	}
	if len(shapes) != 2 || len(first) != 5 {
		t.Fatalf("events %v", shapes)
	}
}

// A deletion held for approval: its reminders go out as any pending
// deletion's; when its date passes with no approval, the approvers are told
// once (KMS Key Deletion Held), the key is kept, and no reminder follows.
func TestHeldDeletionIsNoticedOnce(t *testing.T) {
	teststores.Each(t, func(t *testing.T, st storetest.Store) {
		f := newSweep(t, st, 0)
		f.p.Policy = keys.Policy{Approval: keys.ApprovalRule{All: true, Approvers: []string{"AKIAAPPROVER1"}}}
		k := f.schedule(8)
		if !k.HasHold(keys.HoldApproval) {
			t.Fatalf("not held: %+v", k.Holds)
		}
		f.sweep()
		f.clock.Set(k.DeleteAt.Add(-24*time.Hour + time.Second))
		if got := reminders(f.sweep()); len(got) != 1 {
			t.Fatalf("the 1-day reminder of a held deletion: %+v", got)
		}
		f.clock.Set(k.DeleteAt.Add(time.Hour))
		got := f.sweep()
		if len(got) != 1 || got[0].DetailType != events.DeletionHeld || got[0].Detail.KeyID != k.ID {
			t.Fatalf("past the date, held: %v", detailTypes(got))
		}
		if again := f.sweep(); len(again) != 0 {
			t.Fatalf("told twice: %v", detailTypes(again))
		}
		if cur, err := st.Get(f.ctx, f.p.Tenant, k.ID); err != nil || !cur.Held() {
			t.Fatalf("the held key after the sweeps: %+v %v", cur, err)
		}
		if _, err := st.Tombstone(f.ctx, f.p.Tenant, k.ID); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("a held key was finalized: %v", err)
		}
	})
}
