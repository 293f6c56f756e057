package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// numbered is every live key of the fixture's owner as one numbered page,
// which must hold as many as its total says.
func (f *fixture) numbered() ([]keys.Key, error) {
	page, err := f.svc.ListNumbered(f.ctx, f.p, keys.NumberedQuery{Limit: 1000})
	if err != nil {
		return nil, err
	}
	if len(page.Keys) != page.Total {
		return nil, fmt.Errorf("a page of every key holds %d, its total says %d", len(page.Keys), page.Total)
	}
	return page.Keys, nil
}

// walk is every live key of the fixture's owner through the marker pages
// (AWS's ListKeys), which read the keys themselves: what the tally's
// numbered pages must agree with.
func (f *fixture) walk() []keys.Key {
	f.t.Helper()
	var out []keys.Key
	after := ""
	for {
		p, err := f.svc.List(f.ctx, f.p, after, 7)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, p.Keys...)
		if p.Next == "" {
			return out
		}
		after = p.Next
	}
}

// testNumberedPages: every numbered page, at every offset, with and without
// a spec or a state, is the slice of the keys in id order that it names, and
// its total is exact, while keys are created, pass their window (counted by
// the tally, but not live) and are finally deleted. Ids are fixed so that
// several share a leaf bucket and the keys span top buckets.
func testNumberedPages(f *fixture) {
	t := f.t
	var made []keys.Key
	for i, prefix := range []string{"0aa", "0ab", "0ab", "7c0", "aaa", "aaa", "aab", "fff", "fff", "fff"} {
		for j := range 4 {
			id := fmt.Sprintf("%s%05d-0000-4000-8000-%012d", prefix, i, j)
			r := keys.CreateRequest{Spec: keys.AES256}
			if j%2 == 1 {
				r = keys.CreateRequest{Spec: keys.RSA2048}
			}
			k, err := f.svc.CreateWithID(f.ctx, f.p, id, r)
			if err != nil {
				t.Fatalf("create %s: %v", id, err)
			}
			made = append(made, k)
		}
	}
	if _, err := f.svc.Create(f.ctx, keys.Principal{Tenant: "tenant-b"}, keys.CreateRequest{}); err != nil {
		t.Fatal(err) // another owner's key: never listed nor counted
	}
	check := func(when string) {
		t.Helper()
		walked := f.walk()
		for _, spec := range []keys.Spec{"", keys.AES256, keys.RSA2048} {
			for _, state := range []keys.State{"", keys.Disabled, keys.PendingDeletion} {
				want := slices.DeleteFunc(slices.Clone(walked), func(k keys.Key) bool {
					return spec != "" && k.Spec != spec || state != "" && k.State != state
				})
				// Every offset of the unfiltered listing; a sample of the
				// others' (the first, every fifth, the last two, past the end).
				step := 5
				if spec == "" && state == "" {
					step = 1
				}
				for offset := 0; offset <= len(want)+1; offset++ {
					if offset%step != 0 && offset < len(want)-1 {
						continue
					}
					for _, limit := range []int{3, 100} {
						if limit == 100 && offset%10 != 0 {
							continue
						}
						page, err := f.svc.ListNumbered(f.ctx, f.p, keys.NumberedQuery{Offset: offset, Limit: limit, Spec: spec, State: state})
						if err != nil {
							t.Fatalf("%s: %v", when, err)
						}
						end := min(offset+limit, len(want))
						if page.Total != len(want) || !slices.Equal(ids(page.Keys), ids(want[min(offset, end):end])) {
							t.Fatalf("%s: spec %q state %q, offset %d limit %d: total %d, keys %v; want %d, %v",
								when, spec, state, offset, limit, page.Total, ids(page.Keys), len(want), ids(want[min(offset, end):end]))
						}
					}
				}
			}
		}
	}
	check("created")
	// Keys in three buckets pass their window: the tally still counts them
	// until their final deletion, the pages must not.
	var gone []keys.Key
	for _, i := range []int{1, 2, 17, 38} {
		k, err := f.scheduleKey(f.p, made[i].ID, 7)
		if err != nil {
			t.Fatal(err)
		}
		gone = append(gone, k)
	}
	if _, err := f.svc.Disable(f.ctx, f.p, made[5].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.scheduleKey(f.p, made[20].ID, 30); err != nil {
		t.Fatal(err)
	}
	check("scheduled")
	f.clock.Advance(8 * 24 * time.Hour)
	check("their windows ended")
	now := f.clock.Now()
	for _, k := range gone[:2] {
		if _, _, err := f.store.Finalize(f.ctx, f.finalization(k, now)); err != nil {
			t.Fatal(err)
		}
	}
	check("two finally deleted")
	// Deleted at once (NCP's DELETE of a key in REVOKE): gone from that
	// instant, counted until its final deletion, which is the same write.
	if _, err := f.scheduleKey(f.p, made[30].ID, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DeleteNow(f.ctx, f.p, made[30].ID); err != nil {
		t.Fatal(err)
	}
	for _, k := range gone[2:] {
		if _, _, err := f.store.Finalize(f.ctx, f.finalization(k, now)); err != nil {
			t.Fatal(err)
		}
	}
	check("every ended window finally deleted")
	tops, err := f.store.Tally(f.ctx, f.owner, "", "")
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, b := range tops {
		stored += b.Keys
	}
	if want := len(made) - len(gone) - 1; stored != want {
		t.Fatalf("the tally counts %d keys; %d are stored", stored, want)
	}
}

func ids(ks []keys.Key) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.ID
	}
	return out
}

