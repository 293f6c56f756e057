package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/google/uuid"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/eventgen"
	"github.com/keydeletion/service/infra/testtool"
	"github.com/keydeletion/service/shared/dynamostore"
	evs "github.com/keydeletion/service/shared/events"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
)

const eventsDir = "../../events"

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

// newHandler is the expire function's handler on st, as main makes it.
func newHandler(st *dynamostore.Store, cfg expiry.Config) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	log := cmp.Or(cfg.Log, quiet)
	h := &streamHandler{fin: expiry.New(st, cfg), decode: st.Stream(), log: log, parallelism: expiry.DefaultParallelism}
	return h.handle
}

func readEvent(t *testing.T, m eventgen.Manifest, name string) events.DynamoDBEvent {
	t.Helper()
	raw, err := m.Event(name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// The stream events in events/, fed to the expire function's handler (the
// one functions/expire starts) against DynamoDB Local.
func TestStreamEvents(t *testing.T) {
	m, err := eventgen.Load(eventsDir)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for name, want := range m.Events {
		if !want.IsStream() {
			continue
		}
		ran++
		t.Run(name, func(t *testing.T) {
			db, table := dynamodblocal.NewTable(t)
			st := dynamostore.New(db, table)
			ctx := context.Background()
			if err := m.SeedRemovedByTTL(ctx, st, dynamodblocal.KeyRemover(db, table)); err != nil {
				t.Fatal(err)
			}
			pub := &recorded{}
			handler := newHandler(st, expiry.Config{Log: quiet, Publisher: pub})
			var first keys.Tombstone
			if want.After != "" {
				if _, err := handler(ctx, readEvent(t, m, want.After)); err != nil {
					t.Fatal(err)
				}
				first, _ = st.Tombstone(ctx, eventgen.Owner, m.KeyID)
			}
			resp, err := handler(ctx, readEvent(t, m, name))
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
			if len(failed) != len(want.Failures) || (len(failed) > 0 && !reflect.DeepEqual(failed, want.Failures)) {
				t.Fatalf("batch item failures %v, want %v", failed, want.Failures)
			}
			for _, id := range []string{m.KeyID, "bb6a3d22-dc93-47ac-b5bd-88df7ad35f1e"} {
				tomb, err := st.Tombstone(ctx, eventgen.Owner, id)
				wantTomb := contains(want.Tombstones, id)
				if wantTomb != (err == nil) {
					t.Fatalf("tombstone of %s: %v, want present=%v", id, err, wantTomb)
				}
				if wantTomb && (tomb.PendingDays != 7 || tomb.DeleteAt.Unix() != 1795000000) {
					t.Fatalf("tombstone %+v", tomb)
				}
				if want.After != "" && id == m.KeyID && tomb != first {
					t.Fatalf("redelivery changed the tombstone: %+v, was %+v", tomb, first)
				}
			}
			_, aliasErr := st.ResolveAlias(ctx, eventgen.Owner, eventgen.StreamAlias)
			if released := errors.Is(aliasErr, keys.ErrNotFound); released != want.AliasReleased {
				t.Fatalf("alias released=%v, want %v", released, want.AliasReleased)
			}
			if got := pub.types(); !reflect.DeepEqual(got, want.Published) {
				t.Fatalf("published %q, want %q", got, want.Published)
			}
		})
	}
	if ran != 5 {
		t.Fatalf("%d stream events ran, want 5", ran)
	}
}

// recorded keeps what the handler publishes (the binaries' test publishes
// through the real EventBridge client).
// The handler publishes the records of different items at once.
type recorded struct {
	mu     sync.Mutex
	events []evs.Event
}

func (r *recorded) Publish(_ context.Context, es []evs.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, es...)
	return nil
}

func (r *recorded) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.DetailType)
	}
	return out
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// The real path: a key scheduled through the service, removed by DynamoDB
// Local's own TTL, read back from the table's stream, converted to the event
// Lambda would receive, and finalized by the expire handler.
func TestTTLRemovalThroughStream(t *testing.T) {
	db, table := dynamodblocal.NewTable(t)
	st := dynamostore.New(db, table)
	ctx := context.Background()
	// The service's clock runs 8 days behind, so a 7-day window has already
	// ended by DynamoDB's clock.
	past := func() time.Time { return time.Now().Add(-8 * 24 * time.Hour) }
	svc := keys.NewService(st, past)
	k, err := svc.Create(ctx, keys.Principal{Tenant: eventgen.Owner}, keys.CreateRequest{Alias: "ttl-demo"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = svc.ScheduleDeletion(ctx, keys.Principal{Tenant: eventgen.Owner}, k.ID, 7); err != nil {
		t.Fatal(err)
	}
	if k, err = st.Get(ctx, eventgen.Owner, k.ID); err != nil {
		t.Fatal(err)
	}
	other, _ := svc.Create(ctx, keys.Principal{Tenant: eventgen.Owner}, keys.CreateRequest{})

	records := waitForTTLRemoval(t, db, table, k.ID)
	handler := newHandler(st, expiry.Config{Log: quiet})
	resp, err := handler(ctx, events.DynamoDBEvent{Records: records})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handler: %+v %v", resp, err)
	}
	tomb, err := st.Tombstone(ctx, eventgen.Owner, k.ID)
	if err != nil || !tomb.DeleteAt.Equal(k.DeleteAt) || tomb.PendingDays != 7 || tomb.Alias != "ttl-demo" {
		t.Fatalf("tombstone %+v %v", tomb, err)
	}
	if _, err := st.ResolveAlias(ctx, eventgen.Owner, "ttl-demo"); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("alias after expiry: %v", err)
	}
	if _, err := st.Tombstone(ctx, eventgen.Owner, other.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("a live key got a tombstone: %v", err)
	}
	// Redelivery of the whole batch changes nothing.
	if resp, err := handler(ctx, events.DynamoDBEvent{Records: records}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("redelivery: %+v %v", resp, err)
	}
	if again, _ := st.Tombstone(ctx, eventgen.Owner, k.ID); again != tomb {
		t.Fatalf("redelivery changed the tombstone")
	}
}

