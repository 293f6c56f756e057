package routes_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/keydeletion/service/infra/eventgen"
	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/storetest"
	"github.com/keydeletion/service/shared/validation"
)

const eventsDir = "../../events"

func readManifest(t *testing.T) eventgen.Manifest {
	t.Helper()
	m, err := eventgen.Load(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The actions each API function serves, by directory name.
var functions = routes.APIFunctions

// Every API event in events/, fed to its function's handler through the
// api-proxy adapter exactly as the Lambda main does, on both stores.
func TestEventsThroughAPIProxy(t *testing.T) {
	m := readManifest(t)
	if validation.KeyTagFor(m.KeyID) != m.KeyTag {
		t.Fatalf("events/ key tag %s is not the tag of %s: regenerate events", m.KeyTag, m.KeyID)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, storeName := range []string{"bolt", "dynamodb"} {
		t.Run(storeName, func(t *testing.T) {
			ran := 0
			for name, want := range m.Events {
				actions, ok := functions[want.Function]
				if !ok {
					continue // stream events: see the expire tests
				}
				ran++
				t.Run(name, func(t *testing.T) {
					st := newStores[storeName](t)
					svc := keys.NewService(st, storetest.RealNow)
					if err := m.Seed(context.Background(), st, want.Seed); err != nil {
						t.Fatal(err)
					}
					raw, err := m.Signed(name, creds, time.Now())
					if err != nil {
						t.Fatal(err)
					}
					var ev events.APIGatewayV2HTTPRequest
					if err := json.Unmarshal(raw, &ev); err != nil {
						t.Fatal(err)
					}
					adapter := httpadapter.NewV2(routes.Handler(svc, directory, log, actions...))
					lc := &lambdacontext.LambdaContext{AwsRequestID: "lambda-" + name}
					resp, err := adapter.ProxyWithContext(lambdacontext.NewContext(context.Background(), lc), ev)
					if err != nil {
						t.Fatalf("adapter: %v", err)
					}
					if resp.StatusCode != want.Status {
						t.Fatalf("status %d, want %d: %s", resp.StatusCode, want.Status, resp.Body)
					}
					if want.Code != "" && !strings.Contains(resp.Body, `"`+want.Code+`"`) {
						t.Fatalf("body %s lacks error code %s", resp.Body, want.Code)
					}
					if id := resp.Headers["X-Amzn-Requestid"] + resp.Headers["X-Request-Id"]; id != lc.AwsRequestID {
						t.Fatalf("request id header %q, want the Lambda request id %q (%v)", id, lc.AwsRequestID, resp.Headers)
					}
				})
			}
			if ran < 30 {
				t.Fatalf("only %d API events ran", ran)
			}
		})
	}
}

// Every route each function serves has at least one event in events/.
func TestEveryRouteHasAnEvent(t *testing.T) {
	m := readManifest(t)
	covered := map[string]bool{}
	for name, want := range m.Events {
		raw, err := m.Event(name)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			RouteKey string `json:"routeKey"`
		}
		json.Unmarshal(raw, &ev)
		covered[want.Function+" "+ev.RouteKey] = true
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc := keys.NewService(nil, nil)
	for fn, actions := range functions {
		for _, r := range routes.Handler(svc, directory, log, actions...).Routes() {
			if r.Action == httpapi.Fallback {
				continue
			}
			key := fn + " " + r.Method + " " + strings.TrimSuffix(r.Path, "{$}")
			if !covered[key] {
				t.Errorf("no event in events/ for %s", key)
			}
		}
	}
}
