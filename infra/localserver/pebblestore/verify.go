package pebblestore

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"

	"github.com/keydeletion/service/shared/keys"
)

// ErrInUse is a data folder whose store another process has open.
var ErrInUse = errors.New("is in use by another process")

// ErrCorrupt is a store whose files do not read back as they were written.
var ErrCorrupt = errors.New("is damaged")

// openError says what a failed pebble.Open means to whoever started the
// server: another process holds the folder's lock, or a file is damaged.
func openError(dir string, err error) error {
	if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) || strings.Contains(err.Error(), "lock held by current process") {
		return fmt.Errorf("%s %w (a second server on the same data folder?): %v", dir, ErrInUse, err)
	}
	if pebble.IsCorruptionError(err) {
		return fmt.Errorf("%s %w: %v", dir, ErrCorrupt, err)
	}
	return fmt.Errorf("pebblestore: open %s: %w", dir, err)
}

// verify reads every item of the store and decodes the ones it has a codec
// for, so that a damaged file is refused at start, naming the folder, rather
// than found by a request. Pebble checks each block's checksum as it reads.
// It counts the keys it reads into the tally.
func (s *Store) verify(dir string) (items int, err error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		items++
		k, v := it.Key(), it.Value()
		if len(k) == 0 {
			return items, fmt.Errorf("%s %w: an empty key", dir, ErrCorrupt)
		}
		var derr error
		switch k[0] {
		case kindKey:
			var key *keys.Key
			if key, derr = decodeKey(v); derr == nil {
				s.tally.apply([]keys.TallyDelta{keys.Created(*key)})
			}
		case kindTombstone:
			_, derr = decodeTombstone(v)
		case kindTrail, kindOutbox:
			_, derr = decodeRecord(v)
		case kindFreeze, kindGuard: // a trip is stored as a freeze is
			_, derr = decodeFreeze(v, "")
		case kindAlias, kindNumber, kindUnrep, kindDue:
		default:
			derr = fmt.Errorf("an item of unknown kind %q", k[0])
		}
		if derr != nil {
			return items, fmt.Errorf("%s %w: item %q: %v", dir, ErrCorrupt, k, derr)
		}
	}
	if err := it.Error(); err != nil {
		if pebble.IsCorruptionError(err) {
			return items, fmt.Errorf("%s %w: %v", dir, ErrCorrupt, err)
		}
		return items, fmt.Errorf("pebblestore: read %s: %w", dir, err)
	}
	return items, nil
}
