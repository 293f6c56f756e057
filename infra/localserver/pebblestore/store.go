package pebblestore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/keydeletion/service/shared/keys"
)

// refusable runs fn in a group commit; fn reports a refusal (which writes
// nothing) through its return value's second result, an error that fails
// the group through its first.
func (s *Store) refusable(ctx context.Context, fn func(t *txn) (failed error, refused error)) error {
	var refused error
	err := s.update(ctx, func(t *txn) error {
		var failed error
		failed, refused = fn(t)
		return failed
	})
	if err != nil {
		return err
	}
	return refused
}

// Create implements keys.Store.
func (s *Store) Create(ctx context.Context, k keys.Key) error {
	return s.refusable(ctx, func(t *txn) (error, error) {
		if found, err := has(t.b, named(kindKey, k.Owner, k.ID)); err != nil || found {
			return err, fmt.Errorf("pebblestore: key %s: %w", k.ID, keys.ErrKeyExists)
		}
		if found, err := has(t.b, named(kindTombstone, k.Owner, k.ID)); err != nil || found {
			return err, fmt.Errorf("pebblestore: key %s: %w", k.ID, keys.ErrKeyExists)
		}
		number := named(kindNumber, k.Owner, numberName(k.Number))
		if found, err := has(t.b, number); err != nil || found {
			return err, fmt.Errorf("pebblestore: key number %d: %w", k.Number, keys.ErrNumberTaken)
		}
		if k.Alias != "" {
			if found, err := has(t.b, named(kindAlias, k.Owner, k.Alias)); err != nil || found {
				return err, keys.ErrAliasExists
			}
		}
		if err := t.set(number, []byte(k.ID)); err != nil {
			return err, nil
		}
		if k.Alias != "" {
			if err := t.set(named(kindAlias, k.Owner, k.Alias), []byte(k.ID)); err != nil {
				return err, nil
			}
		}
		t.tally(keys.Created(k))
		return t.putKey(k), nil
	})
}

// Get implements keys.Store.
func (s *Store) Get(ctx context.Context, owner, id string) (keys.Key, error) {
	var k *keys.Key
	err := s.read(func(r pebble.Reader) (err error) {
		k, err = getKey(r, owner, id)
		return err
	})
	if err != nil {
		return keys.Key{}, err
	}
	if k == nil {
		return keys.Key{}, keys.ErrNotFound
	}
	return *k, nil
}

// ResolveAlias implements keys.Store.
func (s *Store) ResolveAlias(ctx context.Context, owner, alias string) (string, error) {
	var id []byte
	err := s.read(func(r pebble.Reader) (err error) {
		id, err = get(r, named(kindAlias, owner, alias))
		return err
	})
	if err != nil {
		return "", err
	}
	if id == nil {
		return "", keys.ErrNotFound
	}
	return string(id), nil
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context, owner string, q keys.ListQuery) ([]keys.Key, bool, error) {
	var out []keys.Key
	more := false
	prefix := ownerPrefix(kindKey, owner)
	start := named(kindKey, owner, q.From)
	if q.After != "" {
		start = named(kindKey, owner, q.After+"\x00") // the first id sorting after it
	}
	err := s.read(func(r pebble.Reader) error {
		return scan(r, start, upperBound(prefix), func(_, v []byte) (bool, error) {
			k, err := decodeKey(v)
			if err != nil {
				return false, err
			}
			if !q.Now.IsZero() && !k.Live(q.Now) || q.Spec != "" && k.Spec != q.Spec {
				return true, nil
			}
			if len(out) == q.Limit {
				more = true
				return false, nil
			}
			out = append(out, *k)
			return true, nil
		})
	})
	return out, more, err
}

// Tally implements keys.Store from the tally kept in memory.
func (s *Store) Tally(ctx context.Context, owner, under string, spec keys.Spec) ([]keys.BucketCount, error) {
	return s.tally.read(owner, under, spec), nil
}

// Apply implements keys.Store: the condition is keys.Change.Permits,
// evaluated in the group commit against the key as its predecessors left it.
func (s *Store) Apply(ctx context.Context, c keys.Change) (keys.Key, error) {
	return s.apply(ctx, c, nil)
}

