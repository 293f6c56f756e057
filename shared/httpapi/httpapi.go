// Package httpapi is the HTTP plumbing the dialects share: the route table,
// request ids and per-request JSON logs, body limits, JSON decoding with
// errors a dialect can translate, and panic recovery.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"

	"github.com/keydeletion/service/shared/jsonlog"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

// Action is what a route does to keys; function mains select routes by it.
type Action string

const (
	Create   Action = "create"
	Describe Action = "describe"
	List     Action = "list"
	Enable   Action = "enable"
	Disable  Action = "disable"
	Schedule Action = "schedule"
	Cancel   Action = "cancel"
	// Approve and Reject answer a deletion held for approval.
	Approve Action = "approve"
	Reject  Action = "reject"
	// DryRun answers what a schedule would do, changing nothing.
	DryRun Action = "dry-run"
	// BulkCancel cancels the pending deletions a filter selects.
	BulkCancel Action = "bulk-cancel"
	// Freeze sets or lifts a tenant's deletion freeze; FreezeState reads it.
	Freeze      Action = "freeze"
	FreezeState Action = "freeze-state"
	// GuardState reads the tripped guards; GuardRelease releases one.
	GuardState   Action = "guard-state"
	GuardRelease Action = "guard-release"
	// Dispatch is a route that serves many actions chosen by a header
	// (AWS's POST / with X-Amz-Target).
	Dispatch Action = "dispatch"
	// Trail reads the audit trail.
	Trail Action = "trail"
	// Local is the local server's own API (its clocks): never a function's.
	Local Action = "local"
	// Fallback routes answer unknown paths with the dialect's own error.
	Fallback Action = "fallback"
)

// Route is one method and path pattern of a dialect (net/http pattern syntax).
type Route struct {
	Action  Action
	Method  string // "" for a Fallback route: any method
	Path    string
	Handler http.Handler
	// Budget is how long the route's work may take (its context's
	// deadline); 0 is the server's budget (DefaultBudget).
	Budget time.Duration
}

// DefaultBudget bounds a request's work: a store that does not answer
// within it gets the dialect's retryable timeout answer rather than none.
// It fits a Lambda function's 10 s timeout; inside Lambda a request's
// deadline also ends deadlineMargin before the invocation's, so that the
// answer is written before Lambda stops the function.
const DefaultBudget = 8 * time.Second

const deadlineMargin = time.Second

// Pattern is the route's net/http ServeMux pattern.
func (r Route) Pattern() string {
	if r.Method == "" {
		return r.Path
	}
	return r.Method + " " + r.Path
}

// Select returns the routes whose action is among actions, plus every
// Fallback route, so that a function serving a few routes still answers the
// others with its dialects' errors.
func Select(routes []Route, actions ...Action) []Route {
	var out []Route
	for _, r := range routes {
		if r.Action == Fallback || slices.Contains(actions, r.Action) {
			out = append(out, r)
		}
	}
	return out
}

// Handler returns the handler that serves routes: each request gets an id,
// a recovered panic, and one log line.
func Handler(log *slog.Logger, routes []Route) *Server {
	mux := http.NewServeMux()
	s := &Server{mux: mux, log: log, routes: routes, budget: DefaultBudget}
	for _, r := range routes {
		h := s.within(r.Budget, r.Handler)
		mux.Handle(r.Pattern(), h)
		if r.Action == Fallback && r.Path != "/" && strings.HasSuffix(r.Path, "/") {
			// ServeMux would redirect "/kms" to "/kms/"; the dialect answers
			// it instead.
			mux.Handle(strings.TrimSuffix(r.Path, "/"), h)
		}
	}
	return s
}

// SetBudget sets the budget of the routes that have none of their own
// (DefaultBudget until then).
func (s *Server) SetBudget(d time.Duration) { s.budget = d }

