package storetest

import (
	"errors"
	"reflect"
	"slices"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// trail returns the fixture's owner's records q selects, oldest first (one page).
func (f *fixture) trail(q keys.TrailQuery) []keys.Record {
	f.t.Helper()
	if q.Limit == 0 {
		q.Limit = keys.MaxTrailPage
	}
	page, err := f.svc.Trail(f.ctx, f.p, q)
	if err != nil {
		f.t.Fatalf("trail: %v", err)
	}
	return page.Records
}

func ops(rs []keys.Record) []keys.Op {
	out := make([]keys.Op, len(rs))
	for i, r := range rs {
		out[i] = r.Op
	}
	return out
}

// testPolicyDecidesBeforeTheWrite: the rules that need no key (window
// bounds, who may) refuse before any write, with the rule named; nothing
// changes and nothing is recorded.
func testPolicyDecidesBeforeTheWrite(f *fixture) {
	t := f.t
	k := f.create("policy", keys.OriginKMS)
	strict := f.p
	strict.AccessKey = "AKIASTRICT"
	strict.Policy = keys.Policy{MinWindowDays: 14, MaxWindowDays: 30, Denied: []keys.Op{keys.OpCancel, keys.OpDeleteNow}}
	for _, c := range []struct {
		name string
		call func() error
		rule string
	}{
		{"under the minimum", func() error { _, err := f.svc.ScheduleDeletion(f.ctx, strict, k.ID, 7); return err }, keys.RuleMinWindow},
		{"over the maximum", func() error { _, err := f.svc.ScheduleDeletion(f.ctx, strict, k.ID, 31); return err }, keys.RuleMaxWindow},
		{"cancel not allowed", func() error { _, err := f.svc.CancelDeletion(f.ctx, strict, k.ID); return err }, keys.RuleOperation},
		{"delete now not allowed", func() error { _, err := f.svc.DeleteNow(f.ctx, strict, k.ID); return err }, keys.RuleOperation},
	} {
		var pe *keys.PolicyError
		if err := c.call(); !errors.As(err, &pe) || pe.Rule != c.rule || !errors.Is(err, keys.ErrAccessDenied) {
			t.Fatalf("%s: %v, want a refusal by %s", c.name, err, c.rule)
		}
	}
	if got, _ := f.store.Get(f.ctx, f.owner, k.ID); got.State != keys.Enabled || got.LastChange.Op != keys.OpCreate {
		t.Fatalf("refusals changed the key: %+v", got)
	}
	if rs := f.trail(keys.TrailQuery{}); len(rs) != 0 {
		t.Fatalf("refusals were recorded: %+v", rs)
	}
	// Within the bounds, the same caller schedules; the bounds are the
	// waiting period's, inclusive.
	if _, err := f.scheduleKey(strict, k.ID, 14); err != nil {
		t.Fatalf("schedule for 14 days under a 14-day minimum: %v", err)
	}
}

// testProtectionInTheWrite: a protected key (by tag, id or alias) cannot be
// scheduled or deleted at once; the store's one write decides it, against
// the key as stored, and the refusal names the rule.
func testProtectionInTheWrite(f *fixture) {
	t := f.t
	byTag := f.create("", keys.OriginKMS)
	if _, err := f.svc.Tag(f.ctx, f.p, byTag.ID, map[string]string{"deletion-protection": "on"}); err != nil {
		t.Fatal(err)
	}
	otherValue := f.create("", keys.OriginKMS)
	if _, err := f.svc.Tag(f.ctx, f.p, otherValue.ID, map[string]string{"deletion-protection": "off"}); err != nil {
		t.Fatal(err)
	}
	byID := f.create("", keys.OriginKMS)
	byAlias := f.create("payments-root", keys.OriginKMS)
	free := f.create("free", keys.OriginKMS)
	guarded := f.p
	guarded.Policy.Protected = keys.Protected{TagKey: "deletion-protection", IDs: []string{byID.ID}, Aliases: []string{"payments-root"}}
	valued := f.p
	valued.Policy.Protected = keys.Protected{TagKey: "deletion-protection", TagValue: "on"}
	for _, c := range []struct {
		name string
		p    keys.Principal
		id   string
		rule string // "" when the schedule must succeed
	}{
		{"tagged", guarded, byTag.ID, keys.RuleProtectedTag},
		{"tagged, any value", guarded, otherValue.ID, keys.RuleProtectedTag},
		{"listed by id", guarded, byID.ID, keys.RuleProtectedID},
		{"listed by alias", guarded, byAlias.ID, keys.RuleProtectedAlias},
		{"tagged with the protecting value", valued, byTag.ID, keys.RuleProtectedTag},
		{"tagged with another value", valued, otherValue.ID, ""},
		{"unprotected", guarded, free.ID, ""},
	} {
		before, _ := f.store.Get(f.ctx, f.owner, c.id)
		_, err := f.svc.ScheduleDeletion(f.ctx, c.p, c.id, 7)
		var pe *keys.PolicyError
		switch {
		case c.rule == "" && err != nil:
			t.Fatalf("%s: %v", c.name, err)
		case c.rule != "" && (!errors.As(err, &pe) || pe.Rule != c.rule || pe.Op != keys.OpSchedule):
			t.Fatalf("%s: %v, want a refusal by %s", c.name, err, c.rule)
		case c.rule != "":
			if after, _ := f.store.Get(f.ctx, f.owner, c.id); !reflect.DeepEqual(before, after) {
				t.Fatalf("%s: the refusal changed the key", c.name)
			}
		}
	}
	// Protection added while a key is pending still stops its immediate
	// deletion; its state is no reason to say otherwise.
	late := f.p
	late.Policy.Protected = keys.Protected{IDs: []string{free.ID}}
	var pe *keys.PolicyError
	if _, err := f.svc.DeleteNow(f.ctx, late, free.ID); !errors.As(err, &pe) || pe.Rule != keys.RuleProtectedID || pe.Op != keys.OpDeleteNow {
		t.Fatalf("delete now of a protected pending key: %v", err)
	}
	// Unknown keys stay unknown, protected or not.
	if _, err := f.svc.ScheduleDeletion(f.ctx, guarded, "0d0466b0-e727-4d9c-b35d-f84bb474a37f", 7); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("schedule of an unknown key under protection: %v", err)
	}
	if got := ops(f.trail(keys.TrailQuery{})); !slices.Equal(got, []keys.Op{keys.OpSchedule, keys.OpSchedule}) {
		t.Fatalf("records %v: only the two schedules that went through", got)
	}
}

