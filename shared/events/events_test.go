package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/keydeletion/service/infra/eventbridgelocal"
	"github.com/keydeletion/service/shared/events"
	"github.com/keydeletion/service/shared/keys"
)

var builder = events.Builder{Source: "keydeletion.test", Tenants: func(id string) (string, string, bool) {
	if id == "acme" {
		return "111122223333", "eu-west-1", true
	}
	return "", "", false
}}

func record(i int, op keys.Op, owner string) keys.Record {
	at := time.Date(2026, 11, 23, 9, 0, i, 0, time.UTC)
	return keys.Record{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Owner: owner,
		KeyID: "0d0466b0-e727-4d9c-b35d-f84bb474a37f", Alias: "payments", Op: op, At: at,
		By:       keys.Principal{Tenant: owner, Dialect: "aws", AccessKey: "AKIAEXAMPLE", Source: "203.0.113.9", RequestID: "r"},
		DeleteAt: at.Add(14 * 24 * time.Hour).Truncate(time.Second), PendingDays: 14}
}

// The real SDK client's PutEvents requests, decoded by a local endpoint:
// ten entries a call, every field where EventBridge expects it.
func TestEventBridgeSendsWhatTheSDKSends(t *testing.T) {
	srv := eventbridgelocal.Start()
	defer srv.Close()
	client := eventbridge.New(eventbridge.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	pub := events.EventBridge{Client: client, Bus: "kms-deletion"}
	var evs []events.Event
	for i := range 23 {
		e, err := builder.ForRecord(record(i, keys.OpSchedule, "acme"))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	final, _ := builder.ForRecord(record(23, keys.OpFinalize, "other"))
	evs = append(evs, final)
	if err := pub.Publish(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	got := srv.Entries()
	if len(got) != len(evs) {
		t.Fatalf("%d entries arrived, want %d", len(got), len(evs))
	}
	first := got[0]
	if first.EventBusName != "kms-deletion" || first.Source != "keydeletion.test" || first.DetailType != events.DeletionScheduled ||
		len(first.Resources) != 1 || first.Resources[0] != "arn:aws:kms:eu-west-1:111122223333:key/0d0466b0-e727-4d9c-b35d-f84bb474a37f" ||
		!first.Time.Equal(evs[0].Time) {
		t.Fatalf("first entry %+v", first)
	}
	d := first.Detail
	if d["key-id"] != "0d0466b0-e727-4d9c-b35d-f84bb474a37f" || d["event-id"] != "00000000-0000-4000-8000-000000000000" ||
		d["tenant"] != "acme" || d["alias"] != "payments" || d["pending-window-in-days"] != float64(14) ||
		d["deletion-date"] != "2026-12-07T09:00:00Z" || d["principal"].(map[string]any)["access-key-id"] != "AKIAEXAMPLE" {
		t.Fatalf("detail %v", d)
	}
	last := got[len(got)-1]
	// AWS KMS's own event for the final deletion: "KMS CMK Deletion" with
	// "key-id"; a tenant without an AWS identity names the key by id.
	if last.DetailType != "KMS CMK Deletion" || last.Detail["key-id"] != "0d0466b0-e727-4d9c-b35d-f84bb474a37f" ||
		len(last.Resources) != 1 || last.Resources[0] != "0d0466b0-e727-4d9c-b35d-f84bb474a37f" {
		t.Fatalf("deletion entry %+v", last)
	}

	// A refused entry fails the publication, so the caller keeps the batch.
	srv.FailNext(1)
	if err := pub.Publish(context.Background(), evs[:3]); err == nil || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Fatalf("publication with a refused entry: %v", err)
	}
	// EventBridge refuses aws.* sources from callers; so does the endpoint.
	bad := evs[0]
	bad.Source = "aws.kms"
	if err := pub.Publish(context.Background(), []events.Event{bad}); err == nil {
		t.Fatal("an aws.* source was accepted")
	}
}

func TestWebhookPostsTheEnvelope(t *testing.T) {
	var mu sync.Mutex
	var got []events.Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var e events.Event
		if err := json.Unmarshal(raw, &e); err != nil || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer hook.Close()
	e, _ := builder.ForRecord(record(1, keys.OpCancel, "acme"))
	if err := (events.Webhook{URL: hook.URL}).Publish(context.Background(), []events.Event{e}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].DetailType != events.DeletionCancelled || got[0].Detail.EventID != e.Detail.EventID ||
		got[0].Account != "111122223333" || got[0].Region != "eu-west-1" || got[0].Version != "0" {
		t.Fatalf("webhook received %+v", got)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	if err := (events.Webhook{URL: down.URL}).Publish(context.Background(), []events.Event{e}); err == nil {
		t.Fatal("a 503 counted as delivery")
	}
}

// A reminder's id is fixed by key, window and offset: a repeat has the
// same, another offset or another window a different one.
func TestReminderIDIsStable(t *testing.T) {
	k := keys.Key{ID: "0d0466b0-e727-4d9c-b35d-f84bb474a37f", Owner: "acme", DeleteAt: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	a, b := events.ReminderID(k, 24*time.Hour), events.ReminderID(k, 24*time.Hour)
	other := events.ReminderID(k, 7*24*time.Hour)
	later := k
	later.DeleteAt = later.DeleteAt.Add(time.Hour)
	if a != b || a == other || a == events.ReminderID(later, 24*time.Hour) {
		t.Fatalf("ids %s %s %s", a, b, other)
	}
	if e := builder.Reminder(k, 24*time.Hour, time.Now()); e.Detail.EventID != a || e.DetailType != events.DeletionReminder || e.Detail.RemindBefore != 86400 {
		t.Fatalf("reminder %+v", e)
	}
}

// A schedule held for approval tells the approvers (its own detail type);
// approvals and rejections have theirs.
func TestApprovalEvents(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		op   keys.Op
		hold keys.Hold
		want string
	}{
		{keys.OpSchedule, "", events.DeletionScheduled},
		{keys.OpSchedule, keys.HoldApproval, events.DeletionAwaitingApproval},
		{keys.OpApprove, "", events.DeletionApproved},
		{keys.OpReject, "", events.DeletionRejected},
	} {
		e, err := builder.ForRecord(keys.Record{ID: "r", Owner: "dev-a", KeyID: "k", Op: c.op, At: at, Hold: c.hold})
		if err != nil || e.DetailType != c.want {
			t.Errorf("%s held=%q: %q %v, want %q", c.op, c.hold, e.DetailType, err, c.want)
		}
	}
}
