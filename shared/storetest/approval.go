package storetest

import (
	"errors"
	"slices"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// approvalPolicy is a policy whose approval rule covers keys tagged
// "critical" (or every key, with all), approved by AKIAAPPROVER1 or 2.
func approvalPolicy(all bool) keys.Policy {
	return keys.Policy{Approval: keys.ApprovalRule{All: all, Keys: keys.Protected{TagKey: "critical"},
		Approvers: []string{"AKIAAPPROVER1", "AKIAAPPROVER2"}}}
}

// as is the fixture's principal with another access key and policy.
func (f *fixture) as(accessKey string, pol keys.Policy) keys.Principal {
	p := f.p
	p.AccessKey, p.Policy = accessKey, pol
	return p
}

// testHeldForApproval: a covered key's scheduled deletion is held. Past
// its date it is still live and pending (cancellable), no path finalizes
// it, NCP's immediate deletion is refused; the scheduler cannot approve it,
// nor can a principal who is no approver; another approver's approval ends
// it (at once: its date has passed) and it can be finalized. A key the rule
// does not cover is scheduled without a hold, in the same write.
func testHeldForApproval(f *fixture) {
	t := f.t
	pol := approvalPolicy(false)
	scheduler := f.as("AKIAAPPROVER1", pol) // an approver, but this schedule's scheduler
	critical := f.create("", keys.OriginKMS)
	if _, err := f.svc.Tag(f.ctx, f.p, critical.ID, map[string]string{"critical": "yes"}); err != nil {
		t.Fatal(err)
	}
	plain := f.create("", keys.OriginKMS)
	for _, k := range []keys.Key{critical, plain} {
		if _, err := f.svc.ScheduleDeletion(f.ctx, scheduler, k.ID, 7); err != nil {
			t.Fatalf("schedule %s: %v", k.ID, err)
		}
	}
	held, _ := f.store.Get(f.ctx, f.owner, critical.ID)
	free, _ := f.store.Get(f.ctx, f.owner, plain.ID)
	if !slices.Equal(held.Holds, []keys.Hold{keys.HoldApproval}) || held.ScheduledBy != "AKIAAPPROVER1" {
		t.Fatalf("the covered key after its schedule: holds %v, scheduled by %q", held.Holds, held.ScheduledBy)
	}
	if free.Held() {
		t.Fatalf("a key the rule does not cover is held: %v", free.Holds)
	}

	f.clock.Set(held.DeleteAt.Add(time.Hour)) // past both dates
	if got, err := f.svc.Get(f.ctx, f.p, held.ID); err != nil || got.State != keys.PendingDeletion {
		t.Fatalf("the held key past its date: %+v %v, want it pending", got, err)
	}
	if _, err := f.svc.Get(f.ctx, f.p, free.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("the key without a hold past its date: %v, want gone", err)
	}
	if due, err := f.store.DueOf(f.ctx, f.owner, f.clock.Now(), 10); err != nil || len(due) != 1 || due[0].ID != free.ID {
		t.Fatalf("due: %v %v, want only the key without a hold", due, err)
	}
	fin, err := keys.Finalize(held, f.clock.Now(), keys.System(f.owner, "test"))
	if err == nil {
		if _, _, err = f.store.Finalize(f.ctx, fin); err == nil {
			t.Fatal("a held key was finalized")
		}
	}
	var pe *keys.PolicyError
	if _, err := f.svc.DeleteNow(f.ctx, f.p, held.ID); !errors.As(err, &pe) || pe.Rule != keys.RuleAwaitingApproval {
		t.Fatalf("immediate deletion of a held key: %v, want a refusal by %s", err, keys.RuleAwaitingApproval)
	}
	if _, err := f.svc.ApproveDeletion(f.ctx, scheduler, held.ID); !errors.As(err, &pe) || pe.Rule != keys.RuleApprovers {
		t.Fatalf("the scheduler's own approval: %v, want a refusal by %s", err, keys.RuleApprovers)
	}
	if _, err := f.svc.ApproveDeletion(f.ctx, f.as("AKIASOMEONE", pol), held.ID); !errors.As(err, &pe) || pe.Rule != keys.RuleApprovers {
		t.Fatalf("a non-approver's approval: %v, want a refusal by %s", err, keys.RuleApprovers)
	}
	if got, _ := f.store.Get(f.ctx, f.owner, held.ID); !got.Held() {
		t.Fatalf("refused approvals released the hold: %+v", got)
	}

	approver := f.as("AKIAAPPROVER2", pol)
	if _, err := f.svc.ApproveDeletion(f.ctx, approver, held.ID); err != nil {
		t.Fatalf("approval: %v", err)
	}
	if _, err := f.svc.Get(f.ctx, f.p, held.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("an approved key past its date: %v, want gone at once", err)
	}
	if _, err := f.svc.ApproveDeletion(f.ctx, approver, held.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("a second approval: %v, want not found", err)
	}
	stored, _ := f.store.Get(f.ctx, f.owner, held.ID)
	if fin, err = keys.Finalize(stored, f.clock.Now(), keys.System(f.owner, "test")); err != nil {
		t.Fatal(err)
	}
	if _, created, err := f.store.Finalize(f.ctx, fin); err != nil || !created {
		t.Fatalf("final deletion after the approval: %v %v", created, err)
	}
	var got []keys.Op
	for _, r := range f.trail(keys.TrailQuery{KeyID: held.ID}) {
		got = append(got, r.Op)
		if r.Op == keys.OpSchedule && r.Hold != keys.HoldApproval {
			t.Errorf("the schedule's record does not say it was held: %+v", r)
		}
		if r.Op == keys.OpApprove && r.By.AccessKey != "AKIAAPPROVER2" {
			t.Errorf("the approval's record names %q", r.By.AccessKey)
		}
	}
	if want := []keys.Op{keys.OpSchedule, keys.OpApprove, keys.OpFinalize}; !slices.Equal(got, want) {
		t.Fatalf("trail %v, want %v", got, want)
	}
}

// testApprovalBeforeTheDate: approved before its date, a held key keeps
// its window and ends at its date, like any other; a rejection cancels
// (the key comes back Disabled, without a window or a hold); an answer to
// a deletion that awaits none is refused by the key's state.
func testApprovalBeforeTheDate(f *fixture) {
	t := f.t
	pol := approvalPolicy(true)
	scheduler := f.as("AKIAOPERATOR", pol)
	approver := f.as("AKIAAPPROVER1", pol)
	a, b := f.create("", keys.OriginKMS), f.create("", keys.OriginKMS)
	for _, k := range []keys.Key{a, b} {
		if _, err := f.svc.ScheduleDeletion(f.ctx, scheduler, k.ID, 7); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.ApproveDeletion(f.ctx, approver, a.ID); err != nil {
		t.Fatalf("approve: %v", err)
	}
	approved, _ := f.store.Get(f.ctx, f.owner, a.ID)
	if approved.Held() || approved.State != keys.PendingDeletion || approved.DeleteAt.IsZero() {
		t.Fatalf("approved before its date: %+v", approved)
	}
	var se *keys.StateError
	if _, err := f.svc.ApproveDeletion(f.ctx, approver, a.ID); !errors.As(err, &se) || !se.NotHeld {
		t.Fatalf("approving again: %v, want a refusal: nothing awaits approval", err)
	}
	f.clock.Set(approved.DeleteAt)
	if _, err := f.svc.Get(f.ctx, f.p, a.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("the approved key at its date: %v, want gone", err)
	}
	if due, _ := f.store.DueOf(f.ctx, f.owner, f.clock.Now(), 10); len(due) != 1 || due[0].ID != a.ID {
		t.Fatalf("due at the date: %v, want the approved key only", due)
	}
	if _, err := f.svc.RejectDeletion(f.ctx, approver, b.ID); err != nil {
		t.Fatalf("reject: %v", err)
	}
	rejected, _ := f.store.Get(f.ctx, f.owner, b.ID)
	if rejected.State != keys.Disabled || rejected.Held() || !rejected.DeleteAt.IsZero() || rejected.ScheduledBy != "" {
		t.Fatalf("rejected: %+v", rejected)
	}
}
