// Package boltstore is the embedded key store: one bbolt file in a data
// folder. Every acknowledged write has been fsynced; concurrent writers share
// one transaction and one fsync (group commit).
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keydeletion/service/shared/keyrecord"
	"github.com/keydeletion/service/shared/keys"
)

var (
	bucketKeys       = []byte("keys")       // owner \x00 id -> keyrecord.Key
	bucketAliases    = []byte("aliases")    // owner \x00 alias -> id
	bucketDue        = []byte("due")        // deleteAt (8 bytes, big-endian seconds) owner \x00 id -> nothing
	bucketTombstones = []byte("tombstones") // owner \x00 id -> keyrecord.Tombstone
	bucketUnreported = []byte("unreported") // owner \x00 id -> nothing: tombstones whose deletion is not yet reported
	bucketNumbers    = []byte("numbers")    // owner \x00 number (decimal) -> id: key numbers, claimed for good
	bucketTrail      = []byte("trail")      // owner \x00 at (8 bytes, big-endian ms) record id -> keyrecord.Record
	bucketOutbox     = []byte("outbox")     // at (8 bytes, big-endian ms) owner \x00 record id -> trail key: records whose event is not yet published
)

// maxGroup bounds how many writes share one commit.
const maxGroup = 256

// Store is the embedded key store.
type Store struct {
	db     *bolt.DB
	writes chan *write
	wg     sync.WaitGroup
	// closing is set, under the write lock, before writes is closed: a
	// writer queues only under the read lock and only while it is unset, so
	// no write is queued after the committer has drained the queue and gone.
	mu      sync.RWMutex
	closing bool
	once    sync.Once
	stats   struct {
		sync.Mutex
		commits, writes int64
	}
	retention time.Duration // how long audit records are kept; 0: for good
}

// SetRetention keeps audit records written from now on for d (0: for good).
func (s *Store) SetRetention(d time.Duration) { s.retention = d }

// ErrClosed is a write that reached the store after Close.
var ErrClosed = errors.New("boltstore: closed")

// write is one caller's part of a group commit. fn must leave the
// transaction untouched when it reports a refusal through its own result and
// returns nil; a non-nil error rolls back the whole group.
type write struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// Open opens (creating if needed) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "keys.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", dir, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKeys, bucketAliases, bucketDue, bucketTombstones, bucketUnreported, bucketNumbers, bucketTrail, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: init: %w", err)
	}
	s := &Store{db: db, writes: make(chan *write, maxGroup)}
	s.wg.Add(1)
	go s.committer()
	return s, nil
}

// Close refuses new writes (ErrClosed), lets the committer commit every
// write already queued, and closes the file.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closing = true
		close(s.writes)
		s.mu.Unlock()
	})
	s.wg.Wait()
	return s.db.Close()
}

// CommitStats reports how many commits (fsyncs) carried how many writes.
func (s *Store) CommitStats() (commits, writes int64) {
	s.stats.Lock()
	defer s.stats.Unlock()
	return s.stats.commits, s.stats.writes
}

// committer takes every write waiting when it becomes free and commits them
// in one transaction: a lone write is committed at once, and writers that
// arrive during an fsync share the next one.
func (s *Store) committer() {
	defer s.wg.Done()
	for first := range s.writes { // until Close, and every queued write after it
		group := []*write{first}
	gather:
		for len(group) < maxGroup {
			select {
			case w, ok := <-s.writes:
				if !ok {
					break gather
				}
				group = append(group, w)
			default:
				break gather
			}
		}
		s.commit(group)
	}
}

func (s *Store) commit(group []*write) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, w := range group {
			if err := w.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(group) > 1 {
		// One write failed and took the group down with it: retry each
		// alone, so only the failing one sees its error.
		for _, w := range group {
			s.commit([]*write{w})
		}
		return
	}
	s.stats.Lock()
	s.stats.commits++
	s.stats.writes += int64(len(group))
	s.stats.Unlock()
	for _, w := range group {
		w.done <- err
	}
}

func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	w := &write{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closing {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.writes <- w:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// Once queued the write will be committed; wait for it even if the
	// caller gives up, so that an acknowledged write is always durable.
	return <-w.done
}

func itemKey(owner, id string) []byte {
	return []byte(owner + "\x00" + id)
}

func dueKey(deleteAt int64, owner, id string) []byte {
	b := make([]byte, 8, 8+len(owner)+1+len(id))
	binary.BigEndian.PutUint64(b, uint64(deleteAt))
	return append(b, itemKey(owner, id)...)
}

func getRecord(tx *bolt.Tx, owner, id string) (*keys.Key, error) {
	raw := tx.Bucket(bucketKeys).Get(itemKey(owner, id))
	if raw == nil {
		return nil, nil
	}
	var r keyrecord.Key
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("boltstore: decode %s: %w", id, err)
	}
	k := r.Key()
	return &k, nil
}