// The audit records' inserts, read from DynamoDB Local's stream as Lambda
// delivers them, publish events that name the key's alias, as the sweep's
// do (the schedule's transaction writes its record without it).
func TestStreamEventsNameTheAlias(t *testing.T) {
	db, table := dynamodblocal.NewTable(t)
	st := dynamostore.New(db, table)
	ctx := context.Background()
	p := keys.Principal{Tenant: eventgen.Owner, Dialect: "huawei", RequestID: "req-stream"}
	svc := keys.NewService(st, time.Now)
	k, err := svc.Create(ctx, p, keys.CreateRequest{Alias: "streamed"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ScheduleDeletion(ctx, p, k.ID, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CancelDeletion(ctx, p, k.ID); err != nil {
		t.Fatal(err)
	}
	inserts := 0
	records := readStream(t, db, table, func(ev events.DynamoDBEventRecord) bool {
		if ev.EventName == "INSERT" && strings.HasPrefix(ev.Change.Keys["sk"].String(), "L#") {
			inserts++
		}
		return inserts == 2
	})
	pub := &recorded{}
	handler := newHandler(st, expiry.Config{Log: quiet, Publisher: pub})
	if resp, err := handler(ctx, events.DynamoDBEvent{Records: records}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handler: %+v %v", resp, err)
	}
	// Records of different items are handled at once: in any order.
	if got := pub.types(); !reflect.DeepEqual(sorted(got), []string{evs.DeletionCancelled, evs.DeletionScheduled}) {
		t.Fatalf("published %q", got)
	}
	for _, e := range pub.events {
		if e.Detail.Alias != "streamed" || e.Detail.KeyID != k.ID {
			t.Errorf("%s: %+v", e.DetailType, e.Detail)
		}
	}
}

// waitForTTLRemoval reads the table's stream until it holds the TTL removal
// of key id, and returns every record so far as Lambda would deliver them.
func waitForTTLRemoval(t *testing.T, db *dynamodb.Client, table, id string) []events.DynamoDBEventRecord {
	t.Helper()
	return readStream(t, db, table, func(ev events.DynamoDBEventRecord) bool {
		return ev.EventName == "REMOVE" && ev.Change.Keys["sk"].String() == "K#"+id
	})
}

// readStream reads the table's stream until a record makes done true, and
// returns every record so far as Lambda would deliver them.
func readStream(t *testing.T, db *dynamodb.Client, table string, done func(events.DynamoDBEventRecord) bool) []events.DynamoDBEventRecord {
	t.Helper()
	ctx := context.Background()
	d, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	streams := dynamodbstreams.New(dynamodbstreams.Options{Region: "us-east-1",
		BaseEndpoint: aws.String(dynamodblocal.Endpoint(t)),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", "")})
	var out []events.DynamoDBEventRecord
	testtool.WaitFor(t, 60*time.Second, func() bool {
		out = out[:0]
		found := false
		ds, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: d.Table.LatestStreamArn})
		if err != nil {
			t.Fatal(err)
		}
		for _, sh := range ds.StreamDescription.Shards {
			it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: d.Table.LatestStreamArn,
				ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs.Records {
				ev := toEventRecord(r)
				out = append(out, ev)
				found = found || done(ev)
			}
		}
		return found
	}, "the stream to hold the record waited for")
	return out
}

// keyItem is dev-a's key id as its item stands in the table, attribute by
// attribute (the TTL attribute included).
func keyItem(t *testing.T, db *dynamodb.Client, table, id string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	raw, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "T#" + eventgen.Owner},
			"sk": &ddbtypes.AttributeValueMemberS{Value: "K#" + id}}})
	if err != nil || raw.Item == nil {
		t.Fatalf("the item of key %s: %v", id, err)
	}
	return raw.Item
}

