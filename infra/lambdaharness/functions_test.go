package lambdaharness_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/eventbridgelocal"
	"github.com/keydeletion/service/infra/eventgen"
	"github.com/keydeletion/service/infra/lambdaharness"
	"github.com/keydeletion/service/infra/testtool"
	"github.com/keydeletion/service/shared/dynamostore"
)

var binDir string

// allFunctions are the template's functions, each built from functions/<name>.
var allFunctions = []string{"ScheduleFunction", "CancelFunction", "KeysFunction", "AwsFunction", "ExpireFunction", "SweepFunction"}

// bus is the local EventBridge endpoint every function publishes to.
var bus *eventbridgelocal.Server

const busName = "kms-lifecycle-test"

// builds makes each function's binary once, the first time a test needs
// it, with its Makefile target (the one sam build calls), for this
// machine's architecture; a run that needs none builds none.
var builds = map[string]func() (string, error){}

func init() {
	for _, id := range allFunctions {
		builds[id] = sync.OnceValues(func() (string, error) {
			out := filepath.Join(binDir, id)
			cmd := exec.Command("make", "-s", "-C", root, "build-"+id, "ARTIFACTS_DIR="+out, "LAMBDA_GOARCH="+runtime.GOARCH)
			if msg, err := cmd.CombinedOutput(); err != nil {
				return "", fmt.Errorf("make build-%s: %v\n%s", id, err, msg)
			}
			return filepath.Join(out, "bootstrap"), nil
		})
	}
}

// binary is the path of logicalID's compiled bootstrap, built if need be.
func binary(t testing.TB, logicalID string) string {
	t.Helper()
	testtool.Slow(t, "the compiled functions")
	build, ok := builds[logicalID]
	if !ok {
		t.Fatalf("no function %s", logicalID)
	}
	path, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "functions")
	if err != nil {
		panic(err)
	}
	binDir = dir
	bus = eventbridgelocal.Start()
	code := m.Run()
	bus.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// credentialsFile is the development tenants' document, where the binaries
