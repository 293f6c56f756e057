package boltstore_test

import (
	"testing"

	"github.com/keydeletion/service/shared/boltstore"
	"github.com/keydeletion/service/shared/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		st, err := boltstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
