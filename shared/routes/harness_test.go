package routes_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/storetest"
	"github.com/keydeletion/service/shared/tenant"
)

const credentialsFile = "../../infra/local/credentials.json"

// The development tenants of infra/local/credentials.json: dev-a acts in
// most tests, dev-b is the other customer.
var (
	directory = mustLoad(tenant.LoadFile(credentialsFile))
	creds     = mustLoad(devclient.Load(credentialsFile))
	def, _    = directory.ByID("dev-a")
	projectID = def.HuaweiProjectIDs[0]
)

func mustLoad[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

type env struct {
	url   string
	store keys.Store
	clock *storetest.Clock
}

// eachStore runs fn once on the embedded store and once on DynamoDB Local,
// with a server serving every route.
// newStores makes a fresh store of each kind for a test.
var newStores = map[string]func(t *testing.T) keys.Store{
	"bolt": func(t *testing.T) keys.Store {
		st, err := pebblestore.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	},
	"dynamodb": func(t *testing.T) keys.Store {
		db, table := dynamodblocal.NewTable(t)
		return dynamostore.New(db, table)
	},
}

func eachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, name := range []string{"bolt", "dynamodb"} {
		t.Run(name, func(t *testing.T) {
			st := newStores[name](t)
			clock := storetest.NewClock(storetest.RealNow())
			log := slog.New(slog.NewJSONHandler(io.Discard, nil))
			srv := httptest.NewServer(routes.Handler(keys.NewService(st, clock.Now), directory, log))
			t.Cleanup(srv.Close)
			fn(t, &env{url: srv.URL, store: st, clock: clock})
		})
	}
}
