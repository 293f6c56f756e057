//go:build sam

package sam_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/eventbridgelocal"
	"github.com/keydeletion/service/infra/eventgen"
	"github.com/keydeletion/service/shared/dynamostore"
)

// stage replays the events of events/ against a table of its own on the
// sandbox's DynamoDB Local: it puts the key in the state each event
// expects, readies the event (signed as the manifest says), and checks the
// function's answer and what changed against the manifest. The functions'
// events go to a local EventBridge endpoint on the bridge.
type stage struct {
	m       eventgen.Manifest
	creds   map[string]devclient.Creds
	db      *dynamodb.Client
	table   string
	st      *dynamostore.Store
	bus     *eventbridgelocal.Server
	envFile string // the functions' environment, on this table and bus
	seen    int    // events the bus had when the last event was readied
}

// invoker runs a function with an event and returns its answer.
type invoker func(tb testing.TB, function string, event []byte) []byte

func newStage(tb testing.TB) *stage {
	tb.Helper()
	for _, env := range []string{"SAM_TEMPLATE", "SAM_ENV_VARS", "SAM_ARCH", "SAM_GATEWAY", "SAM_CLI"} {
		if os.Getenv(env) == "" {
			tb.Fatalf("%s is not set: run make sam-test (infra/sam/sandbox.sh)", env)
		}
	}
	ctx := context.Background()
	m, err := eventgen.Load("../../events")
	if err != nil {
		tb.Fatal(err)
	}
	creds, err := devclient.Load(os.Getenv("CREDENTIALS_FILE"))
	if err != nil {
		tb.Fatal(err)
	}
	s := &stage{m: m, creds: creds, db: dynamodblocal.Client("http://127.0.0.1:8000")}
	s.table = "sam-events-" + strings.ReplaceAll(tb.Name(), "/", "-") + "-" + time.Now().Format("150405")
	if err := dynamostore.EnsureTable(ctx, s.db, s.table); err != nil {
		tb.Fatal(err)
	}
	// TTL off: DynamoDB Local's TTL would race the sweep's backstop, which
	// is what the sweep event tests (TTL late by days).
	if err := dynamodblocal.DisableTTL(ctx, s.db, s.table); err != nil {
		tb.Fatal(err)
	}
	s.st = dynamostore.New(s.db, s.table)
	if s.bus, err = eventbridgelocal.StartOn(os.Getenv("SAM_GATEWAY") + ":0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.bus.Close() })
	s.envFile = invokeEnv(tb, map[string]string{"TABLE_NAME": s.table, "EVENTBRIDGE_ENDPOINT": s.bus.URL, "EVENT_BUS_NAME": "sam-test-bus"})
	return s
}

// ready empties the table, seeds what event name expects (invoking its
// prerequisite event first, if it has one) and returns the event to send.
func (s *stage) ready(tb testing.TB, name string, invoke invoker) []byte {
	tb.Helper()
	ctx := context.Background()
	want := s.m.Events[name]
	if err := dynamodblocal.Clear(ctx, s.db, s.table); err != nil {
		tb.Fatal(err)
	}
	raw, err := s.m.Event(name)
	if err != nil {
		tb.Fatal(err)
	}
	switch {
	case want.IsStream():
		if err := s.m.SeedRemovedByTTL(ctx, s.st, dynamodblocal.KeyRemover(s.db, s.table)); err != nil {
			tb.Fatal(err)
		}
		if want.After != "" {
			first, err := s.m.Event(want.After)
			if err != nil {
				tb.Fatal(err)
			}
			invoke(tb, want.Function, first)
		}
	case want.IsSweep():
		if err := s.m.Seed(ctx, s.st, want.Seed); err != nil {
			tb.Fatal(err)
		}
	default:
		if err := s.m.Seed(ctx, s.st, want.Seed); err != nil {
			tb.Fatal(err)
		}
		if raw, err = s.m.Signed(name, s.creds, time.Now()); err != nil {
			tb.Fatal(err)
		}
	}
	s.seen = len(s.bus.Entries())
	return raw
}

// check compares the function's answer to event name, and what it changed
// and published, with the manifest.
func (s *stage) check(tb testing.TB, name string, out []byte) {
	tb.Helper()
	ctx := context.Background()
	want := s.m.Events[name]
	switch {
	case want.IsStream():
		var resp events.DynamoDBEventResponse
		if json.Unmarshal(out, &resp) != nil {
			tb.Fatalf("response %s", out)
		}
		var failed []string
		for _, f := range resp.BatchItemFailures {
			failed = append(failed, f.ItemIdentifier)
		}
		if strings.Join(failed, ",") != strings.Join(want.Failures, ",") {
			tb.Errorf("batch item failures %v, want %v", failed, want.Failures)
		}
		_, err := s.st.Tombstone(ctx, eventgen.Owner, s.m.KeyID)
		if finalized := err == nil; finalized != (len(want.Tombstones) > 0) {
			tb.Errorf("key finalized=%v (%v), want %v", finalized, err, want.Tombstones)
		}
		_, err = s.st.ResolveAlias(ctx, eventgen.Owner, eventgen.StreamAlias)
		if released := err != nil; released != want.AliasReleased {
			tb.Errorf("alias released=%v, want %v", released, want.AliasReleased)
		}
	case want.IsSweep():
		for _, id := range want.Tombstones {
			if tomb, err := s.st.Tombstone(ctx, eventgen.Owner, id); err != nil || tomb.ReportedAt.IsZero() {
				tb.Errorf("key %s after the sweep: %+v %v", id, tomb, err)
			}
		}
	default:
		var resp events.APIGatewayV2HTTPResponse
		if json.Unmarshal(out, &resp) != nil {
			tb.Fatalf("response %s", out)
		}
		if resp.StatusCode != want.Status || (want.Code != "" && !strings.Contains(resp.Body, `"`+want.Code+`"`)) {
			tb.Errorf("got %d %s, want %d %s", resp.StatusCode, resp.Body, want.Status, want.Code)
		}
	}
	var got []string
	for _, e := range s.bus.Entries()[s.seen:] {
		got = append(got, e.DetailType)
	}
	if !slices.Equal(got, want.Published) {
		tb.Errorf("published %q, want %q", got, want.Published)
	}
}