// read it when no Secrets Manager secret is configured (sam local, here).
func credentialsFile(t testing.TB) string {
	p, err := filepath.Abs(root + "/infra/local/credentials.json")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startFunction(t *testing.T, logicalID, table, endpoint string) *lambdaharness.Process {
	t.Helper()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"TABLE_NAME=" + table, "DYNAMODB_ENDPOINT=" + endpoint,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_LAMBDA_FUNCTION_NAME=" + logicalID, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "LOG_LEVEL=warn", "CREDENTIALS_FILE=" + credentialsFile(t),
		"EVENT_BUS_NAME=" + busName, "EVENTBRIDGE_ENDPOINT=" + bus.URL,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := lambdaharness.Start(ctx, binary(t, logicalID), env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Every event in events/ goes to the compiled binary of the function the
// template routes it to, against DynamoDB Local, and gets the answer the
// manifest expects.
func TestEventsAgainstBinaries(t *testing.T) {
	m, err := eventgen.Load(root + "/events")
	if err != nil {
		t.Fatal(err)
	}
	fns := readTemplate(t).functions(t)
	byRoute := map[string]string{} // route key -> logical id
	for id, f := range fns {
		for _, r := range f.routes {
			byRoute[r] = id
		}
	}
	creds, err := devclient.Load(credentialsFile(t))
	if err != nil {
		t.Fatal(err)
	}
	db, table := dynamodblocal.NewTable(t)
	// TTL off: DynamoDB Local's TTL would race the sweep's backstop, which
	// is what the sweep event tests (TTL late by days).
	if err := dynamodblocal.DisableTTL(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	st := dynamostore.New(db, table)
	procs := map[string]*lambdaharness.Process{}
	recorders := map[string]*lambdaharness.Recorder{} // what each function asks of DynamoDB
	proc := func(id string) *lambdaharness.Process {
		if procs[id] == nil {
			rec, err := lambdaharness.NewRecorder(dynamodblocal.Endpoint(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(rec.Close)
			recorders[id] = rec
			procs[id] = startFunction(t, id, table, rec.URL)
		}
		return procs[id]
	}
	names := make([]string, 0, len(m.Events))
	for name := range m.Events {
		names = append(names, name)
	}
	sort.Strings(names)
	ctx := context.Background()
	for _, name := range names {
		want := m.Events[name]
		t.Run(name, func(t *testing.T) {
			if err := dynamodblocal.Clear(ctx, db, table); err != nil {
				t.Fatal(err)
			}
			raw, err := m.Event(name)
			if err != nil {
				t.Fatal(err)
			}
			published := len(bus.Entries())
			defer func() {
				var got []string
				for _, e := range bus.Entries()[published:] {
					if e.EventBusName != busName {
						t.Errorf("event on bus %q, want %q", e.EventBusName, busName)
					}
					got = append(got, e.DetailType)
				}
				if !slices.Equal(got, want.Published) {
					t.Errorf("published %q, want %q", got, want.Published)
				}
			}()
			if want.IsStream() {
				checkStream(t, m, proc("ExpireFunction"), st, db, table, name, want)
				return
			}
			if want.IsSweep() {
				checkSweep(t, m, proc("SweepFunction"), st, name, want)
				return
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			id, ok := byRoute[ev.RouteKey]
			if !ok {
				t.Fatalf("the template routes no function for %s", ev.RouteKey)
			}
			if fns[id].dir != want.Function {
				t.Fatalf("the template sends %s to %s; events/manifest.json says functions/%s", ev.RouteKey, id, want.Function)
			}
			if err := m.Seed(ctx, st, want.Seed); err != nil {
				t.Fatal(err)
			}
			if raw, err = m.Signed(name, creds, time.Now()); err != nil {
				t.Fatal(err)
			}
			p := proc(id)
			res, err := p.Invoke(ctx, raw)
			if err != nil || res.Error != nil {
				t.Fatalf("invoke: %v %s\n%s", err, res.Error, p.Logs())
			}
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(res.Payload, &resp); err != nil {
				t.Fatalf("response %s: %v", res.Payload, err)
			}
			if resp.StatusCode != want.Status || (want.Code != "" && !strings.Contains(resp.Body, `"`+want.Code+`"`)) {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, resp.Body, want.Status, want.Code)
			}
			if rid := resp.Headers["X-Amzn-Requestid"] + resp.Headers["X-Request-Id"]; rid != res.RequestID {
				t.Fatalf("request id %q, want the invocation's %q", rid, res.RequestID)
			}
		})
	}
	for id, p := range procs {
		t.Logf("%s: cold start %v (process start to first invocation/next)", id, p.ColdStart.Round(100*time.Microsecond))
	}
	// Every table action a function's requests needed, and no other, is what
	// its policy grants: a missing one is AccessDenied in production, an
	// extra one more than least privilege.
	for id, f := range fns {
		rec := recorders[id]
		if rec == nil {
			t.Errorf("no event reached %s", id)
			continue
		}
		if used, granted := rec.Actions(), f.tableActions(); !slices.Equal(used, granted) {
			t.Errorf("%s: its requests needed %v; the template grants %v", id, used, granted)
		}
	}
}

func checkStream(t *testing.T, m eventgen.Manifest, p *lambdaharness.Process, st *dynamostore.Store, db *dynamodb.Client, table, name string, want eventgen.Expectation) {
	ctx := context.Background()
	if err := m.SeedRemovedByTTL(ctx, st, dynamodblocal.KeyRemover(db, table)); err != nil {
		t.Fatal(err)
	}
	invoke := func(event string) events.DynamoDBEventResponse {
		raw, err := m.Event(event)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Invoke(ctx, raw)
		if err != nil || res.Error != nil {
			t.Fatalf("invoke %s: %v %s\n%s", event, err, res.Error, p.Logs())
		}
		var resp events.DynamoDBEventResponse
		if err := json.Unmarshal(res.Payload, &resp); err != nil {
			t.Fatalf("response %s: %v", res.Payload, err)
		}
		return resp
	}
	if want.After != "" {
		invoke(want.After)
	}
	resp := invoke(name)
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if strings.Join(failed, ",") != strings.Join(want.Failures, ",") {
		t.Fatalf("batch item failures %v, want %v", failed, want.Failures)
	}
	owner := eventgen.Owner
	_, err := st.Tombstone(ctx, owner, m.KeyID)
	if finalized := err == nil; finalized != (len(want.Tombstones) > 0) {
		t.Fatalf("key finalized=%v (%v), want %v", finalized, err, want.Tombstones)
	}
	_, err = st.ResolveAlias(ctx, owner, eventgen.StreamAlias)
	if released := err != nil; released != want.AliasReleased {
		t.Fatalf("alias released=%v, want %v", released, want.AliasReleased)
	}
}

// checkSweep seeds the store, invokes the sweep with the scheduled event,
// and checks which keys it finalized.
func checkSweep(t *testing.T, m eventgen.Manifest, p *lambdaharness.Process, st *dynamostore.Store, name string, want eventgen.Expectation) {
	ctx := context.Background()
	if err := m.Seed(ctx, st, want.Seed); err != nil {
		t.Fatal(err)
	}
	raw, err := m.Event(name)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Invoke(ctx, raw)
	if err != nil || res.Error != nil {
		t.Fatalf("invoke %s: %v %s\n%s", name, err, res.Error, p.Logs())
	}
	for _, id := range want.Tombstones {
		if tomb, err := st.Tombstone(ctx, eventgen.Owner, id); err != nil || tomb.ReportedAt.IsZero() {
			t.Fatalf("key %s after the sweep: %+v %v", id, tomb, err)
		}
	}
}

// BenchmarkColdStart measures each compiled function from process start to
// its first invocation/next: configuration, the DynamoDB client, the
// credentials document (inline here; one Secrets Manager read in AWS).
// Every function starts, on a table that need not exist: nothing at init
// calls DynamoDB. make bench runs it; the README reports its figures.
func BenchmarkColdStart(b *testing.B) {
	doc, err := os.ReadFile(credentialsFile(b))
	if err != nil {
		b.Fatal(err)
	}
	for _, id := range allFunctions {
		b.Run(id, func(b *testing.B) {
			bin := binary(b, id)
			var total time.Duration
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				p, err := lambdaharness.Start(ctx, bin, []string{
					"TABLE_NAME=cold-start", "DYNAMODB_ENDPOINT=http://127.0.0.1:9", "AWS_REGION=us-east-1",
					"AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "HOME=" + os.Getenv("HOME"),
					"CREDENTIALS_DOCUMENT=" + string(doc)})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				total += p.ColdStart
				p.Stop()
			}
			info, err := os.Stat(bin)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-cold-start")
			b.ReportMetric(float64(info.Size())/(1<<20), "MiB-binary-"+runtime.GOARCH)
		})
	}
}
