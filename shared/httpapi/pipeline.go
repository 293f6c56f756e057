package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
)

// Wire is what a dialect supplies to the one request pipeline: its name,
// how it authenticates a request, and how it writes answers. Everything else
// -- the bounded body, the order of the steps, the principal, the log line's
// fields -- is the pipeline's, the same for every dialect.
type Wire struct {
	Dialect string
	// RequestIDHeader carries the request id on every answer.
	RequestIDHeader string
	// OperationOf names the operation a request asks for, for the log line
	// of one refused before its operation runs (AWS's X-Amz-Target); nil
	// where the route names it.
	OperationOf func(*http.Request) string
	// Verify authenticates r, whose body (already read, bounded) is body.
	Verify func(r *http.Request, body []byte, now time.Time) (tenant.Caller, error)
	// WriteResult writes an operation's result.
	WriteResult func(w http.ResponseWriter, result any)
	// WriteError writes err in the dialect's words, and names the error
	// code it wrote in the request's Info (ErrorCode).
	WriteError func(ctx context.Context, w http.ResponseWriter, err error)
	// Refused, if set, is told of every error an operation returned, once
	// the answer is written (package governance records the refusals of
	// deletion calls).
	Refused func(c *Call, err error)
}

// Call is one authenticated request, as an operation sees it.
type Call struct {
	Ctx       context.Context
	Request   *http.Request
	Body      []byte
	Tenant    tenant.Tenant
	Principal keys.Principal
	// Info is the request's log line: operations name the key they act on.
	Info *Info
}

// Decode decodes the body into v (DecodeJSON's rules).
func (c *Call) Decode(v any) error { return DecodeJSON(c.Body, v) }

// Operation serves one call: the result to write, or an error for the
// dialect to translate.
type Operation func(*Call) (any, error)

// Handler is the pipeline for op (its name in the log line; "" for an
// operation that names itself, as AWS's dispatch on X-Amz-Target does):
// read the bounded body, verify the signature over it, make the principal,
// serve, and write the result or the error. Nothing of the body is
// interpreted before the signature holds.
func (wire *Wire) Handler(op string, serve Operation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		info := wire.start(w, r)
		info.Operation = op
		body, err := ReadBody(w, r)
		if err != nil {
			wire.WriteError(ctx, w, err)
			return
		}
		caller, err := wire.Verify(r, body, time.Now())
		if err != nil {
			// The refused request's log lines say whose key it named and,
			// for AWS, which operation it asked for.
			info.AccessKey = auth.ClaimedAccessKey(r)
			if info.Operation == "" && wire.OperationOf != nil {
				info.Operation = wire.OperationOf(r)
			}
			wire.WriteError(ctx, w, err)
			return
		}
		info.Tenant, info.AccessKey = caller.Tenant.ID, caller.AccessKey
		c := &Call{Ctx: ctx, Request: r, Body: body, Tenant: caller.Tenant, Principal: Principal(r, wire.Dialect, caller), Info: info}
		result, err := serve(c)
		if err != nil {
			wire.WriteError(ctx, w, err)
			if wire.Refused != nil {
				wire.Refused(c, err)
			}
			return
		}
		wire.WriteResult(w, result)
	})
}

// Fallback is the route that answers every path under prefix that no
// operation serves, with the error unknown makes of the request.
func (wire *Wire) Fallback(prefix string, unknown func(r *http.Request) error) Route {
	return Route{Action: Fallback, Path: prefix, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wire.start(w, r)
		wire.WriteError(r.Context(), w, unknown(r))
	})}
}

func (wire *Wire) start(w http.ResponseWriter, r *http.Request) *Info {
	info := InfoFrom(r.Context())
	info.Dialect = wire.Dialect
	w.Header().Set(wire.RequestIDHeader, info.RequestID)
	return info
}

// Value is what p points to, or T's zero value.
func Value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// LogAuthFailure logs a request refused by its signature or credentials,
// with the operation it asked for and the access key id it named (never a
// secret): the line an operator looks for when a client is misconfigured.
func LogAuthFailure(ctx context.Context, log *slog.Logger, dialect, reason string) {
	info := InfoFrom(ctx)
	log.InfoContext(ctx, "authentication failed", "dialect", dialect, "operation", info.Operation,
		"accessKey", info.AccessKey, "reason", reason)
}