// toEventRecord converts a DynamoDB Streams record to the shape the Lambda
// event source mapping delivers.
func toEventRecord(r streamtypes.Record) events.DynamoDBEventRecord {
	ev := events.DynamoDBEventRecord{
		EventID: aws.ToString(r.EventID), EventName: string(r.EventName), EventSource: aws.ToString(r.EventSource),
		AWSRegion: aws.ToString(r.AwsRegion),
		Change: events.DynamoDBStreamRecord{
			Keys: toEventImage(r.Dynamodb.Keys), OldImage: toEventImage(r.Dynamodb.OldImage), NewImage: toEventImage(r.Dynamodb.NewImage),
			SequenceNumber: aws.ToString(r.Dynamodb.SequenceNumber), StreamViewType: string(r.Dynamodb.StreamViewType),
		},
	}
	if r.UserIdentity != nil {
		ev.UserIdentity = &events.DynamoDBUserIdentity{Type: aws.ToString(r.UserIdentity.Type), PrincipalID: aws.ToString(r.UserIdentity.PrincipalId)}
	}
	return ev
}

func toEventImage(img map[string]streamtypes.AttributeValue) map[string]events.DynamoDBAttributeValue {
	if img == nil {
		return nil
	}
	out := map[string]events.DynamoDBAttributeValue{}
	for k, v := range img {
		out[k] = toEventValue(v)
	}
	return out
}

func toEventValue(v streamtypes.AttributeValue) events.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value)
	case *streamtypes.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value)
	case *streamtypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value)
	case *streamtypes.AttributeValueMemberNULL:
		return events.NewNullAttribute()
	case *streamtypes.AttributeValueMemberM:
		return events.NewMapAttribute(toEventImage(v.Value))
	case *streamtypes.AttributeValueMemberL:
		list := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			list[i] = toEventValue(e)
		}
		return events.NewListAttribute(list)
	case *streamtypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value)
	}
	panic(fmt.Sprintf("stream attribute of type %T", v))
}

// TTL removals of items that were no key pending deletion (a key in
// another state, an item without an id or owner) are refused for good:
// each is logged as an error with the record's identity, and not retried.
func TestSkippedTTLRemovalsAreLogged(t *testing.T) {
	db, table := dynamodblocal.NewTable(t)
	st := dynamostore.New(db, table)
	logs := &testtool.Logs{}
	handler := newHandler(st, expiry.Config{Log: slog.New(slog.NewJSONHandler(logs, nil))})
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
	resp, err := handler(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		record("1", image("Enabled", "0d0466b0-e727-4d9c-b35d-f84bb474a37f", "tenant-a")),
		record("2", image("PendingDeletion", "", "tenant-a")),
		record("3", image("PendingDeletion", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "")),
	}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("skipped removals reported as failures (they would be retried in vain): %+v %v", resp, err)
	}
	lines := logs.Lines("ERROR", "TTL removed an item that was not a key pending deletion; nothing finalized")
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
	if _, err := st.Tombstone(context.Background(), "tenant-a", "0d0466b0-e727-4d9c-b35d-f84bb474a37f"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("a key that was not pending deletion got a tombstone: %v", err)
	}
}

