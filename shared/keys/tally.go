package keys

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// The tally counts a tenant's stored keys by spec and by where their ids sort,
// so that a numbered page (Huawei's marker, NCP's pageNo) and its total are
// found from counts, at a cost that depends on the page and not on the
// tenant. Ids fall in buckets named by their first runes: a top bucket (the
// first rune) holds leaf buckets (the first three). Truncation keeps order,
// so every id of a bucket sorts after every id of the buckets before it,
// for any ids; random ids (UUIDs) spread evenly, 16 top and 4,096 leaf
// buckets, about 25 keys a leaf at 100,000 keys.
//
// A key is counted from its create to its final deletion, in the same atomic
// write as each (Store.Create, Store.DeleteNow, expiry's Finalize): the
// writes that know the key's spec. State changes are not counted, because a
// schedule is one blind conditional write that cannot know which of several
// states it leaves; a listing by state reads the tenant's keys (ListNumbered).
const (
	topRunes  = 1
	leafRunes = 3
)

// TallyBuckets are the top and leaf buckets of id.
func TallyBuckets(id string) (top, leaf string) {
	return runePrefix(id, topRunes), runePrefix(id, leafRunes)
}

func runePrefix(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// BucketCount is how many keys of the spec asked for a bucket holds.
type BucketCount struct {
	Bucket string
	Keys   int
}

// TallyDelta is what one write changes in its owner's tally: Delta keys of
// Spec in the buckets of ID (+1 a create, -1 a final deletion).
type TallyDelta struct {
	Owner, ID string
	Spec      Spec
	Delta     int
}

// Created and Deleted are the tally's changes for a create and a final
// deletion of k.
func Created(k Key) TallyDelta { return TallyDelta{Owner: k.Owner, ID: k.ID, Spec: k.Spec, Delta: 1} }
func Deleted(k Key) TallyDelta { return TallyDelta{Owner: k.Owner, ID: k.ID, Spec: k.Spec, Delta: -1} }

// ListQuery selects keys of one owner for Store.List: the live keys at Now,
// in ascending id order, after the id After or from the id From (the
// first of the ids not before it), of spec Spec ("" for every spec), at
// most Limit. A zero Now selects every stored key, live or not.
type ListQuery struct {
	After, From string
	Limit       int
	Now         time.Time
	Spec        Spec
}

// NumberedQuery selects a numbered page: Limit keys from the Offset-th
// (from 0) of the caller's live keys of spec Spec in state State ("" for
// any), in ascending id order.
type NumberedQuery struct {
	Offset, Limit int
	Spec          Spec
	State         State
}

// NumberedPage is a numbered page and the number of keys the query selects
// in all.
type NumberedPage struct {
	Keys  []Key
	Total int
}

// ListNumbered returns a numbered page. Without a state it is found from the
// tally: the top buckets' counts, one top bucket's leaf counts, and a read
// of the keys from the leaf bucket the page starts in (skipping the keys of
// that bucket before it). The first page's keys are read with the top
// counts; so are a deeper page's leaf counts, of the top bucket the
// tenant's previous page's counts place it in, read again after the top
// counts if those place it elsewhere. Keys whose window ended and that
// still await their final deletion are counted but not live: the store
// lists them (DueOf) and they are taken off the counts. A page is
// consistent up to writes that run while it is read, as any paged listing
// is.
func (s *Service) ListNumbered(ctx context.Context, p Principal, q NumberedQuery) (NumberedPage, error) {
	if q.Offset < 0 || q.Limit < 1 {
		return NumberedPage{}, fmt.Errorf("list: offset %d, limit %d", q.Offset, q.Limit)
	}
	if q.State != "" {
		return s.listNumberedByState(ctx, p, q)
	}
	now := s.clock(p.Tenant)
	// These reads are independent: at once, one round trip on DynamoDB. The
	// first page's keys are the first live ones, so they are read with them;
	// a deeper page needs the counts first.
	var (
		tops, guessed                []BucketCount
		overdue, first               []Key
		tallyErr, overdueErr, keyErr error
		guessErr                     error
		wg                           sync.WaitGroup
	)
	guess := ""
	if last := s.lastTops.get(p.Tenant, q.Spec); q.Offset > 0 && last != nil {
		guess, _ = locate(last, q.Offset)
		wg.Go(func() { guessed, guessErr = s.store.Tally(ctx, p.Tenant, guess, q.Spec) })
	}
	wg.Go(func() { overdue, overdueErr = s.store.DueOf(ctx, p.Tenant, now, math.MaxInt) })
	if q.Offset == 0 {
		wg.Go(func() {
			first, _, keyErr = s.store.List(ctx, p.Tenant, ListQuery{Limit: q.Limit, Now: now, Spec: q.Spec})
		})
	}
	tops, tallyErr = s.store.Tally(ctx, p.Tenant, "", q.Spec)
	wg.Wait()
	if err := errors.Join(tallyErr, overdueErr, keyErr); err != nil {
		return NumberedPage{}, fmt.Errorf("list: %w", err)
	}
	overdue = slices.DeleteFunc(overdue, func(k Key) bool { return q.Spec != "" && k.Spec != q.Spec })
	uncount(tops, overdue, func(id string) string { top, _ := TallyBuckets(id); return top })
	s.lastTops.put(p.Tenant, q.Spec, tops)
	total := 0
	for _, b := range tops {
		total += max(b.Keys, 0)
	}
	page := NumberedPage{Total: total}
	if q.Offset >= total {
		return page, nil
	}
	if q.Offset == 0 {
		page.Keys = first
		return page, nil
	}
	top, skip := locate(tops, q.Offset)
	leaves := guessed
	if top != guess || guessErr != nil {
		var err error
		if leaves, err = s.store.Tally(ctx, p.Tenant, top, q.Spec); err != nil {
			return NumberedPage{}, fmt.Errorf("list: tally of %q: %w", top, err)
		}
	}
	uncount(leaves, overdue, func(id string) string { _, leaf := TallyBuckets(id); return leaf })
	leaf, skip := locate(leaves, skip)
	ks, _, err := s.store.List(ctx, p.Tenant, ListQuery{From: leaf, Limit: skip + q.Limit, Now: now, Spec: q.Spec})
	if err != nil {
		return NumberedPage{}, fmt.Errorf("list: %w", err)
	}
	page.Keys = ks[min(skip, len(ks)):]
	return page, nil
}

// uncount takes the keys ks off the counts of their buckets (bucketOf).
func uncount(counts []BucketCount, ks []Key, bucketOf func(id string) string) {
	for _, k := range ks {
		b := bucketOf(k.ID)
		if i, found := slices.BinarySearchFunc(counts, b, func(c BucketCount, b string) int { return strings.Compare(c.Bucket, b) }); found {
			counts[i].Keys--
		}
	}
}

// locate finds the bucket of counts (in bucket order) that holds the
// offset-th key, and how many keys come before it in that bucket. Past the
// last key (a count read while keys were deleted) it returns the last
// bucket.
func locate(counts []BucketCount, offset int) (bucket string, skip int) {
	for _, c := range counts {
		n := max(c.Keys, 0) // below zero: a deletion counted before its create, read in between
		if offset < n {
			return c.Bucket, offset
		}
		offset -= n
		bucket = c.Bucket
	}
	return bucket, offset
}

// listNumberedByState walks the tenant's keys: the tally does not count
// states (above). It keeps only the page's keys, and counts the rest.
func (s *Service) listNumberedByState(ctx context.Context, p Principal, q NumberedQuery) (NumberedPage, error) {
	var page NumberedPage
	lq := ListQuery{Limit: 1000, Now: s.clock(p.Tenant), Spec: q.Spec}
	for {
		ks, more, err := s.store.List(ctx, p.Tenant, lq)
		if err != nil {
			return NumberedPage{}, fmt.Errorf("list: %w", err)
		}
		for _, k := range ks {
			if k.State != q.State {
				continue
			}
			if page.Total >= q.Offset && len(page.Keys) < q.Limit {
				page.Keys = append(page.Keys, k)
			}
			page.Total++
		}
		if !more || len(ks) == 0 {
			return page, nil
		}
		lq.After = ks[len(ks)-1].ID
	}
}

// topsCache holds the top counts of the last numbered page of each tenant
// and spec: 16 numbers each, for up to maxCachedTops of them (then it
// starts afresh). They are only ever a guess, checked against the counts
// read with it.
type topsCache struct {
	mu sync.Mutex
	m  map[string][]BucketCount
}

const maxCachedTops = 10_000

func topsKey(tenant string, spec Spec) string { return tenant + "\x00" + string(spec) }

func (c *topsCache) get(tenant string, spec Spec) []BucketCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[topsKey(tenant, spec)]
}

func (c *topsCache) put(tenant string, spec Spec, tops []BucketCount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedTops {
		c.m = map[string][]BucketCount{}
	}
	c.m[topsKey(tenant, spec)] = slices.Clone(tops)
}
