// Package teststores runs a test on each store the service runs on: the
// embedded store (the local server's) and DynamoDB Local (the functions').
package teststores

import (
	"testing"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/storetest"
)

// Each runs fn as a subtest on a fresh embedded store ("pebble") and on a
// fresh table of DynamoDB Local ("dynamodb").
func Each(t *testing.T, fn func(t *testing.T, st storetest.Store)) {
	t.Run("pebble", func(t *testing.T) {
		st, err := pebblestore.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
	t.Run("dynamodb", func(t *testing.T) {
		db, table := dynamodblocal.NewTable(t)
		fn(t, dynamostore.New(db, table))
	})
}
