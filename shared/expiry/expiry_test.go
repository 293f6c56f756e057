package expiry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/storetest"
)

// logs captures JSON log lines.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the captured lines with message msg at level (e.g. "INFO").
func (l *logs) lines(level, msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(raw), &line) == nil && line["level"] == level && line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}

func eachStore(t *testing.T, fn func(t *testing.T, st storetest.Store)) {
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

type fixture struct {
	t     *testing.T
	ctx   context.Context
	store storetest.Store
	clock *storetest.Clock
	svc   *keys.Service
	fin   *expiry.Finalizer
	logs  *logs
}

func setup(t *testing.T, st storetest.Store) *fixture {
	clock := storetest.NewClock(storetest.RealNow())
	l := &logs{}
	log := slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return &fixture{t: t, ctx: context.Background(), store: st, clock: clock,
		svc: keys.NewService(st, clock.Now), fin: expiry.New(st, expiry.Config{Now: clock.Now, Log: log}), logs: l}
}

// pending creates a key and schedules its deletion.
func (f *fixture) pending(alias string) keys.Key {
	f.t.Helper()
	k, err := f.svc.Create(f.ctx, keys.Principal{Tenant: "tenant-a"}, keys.CreateRequest{Alias: alias})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err = f.svc.ScheduleDeletion(f.ctx, keys.Principal{Tenant: k.Owner}, k.ID, 7); err != nil {
		f.t.Fatal(err)
	}
	if k, err = f.store.Get(f.ctx, k.Owner, k.ID); err != nil {
		f.t.Fatal(err)
	}
	return k
}

func (f *fixture) deletedLines(id string) int {
	n := 0
	for _, l := range f.logs.lines("INFO", "key deleted") {
		if l["key"] == id {
			n++
		}
	}
	return n
}

// A final deletion is reported once, when its tombstone is written; a
// redelivery finds nothing to do and says so at debug level only.
func TestFinalDeletionIsReportedOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, st storetest.Store) {
		f := setup(t, st)
		k := f.pending("reported-once")
		f.clock.Set(k.DeleteAt)
		for i := 0; i < 4; i++ { // the first delivery and three redeliveries
			if err := f.fin.Finalize(f.ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.deletedLines(k.ID); n != 1 {
			t.Fatalf("%d \"key deleted\" lines for one key, want 1", n)
		}
		if n := len(f.logs.lines("DEBUG", "key already deleted and reported: nothing left to do")); n != 3 {
			t.Fatalf("%d debug lines for 3 redeliveries", n)
		}
		line := f.logs.lines("INFO", "key deleted")[0]
		if line["owner"] != "tenant-a" || line["alias"] != "reported-once" || line["recovered"] != false {
			t.Fatalf("report: %v", line)
		}
		if tomb, err := st.Tombstone(f.ctx, k.Owner, k.ID); err != nil || tomb.ReportedAt.IsZero() {
			t.Fatalf("tombstone after the report: %+v %v", tomb, err)
		}
	})
}

// A crash between the tombstone's write and its report loses nothing: the
// stream's redelivery (Lambda) or the next sweep (local loop) reports it,
// once.
func TestDeletionLeftUnreportedByACrashIsReported(t *testing.T) {
	eachStore(t, func(t *testing.T, st storetest.Store) {
		f := setup(t, st)
		byStream, bySweep := f.pending(""), f.pending("")
		f.clock.Set(byStream.DeleteAt)
		// What a process killed right after the commit leaves behind.
		for _, k := range []keys.Key{byStream, bySweep} {
			fin, err := keys.Finalize(k, f.clock.Now(), keys.System(k.Owner, "crash"))
			if err != nil {
				t.Fatal(err)
			}
			if _, created, err := st.Finalize(f.ctx, fin); err != nil || !created {
				t.Fatalf("finalize: %v %v", created, err)
			}
		}
		if err := f.fin.Finalize(f.ctx, byStream); err != nil { // the stream redelivers
			t.Fatal(err)
		}
		if n := f.deletedLines(byStream.ID); n != 1 {
			t.Fatalf("redelivery after a crash: %d reports, want 1", n)
		}
		if _, err := f.fin.Sweep(f.ctx); err != nil { // the local loop's next round
			t.Fatal(err)
		}
		if _, err := f.fin.Sweep(f.ctx); err != nil {
			t.Fatal(err)
		}
		for _, k := range []keys.Key{byStream, bySweep} {
			if n := f.deletedLines(k.ID); n != 1 {
				t.Errorf("key %s: %d reports, want 1", k.ID, n)
			}
		}
		for _, l := range f.logs.lines("INFO", "key deleted") {
			if l["recovered"] != true {
				t.Errorf("a report made after a crash does not say so: %v", l)
			}
		}
	})
}

// A TTL removal the expire function cannot finalize (a key item not pending
// deletion, or one without id or owner) is logged as an error with the
// record's identity, and not retried.
func TestSkippedTTLRemovalsAreLogged(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := setup(t, st)
	image := func(state, id, owner string) map[string]events.DynamoDBAttributeValue {
		img := map[string]events.DynamoDBAttributeValue{
			"pk": events.NewStringAttribute("T#" + owner), "sk": events.NewStringAttribute("K#" + id),
			"state": events.NewStringAttribute(state), "spec": events.NewStringAttribute("AES_256"),
			"createdAt": events.NewNumberAttribute("1"), "stateChangedAt": events.NewNumberAttribute("1"),
			"deleteAt": events.NewNumberAttribute("1795000000"), "pendingDays": events.NewNumberAttribute("7"),
		}
		if id != "" {
			img["id"] = events.NewStringAttribute(id)
		}
		if owner != "" {
			img["owner"] = events.NewStringAttribute(owner)
		}
		return img
	}
	ttl := &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
	record := func(seq string, old map[string]events.DynamoDBAttributeValue) events.DynamoDBEventRecord {
		return events.DynamoDBEventRecord{EventID: "ev-" + seq, EventName: "REMOVE", UserIdentity: ttl,
			Change: events.DynamoDBStreamRecord{SequenceNumber: seq, OldImage: old,
				Keys: map[string]events.DynamoDBAttributeValue{"pk": old["pk"], "sk": old["sk"]}}}
	}
	// The stream's reader of DynamoDB's records (TTL removals need no table).
	handler := f.fin.StreamHandler(dynamostore.New(nil, "unused").Stream())
	resp, err := handler(f.ctx, events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		record("1", image("Enabled", "0d0466b0-e727-4d9c-b35d-f84bb474a37f", "tenant-a")),
		record("2", image("PendingDeletion", "", "tenant-a")),
		record("3", image("PendingDeletion", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "")),
	}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("skipped removals reported as failures (they would be retried in vain): %+v %v", resp, err)
	}
	lines := f.logs.lines("ERROR", "TTL removed an item that was not a key pending deletion; nothing finalized")
	if len(lines) != 3 {
		t.Fatalf("%d error lines for 3 skipped removals", len(lines))
	}
	// The batch's items are handled at once, so the lines come in any order.
	byEvent := map[any]any{}
	for _, l := range lines {
		byEvent[l["eventId"]] = l["keys"]
	}
	for event, want := range map[string]string{"ev-1": "pk=T#tenant-a sk=K#0d0466b0-e727-4d9c-b35d-f84bb474a37f",
		"ev-2": "pk=T#tenant-a sk=K#", "ev-3": "pk=T# sk=K#7c9e6679-7425-40de-944b-e07fc1f90ae7"} {
		if byEvent[event] != want {
			t.Errorf("record %s: logged with keys %v, want %q", event, byEvent[event], want)
		}
	}
}