// A key held for approval carries no TTL attribute, so DynamoDB's TTL
// cannot remove it: scheduled with a window that has already ended by
// DynamoDB's clock, beside a key without a hold, it outlives the other
// key's TTL removal; the stream's records, handed to the expire function,
// finalize the other key only.
func TestHeldKeySurvivesTTL(t *testing.T) {
	db, table := dynamodblocal.NewTable(t)
	st := dynamostore.New(db, table)
	ctx := context.Background()
	past := func() time.Time { return time.Now().Add(-8 * 24 * time.Hour) }
	svc := keys.NewService(st, past)
	pol := keys.Policy{Approval: keys.ApprovalRule{Keys: keys.Protected{Aliases: []string{"held"}}, Approvers: []string{"AKIAAPPROVER"}}}
	p := keys.Principal{Tenant: eventgen.Owner, AccessKey: "AKIAOPERATOR", Policy: pol}
	var ids []string
	for _, alias := range []string{"held", "free"} {
		k, err := svc.Create(ctx, p, keys.CreateRequest{Alias: alias})
		if err == nil {
			_, err = svc.ScheduleDeletion(ctx, p, k.ID, 7)
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.ID)
	}
	held, free := ids[0], ids[1]
	item := keyItem(t, db, table, held)
	if _, ttl := item["deleteAt"]; ttl || item["windowEnd"] == nil {
		t.Fatalf("the held key's item: deleteAt present=%v, windowEnd %v; want no TTL attribute", ttl, item["windowEnd"])
	}

	records := waitForTTLRemoval(t, db, table, free)
	for _, r := range records {
		if r.EventName == "REMOVE" && r.Change.Keys["sk"].String() == "K#"+held {
			t.Fatal("TTL removed the held key")
		}
	}
	handler := newHandler(st, expiry.Config{Log: quiet})
	if resp, err := handler(ctx, events.DynamoDBEvent{Records: records}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handler: %+v %v", resp, err)
	}
	if _, err := st.Tombstone(ctx, eventgen.Owner, free); err != nil {
		t.Fatalf("the key without a hold was not finalized: %v", err)
	}
	if k, err := st.Get(ctx, eventgen.Owner, held); err != nil || !k.Held() || k.State != keys.PendingDeletion {
		t.Fatalf("the held key after TTL and the stream: %+v %v", k, err)
	}
	if _, err := st.Tombstone(ctx, eventgen.Owner, held); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("the held key has a tombstone: %v", err)
	}
}

// A frozen tenant's key is never lost to TTL: when DynamoDB's TTL removes
// a key the freeze did not yet hold (its window ended by DynamoDB's clock),
// the expire function's final deletion is refused by the freeze, and the
// key is put back, held until the freeze is lifted, with no TTL attribute.
func TestFrozenKeyTakenByTTLIsRestored(t *testing.T) {
	db, table := dynamodblocal.NewTable(t)
	st := dynamostore.New(db, table)
	ctx := context.Background()
	past := func() time.Time { return time.Now().Add(-8 * 24 * time.Hour) }
	svc := keys.NewService(st, past)
	p := keys.Principal{Tenant: eventgen.Owner, AccessKey: "AKIAOPERATOR"}
	k, err := svc.Create(ctx, p, keys.CreateRequest{Alias: "frozen"})
	if err == nil {
		_, err = svc.ScheduleDeletion(ctx, p, k.ID, 7)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The freeze set, its keys not yet held: the race the restore closes.
	if err := st.SetFreeze(ctx, keys.FreezeChange{Owner: eventgen.Owner, Frozen: true, By: p, Now: time.Now()},
		keys.Record{ID: uuid.Must(uuid.NewV7()).String(), Owner: eventgen.Owner, Op: keys.OpFreeze, At: time.Now(), By: p}); err != nil {
		t.Fatal(err)
	}
	records := waitForTTLRemoval(t, db, table, k.ID)
	handler := newHandler(st, expiry.Config{Log: quiet})
	if resp, err := handler(ctx, events.DynamoDBEvent{Records: records}); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handler: %+v %v", resp, err)
	}
	got, err := st.Get(ctx, eventgen.Owner, k.ID)
	if err != nil || !got.HasHold(keys.HoldFreeze) || got.State != keys.PendingDeletion || got.Alias != "frozen" {
		t.Fatalf("the key TTL took while frozen: %+v %v, want it back and held", got, err)
	}
	if _, err := st.Tombstone(ctx, eventgen.Owner, k.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("a tombstone while frozen: %v", err)
	}
	if _, ttl := keyItem(t, db, table, k.ID)["deleteAt"]; ttl {
		t.Fatal("the restored key carries the TTL attribute")
	}
}
