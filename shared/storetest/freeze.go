package storetest

import (
	"errors"
	"slices"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// testFreeze: a freeze, set by a credential the policy names, holds every
// pending key of the tenant (even one whose date has passed but which is
// not finalized yet), refuses schedules and immediate deletions, and lets
// no final deletion through, not even one made of the key as it was
// before; a cancel still works. Lifted, it gives the keys their windows
// back: one whose date has passed is gone at once and can be finalized.
// Both acts are in the trail.
func testFreeze(f *fixture) {
	t := f.t
	pol := keys.Policy{FreezeBy: []string{"AKIAFREEZER"}}
	freezer := f.as("AKIAFREEZER", pol)
	someone := f.as("AKIASOMEONE", pol)
	a, b, c := f.create("", keys.OriginKMS), f.create("", keys.OriginKMS), f.create("", keys.OriginKMS)
	if _, err := f.svc.ScheduleDeletion(f.ctx, someone, c.ID, 1); err != nil {
		t.Fatal(err)
	}
	for _, k := range []keys.Key{a, b} {
		if _, err := f.svc.ScheduleDeletion(f.ctx, someone, k.ID, 7); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := f.store.Get(f.ctx, f.owner, a.ID) // as the stream's old image would carry it
	f.clock.Advance(2 * 24 * time.Hour)            // c's date has passed; it is not finalized yet

	var pe *keys.PolicyError
	if _, err := f.svc.SetFreeze(f.ctx, someone, true, time.Time{}); !errors.As(err, &pe) || pe.Rule != keys.RuleFrozen {
		t.Fatalf("a freeze by a credential the policy does not name: %v", err)
	}
	res, err := f.svc.SetFreeze(f.ctx, freezer, true, time.Time{})
	if err != nil || !res.Freeze.Frozen || res.Keys != 3 || !res.Complete {
		t.Fatalf("freeze: %+v %v, want 3 keys held", res, err)
	}
	if again, err := f.svc.SetFreeze(f.ctx, freezer, true, time.Time{}); err != nil || again.Keys != 0 || !again.Freeze.Frozen {
		t.Fatalf("the freeze again: %+v %v, want nothing more to do", again, err)
	}
	for _, k := range []keys.Key{a, b, c} {
		if got, err := f.svc.Get(f.ctx, f.p, k.ID); err != nil || !got.HasHold(keys.HoldFreeze) {
			t.Fatalf("%s while frozen: %+v %v, want it live and held", k.ID, got, err)
		}
	}
	d := f.create("", keys.OriginKMS)
	if _, err := f.svc.ScheduleDeletion(f.ctx, someone, d.ID, 7); !errors.As(err, &pe) || pe.Rule != keys.RuleFrozen {
		t.Fatalf("a schedule while frozen: %v", err)
	}
	if _, err := f.svc.DeleteNow(f.ctx, someone, a.ID); !errors.As(err, &pe) || pe.Rule != keys.RuleFrozen {
		t.Fatalf("an immediate deletion while frozen: %v", err)
	}
	f.clock.Advance(8 * 24 * time.Hour) // past every date
	fin, err := keys.Finalize(before, f.clock.Now(), keys.System(f.owner, "stream"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.Finalize(f.ctx, fin); !errors.Is(err, keys.ErrFrozen) {
		t.Fatalf("a final deletion while frozen: %v, want ErrFrozen", err)
	}
	if due, _ := f.store.DueOf(f.ctx, f.owner, f.clock.Now(), 10); len(due) != 0 {
		t.Fatalf("due while frozen: %v", due)
	}
	if _, err := f.svc.CancelDeletion(f.ctx, someone, b.ID); err != nil {
		t.Fatalf("a cancel while frozen: %v", err)
	}

	res, err = f.svc.SetFreeze(f.ctx, freezer, false, time.Time{})
	if err != nil || res.Freeze.Frozen || res.Keys != 2 {
		t.Fatalf("unfreeze: %+v %v, want a and c released", res, err)
	}
	if _, err := f.svc.Get(f.ctx, f.p, a.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("a, its date passed, after the freeze: %v, want gone", err)
	}
	due, err := f.store.DueOf(f.ctx, f.owner, f.clock.Now(), 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due after the freeze: %v %v, want a and c", due, err)
	}
	for _, k := range due {
		fin, err := keys.Finalize(k, f.clock.Now(), keys.System(f.owner, "sweep"))
		if err != nil {
			t.Fatal(err)
		}
		if _, created, err := f.store.Finalize(f.ctx, fin); err != nil || !created {
			t.Fatalf("final deletion of %s after the freeze: %v %v", k.ID, created, err)
		}
	}
	var acts []keys.Op
	for _, r := range f.trail(keys.TrailQuery{}) {
		if r.Op == keys.OpFreeze || r.Op == keys.OpUnfreeze {
			acts = append(acts, r.Op)
			if r.By.AccessKey != "AKIAFREEZER" {
				t.Errorf("%s recorded as by %q", r.Op, r.By.AccessKey)
			}
		}
	}
	if !slices.Equal(acts, []keys.Op{keys.OpFreeze, keys.OpUnfreeze}) {
		t.Fatalf("the freeze's records: %v", acts)
	}
}

// testFreezeLeftByAnEarlierPolicy: a tenant whose policy names no freezer
// cannot be frozen, so its schedules skip the freeze's check (a write's
// cost on DynamoDB); a freeze set under an earlier policy that named one
// still lets no final deletion through.
func testFreezeLeftByAnEarlierPolicy(f *fixture) {
	t := f.t
	earlier := f.as("AKIAFREEZER", keys.Policy{FreezeBy: []string{"AKIAFREEZER"}})
	if _, err := f.svc.SetFreeze(f.ctx, earlier, true, time.Time{}); err != nil {
		t.Fatal(err)
	}
	now := f.as("AKIASOMEONE", keys.Policy{})
	k := f.create("", keys.OriginKMS)
	if plan, err := f.svc.PlanDeletion(f.ctx, now, k.ID, 7); err != nil || plan.Refusal != nil || !plan.Frozen {
		t.Fatalf("its dry run: %+v %v, want allowed, and the freeze shown", plan, err)
	}
	if _, err := f.svc.ScheduleDeletion(f.ctx, now, k.ID, 7); err != nil {
		t.Fatalf("a schedule under a policy that names no freezer: %v", err)
	}
	scheduled, err := f.store.Get(f.ctx, f.owner, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(8 * 24 * time.Hour)
	fin, err := keys.Finalize(scheduled, f.clock.Now(), keys.System(f.owner, "stream"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.Finalize(f.ctx, fin); !errors.Is(err, keys.ErrFrozen) {
		t.Fatalf("its final deletion under the freeze the earlier policy set: %v, want ErrFrozen", err)
	}
}

// testFreezeOverApproval: a freeze over a deletion already held for
// approval adds its hold to the other; the approval then takes only its
// own off (the key stays held by the freeze); lifting the freeze gives the
// key its window back.
func testFreezeOverApproval(f *fixture) {
	t := f.t
	pol := keys.Policy{FreezeBy: []string{"AKIAFREEZER"}, Approval: keys.ApprovalRule{All: true, Approvers: []string{"AKIAAPPROVER1"}}}
	k := f.create("", keys.OriginKMS)
	if _, err := f.svc.ScheduleDeletion(f.ctx, f.as("AKIAOPERATOR", pol), k.ID, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetFreeze(f.ctx, f.as("AKIAFREEZER", pol), true, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.Get(f.ctx, f.owner, k.ID)
	if !slices.Equal(got.Holds, []keys.Hold{keys.HoldApproval, keys.HoldFreeze}) {
		t.Fatalf("holds after the freeze: %v", got.Holds)
	}
	if _, err := f.svc.ApproveDeletion(f.ctx, f.as("AKIAAPPROVER1", pol), k.ID); err != nil {
		t.Fatalf("approve while frozen: %v", err)
	}
	got, _ = f.store.Get(f.ctx, f.owner, k.ID)
	if !slices.Equal(got.Holds, []keys.Hold{keys.HoldFreeze}) {
		t.Fatalf("holds after the approval: %v, want the freeze's only", got.Holds)
	}
	f.clock.Advance(8 * 24 * time.Hour)
	if _, err := f.svc.Get(f.ctx, f.p, k.ID); err != nil {
		t.Fatalf("approved but frozen, past its date: %v, want it held", err)
	}
	if _, err := f.svc.SetFreeze(f.ctx, f.as("AKIAFREEZER", pol), false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(f.ctx, f.p, k.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("after the freeze, past its date: %v, want gone", err)
	}
}
