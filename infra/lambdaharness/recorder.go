package lambdaharness

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Recorder stands between a function and DynamoDB and records the IAM
// actions its requests need: what the function's policy must grant, learned
// from what it does rather than from a list kept by hand. A transaction needs
// the action of each of its items (a ConditionCheck needs
// dynamodb:ConditionCheckItem), not an action of its own. A Query of an
// index is recorded as "dynamodb:Query on index/<name>": the policy grants it
// on the index's own ARN.
type Recorder struct {
	URL string // point the function's DYNAMODB_ENDPOINT here

	srv      *http.Server
	mu       sync.Mutex
	actions  map[string]bool
	requests []string // DynamoDB operations, in order, since the last Reset
}

// NewRecorder starts a recording proxy in front of the DynamoDB at endpoint.
func NewRecorder(endpoint string) (*Recorder, error) {
	target, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Recorder{URL: "http://" + ln.Addr().String(), actions: map[string]bool{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	r.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.record(req.Header.Get("X-Amz-Target"), body)
		proxy.ServeHTTP(w, req)
	})}
	go r.srv.Serve(ln)
	return r, nil
}

// Actions returns the IAM actions recorded so far, sorted.
func (r *Recorder) Actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for a := range r.actions {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Requests returns the DynamoDB operations of the requests since the last
// Reset, in order ("UpdateItem", "TransactWriteItems", ...).
func (r *Recorder) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Reset forgets the requests (not the actions).
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.requests = nil
	r.mu.Unlock()
}

// Close stops the proxy.
func (r *Recorder) Close() { r.srv.Close() }

func (r *Recorder) record(target string, body []byte) {
	op, ok := strings.CutPrefix(target, "DynamoDB_20120810.")
	if !ok {
		return
	}
	var actions []string
	switch op {
	case "TransactWriteItems":
		var in struct {
			TransactItems []map[string]json.RawMessage
		}
		json.Unmarshal(body, &in)
		for _, item := range in.TransactItems {
			for kind := range item {
				actions = append(actions, map[string]string{
					"Put": "PutItem", "Delete": "DeleteItem", "Update": "UpdateItem", "ConditionCheck": "ConditionCheckItem",
				}[kind])
			}
		}
	case "TransactGetItems":
		actions = []string{"GetItem"}
	case "Query", "Scan":
		// An index is a resource of its own, which the policy must name.
		var in struct{ IndexName string }
		json.Unmarshal(body, &in)
		actions = []string{op}
		if in.IndexName != "" {
			actions = []string{op + " on index/" + in.IndexName}
		}
	default:
		actions = []string{op}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, op)
	for _, a := range actions {
		if a != "" {
			r.actions["dynamodb:"+a] = true
		}
	}
}