// ApplyRecorded implements keys.Store: the change and its record (with the
// key's alias) commit together.
func (s *Store) ApplyRecorded(ctx context.Context, c keys.Change, r keys.Record) error {
	_, err := s.apply(ctx, c, &r)
	return err
}

func (s *Store) apply(ctx context.Context, c keys.Change, r *keys.Record) (keys.Key, error) {
	var result keys.Key
	err := s.refusable(ctx, func(t *txn) (error, error) {
		cur, err := getKey(t.b, c.Owner, c.ID)
		if err != nil {
			return err, nil
		}
		if c.CheckFreeze {
			if frozen, err := isFrozen(t.b, c.Owner); err != nil || frozen {
				return err, keys.ErrFrozen
			}
		}
		if tripped, err := anyTripped(t.b, c.Owner, c.GuardScopes); err != nil || tripped {
			return err, keys.ErrGuardTripped
		}
		if !c.Permits(cur) {
			return nil, &keys.ConditionFailed{Current: cur}
		}
		next := c.Apply(*cur)
		if !cur.DeleteAt.Equal(next.DeleteAt) {
			if !cur.DeleteAt.IsZero() {
				if err := t.del(dueKey(cur.DeleteAt.Unix(), c.Owner, c.ID)); err != nil {
					return err, nil
				}
			}
			if !next.DeleteAt.IsZero() {
				if err := t.set(dueKey(next.DeleteAt.Unix(), c.Owner, c.ID), nil); err != nil {
					return err, nil
				}
			}
		}
		if r != nil {
			rec := *r
			rec.Alias = cur.Alias
			if err := t.putTrail(rec, s.retention); err != nil {
				return err, nil
			}
		}
		result = next
		return t.putKey(next), nil
	})
	if err != nil {
		return keys.Key{}, err
	}
	return result, nil
}

// Due implements expiry.Store with the due index: keys in deleteAt order.
func (s *Store) Due(ctx context.Context, before time.Time, limit int) ([]keys.Key, error) {
	return s.due("", before, limit, true)
}

// DueOf implements keys.Store: it reads the due index up to before, owner's
// entries only (the owner is in the index key: others are not decoded).
func (s *Store) DueOf(ctx context.Context, owner string, before time.Time, limit int) ([]keys.Key, error) {
	return s.due(owner, before, limit, false)
}

// due reads the due index up to before, every owner's entries or only
// owner's when it is not "": keys whose window ended by then, and with
// held, those a hold keeps past it (the sweep reminds of them; a catch-up
// finalizes none of them).
func (s *Store) due(owner string, before time.Time, limit int, held bool) ([]keys.Key, error) {
	var out []keys.Key
	end := u64(before.Unix() + 1) // due when deleteAt <= before, in whole seconds
	err := s.read(func(r pebble.Reader) error {
		return scan(r, []byte{kindDue}, append([]byte{kindDue}, end...), func(k, _ []byte) (bool, error) {
			o, id, _ := bytes.Cut(k[9:], []byte{0})
			if owner != "" && string(o) != owner {
				return true, nil
			}
			key, err := getKey(r, string(o), string(id))
			if err != nil {
				return false, err
			}
			if key != nil && (!key.Live(before) || held && key.Held() && !key.DeleteAt.After(before)) {
				out = append(out, *key)
			}
			return len(out) < limit, nil
		})
	})
	return out, err
}

// Finalize implements expiry.Store: the tombstone, its place among the
// unreported, the record and its place in the outbox are written in the
// same commit as the key's removal.
func (s *Store) Finalize(ctx context.Context, f keys.Finalization) (keys.Tombstone, bool, error) {
	k, tomb := f.Key, f.Tombstone
	var (
		stored  keys.Tombstone
		created bool
	)
	err := s.refusable(ctx, func(t *txn) (error, error) {
		created = false
		if raw, err := get(t.b, named(kindTombstone, k.Owner, k.ID)); err != nil || raw != nil {
			if err == nil {
				stored, err = decodeTombstone(raw) // already finalized: a redelivery
			}
			return err, nil
		}
		cur, err := getKey(t.b, k.Owner, k.ID)
		if err != nil {
			return err, nil
		}
		if frozen, err := isFrozen(t.b, k.Owner); err != nil || frozen {
			return err, keys.ErrFrozen
		}
		if !f.Permits(cur) {
			return nil, fmt.Errorf("pebblestore: finalize %s: key is %s, not the pending deletion to finalize: %w", k.ID, cur.State, &keys.ConditionFailed{Current: cur})
		}
		stored, created = tomb, true
		return s.finalize(t, f, cur), nil
	})
	if err != nil {
		return keys.Tombstone{}, false, err
	}
	return stored, created, nil
}

