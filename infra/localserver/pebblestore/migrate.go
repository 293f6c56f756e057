package pebblestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/keydeletion/service/shared/keyitem"
)

// LegacyFile is the embedded store of earlier versions: one bbolt file in
// the data folder. Open migrates it.
const LegacyFile = "keys.db"

// legacyBuckets maps each bucket of the bbolt store to the kind its items
// become. The keys are the same bytes after the kind, and so are the values
// (keyitem JSON), but for the outbox, whose values name a trail key.
var legacyBuckets = map[string]byte{
	"keys": kindKey, "aliases": kindAlias, "numbers": kindNumber, "tombstones": kindTombstone,
	"unreported": kindUnrep, "due": kindDue, "trail": kindTrail, "outbox": kindOutbox,
}

// migrateLegacy copies a bbolt store written by an earlier version into db
// in one synced batch, then renames the file to keys.db.migrated-<time>, so
// the data folder is migrated once and the old file kept. Open runs it
// before anything else can write, so repeating it after a crash between the
// copy and the rename writes the same items again.
func migrateLegacy(dataDir string, db *pebble.DB) (int, error) {
	path := filepath.Join(dataDir, LegacyFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	old, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return 0, fmt.Errorf("%s is in use by another process", path)
		}
		return 0, fmt.Errorf("%s: %w (an earlier version's store, which this version migrates)", path, err)
	}
	b := db.NewBatch()
	defer b.Close()
	n := 0
	err = old.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bucket *bolt.Bucket) error {
			kind, ok := legacyBuckets[string(name)]
			if !ok {
				return fmt.Errorf("%s: unknown bucket %q", path, name)
			}
			return bucket.ForEach(func(k, v []byte) error {
				as := kind
				if kind == kindOutbox {
					// The outbox held the trail's key; it now holds the record.
					if v = tx.Bucket([]byte("trail")).Get(v); v == nil {
						return nil // the record's retention ended first
					}
					as = kindTrail
				}
				v, err := convertLegacy(as, v)
				if err != nil {
					return fmt.Errorf("%s: bucket %s, item %q: %w", path, name, k, err)
				}
				n++
				return b.Set(append([]byte{kind}, k...), v, nil)
			})
		})
	})
	if closeErr := old.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return 0, fmt.Errorf("migrate %s: %w", path, err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("migrate %s: %w", path, err)
	}
	done := fmt.Sprintf("%s.migrated-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, done); err != nil {
		return 0, fmt.Errorf("migrate %s: %w", path, err)
	}
	return n, syncDir(dataDir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// convertLegacy turns a bbolt store's value into this store's: records
// from JSON to the binary encoding.
func convertLegacy(kind byte, v []byte) ([]byte, error) {
	switch kind {
	case kindKey:
		var r keyitem.Key
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, err
		}
		return encodeKey(nil, r.Key()), nil
	case kindTombstone:
		var r keyitem.Tombstone
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, err
		}
		return encodeTombstone(nil, r.Tombstone()), nil
	case kindTrail:
		var r keyitem.Record
		if err := json.Unmarshal(v, &r); err != nil {
			return nil, err
		}
		return encodeRecord(nil, r.Record(), r.ExpiresAt), nil
	}
	return v, nil
}
