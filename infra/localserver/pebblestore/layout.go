package pebblestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/keydeletion/service/shared/keys"
)

// Key layout: one prefix byte per kind, then the owner and the item's name,
// separated by 0 (owners and ids never hold it).
//
//	'k' owner 0 id                  -> a key (codec.go)
//	'a' owner 0 alias               -> key id
//	'n' owner 0 number (decimal)    -> key id: claimed for good
//	't' owner 0 id                  -> a tombstone
//	'u' owner 0 id                  -> (none): a tombstone not yet reported
//	'd' deleteAt (8 bytes) owner 0 id -> (none): keys pending deletion, by window end
//	'l' owner 0 at (8 bytes) record id -> an audit record: the trail
//	'o' at (8 bytes) owner 0 record id -> the record again: records whose event is not yet published
//
// The tally (keys.Tally) is not stored: it is kept in memory (tally.go).
const (
	kindKey       = 'k'
	kindAlias     = 'a'
	kindNumber    = 'n'
	kindTombstone = 't'
	kindUnrep     = 'u'
	kindDue       = 'd'
	kindTrail     = 'l'
	kindOutbox    = 'o'
	kindFreeze    = 'f' // a tenant's deletion freeze (owner, no name)
	kindGuard     = 'g' // a tripped deletion guard (owner, scope)
)

func named(kind byte, owner, name string) []byte {
	b := make([]byte, 0, 2+len(owner)+len(name))
	b = append(b, kind)
	b = append(b, owner...)
	b = append(b, 0)
	return append(b, name...)
}

// ownerPrefix is the start of every item of kind owned by owner.
func ownerPrefix(kind byte, owner string) []byte { return named(kind, owner, "") }

func u64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(max(v, 0))) }

func dueKey(deleteAt int64, owner, id string) []byte {
	return append(append([]byte{kindDue}, u64(deleteAt)...), named(0, owner, id)[1:]...)
}

func trailKey(owner string, at time.Time, id string) []byte {
	return append(append(ownerPrefix(kindTrail, owner), u64(at.UnixMilli())...), id...)
}

func outboxKey(owner string, at time.Time, id string) []byte {
	return append(append([]byte{kindOutbox}, u64(at.UnixMilli())...), named(0, owner, id)[1:]...)
}

// upperBound is the first key after every key with prefix p.
func upperBound(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// get returns the value at k, or nil if there is none.
func get(r pebble.Reader, k []byte) ([]byte, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pebblestore: get: %w", err)
	}
	out := bytes.Clone(v)
	return out, closer.Close()
}

func has(r pebble.Reader, k []byte) (bool, error) {
	v, err := get(r, k)
	return v != nil, err
}

func getKey(r pebble.Reader, owner, id string) (*keys.Key, error) {
	raw, err := get(r, named(kindKey, owner, id))
	if raw == nil || err != nil {
		return nil, err
	}
	return decodeKey(raw)
}

// txn is the group commit's batch: reads see the group's earlier writes.
type txn struct {
	b      *pebble.Batch
	deltas []keys.TallyDelta // the tally's changes of the writes in b
}

func (t *txn) set(k, v []byte) error { return t.b.Set(k, v, nil) }

func (t *txn) del(k []byte) error { return t.b.Delete(k, nil) }

func (t *txn) putKey(k keys.Key) error {
	return t.set(named(kindKey, k.Owner, k.ID), encodeKey(nil, k))
}

func (t *txn) putTombstone(tomb keys.Tombstone) error {
	return t.set(named(kindTombstone, tomb.Owner, tomb.KeyID), encodeTombstone(nil, tomb))
}

func (t *txn) putTrail(r keys.Record, retention time.Duration) error {
	// The outbox holds a copy of the record: publishing reads the outbox
	// alone, not the trail's scattered entries.
	rec := encodeRecord(nil, r, expiry(r.At, retention))
	if err := t.set(trailKey(r.Owner, r.At, r.ID), rec); err != nil {
		return err
	}
	return t.set(outboxKey(r.Owner, r.At, r.ID), rec)
}

// tally records d, for the in-memory tally once the commit is published.
func (t *txn) tally(d keys.TallyDelta) { t.deltas = append(t.deltas, d) }

// numberName is a key number as the number item names it.
func numberName(n int64) string { return strconv.FormatInt(n, 10) }

// scan calls fn for every key from start up to end (nil: no end) in order
// until fn says stop.
func scan(r pebble.Reader, start, end []byte, fn func(k, v []byte) (more bool, err error)) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return fmt.Errorf("pebblestore: iterate: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		more, err := fn(it.Key(), it.Value())
		if err != nil || !more {
			return errors.Join(err, it.Close())
		}
	}
	return it.Close()
}
