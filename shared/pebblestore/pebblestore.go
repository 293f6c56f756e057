// Package pebblestore is the embedded key store: a Pebble database (an LSM
// tree with a write-ahead log) in a data folder. Concurrent writers share
// one commit: one committer goroutine evaluates every waiting write's
// condition against the state as of its predecessors, puts them in one
// batch, and commits it with one write-ahead-log append and one fdatasync
// (Pebble recycles its log files, so the sync has no file metadata to
// flush). Every acknowledged write has been synced, and readers see only
// synced state.
package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Dir is the Pebble database's folder inside the data folder.
const Dir = "pebble"

// maxGroup bounds how many writes share one commit.
const maxGroup = 512

// Store is the embedded key store.
type Store struct {
	db     *pebble.DB
	writes chan *write
	wg     sync.WaitGroup
	// closing is set, under the write lock, before writes is closed: a
	// writer queues only under the read lock and only while it is unset.
	mu      sync.RWMutex
	closing bool
	once    sync.Once
	view    atomic.Pointer[view] // the last synced state
	stats   struct {
		sync.Mutex
		commits, writes int64
	}
	retention time.Duration
}

// ErrClosed is a write that reached the store after Close.
var ErrClosed = errors.New("pebblestore: closed")

// write is one caller's part of a group commit: fn reads through and writes
// into the group's batch. fn must leave the batch untouched when it reports
// a refusal through its own result and returns nil; a non-nil error fails
// the whole group, which is then retried write by write.
type write struct {
	fn   func(*txn) error
	done chan error
}

// view is a snapshot of synced state, shared by readers until a newer one
// replaces it and the last reader lets go.
type view struct {
	snap *pebble.Snapshot
	refs atomic.Int32 // 1 while current, plus one per reader
}

// Open opens (creating if needed) the store in dataDir/pebble.
func Open(dataDir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	dir := filepath.Join(dataDir, Dir)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("pebblestore: %w", err)
	}
	db, err := pebble.Open(dir, &pebble.Options{
		Logger: pebbleLogger{log},
		// Writes are synced by the commit that carries them; Pebble's own
		// background syncs of data files stay on.
		FormatMajorVersion: pebble.FormatNewest,
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: %w", dir, err)
	}
	if n, err := migrateLegacy(dataDir, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("pebblestore: %w", err)
	} else if n > 0 {
		log.Info("migrated the earlier version's store", "from", filepath.Join(dataDir, LegacyFile), "to", dir, "items", n)
	}
	s := &Store{db: db, writes: make(chan *write, maxGroup)}
	s.publish()
	s.wg.Add(1)
	go s.committer()
	return s, nil
}

// SetRetention keeps audit records written from now on for d (0: for good).
func (s *Store) SetRetention(d time.Duration) { s.retention = d }

// Close refuses new writes (ErrClosed), lets the committer commit every
// write already queued, and closes the database.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closing = true
		close(s.writes)
		s.mu.Unlock()
	})
	s.wg.Wait()
	if v := s.view.Swap(nil); v != nil {
		v.release()
	}
	return s.db.Close()
}

// CommitStats reports how many commits (syncs) carried how many writes.
func (s *Store) CommitStats() (commits, writes int64) {
	s.stats.Lock()
	defer s.stats.Unlock()
	return s.stats.commits, s.stats.writes
}

// publish makes the database's current state the readers' view. The
// committer calls it after each synced commit, so readers never see a write
// before it is durable.
func (s *Store) publish() {
	v := &view{snap: s.db.NewSnapshot()}
	v.refs.Store(1)
	if old := s.view.Swap(v); old != nil {
		old.release()
	}
}

// acquire returns the current view, held until release.
func (s *Store) acquire() (*view, error) {
	for {
		v := s.view.Load()
		if v == nil {
			return nil, ErrClosed
		}
		r := v.refs.Load()
		if r > 0 && v.refs.CompareAndSwap(r, r+1) {
			return v, nil
		}
		// Replaced and let go meanwhile: take the newer one.
	}
}

func (v *view) release() {
	if v.refs.Add(-1) == 0 {
		v.snap.Close()
	}
}

// read runs fn on the synced state.
func (s *Store) read(fn func(r pebble.Reader) error) error {
	v, err := s.acquire()
	if err != nil {
		return err
	}
	defer v.release()
	return fn(v.snap)
}

// committer takes every write waiting when it becomes free and commits
// them in one batch and one sync.
func (s *Store) committer() {
	defer s.wg.Done()
	for first := range s.writes {
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
	err := s.commitOnce(group)
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

func (s *Store) commitOnce(group []*write) error {
	b := s.db.NewIndexedBatch()
	defer b.Close()
	t := &txn{b: b}
	for _, w := range group {
		if err := w.fn(t); err != nil {
			return err
		}
	}
	if b.Empty() {
		return nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebblestore: commit: %w", err)
	}
	s.publish()
	return nil
}

// update queues fn for the next group commit and waits for it.
func (s *Store) update(ctx context.Context, fn func(*txn) error) error {
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

// pebbleLogger sends Pebble's own messages to the JSON log.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble", "message", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble", "message", fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error("pebble", "message", fmt.Sprintf(format, args...))
	os.Exit(1)
}
