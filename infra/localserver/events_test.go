package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/dynamodblocal"
)

// webhook collects the events the server posts.
type webhook struct {
	mu     sync.Mutex
	events []map[string]any
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var e map[string]any
	if r.Method != http.MethodPost || json.Unmarshal(raw, &e) != nil {
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

// types returns the detail types received for key id, in order.
func (h *webhook) types(id string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		if e["detail"].(map[string]any)["key-id"] == id {
			out = append(out, e["detail-type"].(string))
		}
	}
	return out
}

// On a laptop the expiry loop posts the lifecycle events to EVENTS_WEBHOOK:
// the schedule, a reminder before the window ends, the window ended at once
// (NCP's DELETE), and AWS KMS's "KMS CMK Deletion"; each event's id is its
// audit record's, and the trail ends with the final deletion.
func TestEventsReachTheWebhook(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testWebhook(t, "DATA_DIR="+t.TempDir()) })
	t.Run("dynamodb", func(t *testing.T) {
		table := "localserver-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
		testWebhook(t, "DYNAMODB_ENDPOINT="+dynamodblocal.Endpoint(t), "TABLE_NAME="+table)
	})
}

func testWebhook(t *testing.T, store ...string) {
	hook := &webhook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	// NCP's window is 72 hours: a reminder 2 seconds short of that is due
	// 2 seconds after the schedule. The loop is slower than the test: the
	// clock's move sends the events and the reminder before it returns.
	s := start(t, append(store, "EVENTS_WEBHOOK="+srv.URL, "REMINDER_OFFSETS=71h59m58s", "EXPIRY_INTERVAL=1h")...)
	tag, id, ok := createKey(t, s, "watched")
	if !ok || !requestDeletion(t, s, tag) {
		t.FailNow()
	}
	if code, st := clockCall(t, s.url, "POST", `{"advance":"3s"}`, "ncp", dev); code != 200 {
		t.Fatalf("advance: %d %+v", code, st)
	}
	if got := hook.types(id); !slices.Equal(got, []string{"KMS Key Deletion Scheduled", "KMS Key Deletion Reminder"}) {
		t.Fatalf("after the clock's move: %v, want the schedule's event, then the reminder", got)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.url+"/kms/v1/keys/"+tag, nil)
	devclient.SignNCP(req, dev, time.Now())
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete: %v %v", resp, err)
	}
	if code, st := clockCall(t, s.url, "POST", `{"advance":"1s"}`, "aws", dev); code != 200 {
		t.Fatalf("advance: %d %+v", code, st)
	}
	want := []string{"KMS Key Deletion Scheduled", "KMS Key Deletion Reminder", "KMS Key Deletion Window Ended", "KMS CMK Deletion"}
	if got := hook.types(id); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}

	// The events' ids are the trail's record ids (the reminder's is its own).
	var ops []string
	trail := trailOf(t, s, id)
	for _, r := range trail {
		ops = append(ops, r.Operation)
		if r.Alias != "watched" {
			t.Errorf("record without the key's alias: %+v", r)
		}
	}
	if !slices.Equal(ops, []string{"ScheduleDeletion", "DeleteNow", "FinalDeletion"}) {
		t.Fatalf("trail %v", ops)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	var ids []string
	for _, e := range hook.events {
		d := e["detail"].(map[string]any)
		if d["key-id"] == id && e["detail-type"] != "KMS Key Deletion Reminder" {
			ids = append(ids, d["event-id"].(string))
		}
		if e["source"] != "keydeletion.kms" || e["account"] != "111122223333" || e["version"] != "0" {
			t.Errorf("event envelope %v", e)
		}
	}
	if len(ids) != 3 || ids[0] != trail[0].EventID || ids[1] != trail[1].EventID || ids[2] != trail[2].EventID {
		t.Fatalf("event ids %v, records %+v", ids, trail)
	}
	if !s.saw("event published") {
		t.Error("the events were not logged")
	}
}