func putRecord(tx *bolt.Tx, k keys.Key) error {
	raw, err := json.Marshal(keyrecord.FromKey(k))
	if err != nil {
		return err
	}
	return tx.Bucket(bucketKeys).Put(itemKey(k.Owner, k.ID), raw)
}

// Create implements keys.Store.
func (s *Store) Create(ctx context.Context, k keys.Key) error {
	var refused error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		refused = nil
		if tx.Bucket(bucketKeys).Get(itemKey(k.Owner, k.ID)) != nil ||
			tx.Bucket(bucketTombstones).Get(itemKey(k.Owner, k.ID)) != nil {
			refused = fmt.Errorf("boltstore: key %s: %w", k.ID, keys.ErrKeyExists)
			return nil
		}
		number := itemKey(k.Owner, strconv.FormatInt(k.Number, 10))
		if tx.Bucket(bucketNumbers).Get(number) != nil {
			refused = fmt.Errorf("boltstore: key number %d: %w", k.Number, keys.ErrNumberTaken)
			return nil
		}
		if k.Alias != "" && tx.Bucket(bucketAliases).Get(itemKey(k.Owner, k.Alias)) != nil {
			refused = keys.ErrAliasExists
			return nil
		}
		if err := tx.Bucket(bucketNumbers).Put(number, []byte(k.ID)); err != nil {
			return err
		}
		if k.Alias != "" {
			if err := tx.Bucket(bucketAliases).Put(itemKey(k.Owner, k.Alias), []byte(k.ID)); err != nil {
				return err
			}
		}
		return putRecord(tx, k)
	})
	if err != nil {
		return err
	}
	return refused
}

// Get implements keys.Store.
func (s *Store) Get(ctx context.Context, owner, id string) (keys.Key, error) {
	var k *keys.Key
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		k, err = getRecord(tx, owner, id)
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
	var id string
	err := s.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketAliases).Get(itemKey(owner, alias)))
		return nil
	})
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", keys.ErrNotFound
	}
	return id, nil
}

// List implements keys.Store.
func (s *Store) List(ctx context.Context, owner, after string, limit int, now time.Time) ([]keys.Key, bool, error) {
	var out []keys.Key
	more := false
	prefix := []byte(owner + "\x00")
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketKeys).Cursor()
		start := prefix
		if after != "" {
			start = itemKey(owner, after+"\x00") // the first id sorting after `after`
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var r keyrecord.Key
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("boltstore: decode %q: %w", k, err)
			}
			key := r.Key()
			if !key.Live(now) {
				continue
			}
			if len(out) == limit {
				more = true
				return nil
			}
			out = append(out, key)
		}
		return nil
	})
	return out, more, err
}

// Apply implements keys.Store: the condition is keys.Change.Permits,
// evaluated inside the write transaction.
func (s *Store) Apply(ctx context.Context, c keys.Change) (keys.Key, error) {
	return s.apply(ctx, c, nil)
}

// ApplyRecorded implements keys.Store: the change and its record (with the
// key's alias, read in the same transaction) commit together.
func (s *Store) ApplyRecorded(ctx context.Context, c keys.Change, r keys.Record) error {
	_, err := s.apply(ctx, c, &r)
	return err
}

func (s *Store) apply(ctx context.Context, c keys.Change, r *keys.Record) (keys.Key, error) {
	var result keys.Key
	var refused error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		refused = nil
		cur, err := getRecord(tx, c.Owner, c.ID)
		if err != nil {
			return err
		}
		if !c.Permits(cur) {
			refused = &keys.ConditionFailed{Current: cur}
			return nil
		}
		next := c.Apply(*cur)
		due := tx.Bucket(bucketDue)
		if !cur.DeleteAt.IsZero() {
			if err := due.Delete(dueKey(cur.DeleteAt.Unix(), c.Owner, c.ID)); err != nil {
				return err
			}
		}
		if !next.DeleteAt.IsZero() {
			if err := due.Put(dueKey(next.DeleteAt.Unix(), c.Owner, c.ID), nil); err != nil {
				return err
			}
		}
		if r != nil {
			rec := *r
			rec.Alias = cur.Alias
			if err := s.putTrail(tx, rec); err != nil {
				return err
			}
		}
		result = next
		return putRecord(tx, next)
	})
	if err != nil {
		return keys.Key{}, err
	}
	if refused != nil {
		return keys.Key{}, refused
	}
	return result, nil
}