// testTrail: every schedule, cancel, immediate and final deletion is a
// record, written with its change, with who made it; records outlive the
// key, are read by key and by time, page, and belong to their owner only.
func testTrail(f *fixture) {
	t := f.t
	alice := f.p
	alice.Dialect, alice.AccessKey, alice.Source, alice.RequestID = "aws", "AKIAALICE", "203.0.113.7:5123", "req-1"
	k := f.create("audited", keys.OriginKMS)
	other := f.create("", keys.OriginKMS)
	step := func() { f.clock.Advance(time.Second) }
	step()
	if _, err := f.svc.ScheduleDeletion(f.ctx, alice, k.ID, 7); err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := f.svc.CancelDeletion(f.ctx, alice, k.ID); err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := f.svc.ScheduleDeletion(f.ctx, f.p, other.ID, 10); err != nil {
		t.Fatal(err)
	}
	step()
	sched, err := f.svc.ScheduleDeletion(f.ctx, alice, k.ID, 8)
	if err != nil {
		t.Fatal(err)
	}
	step()
	now, err := f.svc.DeleteNow(f.ctx, alice, k.ID) // and its final deletion, in one write
	if err != nil {
		t.Fatal(err)
	}
	// Enable, disable and tags are stamped on the key, not recorded.
	plain := f.create("", keys.OriginKMS)
	if _, err := f.svc.Disable(f.ctx, f.p, plain.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Tag(f.ctx, f.p, plain.ID, map[string]string{"team": "a"}); err != nil {
		t.Fatal(err)
	}

	all := f.trail(keys.TrailQuery{})
	if got := ops(all); !slices.Equal(got, []keys.Op{keys.OpSchedule, keys.OpCancel, keys.OpSchedule, keys.OpSchedule, keys.OpDeleteNow, keys.OpFinalize}) {
		t.Fatalf("records %v", got)
	}
	mine := f.trail(keys.TrailQuery{KeyID: k.ID})
	if len(mine) != 5 {
		t.Fatalf("%d records of the key, want 5", len(mine))
	}
	first := mine[0]
	if first.KeyID != k.ID || first.Owner != f.owner ||
		first.By.Dialect != "aws" || first.By.AccessKey != "AKIAALICE" || first.By.Source != "203.0.113.7:5123" || first.By.RequestID != "req-1" ||
		first.PendingDays != 7 || first.DeleteAt.IsZero() {
		t.Fatalf("schedule record %+v", first)
	}
	for _, r := range mine {
		if r.Alias != "audited" {
			t.Fatalf("record without the key's alias: %+v", r)
		}
	}
	if mine[2].ID != sched.Record.ID || mine[2].PendingDays != 8 || !mine[2].DeleteAt.Equal(sched.DeleteAt) {
		t.Fatalf("second schedule %+v, transition %+v", mine[2], sched)
	}
	last := mine[4]
	if mine[3].ID != now.Record.ID || last.Op != keys.OpFinalize || last.By.RequestID != "req-1" || !last.At.Equal(now.Record.At) {
		t.Fatalf("immediate deletion %+v and final deletion record %+v", mine[3], last)
	}
	// The tombstone is the proof the key is gone; the trail says how.
	if tomb, err := f.store.Tombstone(f.ctx, f.owner, k.ID); err != nil || !tomb.DeletedAt.Equal(last.At) {
		t.Fatalf("tombstone %+v %v", tomb, err)
	}
	// A time range: from inclusive, to exclusive.
	ranged := f.trail(keys.TrailQuery{From: all[1].At, To: all[3].At})
	if len(ranged) != 2 || ranged[0].ID != all[1].ID || ranged[1].ID != all[2].ID {
		t.Fatalf("range [%v, %v): %v", all[1].At, all[3].At, ops(ranged))
	}
	// Pages of two cover the trail once, in order.
	var paged []keys.Record
	q := keys.TrailQuery{Limit: 2}
	for {
		page, err := f.svc.Trail(f.ctx, f.p, q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page.Records...)
		if !page.More {
			break
		}
		last := page.Records[len(page.Records)-1]
		q.After, q.AfterAt = last.ID, last.At
	}
	if !reflect.DeepEqual(paged, all) {
		t.Fatalf("pages %v, want %v", ops(paged), ops(all))
	}
	// Another owner's trail holds none of these.
	if page, err := f.svc.Trail(f.ctx, keys.Principal{Tenant: "tenant-b"}, keys.TrailQuery{Limit: 10}); err != nil || len(page.Records) != 0 {
		t.Fatalf("another tenant's trail: %+v %v", page, err)
	}
	if _, err := f.svc.Trail(f.ctx, f.p, keys.TrailQuery{Limit: keys.MaxTrailPage + 1}); err == nil {
		t.Fatal("a page over the maximum")
	}
}

// testOutbox: every record waits in the outbox until its event is
// published; the final deletion's record with its tombstone, and only once.
func testOutbox(f *fixture) {
	t := f.t
	k := f.create("", keys.OriginKMS)
	tr, err := f.svc.ScheduleDeletion(f.ctx, f.p, k.ID, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CancelDeletion(f.ctx, f.p, k.ID); err != nil {
		t.Fatal(err)
	}
	if un, err := f.store.Unpublished(f.ctx, tr.Record.At.Add(-time.Millisecond), 10); err != nil || len(un) != 0 {
		t.Fatalf("unpublished before the first record: %v %v", ops(un), err)
	}
	un, err := f.store.Unpublished(f.ctx, f.clock.Now(), 10)
	if err != nil || !slices.Equal(ops(un), []keys.Op{keys.OpSchedule, keys.OpCancel}) || un[0].ID != tr.Record.ID {
		t.Fatalf("unpublished %v %v", ops(un), err)
	}
	if err := f.store.MarkPublished(f.ctx, un[:1]); err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkPublished(f.ctx, un[:1]); err != nil {
		t.Fatalf("marking twice: %v", err)
	}
	if left, _ := f.store.Unpublished(f.ctx, f.clock.Now(), 10); len(left) != 1 || left[0].ID != un[1].ID {
		t.Fatalf("after one was published: %v", ops(left))
	}
	// The published record is still in the trail.
	if rs := f.trail(keys.TrailQuery{KeyID: k.ID}); len(rs) != 2 {
		t.Fatalf("trail after publication: %v", ops(rs))
	}
}

// testDueIndex: Due finds pending keys by the end of their window, oldest
// first, and forgets them when cancelled.
func testDueIndex(f *fixture) {
	t := f.t
	var ids []string
	for _, days := range []int{9, 7, 8} {
		k := f.create("", keys.OriginKMS)
		if _, err := f.svc.ScheduleDeletion(f.ctx, f.p, k.ID, days); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.ID)
	}
	f.create("", keys.OriginKMS)
	horizon := f.clock.Now().Add(10 * 24 * time.Hour)
	due, err := f.store.Due(f.ctx, horizon, 10)
	if err != nil || len(due) != 3 || due[0].ID != ids[1] || due[1].ID != ids[2] || due[2].ID != ids[0] {
		t.Fatalf("due by %v: %v %v", horizon, due, err)
	}
	if two, _ := f.store.Due(f.ctx, horizon, 2); len(two) != 2 || two[0].ID != ids[1] {
		t.Fatalf("limit 2: %v", two)
	}
	if _, err := f.svc.CancelDeletion(f.ctx, f.p, ids[1]); err != nil {
		t.Fatal(err)
	}
	if due, _ := f.store.Due(f.ctx, horizon, 10); len(due) != 2 || due[0].ID != ids[2] {
		t.Fatalf("due after a cancel: %v", due)
	}
	if due, _ := f.store.Due(f.ctx, f.clock.Now().Add(8*24*time.Hour-time.Hour), 10); len(due) != 0 {
		t.Fatalf("due before any window ends: %v", due)
	}
}

// testReminded: a reminder mark sticks to its window (the smallest offset
// wins), and a key whose window changed is not marked.
func testReminded(f *fixture) {
	t := f.t
	k, err := f.scheduleKey(f.p, f.create("", keys.OriginKMS).ID, 8)
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	for _, c := range []struct {
		offset, want time.Duration
	}{{7 * day, 7 * day}, {day, day}, {7 * day, day}} {
		if err := f.store.MarkReminded(f.ctx, k, c.offset); err != nil {
			t.Fatal(err)
		}
		if got, _ := f.store.Get(f.ctx, f.owner, k.ID); got.Reminded != c.want {
			t.Fatalf("after marking %v: reminded %v, want %v", c.offset, got.Reminded, c.want)
		}
	}
	if _, err := f.cancelKey(f.p, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkReminded(f.ctx, k, day); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("marking a cancelled window: %v", err)
	}
	again, err := f.scheduleKey(f.p, k.ID, 9)
	if err != nil || again.Reminded != 0 {
		t.Fatalf("a new window starts unreminded: %+v %v", again, err)
	}
}

// testStamp: the key keeps who changed it last, and how.
func testStamp(f *fixture) {
	t := f.t
	bob := f.p
	bob.Dialect, bob.AccessKey, bob.Source, bob.RequestID = "huawei", "HWBOB", "198.51.100.4:443", "req-9"
	k := f.create("", keys.OriginKMS)
	if k.LastChange.Op != keys.OpCreate || k.LastChange.By.Tenant != f.owner {
		t.Fatalf("creation stamp %+v", k.LastChange)
	}
	f.clock.Advance(time.Second)
	if _, err := f.svc.Disable(f.ctx, bob, k.ID); err != nil {
		t.Fatal(err)
	}
	got, _ := f.store.Get(f.ctx, f.owner, k.ID)
	want := keys.Stamp{Op: keys.OpDisable, By: keys.Principal{Tenant: f.owner, Dialect: "huawei", AccessKey: "HWBOB",
		Source: "198.51.100.4:443", RequestID: "req-9"}, At: f.clock.Now().Truncate(time.Millisecond)}
	if !reflect.DeepEqual(got.LastChange, want) {
		t.Fatalf("stamp %+v, want %+v", got.LastChange, want)
	}
}

// testDueOf: one owner's keys whose window has ended, and no other owner's
// (the local server's clock API finalizes a tenant's keys by them).
func testDueOf(f *fixture) {
	t := f.t
	other := keys.Principal{Tenant: "tenant-b", Dialect: "test"}
	var mine []string
	for _, days := range []int{8, 7, 30} {
		k := f.create("", keys.OriginKMS)
		if _, err := f.svc.ScheduleDeletion(f.ctx, f.p, k.ID, days); err != nil {
			t.Fatal(err)
		}
		mine = append(mine, k.ID)
	}
	theirs, err := f.svc.Create(f.ctx, other, keys.CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ScheduleDeletion(f.ctx, other, theirs.ID, 7); err != nil {
		t.Fatal(err)
	}
	at := f.clock.Now().Add(9 * 24 * time.Hour)
	due, err := f.store.DueOf(f.ctx, f.owner, at, 10)
	if err != nil || len(due) != 2 || !slices.ContainsFunc(due, func(k keys.Key) bool { return k.ID == mine[0] }) ||
		!slices.ContainsFunc(due, func(k keys.Key) bool { return k.ID == mine[1] }) {
		t.Fatalf("due of %s by %v: %v %v", f.owner, at, due, err)
	}
	if one, _ := f.store.DueOf(f.ctx, f.owner, at, 1); len(one) != 1 {
		t.Fatalf("limit 1: %v", one)
	}
	if due, _ := f.store.DueOf(f.ctx, "tenant-b", at, 10); len(due) != 1 || due[0].ID != theirs.ID {
		t.Fatalf("due of tenant-b: %v", due)
	}
	if due, _ := f.store.DueOf(f.ctx, f.owner, f.clock.Now().Add(6*24*time.Hour), 10); len(due) != 0 {
		t.Fatalf("due before any window ends: %v", due)
	}
	if due, _ := f.store.DueOf(f.ctx, "tenant-c", at, 10); len(due) != 0 {
		t.Fatalf("due of an owner without keys: %v", due)
	}
}
