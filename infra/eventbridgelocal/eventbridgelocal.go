// Package eventbridgelocal is a local EventBridge endpoint for tests: it
// decodes the PutEvents requests the AWS SDK sends (JSON 1.1,
// X-Amz-Target: AWSEvents.PutEvents, SigV4-signed for service "events"),
// checks them as EventBridge does, keeps the entries, and answers as
// EventBridge answers.
package eventbridgelocal

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Entry is one PutEvents entry as received.
type Entry struct {
	EventBusName string
	Source       string
	DetailType   string
	Detail       map[string]any
	Resources    []string
	Time         time.Time
}

// Server is the endpoint.
type Server struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	entries  []Entry
	failNext int // entries to refuse, from the next call on
}

// Start starts an endpoint on a loopback port; Close stops it.
func Start() *Server {
	s := &Server{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// StartOn starts an endpoint listening on addr (host:port; port 0 picks
// one): where a function's container reaches it, say.
func StartOn(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Listener.Close()
	s.srv.Listener = ln
	s.srv.Start()
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the endpoint.
func (s *Server) Close() { s.srv.Close() }

// Entries returns the entries accepted so far.
func (s *Server) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Entry(nil), s.entries...)
}

// FailNext makes the endpoint refuse the next n entries it receives
// (FailedEntryCount, as EventBridge does when a target bus throttles).
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	s.failNext = n
	s.mu.Unlock()
}

var scope = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=[^/]+/\d{8}/[a-z0-9-]+/events/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`)

type wireEntry struct {
	EventBusName *string  `json:"EventBusName"`
	Source       *string  `json:"Source"`
	DetailType   *string  `json:"DetailType"`
	Detail       *string  `json:"Detail"`
	Resources    []string `json:"Resources"`
	Time         *float64 `json:"Time"`
}

func fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		fail(w, http.StatusNotFound, "UnknownOperationException", "not found")
		return
	case r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents":
		fail(w, http.StatusBadRequest, "UnknownOperationException", "unknown operation "+r.Header.Get("X-Amz-Target"))
		return
	case !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1"):
		fail(w, http.StatusBadRequest, "SerializationException", "content type")
		return
	case !scope.MatchString(r.Header.Get("Authorization")):
		fail(w, http.StatusBadRequest, "IncompleteSignatureException", "a SigV4 signature for service events is required")
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		fail(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	var in struct {
		Entries []wireEntry `json:"Entries"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		fail(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if len(in.Entries) < 1 || len(in.Entries) > 10 {
		fail(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10 (got %d)", len(in.Entries)))
		return
	}
	type result struct {
		EventID      string `json:"EventId,omitempty"`
		ErrorCode    string `json:"ErrorCode,omitempty"`
		ErrorMessage string `json:"ErrorMessage,omitempty"`
	}
	results := make([]result, len(in.Entries))
	failed := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range in.Entries {
		var detail map[string]any
		switch {
		case s.failNext > 0:
			s.failNext--
			results[i] = result{ErrorCode: "ThrottlingException", ErrorMessage: "Rate exceeded"}
		case e.Source == nil || *e.Source == "" || e.DetailType == nil || *e.DetailType == "" || e.Detail == nil:
			results[i] = result{ErrorCode: "MalformedDetail", ErrorMessage: "Source, DetailType and Detail are required"}
		case strings.HasPrefix(*e.Source, "aws."):
			results[i] = result{ErrorCode: "NotAuthorizedForSourceException", ErrorMessage: "Not authorized for the source."}
		case json.Unmarshal([]byte(*e.Detail), &detail) != nil || detail == nil:
			results[i] = result{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}
		default:
			entry := Entry{Source: *e.Source, DetailType: *e.DetailType, Detail: detail, Resources: e.Resources}
			if e.EventBusName != nil {
				entry.EventBusName = *e.EventBusName
			}
			if e.Time != nil {
				entry.Time = time.UnixMilli(int64(*e.Time * 1000)).UTC()
			}
			s.entries = append(s.entries, entry)
			results[i] = result{EventID: uuid.NewString()}
			continue
		}
		failed++
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"FailedEntryCount": failed, "Entries": results})
}
