// Package pebblestore is the embedded key store: a Pebble database (an LSM
// tree with a write-ahead log) in a data folder. Concurrent writers share
// one commit: the first writer to arrive leads; it evaluates its own and
// every write waiting behind it against the state its predecessors left,
// puts them in one batch, appends it to the write-ahead log and hands the
// lead to the next writer waiting, then waits for the one fdatasync that
// covers the batch (the log's space is reserved with its size set, so the
// sync has no inode to flush: walfile_linux.go). A lone writer commits in
// its own goroutine, with no hand-off. Every acknowledged write has been
// synced, and readers see only synced state.
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
	dto "github.com/prometheus/client_model/go"

	"github.com/keydeletion/service/shared/keys"
)

// Dir is the Pebble database's folder inside the data folder.
const Dir = "pebble"

// DefaultCacheSize is Pebble's block cache when Open is given no other. The
// cache holds only blocks that were read, so a small store never fills it:
// after the load run the server held 21 MiB of anonymous memory with 64 MiB
// of cache as with 8, and a store of 20,000 due keys was finalized faster
// with it (8,200-10,600 keys a second, against 7,200-7,800). The memtables
// are Pebble's default 4 MiB: with 32 MiB ones (and GOGC 400) the server
// held 101 MiB resident after the run (README, Performance).
const (
	DefaultCacheSize = 64 << 20
	memTableSize     = 4 << 20
)

// Option adjusts how Open opens a store.
type Option func(*openOptions)

type openOptions struct{ cacheSize int64 }

// CacheSize makes Pebble's block cache n bytes.
func CacheSize(n int64) Option { return func(o *openOptions) { o.cacheSize = n } }

// maxGroup bounds how many writes share one commit.
const maxGroup = 512

// Store is the embedded key store.
type Store struct {
	db *pebble.DB

	mu      sync.Mutex
	queue   []*write // writes waiting for a commit, in arrival order
	leading bool     // a writer is applying a group; the queue waits for it
	tail    *applied // the last group applied (the leader's alone to touch)
	closing bool     // set by Close: no write joins the queue after it
	pending sync.WaitGroup

	view  atomic.Pointer[view] // the last synced state
	stats struct {
		sync.Mutex
		writes int64
	}
	retention time.Duration
	tally     *tally
}

// ErrClosed is a write that reached the store after Close.
var ErrClosed = errors.New("pebblestore: closed")

// write is one caller's part of a group commit: fn reads through and writes
// into the group's batch. fn must leave the batch untouched when it reports
// a refusal through its own result and returns nil; a non-nil error fails
// the whole group, which is then retried write by write.
type write struct {
	fn   func(*txn) error
	done chan error // the commit's result, or errLead
}

// errLead tells a waiting writer that it leads the next commit.
var errLead = errors.New("pebblestore: lead the next commit")

// view is a snapshot of synced state, shared by readers until a newer one
// replaces it and the last reader lets go.
type view struct {
	snap *pebble.Snapshot
	refs atomic.Int32 // 1 while current, plus one per reader
}

// Open opens (creating if needed) the store in dataDir/pebble.
func Open(dataDir string, log *slog.Logger, opts ...Option) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	o := openOptions{cacheSize: DefaultCacheSize}
	for _, opt := range opts {
		opt(&o)
	}
	dir := filepath.Join(dataDir, Dir)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("pebblestore: %w", err)
	}
	cache := pebble.NewCache(o.cacheSize)
	defer cache.Unref() // the database holds its own reference
	db, err := pebble.Open(dir, &pebble.Options{
		Logger:             pebbleLogger{log},
		FS:                 walFS(),
		FormatMajorVersion: pebble.FormatNewest,
		Cache:              cache,
		MemTableSize:       memTableSize,
	})
	if err != nil {
		return nil, openError(dir, err)
	}
	if n, err := migrateLegacy(dataDir, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("pebblestore: %w", err)
	} else if n > 0 {
		log.Info("migrated the earlier version's store", "from", filepath.Join(dataDir, LegacyFile), "to", dir, "items", n)
	}
	s := &Store{db: db, tally: newTally()}
	started := time.Now()
	items, err := s.verify(dir)
	if err != nil {
		db.Close()
		return nil, err
	}
	log.Debug("store verified", "dir", dir, "items", items, "ms", time.Since(started).Milliseconds())
	s.publish()
	return s, nil
}

// SetRetention keeps audit records written from now on for d (0: for good).
func (s *Store) SetRetention(d time.Duration) { s.retention = d }

// Close refuses new writes (ErrClosed), waits for every write already
// queued to be committed, and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	s.mu.Unlock()
	if already {
		return ErrClosed
	}
	s.pending.Wait()
	if v := s.view.Swap(nil); v != nil {
		v.release()
	}
	return s.db.Close()
}

// CommitStats reports how many log syncs carried how many writes.
func (s *Store) CommitStats() (syncs, writes int64) {
	st := s.SyncStats()
	return st.Syncs, st.Writes
}

// SyncStats are the write-ahead log's syncs so far.
type SyncStats struct {
	Syncs, Writes int64
	SyncTime      time.Duration // spent in fdatasync, all syncs together
}