// finalize writes f into t: the key item cur (nil: none left) and its due
// entry removed, the alias released if it still names the key, the
// tombstone among the unreported, the record in the trail and outbox.
func (s *Store) finalize(t *txn, f keys.Finalization, cur *keys.Key) error {
	k := f.Key
	if cur != nil {
		if err := t.del(named(kindKey, k.Owner, k.ID)); err != nil {
			return err
		}
		if err := t.del(dueKey(cur.DeleteAt.Unix(), k.Owner, k.ID)); err != nil {
			return err
		}
	}
	if k.Alias != "" {
		alias := named(kindAlias, k.Owner, k.Alias)
		if id, err := get(t.b, alias); err != nil {
			return err
		} else if string(id) == k.ID {
			if err := t.del(alias); err != nil {
				return err
			}
		}
	}
	if err := t.putTombstone(f.Tombstone); err != nil {
		return err
	}
	t.tally(keys.Deleted(k))
	if err := t.putTrail(f.Record, s.retention); err != nil {
		return err
	}
	return t.set(named(kindUnrep, k.Owner, k.ID), nil)
}

// DeleteNow implements keys.Store: c's record, the key's removal and its
// final deletion commit together.
func (s *Store) DeleteNow(ctx context.Context, c keys.Change, r keys.Record, f keys.Finalization) error {
	return s.refusable(ctx, func(t *txn) (error, error) {
		cur, err := getKey(t.b, c.Owner, c.ID)
		if err != nil {
			return err, nil
		}
		if frozen, err := isFrozen(t.b, c.Owner); err != nil || frozen {
			return err, keys.ErrFrozen
		}
		if tripped, err := anyTripped(t.b, c.Owner, c.GuardScopes); err != nil || tripped {
			return err, keys.ErrGuardTripped
		}
		if !c.Permits(cur) || !cur.DeleteAt.Equal(f.Key.DeleteAt) || !cur.StateChangedAt.Equal(f.Key.StateChangedAt) {
			return nil, &keys.ConditionFailed{Current: cur}
		}
		if raw, err := get(t.b, named(kindTombstone, c.Owner, c.ID)); err != nil || raw != nil {
			return err, fmt.Errorf("pebblestore: delete %s now: a tombstone stands in the way", c.ID)
		}
		rec := r
		rec.Alias = cur.Alias
		if err := t.putTrail(rec, s.retention); err != nil {
			return err, nil
		}
		return s.finalize(t, f, cur), nil
	})
}

// MarkReported implements expiry.Store.
func (s *Store) MarkReported(ctx context.Context, owner, id string, at time.Time) error {
	return s.refusable(ctx, func(t *txn) (error, error) {
		raw, err := get(t.b, named(kindTombstone, owner, id))
		if err != nil {
			return err, nil
		}
		if raw == nil {
			return nil, fmt.Errorf("pebblestore: mark reported %s: %w", id, keys.ErrNotFound)
		}
		tomb, err := decodeTombstone(raw)
		if err != nil {
			return err, nil
		}
		if tomb.ReportedAt.IsZero() {
			tomb.ReportedAt = at.UTC().Truncate(time.Millisecond)
			if err := t.putTombstone(tomb); err != nil {
				return err, nil
			}
		}
		return t.del(named(kindUnrep, owner, id)), nil
	})
}

// Unreported implements expiry.Store.
func (s *Store) Unreported(ctx context.Context, before time.Time, limit int) ([]keys.Tombstone, error) {
	var out []keys.Tombstone
	err := s.read(func(r pebble.Reader) error {
		return scan(r, []byte{kindUnrep}, []byte{kindUnrep + 1}, func(k, _ []byte) (bool, error) {
			raw, err := get(r, append([]byte{kindTombstone}, k[1:]...))
			if err != nil || raw == nil {
				return err == nil, err
			}
			tomb, err := decodeTombstone(raw)
			if err != nil {
				return false, err
			}
			if !tomb.DeletedAt.After(before) {
				out = append(out, tomb)
			}
			return len(out) < limit, nil
		})
	})
	return out, err
}

