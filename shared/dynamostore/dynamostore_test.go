package dynamostore_test

import (
	"testing"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keys.Store {
		db, table := dynamodblocal.NewTable(t)
		return dynamostore.New(db, table)
	})
}
