// Package faultproxy stands between the service and DynamoDB (Local) and
// makes the failures a real network and a real DynamoDB make: a throttle or
// a server error answered without forwarding, a write forwarded and applied
// whose answer is then lost (a reset connection, or a 500), latency. Tests
// drive the service through the official clients across it and check what
// the client was told, what the store holds and what the trail recorded.
package faultproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind is what a fault does.
type Kind int

const (
	// Reject answers with Status and ErrorType, without forwarding:
	// nothing is applied.
	Reject Kind = iota + 1
	// DropAnswer forwards the request, lets DynamoDB apply it, then resets
	// the connection instead of answering.
	DropAnswer
	// FailAfterCommit forwards the request, lets DynamoDB apply it, then
	// answers with Status and ErrorType instead of DynamoDB's answer.
	FailAfterCommit
	// Delay waits Delay, then forwards the request (whether or not the
	// client still waits: a late write still lands) and answers.
	Delay
)

// Fault is one failure.
type Fault struct {
	Kind      Kind
	Status    int
	ErrorType string // DynamoDB's __type, without its namespace
	Delay     time.Duration
}

// The failures DynamoDB answers with.
var (
	Throttled        = Fault{Kind: Reject, Status: 400, ErrorType: "ProvisionedThroughputExceededException"}
	RequestLimit     = Fault{Kind: Reject, Status: 400, ErrorType: "RequestLimitExceeded"}
	Throttling       = Fault{Kind: Reject, Status: 400, ErrorType: "ThrottlingException"}
	ServerError      = Fault{Kind: Reject, Status: 500, ErrorType: "InternalServerError"}
	Unavailable      = Fault{Kind: Reject, Status: 503, ErrorType: "ServiceUnavailable"}
	LostAnswer       = Fault{Kind: DropAnswer}
	ServerErrorAfter = Fault{Kind: FailAfterCommit, Status: 500, ErrorType: "InternalServerError"}
)

// Slow is a Delay fault.
func Slow(d time.Duration) Fault { return Fault{Kind: Delay, Delay: d} }

func (f Fault) String() string {
	switch f.Kind {
	case Reject:
		return fmt.Sprintf("answered %d %s", f.Status, f.ErrorType)
	case DropAnswer:
		return "applied, answer lost"
	case FailAfterCommit:
		return fmt.Sprintf("applied, answered %d %s", f.Status, f.ErrorType)
	case Delay:
		return "delayed " + f.Delay.String()
	}
	return "passed"
}

type rule struct {
	op    string // DynamoDB operation ("UpdateItem"); "" matches every one
	left  int    // matching requests still to fault; < 0: until Clear
	fault Fault
}

// Entry is one request that went through the proxy.
type Entry struct {
	Op    string
	Fault string // "" when it passed untouched
}

// Proxy is a fault-injecting proxy in front of one DynamoDB endpoint.
type Proxy struct {
	URL string // the service's DYNAMODB_ENDPOINT

	target string
	client *http.Client
	srv    *http.Server
	ln     net.Listener

	mu          sync.Mutex
	rules       []*rule
	entries     []Entry
	stripTokens bool
}

// New starts a proxy on a loopback port in front of endpoint.
func New(endpoint string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), target: strings.TrimSuffix(endpoint, "/"), ln: ln,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// Inject faults the next times requests of op ("" for any): times < 0
// faults every one until Clear. Rules apply in the order injected.
func (p *Proxy) Inject(op string, times int, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, &rule{op: op, left: times, fault: f})
}

// StripTokens makes the proxy drop every transaction's ClientRequestToken:
// DynamoDB then treats a retry as a new transaction, as it does once the
// token's ten minutes have passed.
func (p *Proxy) StripTokens(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stripTokens = on
}

// Clear removes every rule and forgets the requests seen.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.entries = nil, nil
}

// Entries returns the requests seen since the last Clear, in order.
func (p *Proxy) Entries() []Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.entries)
}

// Faulted returns how many requests since the last Clear were faulted.
func (p *Proxy) Faulted() int {
	n := 0
	for _, e := range p.Entries() {
		if e.Fault != "" {
			n++
		}
	}
	return n
}

// take returns the fault for a request of op, if a rule has one left.
func (p *Proxy) take(op string) (Fault, bool, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.rules {
		if (r.op == "" || r.op == op) && r.left != 0 {
			if r.left > 0 {
				r.left--
			}
			p.entries = append(p.entries, Entry{Op: op, Fault: r.fault.String()})
			return r.fault, true, p.stripTokens
		}
	}
	p.entries = append(p.entries, Entry{Op: op})
	return Fault{}, false, p.stripTokens
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	fault, faulted, strip := p.take(op)
	if strip && op == "TransactWriteItems" {
		body = withoutToken(body)
	}
	if faulted && fault.Kind == Reject {
		writeError(w, fault)
		return
	}
	if faulted && fault.Kind == Delay {
		time.Sleep(fault.Delay)
	}
	resp, err := p.forward(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	switch {
	case faulted && fault.Kind == DropAnswer:
		// Applied; the client never learns it: a reset, not a clean close.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tcp, ok := conn.(*net.TCPConn); ok {
					tcp.SetLinger(0)
				}
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case faulted && fault.Kind == FailAfterCommit:
		writeError(w, fault)
		return
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
}

// forward sends the request to DynamoDB, as it came (the SDK's signature
// covers the host and body; DynamoDB Local does not check it).
func (p *Proxy) forward(r *http.Request, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		if k == "Content-Length" {
			continue
		}
		req.Header[k] = vs
	}
	return p.client.Do(req)
}

func writeError(w http.ResponseWriter, f Fault) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", f.ErrorType)
	w.WriteHeader(f.Status)
	fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected by faultproxy"}`, f.ErrorType)
}

// withoutToken removes "ClientRequestToken" from a TransactWriteItems body.
func withoutToken(body []byte) []byte {
	var in map[string]json.RawMessage
	if json.Unmarshal(body, &in) != nil {
		return body
	}
	delete(in, "ClientRequestToken")
	out, err := json.Marshal(in)
	if err != nil {
		return body
	}
	return out
}
