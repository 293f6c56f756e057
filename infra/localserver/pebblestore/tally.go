package pebblestore

import (
	"slices"
	"strings"
	"sync"

	"github.com/keydeletion/service/shared/keys"
)

// tally is every owner's tally (keys.Store.Tally), kept in memory: counted
// from the keys as Open verifies them (it reads every one), then changed by
// each group's creates and final deletions as the group's state is
// published, so a reader sees counts of the state its snapshot holds, give
// or take the commits published between its two reads. As stored items,
// counts that change with nearly every create leave a version per change
// for the next read to step over until a compaction: a page took 4× an AWS
// page at 5,000 keys that way.
type tally struct {
	mu     sync.RWMutex
	owners map[string]*ownerTally
	specs  map[keys.Spec]int // each spec's place in a bucket's counts
}

// ownerTally is one owner's buckets, each in bucket order: about 50 bytes a
// bucket, 0.2 MB for 4,096 leaves.
type ownerTally struct {
	top    []bucket
	leaves map[string][]bucket // by top bucket
}

// bucket is a bucket's counts, one per spec in specs' order.
type bucket struct {
	name   string
	counts []int32
}

func newTally() *tally {
	t := &tally{owners: map[string]*ownerTally{}, specs: map[keys.Spec]int{}}
	for i, spec := range keys.Specs() {
		t.specs[spec] = i
	}
	return t
}

// apply adds ds to the counts.
func (t *tally) apply(ds []keys.TallyDelta) {
	if len(ds) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range ds {
		o := t.owners[d.Owner]
		if o == nil {
			o = &ownerTally{leaves: map[string][]bucket{}}
			t.owners[d.Owner] = o
		}
		i, ok := t.specs[d.Spec]
		if !ok { // a spec of no key this version creates: counted all the same
			i = len(t.specs)
			t.specs[d.Spec] = i
		}
		top, leaf := keys.TallyBuckets(d.ID)
		o.top = add(o.top, top, i, d.Delta)
		o.leaves[top] = add(o.leaves[top], leaf, i, d.Delta)
	}
}

func add(bs []bucket, name string, i, delta int) []bucket {
	at, found := slices.BinarySearchFunc(bs, name, func(b bucket, name string) int { return strings.Compare(b.name, name) })
	if !found {
		bs = slices.Insert(bs, at, bucket{name: name})
	}
	if c := bs[at].counts; len(c) <= i {
		bs[at].counts = append(c, make([]int32, i+1-len(c))...)
	}
	bs[at].counts[i] += int32(delta)
	return bs
}

// read returns owner's counts of spec under under, as keys.Store.Tally does.
func (t *tally) read(owner, under string, spec keys.Spec) []keys.BucketCount {
	t.mu.RLock()
	defer t.mu.RUnlock()
	o := t.owners[owner]
	if o == nil {
		return nil
	}
	bs := o.top
	if under != "" {
		bs = o.leaves[under]
	}
	only, known := t.specs[spec]
	out := make([]keys.BucketCount, 0, len(bs))
	for _, b := range bs {
		n := 0
		for i, c := range b.counts {
			if spec == "" || known && i == only {
				n += int(c)
			}
		}
		out = append(out, keys.BucketCount{Bucket: b.name, Keys: n})
	}
	return out
}
