package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keydeletion/service/shared/keyrecord"
	"github.com/keydeletion/service/shared/keys"
)

// trailKey orders an owner's records by time, then id.
func trailKey(owner string, at time.Time, id string) []byte {
	b := make([]byte, 0, len(owner)+1+8+len(id))
	b = append(b, owner...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(max(at.UnixMilli(), 0)))
	return append(b, id...)
}

// outboxKey orders unpublished records by time across owners.
func outboxKey(owner string, at time.Time, id string) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(at.UnixMilli()))
	return append(append(append(b, owner...), 0), id...)
}

// putTrail writes r to the trail, and to the outbox until its event is published.
func (s *Store) putTrail(tx *bolt.Tx, r keys.Record) error {
	raw, err := json.Marshal(keyrecord.FromRecord(r, s.retention))
	if err != nil {
		return err
	}
	tk := trailKey(r.Owner, r.At, r.ID)
	if err := tx.Bucket(bucketTrail).Put(tk, raw); err != nil {
		return err
	}
	return tx.Bucket(bucketOutbox).Put(outboxKey(r.Owner, r.At, r.ID), tk)
}

func decodeRecord(raw []byte) (keyrecord.Record, error) {
	var r keyrecord.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("boltstore: decode audit record: %w", err)
	}
	return r, nil
}

// Records returns a page of owner's audit trail (records whose retention
// has ended are not returned, even before ExpireRecords removes them).
func (s *Store) Records(ctx context.Context, owner string, q keys.TrailQuery, now time.Time) (keys.TrailPage, error) {
	var page keys.TrailPage
	prefix := []byte(owner + "\x00")
	start := trailKey(owner, q.From, "")
	if q.After != "" {
		start = append(trailKey(owner, q.AfterAt, q.After), 0) // the first key after it
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTrail).Cursor()
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			r, err := decodeRecord(v)
			if err != nil {
				return err
			}
			rec := r.Record()
			if !q.To.IsZero() && !rec.At.Before(q.To) {
				return nil
			}
			if r.ExpiresAt != 0 && r.ExpiresAt <= now.Unix() || q.KeyID != "" && rec.KeyID != q.KeyID {
				continue
			}
			if len(page.Records) == q.Limit {
				page.More = true
				return nil
			}
			page.Records = append(page.Records, rec)
		}
		return nil
	})
	return page, err
}

// Unpublished implements expiry.Store with the outbox: records written at
// or before before whose event is not yet published, oldest first.
func (s *Store) Unpublished(ctx context.Context, before time.Time, limit int) ([]keys.Record, error) {
	var out []keys.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		trail := tx.Bucket(bucketTrail)
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			if int64(binary.BigEndian.Uint64(k[:8])) > before.UnixMilli() {
				break
			}
			raw := trail.Get(v)
			if raw == nil {
				continue // its retention ended first
			}
			r, err := decodeRecord(raw)
			if err != nil {
				return err
			}
			out = append(out, r.Record())
		}
		return nil
	})
	return out, err
}

// MarkPublished implements expiry.Store: r leaves the outbox.
func (s *Store) MarkPublished(ctx context.Context, r keys.Record) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).Delete(outboxKey(r.Owner, r.At, r.ID))
	})
}

// MarkReminded implements expiry.Store.
func (s *Store) MarkReminded(ctx context.Context, k keys.Key, offset time.Duration) error {
	var refused error
	err := s.update(ctx, func(tx *bolt.Tx) error {
		refused = nil
		cur, err := getRecord(tx, k.Owner, k.ID)
		if err != nil {
			return err
		}
		if cur == nil || cur.State != keys.PendingDeletion || !cur.DeleteAt.Equal(k.DeleteAt) {
			refused = fmt.Errorf("boltstore: mark reminded %s: %w", k.ID, keys.ErrNotFound)
			return nil
		}
		if cur.Reminded != 0 && cur.Reminded <= offset {
			return nil
		}
		cur.Reminded = offset
		return putRecord(tx, *cur)
	})
	if err != nil {
		return err
	}
	return refused
}

// ExpireRecords implements expiry.Store: it removes the audit records whose
// retention ended at or before now (DynamoDB's TTL does this there).
func (s *Store) ExpireRecords(ctx context.Context, now time.Time) (int, error) {
	var expired [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		// An owner's records are in time order, and one retention applies
		// to all: each owner's expired records come first.
		c := tx.Bucket(bucketTrail).Cursor()
		for k, v := c.First(); k != nil; {
			r, err := decodeRecord(v)
			if err != nil {
				return err
			}
			if r.ExpiresAt != 0 && r.ExpiresAt <= now.Unix() {
				expired = append(expired, bytes.Clone(k))
				k, v = c.Next()
				continue
			}
			owner, _, _ := bytes.Cut(k, []byte{0})
			k, v = c.Seek(append(bytes.Clone(owner), 1)) // the next owner
		}
		return nil
	})
	if err != nil || len(expired) == 0 {
		return 0, err
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		for _, k := range expired {
			if err := tx.Bucket(bucketTrail).Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return len(expired), err
}