// Tombstone returns the record of a finalized key (storetest.Store).
func (s *Store) Tombstone(ctx context.Context, owner, id string) (keys.Tombstone, error) {
	var raw []byte
	err := s.read(func(r pebble.Reader) (err error) {
		raw, err = get(r, named(kindTombstone, owner, id))
		return err
	})
	if err != nil {
		return keys.Tombstone{}, err
	}
	if raw == nil {
		return keys.Tombstone{}, keys.ErrNotFound
	}
	return decodeTombstone(raw)
}

// Records implements keys.Store: records whose retention has ended are not
// returned, even before ExpireRecords removes them.
func (s *Store) Records(ctx context.Context, owner string, q keys.TrailQuery, now time.Time) (keys.TrailPage, error) {
	var page keys.TrailPage
	prefix := ownerPrefix(kindTrail, owner)
	start := trailKey(owner, q.From, "")
	if q.After != "" {
		start = append(trailKey(owner, q.AfterAt, q.After), 0) // the first key after it
	}
	err := s.read(func(r pebble.Reader) error {
		return scan(r, start, upperBound(prefix), func(_, v []byte) (bool, error) {
			rec, err := decodeRecord(v)
			if err != nil {
				return false, err
			}
			record := rec.Record
			if !q.To.IsZero() && !record.At.Before(q.To) {
				return false, nil
			}
			if rec.expiresAt != 0 && rec.expiresAt <= now.Unix() || q.KeyID != "" && record.KeyID != q.KeyID {
				return true, nil
			}
			if len(page.Records) == q.Limit {
				page.More = true
				return false, nil
			}
			page.Records = append(page.Records, record)
			return true, nil
		})
	})
	return page, err
}

// Unpublished implements expiry.Store with the outbox.
func (s *Store) Unpublished(ctx context.Context, before time.Time, limit int) ([]keys.Record, error) {
	var out []keys.Record
	end := append([]byte{kindOutbox}, u64(before.UnixMilli()+1)...)
	err := s.read(func(r pebble.Reader) error {
		return scan(r, []byte{kindOutbox}, end, func(_, v []byte) (bool, error) {
			rec, err := decodeRecord(v)
			if err != nil {
				return false, err
			}
			out = append(out, rec.Record)
			return len(out) < limit, nil
		})
	})
	return out, err
}

// MarkPublished implements expiry.Store: the records leave the outbox, in
// one commit.
func (s *Store) MarkPublished(ctx context.Context, rs []keys.Record) error {
	if len(rs) == 0 {
		return nil
	}
	return s.update(ctx, func(t *txn) error {
		for _, r := range rs {
			if err := t.del(outboxKey(r.Owner, r.At, r.ID)); err != nil {
				return err
			}
		}
		return nil
	})
}

// MarkReminded implements expiry.Store.
func (s *Store) MarkReminded(ctx context.Context, k keys.Key, offset time.Duration) error {
	return s.refusable(ctx, func(t *txn) (error, error) {
		cur, err := getKey(t.b, k.Owner, k.ID)
		if err != nil {
			return err, nil
		}
		if cur == nil || cur.State != keys.PendingDeletion || !cur.DeleteAt.Equal(k.DeleteAt) {
			return nil, fmt.Errorf("pebblestore: mark reminded %s: %w", k.ID, keys.ErrNotFound)
		}
		if cur.Reminded != 0 && cur.Reminded <= offset {
			return nil, nil
		}
		cur.Reminded = offset
		return t.putKey(*cur), nil
	})
}

