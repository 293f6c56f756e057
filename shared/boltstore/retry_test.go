package boltstore

import (
	"context"
	"errors"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A group whose transaction fails because of one write is retried write by
// write: only that write sees the error, and the others it shared the group
// with are committed.
func TestFailedGroupIsRetriedOneByOne(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	put := func(key string) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket(bucketKeys).Put([]byte(key), []byte("v")) }
	}
	broken := errors.New("this write cannot be applied")

	// Hold the committer inside a commit while the group queues behind it.
	inside, release := make(chan struct{}), make(chan struct{})
	blocker := make(chan error, 1)
	go func() {
		blocker <- st.update(ctx, func(tx *bolt.Tx) error {
			close(inside)
			<-release
			return put("blocker")(tx)
		})
	}()
	<-inside
	c0, _ := st.CommitStats()
	fns := []func(*bolt.Tx) error{put("a"), func(*bolt.Tx) error { return broken }, put("c")}
	results := make([]chan error, len(fns))
	for i, fn := range fns {
		results[i] = make(chan error, 1)
		go func() { results[i] <- st.update(ctx, fn) }()
	}
	for deadline := time.Now().Add(10 * time.Second); len(st.writes) < len(fns); {
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
	// The group of three failed as one transaction, then ran as three.
	if c1, _ := st.CommitStats(); c1-c0 != 1+3 {
		t.Errorf("%d commits after the blocker, want 1 (blocker) + 3 (retried one by one)", c1-c0)
	}
	st.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		if b.Get([]byte("a")) == nil || b.Get([]byte("c")) == nil {
			t.Error("the good writes of the failed group were not committed")
		}
		return nil
	})
}