// testNumberedPageReadsAhead: a deep page reads its leaf counts at once with
// the top counts, from where the tenant's previous page placed it (one
// round trip fewer on DynamoDB), and is exact all the same, whether the
// guess was right or not.
func testNumberedPageReadsAhead(f *fixture) {
	t := f.t
	// Fixed ids, three to a top bucket: the pages below start in different
	// top buckets before and after the deletions.
	var want []string
	for i := range 40 {
		id := fmt.Sprintf("%x%07d-0000-4000-8000-%012d", i/3, i, i)
		if _, err := f.svc.CreateWithID(f.ctx, f.p, id, keys.CreateRequest{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	st := &aheadStore{Store: f.store}
	svc := keys.NewService(st, f.clock.Now)
	page := func(offset int) {
		t.Helper()
		st.before.Store(st.leaves.Load())
		got, err := svc.ListNumbered(f.ctx, f.p, keys.NumberedQuery{Offset: offset, Limit: 5})
		if err != nil || got.Total != len(want) || !slices.Equal(ids(got.Keys), want[offset:offset+5]) {
			t.Fatalf("page at %d: %d %v %v; want %d %v", offset, got.Total, ids(got.Keys), err, len(want), want[offset:offset+5])
		}
	}
	page(30) // no previous page: the counts, then the leaves
	st.ahead.Store(true)
	page(30) // the same page: the leaves with the counts
	page(5)  // elsewhere: the guess was of the previous page's counts
	// A guess gone wrong: the keys before the page's are gone since.
	for _, id := range want[:20] {
		if _, err := f.scheduleKey(f.p, id, 7); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.DeleteNow(f.ctx, f.p, id); err != nil {
			t.Fatal(err)
		}
	}
	want = want[20:]
	page(10)
}

// aheadStore, once ahead is set, holds a read of the top counts until a
// read of leaf counts has started since the page began (before: the count
// of leaf reads then), or a long time has passed, when the read fails.
type aheadStore struct {
	Store
	ahead          atomic.Bool
	leaves, before atomic.Int64
}

func (s *aheadStore) Tally(ctx context.Context, owner, under string, spec keys.Spec) ([]keys.BucketCount, error) {
	if under != "" {
		s.leaves.Add(1)
		return s.Store.Tally(ctx, owner, under, spec)
	}
	if s.ahead.Load() {
		deadline := time.Now().Add(10 * time.Second)
		for s.leaves.Load() == s.before.Load() {
			if time.Now().After(deadline) {
				return nil, errors.New("the top counts were read without the leaf counts beside them")
			}
			time.Sleep(time.Millisecond)
		}
	}
	return s.Store.Tally(ctx, owner, under, spec)
}