// within runs h with a deadline: budget from now (the server's when 0),
// and never later than deadlineMargin before the request's own deadline.
func (s *Server) within(budget time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := budget
		if d == 0 {
			d = s.budget
		}
		deadline := time.Now().Add(d)
		if parent, ok := r.Context().Deadline(); ok && parent.Add(-deadlineMargin).Before(deadline) {
			deadline = parent.Add(-deadlineMargin)
		}
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// fallback is the handler of the Fallback route that owns path: the one
// whose prefix is longest.
func (s *Server) fallback(path string) http.Handler {
	var best *Route
	for i, r := range s.routes {
		if r.Action == Fallback && (strings.HasPrefix(path, r.Path) || path+"/" == r.Path) &&
			(best == nil || len(r.Path) > len(best.Path)) {
			best = &s.routes[i]
		}
	}
	if best == nil {
		return http.NotFoundHandler()
	}
	return best.Handler
}

// isCanonicalPath reports whether ServeMux would serve path as it is: a
// path with "//", "." or ".." segments it would answer with a redirect to
// the cleaned path, before any dialect sees the request.
func isCanonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean == p
}

// Server serves a set of routes.
type Server struct {
	mux    *http.ServeMux
	log    *slog.Logger
	routes []Route
	budget time.Duration
}

// Routes returns the routes the server serves.
func (s *Server) Routes() []Route { return s.routes }

// Info describes a request for its log line; handlers fill in what they learn.
type Info struct {
	RequestID string
	Tenant    string // once authenticated
	AccessKey string // once authenticated: the credential's id
	Dialect   string
	Operation string
	KeyID     string
	ErrorCode string // the dialect's error code, on a failure
}

type infoKey struct{}

// InfoFrom returns the request's Info (a throwaway one outside a server).
func InfoFrom(ctx context.Context) *Info {
	if i, ok := ctx.Value(infoKey{}).(*Info); ok {
		return i
	}
	return &Info{}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &Info{RequestID: requestID(r.Context())}
	ctx := jsonlog.WithRequestID(context.WithValue(r.Context(), infoKey{}, info), info.RequestID)
	rec := &statusRecorder{ResponseWriter: w}
	func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(p))
				if rec.status == 0 {
					WriteJSON(rec, http.StatusInternalServerError, "application/json", map[string]string{"message": "internal error"})
				}
			}
		}()
		r = r.WithContext(ctx)
		if !isCanonicalPath(r.URL.EscapedPath()) {
			// Never a redirect: the dialect that owns the path answers with
			// its own error.
			s.within(0, s.fallback(r.URL.EscapedPath())).ServeHTTP(rec, r)
			return
		}
		s.mux.ServeHTTP(rec, r)
	}()
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(ctx, level, "request",
		slog.String("requestId", info.RequestID),
		slog.String("tenant", info.Tenant),
		slog.String("accessKey", info.AccessKey),
		slog.String("dialect", info.Dialect),
		slog.String("operation", info.Operation),
		slog.String("key", info.KeyID),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rec.status),
		slog.String("errorCode", info.ErrorCode),
		slog.Float64("latencyMs", float64(time.Since(start).Microseconds())/1000),
	)
}

// Principal is the caller of r, as the domain records it.
func Principal(r *http.Request, dialect string, c tenant.Caller) keys.Principal {
	return keys.Principal{Tenant: c.Tenant.ID, Dialect: dialect, AccessKey: c.AccessKey,
		Source: r.RemoteAddr, RequestID: InfoFrom(r.Context()).RequestID, Policy: c.Tenant.PolicyFor(c.AccessKey)}
}

// requestID is the Lambda invocation's id inside Lambda (so that log lines
// match Lambda's own), a fresh UUID elsewhere.
func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return uuid.NewString()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// ReadBody reads the whole body up to validation.MaxBodyBytes; a larger body
// is a validation error (Problem TooLong).
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > validation.MaxBodyBytes {
		return nil, validation.BodyTooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, validation.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, validation.BodyTooLarge()
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return nil, ErrRequestTimeout
	case err != nil:
		// A connection cut short: say so without the error's text, which
		// names addresses.
		return nil, &SyntaxError{Err: errors.New("the request body could not be read in full")}
	}
	return body, nil
}

// ErrRequestTimeout is a body that did not arrive within the server's read
// timeout. Each dialect answers it with its gateway's request-timeout error.
var ErrRequestTimeout = errors.New("the request body did not arrive in time")