// ExpireRecords (the local loop's, package catchup) removes the audit records whose
// retention ended at or before now. An owner's records are in time order
// and one retention applies to all, so each owner's expired records come
// first (a retention changed later only delays removal; reads skip expired
// records anyway).
func (s *Store) ExpireRecords(ctx context.Context, clock keys.Clock) (int, error) {
	var expired []storedRecord
	err := s.read(func(r pebble.Reader) error {
		it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{kindTrail}, UpperBound: []byte{kindTrail + 1}})
		if err != nil {
			return err
		}
		for valid := it.First(); valid; {
			rec, err := decodeRecord(it.Value())
			if err != nil {
				it.Close()
				return err
			}
			if rec.expiresAt != 0 && rec.expiresAt <= clock(rec.Owner).Unix() {
				expired = append(expired, rec)
				valid = it.Next()
				continue
			}
			valid = it.SeekGE(upperBound(ownerPrefix(kindTrail, rec.Owner)))
		}
		return it.Close()
	})
	if err != nil || len(expired) == 0 {
		return 0, err
	}
	err = s.update(ctx, func(t *txn) error {
		for _, rec := range expired {
			r := rec.Record
			if err := t.del(trailKey(r.Owner, r.At, r.ID)); err != nil {
				return err
			}
			if err := t.del(outboxKey(r.Owner, r.At, r.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	return len(expired), err
}

var _ keys.Store = (*Store)(nil) // and expiry.Store: storetest.Run holds it to both

// isFrozen reads owner's freeze inside a commit.
func isFrozen(r pebble.Reader, owner string) (bool, error) {
	raw, err := get(r, named(kindFreeze, owner, ""))
	if err != nil || raw == nil {
		return false, err
	}
	f, err := decodeFreeze(raw, owner)
	return f.Frozen, err
}

// SetFreeze implements keys.Store: the freeze and its record commit
// together.
func (s *Store) SetFreeze(ctx context.Context, f keys.FreezeChange, r keys.Record) error {
	return s.refusable(ctx, func(t *txn) (error, error) {
		frozen, err := isFrozen(t.b, f.Owner)
		if err != nil {
			return err, nil
		}
		if frozen == f.Frozen {
			return nil, &keys.ConditionFailed{}
		}
		if err := t.set(named(kindFreeze, f.Owner, ""), encodeFreeze(nil, keys.Freeze{Frozen: f.Frozen, At: f.Now, By: f.By})); err != nil {
			return err, nil
		}
		return t.putTrail(r, s.retention), nil
	})
}

// Freeze implements keys.Store.
func (s *Store) Freeze(ctx context.Context, owner string) (keys.Freeze, error) {
	var out keys.Freeze
	err := s.read(func(r pebble.Reader) error {
		raw, err := get(r, named(kindFreeze, owner, ""))
		if err != nil || raw == nil {
			return err
		}
		out, err = decodeFreeze(raw, owner)
		return err
	})
	return out, err
}

// Restore implements expiry.FinalStore: nothing to do here, where no TTL
// removes a key behind the store's back.
func (s *Store) Restore(context.Context, keys.Key) error { return nil }

// anyTripped reads, inside a commit, whether one of scopes' guards is
// tripped.
func anyTripped(r pebble.Reader, owner string, scopes []string) (bool, error) {
	for _, scope := range scopes {
		raw, err := get(r, named(kindGuard, owner, scope))
		if err != nil || raw != nil {
			return raw != nil, err
		}
	}
	return false, nil
}

// SetGuard implements keys.Store: a tripped guard is an item, its release
// the item's removal; either commits with its record.
func (s *Store) SetGuard(ctx context.Context, g keys.GuardChange, r keys.Record) error {
	return s.refusable(ctx, func(t *txn) (error, error) {
		k := named(kindGuard, g.Owner, g.Scope)
		tripped, err := has(t.b, k)
		if err != nil {
			return err, nil
		}
		if tripped == g.Tripped {
			return nil, &keys.ConditionFailed{}
		}
		if g.Tripped {
			err = t.set(k, encodeFreeze(nil, keys.Freeze{Frozen: true, At: g.Now, By: g.By}))
		} else {
			err = t.del(k)
		}
		if err != nil {
			return err, nil
		}
		return t.putTrail(r, s.retention), nil
	})
}

// GuardTrips implements keys.Store.
func (s *Store) GuardTrips(ctx context.Context, owner string) ([]keys.GuardTrip, error) {
	var trips []keys.GuardTrip
	prefix := ownerPrefix(kindGuard, owner)
	err := s.read(func(r pebble.Reader) error {
		return scan(r, prefix, append(slices.Clone(prefix), 0xff), func(k, v []byte) (bool, error) {
			f, err := decodeFreeze(v, owner) // a trip is stored as a freeze is: when, by whom
			if err != nil {
				return false, err
			}
			trips = append(trips, keys.GuardTrip{Scope: string(k[len(prefix):]), At: f.At, By: f.By})
			return true, nil
		})
	})
	return trips, err
}
