package storetest

import (
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// testBulkCancelPages: a bulk cancel bounded in time goes on where the last
// call stopped, each call handling at least one key, until every selected
// deletion is cancelled; the keys it does not select are left alone.
func testBulkCancelPages(f *fixture) {
	t := f.t
	var selected []keys.Key
	for i := range 5 {
		k := f.create("", keys.OriginKMS)
		p := f.p
		p.AccessKey = "AKIAOTHER"
		if i%2 == 0 {
			p.AccessKey = "AKIABURST"
			selected = append(selected, k)
		}
		if _, err := f.svc.ScheduleDeletion(f.ctx, p, k.ID, 7); err != nil {
			t.Fatal(err)
		}
	}
	filter := keys.CancelFilter{ScheduledBy: "AKIABURST"}
	next, calls, cancelled := "", 0, 0
	for {
		calls++
		res, err := f.svc.BulkCancel(f.ctx, f.p, filter, next, false, time.Now()) // out of time at once
		if err != nil {
			t.Fatal(err)
		}
		cancelled += len(res.Cancelled)
		if next = res.Next; next == "" || calls > 20 {
			break
		}
	}
	if cancelled != len(selected) || calls < 5 {
		t.Fatalf("%d cancelled in %d calls, want %d in one call a key", cancelled, calls, len(selected))
	}
	for _, k := range selected {
		if got, _ := f.store.Get(f.ctx, f.owner, k.ID); got.State != keys.Disabled {
			t.Errorf("%s: %s after the bulk cancel", k.ID, got.State)
		}
	}
	page, err := f.svc.List(f.ctx, f.p, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	pending := 0
	for _, k := range page.Keys {
		if k.State == keys.PendingDeletion {
			pending++
		}
	}
	if pending != 5-len(selected) {
		t.Fatalf("%d pending deletions left, want %d", pending, 5-len(selected))
	}
}