// SyntaxError is a body that is not a JSON object.
type SyntaxError struct{ Err error }

func (e *SyntaxError) Error() string { return "malformed JSON: " + e.Err.Error() }
func (e *SyntaxError) Unwrap() error { return e.Err }

// TypeError is a JSON value of the wrong type for its field.
type TypeError struct {
	Field string // JSON name, dotted for nested fields
	Want  string
}

func (e *TypeError) Error() string { return fmt.Sprintf("field %s must be %s", e.Field, e.Want) }

// DecodeJSON decodes one JSON object from body into v, reading JSON as the
// vendors' services do: member names match exactly (KEY_ID is not key_id),
// a member given twice is malformed JSON (never "the last one wins"), and
// the text must be valid UTF-8. An empty body decodes as {}; unknown members
// are ignored. Every dialect decodes through here, so these rules hold in one
// place.
//
// The decoder is github.com/go-json-experiment/json, the proposal that Go
// ships as encoding/json/v2 under GOEXPERIMENT=jsonv2: exact names and
// refused duplicates are its defaults.
func DecodeJSON(body []byte, v any) error { return decodeJSON(body, v) }

// DecodeJSONStrict is DecodeJSON that refuses members v does not have: for
// the service's own APIs, where a misspelt field is a mistake to report
// (the dialects ignore unknown members, as their vendors do).
func DecodeJSONStrict(body []byte, v any) error {
	return decodeJSON(body, v, jsonv2.RejectUnknownMembers(true))
}

func decodeJSON(body []byte, v any, opts ...jsonv2.Options) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	err := jsonv2.Unmarshal(body, v, opts...)
	if err == nil {
		return nil
	}
	var (
		semantic  *jsonv2.SemanticError
		syntactic *jsontext.SyntacticError
	)
	switch {
	case errors.Is(err, jsonv2.ErrUnknownName) && errors.As(err, &semantic):
		return &SyntaxError{Err: fmt.Errorf("unknown member %s", memberPath(semantic.JSONPointer))}
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syntactic):
		return &SyntaxError{Err: fmt.Errorf("duplicate member %s", memberPath(syntactic.JSONPointer))}
	case errors.As(err, &syntactic):
		return &SyntaxError{Err: fmt.Errorf("%v at byte %d", syntactic.Err, syntactic.ByteOffset)}
	case errors.As(err, &semantic) && semantic.JSONPointer == "":
		return &SyntaxError{Err: errors.New("body must be a JSON object")}
	case errors.As(err, &semantic) && semantic.GoType != nil:
		return &TypeError{Field: memberPath(semantic.JSONPointer), Want: semantic.GoType.String()}
	}
	return &SyntaxError{Err: err}
}

// memberPath renders a JSON pointer ("/Tags/0/TagKey") as the dotted path
// the dialects' messages use ("Tags.0.TagKey").
func memberPath(p jsontext.Pointer) string {
	var parts []string
	for token := range p.Tokens() {
		parts = append(parts, token)
	}
	return strings.Join(parts, ".")
}

// FromWire returns the domain value that a wire name stands for in a
// dialect's table of names (domain value -> wire name).
func FromWire[K comparable](names map[K]string, wire string) (K, bool) {
	for k, v := range names {
		if v == wire {
			return k, true
		}
	}
	var zero K
	return zero, false
}

// WriteJSON writes v as the response body with status and content type.
func WriteJSON(w http.ResponseWriter, status int, contentType string, v any) {
	writeJSON(w, status, contentType, v, false)
}

// WriteJSONLine is WriteJSON with a newline after the JSON (the service's
// own APIs, read with curl as often as by programs).
func WriteJSONLine(w http.ResponseWriter, status int, contentType string, v any) {
	writeJSON(w, status, contentType, v, true)
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any, newline bool) {
	body, err := json.Marshal(v)
	if err != nil {
		// Every response type here marshals; reaching this is a bug.
		panic(fmt.Sprintf("httpapi: marshal response: %v", err))
	}
	if newline {
		body = append(body, '\n')
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body)
}
