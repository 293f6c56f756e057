package pebblestore_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/keydeletion/service/shared/pebblestore"
	"github.com/keydeletion/service/shared/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		st, err := pebblestore.Open(t.TempDir(), slog.New(slog.NewJSONHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
