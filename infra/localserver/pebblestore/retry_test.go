package pebblestore

import (
	"github.com/cockroachdb/pebble/v2"

	"context"
	"errors"
	"testing"
	"time"
)

// A group whose commit fails because of one write is retried write by
// write: only that write sees the error, and the others it shared the group
// with are committed.
func TestFailedGroupIsRetriedOneByOne(t *testing.T) {
	st, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	put := func(key string) func(*txn) error {
		return func(t *txn) error { return t.set([]byte(key), []byte("v")) }
	}
	broken := errors.New("this write cannot be applied")

	// Hold the committer inside a commit while the group queues behind it.
	inside, release := make(chan struct{}), make(chan struct{})
	blocker := make(chan error, 1)
	go func() {
		blocker <- st.update(ctx, func(t *txn) error {
			close(inside)
			<-release
			return put("blocker")(t)
		})
	}()
	<-inside
	c0, w0 := st.CommitStats()
	fns := []func(*txn) error{put("a"), func(*txn) error { return broken }, put("c")}
	results := make([]chan error, len(fns))
	for i, fn := range fns {
		results[i] = make(chan error, 1)
		go func() { results[i] <- st.update(ctx, fn) }()
	}
	for deadline := time.Now().Add(10 * time.Second); st.queued() < len(fns); {
		if time.Now().After(deadline) {
			t.Fatal("the writes did not queue")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, broken, nil} {
		if err := <-results[i]; !errors.Is(err, want) {
			t.Errorf("write %d: %v, want %v", i, err, want)
		}
	}
	// The group of three failed as one, then ran one by one: the blocker
	// and the two good writes each synced (the failed one wrote nothing).
	// (Pebble counts a sync just after it wakes the writers it carried.)
	c1, w1 := st.CommitStats()
	for deadline := time.Now().Add(5 * time.Second); c1-c0 < 3 && time.Now().Before(deadline); c1, w1 = st.CommitStats() {
		time.Sleep(time.Millisecond)
	}
	if c1-c0 != 1+2 || w1-w0 != 1+2 {
		t.Errorf("%d syncs and %d writes after the blocker, want 1 (blocker) + 2 (the good writes, one by one)", c1-c0, w1-w0)
	}
	for _, k := range []string{"a", "c"} {
		if v, err := get(st.db, []byte(k)); err != nil || v == nil {
			t.Errorf("the good write %s of the failed group was not committed: %v", k, err)
		}
	}
}

// Readers see a write only once it is synced: the view is the state as of
// the last synced commit.
func TestReadersSeeOnlySyncedState(t *testing.T) {
	st, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.update(ctx, func(t *txn) error { return t.set([]byte("x"), []byte("1")) }); err != nil {
		t.Fatal(err)
	}
	// Commit "2" to the database behind the view's back, as a commit whose
	// sync has not returned yet would be: the view still says "1".
	if err := st.db.Set([]byte("x"), []byte("2"), nil); err != nil {
		t.Fatal(err)
	}
	var seen []byte
	st.read(func(r pebble.Reader) error { seen, err = get(r, []byte("x")); return err })
	if string(seen) != "1" {
		t.Fatalf("readers saw %q before it was published", seen)
	}
	st.publish()
	st.read(func(r pebble.Reader) error { seen, err = get(r, []byte("x")); return err })
	if string(seen) != "2" {
		t.Fatalf("readers saw %q after it was published", seen)
	}
}

// queued is how many writes wait for a commit.
func (s *Store) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}
