package storetest

import (
	"errors"
	"slices"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// testGuard: a credential's burst of more than the guard's maximum within
// its span trips it: the request that would exceed it is refused, and every
// deletion the credential scheduled in the span is held; its further
// deletion requests are refused, another credential's are not. The
// credential that tripped it cannot release it; another can, and the held
// deletions proceed; the count starts anew.
func testGuard(f *fixture) {
	t := f.t
	pol := keys.Policy{Guard: keys.GuardRule{Max: 3, Span: time.Hour}}
	burst, other := f.as("AKIABURST", pol), f.as("AKIAOTHER", pol)
	var scheduled []keys.Key
	for range 3 {
		k := f.create("", keys.OriginKMS)
		if _, err := f.svc.ScheduleDeletion(f.ctx, burst, k.ID, 7); err != nil {
			t.Fatal(err)
		}
		scheduled = append(scheduled, k)
	}
	fourth := f.create("", keys.OriginKMS)
	var pe *keys.PolicyError
	if _, err := f.svc.ScheduleDeletion(f.ctx, burst, fourth.ID, 7); !errors.As(err, &pe) || pe.Rule != keys.RuleGuard {
		t.Fatalf("the fourth schedule within the hour: %v, want the guard's refusal", err)
	}
	if k, _ := f.store.Get(f.ctx, f.owner, fourth.ID); k.State != keys.Enabled {
		t.Fatalf("the refused schedule changed the key: %s", k.State)
	}
	for _, k := range scheduled {
		if got, _ := f.store.Get(f.ctx, f.owner, k.ID); !got.HasHold(keys.HoldGuard) {
			t.Fatalf("%s after the trip: holds %v, want the guard's", k.ID, got.Holds)
		}
	}
	if _, err := f.svc.DeleteNow(f.ctx, burst, scheduled[0].ID); !errors.As(err, &pe) || pe.Rule != keys.RuleGuard {
		t.Fatalf("an immediate deletion after the trip: %v", err)
	}
	if trips, err := f.svc.GuardTrips(f.ctx, burst); err != nil || len(trips) != 1 || trips[0].Scope != "AKIABURST" {
		t.Fatalf("trips: %+v %v", trips, err)
	}
	if _, err := f.svc.ScheduleDeletion(f.ctx, other, fourth.ID, 7); err != nil {
		t.Fatalf("another credential's schedule: %v", err)
	}
	if _, _, err := f.svc.ReleaseGuard(f.ctx, burst, "AKIABURST", time.Time{}); !errors.As(err, &pe) || pe.Rule != keys.RuleGuard {
		t.Fatalf("a release by the credential that tripped it: %v", err)
	}
	released, complete, err := f.svc.ReleaseGuard(f.ctx, other, "AKIABURST", time.Time{})
	if err != nil || released != 3 || !complete {
		t.Fatalf("release: %d %v %v, want 3 released", released, complete, err)
	}
	for _, k := range scheduled {
		if got, _ := f.store.Get(f.ctx, f.owner, k.ID); got.Held() || got.State != keys.PendingDeletion {
			t.Fatalf("%s after the release: %+v", k.ID, got)
		}
	}
	if trips, _ := f.svc.GuardTrips(f.ctx, burst); len(trips) != 0 {
		t.Fatalf("trips after the release: %+v", trips)
	}
	again := f.create("", keys.OriginKMS)
	if _, err := f.svc.ScheduleDeletion(f.ctx, burst, again.ID, 7); err != nil {
		t.Fatalf("a schedule after the release: %v", err)
	}
	var acts []keys.Op
	for _, r := range f.trail(keys.TrailQuery{}) {
		if r.Op == keys.OpGuardTripped || r.Op == keys.OpGuardReleased {
			acts = append(acts, r.Op)
		}
		if r.Op == keys.OpGuardTripped {
			held := slices.Sorted(slices.Values(r.KeyIDs))
			var want []string
			for _, k := range scheduled {
				want = append(want, k.ID)
			}
			if slices.Sort(want); !slices.Equal(held, want) || r.By.AccessKey != "AKIABURST" {
				t.Errorf("the trip's record: by %q, held %v, want %v", r.By.AccessKey, held, want)
			}
		}
	}
	if len(acts) != 2 || acts[0] != keys.OpGuardTripped || acts[1] != keys.OpGuardReleased {
		t.Fatalf("the guard's records: %v", acts)
	}
}
