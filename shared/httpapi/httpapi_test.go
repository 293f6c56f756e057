package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keydeletion/service/shared/validation"
)

func TestDecodeJSON(t *testing.T) {
	type body struct {
		A *string `json:"a"`
		N *int    `json:"n"`
	}
	var syntax *SyntaxError
	var typeErr *TypeError
	for _, c := range []struct {
		in     string
		syntax bool
		field  string
	}{
		{`{"a":"x","n":1}`, false, ""}, {``, false, ""}, {`  `, false, ""}, {`{"unknown":1}`, false, ""}, {`null`, false, ""},
		{`{`, true, ""}, {`[]`, true, ""}, {`"s"`, true, ""}, {`{} {}`, true, ""}, {`{}x`, true, ""},
		{`{"a":1}`, false, "a"}, {`{"n":"1"}`, false, "n"}, {`{"n":1.5}`, false, "n"}, {`{"n":1e40}`, false, "n"},
		// A member twice is malformed, at any depth, whatever the values.
		{`{"a":"x","a":"y"}`, true, ""}, {`{"a":"x","a":"x"}`, true, ""}, {`{"o":{"k":1,"k":2}}`, true, ""},
		{`{"l":[{"k":1,"k":1}]}`, true, ""}, {`{"a":"x","b":1,"a":null}`, true, ""},
		{"{\"a\":\"\xff\"}", true, ""},
	} {
		var b body
		err := DecodeJSON([]byte(c.in), &b)
		switch {
		case c.syntax && !errors.As(err, &syntax):
			t.Errorf("%q: %v, want a syntax error", c.in, err)
		case c.field != "" && (!errors.As(err, &typeErr) || typeErr.Field != c.field):
			t.Errorf("%q: %v, want a type error on %s", c.in, err, c.field)
		case !c.syntax && c.field == "" && err != nil:
			t.Errorf("%q: %v", c.in, err)
		}
	}
}

// Member names match exactly: a name that differs only in case is an
// unknown member, ignored, never the field it resembles.
func TestDecodeJSONExactNames(t *testing.T) {
	type body struct {
		KeyID *string `json:"key_id"`
	}
	for _, in := range []string{`{"KEY_ID":"x"}`, `{"Key_Id":"x"}`, `{"keyId":"x"}`, `{"key_id ":"x"}`} {
		var b body
		if err := DecodeJSON([]byte(in), &b); err != nil || b.KeyID != nil {
			t.Errorf("%s: %v, key_id=%v; want it ignored", in, err, b.KeyID)
		}
	}
	var b body
	if err := DecodeJSON([]byte(`{"key_id":"A","Key_Id":"B"}`), &b); err != nil || b.KeyID == nil || *b.KeyID != "A" {
		t.Errorf("exact name beside a look-alike: %v %v", err, b.KeyID)
	}
}

func TestReadBodyLimit(t *testing.T) {
	for _, n := range []int{0, validation.MaxBodyBytes, validation.MaxBodyBytes + 1} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("a", n)))
		if n == validation.MaxBodyBytes+1 {
			r.ContentLength = -1 // a chunked body: the limit must hold while reading
		}
		body, err := ReadBody(httptest.NewRecorder(), r)
		if n <= validation.MaxBodyBytes && (err != nil || len(body) != n) {
			t.Errorf("%d bytes: %v", n, err)
		}
		if v, ok := validation.As(err); n > validation.MaxBodyBytes && (!ok || v.Field != "body") {
			t.Errorf("%d bytes: %v, want the body limit", n, err)
		}
	}
}

// A panicking handler yields a 500 and a log line, and the server keeps
// serving; every request is logged with its id, dialect, operation and key.
func TestHandlerRecoversAndLogs(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	routes := []Route{
		{Action: Describe, Method: "GET", Path: "/boom", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			panic("bug")
		})},
		{Action: Describe, Method: "GET", Path: "/ok", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info := InfoFrom(r.Context())
			info.Dialect, info.Operation, info.KeyID = "d", "op", "k1"
			WriteJSON(w, 200, "application/json", map[string]string{"ok": "yes"})
		})},
	}
	h := Handler(log, routes)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 {
		t.Fatalf("panic: status %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ok", nil))
	if rec.Code != 200 {
		t.Fatalf("after a panic: %d", rec.Code)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"msg": "request", "dialect": "d", "operation": "op", "key": "k1", "status": 200.0} {
		if last[k] != want {
			t.Errorf("log %s = %v, want %v (%s)", k, last[k], want, lines[len(lines)-1])
		}
	}
	if id, _ := last["requestId"].(string); len(id) != 36 {
		t.Errorf("request id %q", last["requestId"])
	}
	if _, ok := last["latencyMs"].(float64); !ok {
		t.Error("no latency in the log line")
	}
	if !strings.Contains(logs.String(), `"level":"ERROR","msg":"panic"`) {
		t.Errorf("panic not logged: %s", logs.String())
	}
}

func TestSelect(t *testing.T) {
	rs := []Route{{Action: Schedule, Path: "/s"}, {Action: Cancel, Path: "/c"}, {Action: Fallback, Path: "/"}}
	got := Select(rs, Schedule)
	if len(got) != 2 || got[0].Path != "/s" || got[1].Action != Fallback {
		t.Fatalf("Select: %+v", got)
	}
}
