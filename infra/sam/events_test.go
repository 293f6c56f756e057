//go:build sam

package sam_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/eventbridgelocal"
	"github.com/keydeletion/service/infra/eventgen"
	"github.com/keydeletion/service/shared/dynamostore"
)

// Every event of events/, through `sam local invoke` in a container, with
// the outcome events/manifest.json states: API events signed as the
// manifest says, stream events (TTL removals, a redelivery, a new audit
// record) for the expire function, the sweep's scheduled event; the events
// each publishes reach a local EventBridge endpoint on the bridge.
func TestEveryEventThroughSAMLocalInvoke(t *testing.T) {
	for _, env := range []string{"SAM_TEMPLATE", "SAM_ENV_VARS", "SAM_ARCH", "SAM_GATEWAY", "SAM_CLI"} {
		if os.Getenv(env) == "" {
			t.Fatalf("%s is not set: run make sam-test (infra/sam/sandbox.sh)", env)
		}
	}
	ctx := context.Background()
	m, err := eventgen.Load("../../events")
	if err != nil {
		t.Fatal(err)
	}
	all, err := devclient.Load(os.Getenv("CREDENTIALS_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodblocal.Client("http://127.0.0.1:8000")
	table := "sam-events-" + time.Now().Format("150405")
	if err := dynamostore.EnsureTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	// TTL off: DynamoDB Local's TTL would race the sweep's backstop, which
	// is what the sweep event tests (TTL late by days).
	if err := dynamodblocal.DisableTTL(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	st := dynamostore.New(db, table)
	gateway := os.Getenv("SAM_GATEWAY")
	bus, err := eventbridgelocal.StartOn(gateway + ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()

	// The functions' environment: the sandbox's, on this test's table, with
	// the events going to the local endpoint.
	envFile := invokeEnv(t, map[string]string{"TABLE_NAME": table, "EVENTBRIDGE_ENDPOINT": bus.URL, "EVENT_BUS_NAME": "sam-test-bus"})
	invoke := func(t *testing.T, function string, event []byte) []byte {
		return samInvoke(t, envFile, function, event)
	}

	names := make([]string, 0, len(m.Events))
	for name := range m.Events {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := m.Events[name]
		t.Run(name, func(t *testing.T) {
			if err := dynamodblocal.Clear(ctx, db, table); err != nil {
				t.Fatal(err)
			}
			published := len(bus.Entries())
			raw, err := m.Event(name)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case want.IsStream():
				if err := m.SeedRemovedByTTL(ctx, st, dynamodblocal.KeyRemover(db, table)); err != nil {
					t.Fatal(err)
				}
				if want.After != "" {
					first, err := m.Event(want.After)
					if err != nil {
						t.Fatal(err)
					}
					invoke(t, want.Function, first)
				}
				var resp events.DynamoDBEventResponse
				if out := invoke(t, want.Function, raw); json.Unmarshal(out, &resp) != nil {
					t.Fatalf("response %s", out)
				}
				var failed []string
				for _, f := range resp.BatchItemFailures {
					failed = append(failed, f.ItemIdentifier)
				}
				if strings.Join(failed, ",") != strings.Join(want.Failures, ",") {
					t.Errorf("batch item failures %v, want %v", failed, want.Failures)
				}
				_, err := st.Tombstone(ctx, eventgen.Owner, m.KeyID)
				if finalized := err == nil; finalized != (len(want.Tombstones) > 0) {
					t.Errorf("key finalized=%v (%v), want %v", finalized, err, want.Tombstones)
				}
				_, err = st.ResolveAlias(ctx, eventgen.Owner, eventgen.StreamAlias)
				if released := err != nil; released != want.AliasReleased {
					t.Errorf("alias released=%v, want %v", released, want.AliasReleased)
				}
			case want.IsSweep():
				if err := m.Seed(ctx, st, want.Seed); err != nil {
					t.Fatal(err)
				}
				invoke(t, want.Function, raw)
				for _, id := range want.Tombstones {
					if tomb, err := st.Tombstone(ctx, eventgen.Owner, id); err != nil || tomb.ReportedAt.IsZero() {
						t.Errorf("key %s after the sweep: %+v %v", id, tomb, err)
					}
				}
			default:
				if err := m.Seed(ctx, st, want.Seed); err != nil {
					t.Fatal(err)
				}
				signed, err := m.Signed(name, all, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				var resp events.APIGatewayV2HTTPResponse
				if out := invoke(t, want.Function, signed); json.Unmarshal(out, &resp) != nil {
					t.Fatalf("response %s", out)
				}
				if resp.StatusCode != want.Status || (want.Code != "" && !strings.Contains(resp.Body, `"`+want.Code+`"`)) {
					t.Errorf("got %d %s, want %d %s", resp.StatusCode, resp.Body, want.Status, want.Code)
				}
			}
			var got []string
			for _, e := range bus.Entries()[published:] {
				got = append(got, e.DetailType)
			}
			if !slices.Equal(got, want.Published) {
				t.Errorf("published %q, want %q", got, want.Published)
			}
		})
	}
}

// logicalID is the template's name of functions/<dir>: ScheduleFunction.
func logicalID(dir string) string {
	r := []rune(dir)
	r[0] = unicode.ToUpper(r[0])
	return string(r) + "Function"
}

// invokeEnv writes the functions' environment for sam local invoke: the
// sandbox's (SAM_ENV_VARS), with overrides.
func invokeEnv(tb testing.TB, overrides map[string]string) string {
	tb.Helper()
	var doc map[string]map[string]string
	raw, err := os.ReadFile(os.Getenv("SAM_ENV_VARS"))
	if err != nil || json.Unmarshal(raw, &doc) != nil {
		tb.Fatalf("env vars %s: %v", os.Getenv("SAM_ENV_VARS"), err)
	}
	for k, v := range overrides {
		doc["Parameters"][k] = v
	}
	file := filepath.Join(tb.TempDir(), "env.json")
	raw, _ = json.Marshal(doc)
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		tb.Fatal(err)
	}
	return file
}

// samInvoke runs `sam local invoke` of functions/<function> with event and
// returns the function's answer (the last line SAM prints).
func samInvoke(tb testing.TB, envFile, function string, event []byte) []byte {
	tb.Helper()
	file := filepath.Join(filepath.Dir(envFile), "event.json")
	if err := os.WriteFile(file, event, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Getenv("SAM_CLI"), "local", "invoke", logicalID(function), "--template", os.Getenv("SAM_TEMPLATE"),
		"--event", file, "--env-vars", envFile, "--skip-pull-image", "--parameter-overrides", "Architecture="+os.Getenv("SAM_ARCH"),
		"--add-host", "host.docker.internal:host-gateway")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("sam local invoke %s: %v\n%s", function, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return []byte(lines[len(lines)-1])
}