// SyncStats reports the log syncs so far (Pebble's own count and timing).
func (s *Store) SyncStats() SyncStats {
	s.stats.Lock()
	out := SyncStats{Writes: s.stats.writes}
	s.stats.Unlock()
	var m dto.Metric
	if h := s.db.Metrics().LogWriter.FsyncLatency; h != nil && h.Write(&m) == nil && m.Histogram != nil {
		out.Syncs = int64(m.Histogram.GetSampleCount())
		out.SyncTime = time.Duration(m.Histogram.GetSampleSum())
	}
	return out
}

// MemoryStats are what the store holds in memory: Pebble allocates its
// memtables and cached blocks itself (with C's allocator when built with
// cgo), apart from Go's heap.
type MemoryStats struct {
	MemTableBytes   uint64 // the memtables, zombies included
	BlockCacheBytes int64  // the blocks the cache holds
}

// MemoryStats reports the store's memtables and cached blocks now.
func (s *Store) MemoryStats() MemoryStats {
	m := s.db.Metrics()
	return MemoryStats{MemTableBytes: m.MemTable.Size + m.MemTable.ZombieSize, BlockCacheBytes: m.BlockCache.Size}
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

// applied is a group whose batch is applied and whose sync is under way.
// done closes once it is synced, its state published and its writers told:
// the next group waits for it before telling its own, so that no answer
// rests on a write that could still be lost.
type applied struct{ done chan struct{} }

// update commits fn in a group commit and returns its result: it joins the
// queue, and either leads (no group is being applied: it applies the queue,
// itself first) or waits for a leader to commit it or to hand it the lead.
//
// A leader evaluates the group's writes against the state its predecessors
// left, applies the batch to Pebble without waiting for the sync, and hands
// the lead on at once: the next group is evaluated and its log record
// written while this one's fdatasync runs (Pebble syncs the log in order,
// and one sync covers every record written before it). Then it waits for
// its sync and for the previous group, publishes the synced state to
// readers, and answers its writers.
func (s *Store) update(ctx context.Context, fn func(*txn) error) error {
	w := &write{fn: fn, done: make(chan error, 1)}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.pending.Add(1)
	defer s.pending.Done()
	s.queue = append(s.queue, w)
	lead := !s.leading
	s.leading = true
	s.mu.Unlock()
	if !lead {
		// Once queued the write will be committed; wait for it even if the
		// caller gives up, so that an acknowledged write is always durable.
		if err := <-w.done; err != errLead {
			return err
		}
	}
	s.mu.Lock()
	n := min(len(s.queue), maxGroup)
	group := append([]*write(nil), s.queue[:n]...) // w is group[0]: the queue's head leads
	s.queue = s.queue[n:]
	s.mu.Unlock()

	prev := s.tail // touched by the leader only
	this := &applied{done: make(chan struct{})}
	s.tail = this
	g, err := s.applyGroup(group)
	if err != nil && len(group) > 1 {
		// One write failed and took the group down with it: commit each
		// alone, still leading and after the previous group, so only the
		// failing one sees its error.
		if prev != nil {
			<-prev.done
		}
		for _, gw := range group {
			g1, err1 := s.applyGroup([]*write{gw})
			s.finish(g1, nil)
			gw.done <- err1
		}
		s.handOff()
		close(this.done)
		return <-w.done
	}
	s.handOff()
	s.finish(g, prev)
	close(this.done)
	for _, gw := range group {
		gw.done <- err
	}
	return <-w.done
}

// applyGroup evaluates the group's writes into one batch and applies it without
// waiting for its sync; it returns the batch (nil if the group wrote
// nothing) and a snapshot of the state it leaves.
func (s *Store) applyGroup(group []*write) (*groupCommit, error) {
	b := s.db.NewIndexedBatch()
	t := &txn{b: b}
	for _, w := range group {
		if err := w.fn(t); err != nil {
			b.Close()
			return nil, err
		}
	}
	if b.Empty() {
		b.Close()
		return nil, nil
	}
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		return nil, fmt.Errorf("pebblestore: commit: %w", err)
	}
	s.stats.Lock()
	s.stats.writes += int64(len(group))
	s.stats.Unlock()
	return &groupCommit{b: b, snap: s.db.NewSnapshot(), deltas: t.deltas}, nil
}

// groupCommit is an applied group: its batch, whose sync may be under way,
// the state it leaves, and its changes of the tally.
type groupCommit struct {
	b      *pebble.Batch
	snap   *pebble.Snapshot
	deltas []keys.TallyDelta
}

// finish waits for the batch's sync and for the previous group, then
// publishes the snapshot the batch left and its changes of the tally (a
// group that wrote nothing has nothing to publish, but its answers still
// wait for its predecessor's).
func (s *Store) finish(g *groupCommit, prev *applied) {
	var syncErr error
	if g != nil {
		syncErr = g.b.SyncWait()
		g.b.Close()
	}
	if prev != nil {
		<-prev.done
	}
	if g == nil {
		return
	}
	snap := g.snap
	if syncErr != nil {
		// Pebble does not recover from a failed log sync: the process
		// must not go on answering as if the write were durable.
		panic(fmt.Sprintf("pebblestore: sync of the write-ahead log failed: %v", syncErr))
	}
	s.tally.apply(g.deltas)
	v := &view{snap: snap}
	v.refs.Store(1)
	if old := s.view.Swap(v); old != nil {
		old.release()
	}
}

// handOff passes the lead to the next writer waiting, if any.
func (s *Store) handOff() {
	s.mu.Lock()
	if len(s.queue) > 0 {
		s.queue[0].done <- errLead
	} else {
		s.leading = false
	}
	s.mu.Unlock()
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