// Due implements expiry.Store with the due index: keys in deleteAt order.
func (s *Store) Due(ctx context.Context, before time.Time, limit int) ([]keys.Key, error) {
	var out []keys.Key
	end := before.Unix() // due when deleteAt <= before, in whole seconds
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDue).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if int64(binary.BigEndian.Uint64(k[:8])) > end {
				break
			}
			owner, id, _ := bytes.Cut(k[8:], []byte{0})
			key, err := getRecord(tx, string(owner), string(id))
			if err != nil {
				return err
			}
			if key != nil && !key.Live(before) {
				out = append(out, *key)
			}
		}
		return nil
	})
	return out, err
}

// Finalize implements keys.Store. The tombstone and its place among the
// unreported are written in the same transaction.
func (s *Store) Finalize(ctx context.Context, f keys.Finalization) (keys.Tombstone, bool, error) {
	k, t := f.Key, f.Tombstone
	var (
		refused error
		stored  keys.Tombstone
		created bool
	)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		refused, created = nil, false
		id := itemKey(k.Owner, k.ID)
		if raw := tx.Bucket(bucketTombstones).Get(id); raw != nil {
			var err error
			stored, err = decodeTombstone(raw)
			return err // already finalized: a redelivery
		}
		cur, err := getRecord(tx, k.Owner, k.ID)
		if err != nil {
			return err
		}
		if !f.Permits(cur) {
			refused = fmt.Errorf("boltstore: finalize %s: key is %s, not the pending deletion to finalize", k.ID, cur.State)
			return nil
		}
		if cur != nil {
			if err := tx.Bucket(bucketKeys).Delete(id); err != nil {
				return err
			}
			if err := tx.Bucket(bucketDue).Delete(dueKey(cur.DeleteAt.Unix(), k.Owner, k.ID)); err != nil {
				return err
			}
		}
		if k.Alias != "" {
			aliases := tx.Bucket(bucketAliases)
			if string(aliases.Get(itemKey(k.Owner, k.Alias))) == k.ID {
				if err := aliases.Delete(itemKey(k.Owner, k.Alias)); err != nil {
					return err
				}
			}
		}
		if err := putTombstone(tx, t); err != nil {
			return err
		}
		if err := s.putTrail(tx, f.Record); err != nil {
			return err
		}
		stored, created = t, true
		return tx.Bucket(bucketUnreported).Put(id, nil)
	})
	if err != nil {
		return keys.Tombstone{}, false, err
	}
	if refused != nil {
		return keys.Tombstone{}, false, refused
	}
	return stored, created, nil
}

func putTombstone(tx *bolt.Tx, t keys.Tombstone) error {
	raw, err := json.Marshal(keyrecord.FromTombstone(t))
	if err != nil {
		return err
	}
	return tx.Bucket(bucketTombstones).Put(itemKey(t.Owner, t.KeyID), raw)
}

func decodeTombstone(raw []byte) (keys.Tombstone, error) {
	var r keyrecord.Tombstone
	if err := json.Unmarshal(raw, &r); err != nil {
		return keys.Tombstone{}, fmt.Errorf("boltstore: decode tombstone: %w", err)
	}
	return r.Tombstone(), nil
}

// MarkReported implements keys.Store.
func (s *Store) MarkReported(ctx context.Context, owner, id string, at time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketTombstones).Get(itemKey(owner, id))
		if raw == nil {
			return fmt.Errorf("boltstore: mark reported %s: %w", id, keys.ErrNotFound)
		}
		t, err := decodeTombstone(raw)
		if err != nil {
			return err
		}
		if t.ReportedAt.IsZero() {
			t.ReportedAt = at.UTC().Truncate(time.Millisecond)
			if err := putTombstone(tx, t); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketUnreported).Delete(itemKey(owner, id))
	})
}

// Unreported implements expiry.Store with the unreported bucket.
func (s *Store) Unreported(ctx context.Context, before time.Time, limit int) ([]keys.Tombstone, error) {
	var out []keys.Tombstone
	err := s.db.View(func(tx *bolt.Tx) error {
		tombs := tx.Bucket(bucketTombstones)
		c := tx.Bucket(bucketUnreported).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			raw := tombs.Get(k)
			if raw == nil {
				continue
			}
			t, err := decodeTombstone(raw)
			if err != nil {
				return err
			}
			if !t.DeletedAt.After(before) {
				out = append(out, t)
			}
		}
		return nil
	})
	return out, err
}

// Tombstone implements keys.Store.
func (s *Store) Tombstone(ctx context.Context, owner, id string) (keys.Tombstone, error) {
	var (
		t     keys.Tombstone
		found bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketTombstones).Get(itemKey(owner, id))
		if raw == nil {
			return nil
		}
		found = true
		var err error
		t, err = decodeTombstone(raw)
		return err
	})
	if err != nil {
		return keys.Tombstone{}, err
	}
	if !found {
		return keys.Tombstone{}, keys.ErrNotFound
	}
	return t, nil
}

var _ keys.Store = (*Store)(nil) // and expiry.Store: storetest.Run holds it to both
