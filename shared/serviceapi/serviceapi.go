// Package serviceapi is what the service's own APIs share: the audit trail
// and the local server's clock, which are no vendor's. Each answers every
// team in one shape, {"error":{"code","message"}} for errors, and takes the
// credentials the team already has, signed in any dialect's scheme.
package serviceapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/auth/awssig"
	"github.com/keydeletion/service/shared/auth/huaweisig"
	"github.com/keydeletion/service/shared/auth/ncpsig"
	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

const contentType = "application/json"

// Error is an answer other than success: {"error":{"code","message"}}.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Invalid is a request parameter's error (400 InvalidParameter).
func Invalid(message string) *Error {
	return &Error{http.StatusBadRequest, "InvalidParameter", message}
}

// Wire is the request pipeline's part for one of these APIs, named dialect
// in the log lines.
func Wire(dialect string, dir *tenant.Directory, log *slog.Logger) *httpapi.Wire {
	return &httpapi.Wire{
		Dialect: dialect, RequestIDHeader: "X-Request-Id",
		Verify: func(r *http.Request, body []byte, now time.Time) (tenant.Caller, error) {
			return Verify(r, body, dir, now)
		},
		WriteResult: func(w http.ResponseWriter, result any) {
			status := http.StatusOK
			if a, ok := result.(accepted); ok {
				status, result = http.StatusAccepted, a.result
			}
			writeJSON(w, status, result)
		},
		WriteError: func(ctx context.Context, w http.ResponseWriter, err error) {
			writeError(ctx, w, err, dialect, log)
		},
	}
}

// accepted is a result answered with 202 Accepted.
type accepted struct{ result any }

// Accepted makes result an answer of 202 Accepted: the request was taken,
// and its work goes on.
func Accepted(result any) any { return accepted{result} }

// writeJSON writes v as one line of JSON, newline included: these APIs are
// read by people with curl as much as by programs.
func writeJSON(w http.ResponseWriter, status int, v any) {
	httpapi.WriteJSONLine(w, status, contentType, v)
}

// NotFound is the fallback under prefix: no such API.
func NotFound(wire *httpapi.Wire, prefix string) httpapi.Route {
	return wire.Fallback(prefix, func(r *http.Request) error {
		return &Error{http.StatusNotFound, "NotFound", "No API at " + r.Method + " " + r.URL.Path}
	})
}

// Verify authenticates r with the scheme it uses: AWS SigV4 (service
// "kms", as for KMS calls), Huawei SDK-HMAC-SHA256 or X-Auth-Token (with
// X-Project-Id naming one of the tenant's projects), or NCP's API gateway
// signature v2.
func Verify(r *http.Request, body []byte, dir *tenant.Directory, now time.Time) (tenant.Caller, error) {
	authz := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(authz, "AWS4-HMAC-SHA256 "):
		return awssig.Verify(r, body, dir, now)
	case strings.HasPrefix(authz, "SDK-HMAC-SHA256 ") || r.Header.Get("X-Auth-Token") != "":
		project := r.Header.Get("X-Project-Id")
		if err := validation.ProjectID(project); err != nil {
			return tenant.Caller{}, auth.Fail(auth.Malformed, "Huawei credentials need X-Project-Id: one of the tenant's projects")
		}
		return huaweisig.Verify(r, body, project, dir, now)
	case r.Header.Get("x-ncp-apigw-signature-v2") != "" || r.Header.Get("x-ncp-iam-access-key") != "":
		return ncpsig.Verify(r, dir, now)
	}
	return tenant.Caller{}, auth.Fail(auth.Missing, "sign the request as for AWS KMS (SigV4), Huawei Cloud KMS (SDK-HMAC-SHA256 or X-Auth-Token) or NCP KMS (API gateway signature v2)")
}

func writeError(ctx context.Context, w http.ResponseWriter, err error, dialect string, log *slog.Logger) {
	var (
		ae      *Error
		verr    *validation.Error
		syntax  *httpapi.SyntaxError
		typeErr *httpapi.TypeError
	)
	authErr, isAuth := auth.As(err)
	switch {
	case isAuth && authErr.Reason == auth.WrongProject:
		ae = &Error{http.StatusForbidden, "AccessDenied", authErr.Detail}
	case isAuth:
		httpapi.LogAuthFailure(ctx, log, dialect, authErr.Detail)
		ae = &Error{http.StatusUnauthorized, "AuthenticationFailed", authErr.Detail}
	case errors.As(err, &ae):
	case errors.Is(err, httpapi.ErrRequestTimeout):
		ae = &Error{http.StatusRequestTimeout, "RequestTimeout", "The request did not arrive in time."}
	case errors.As(err, &verr) && verr.Field == "body":
		ae = &Error{http.StatusRequestEntityTooLarge, "RequestTooLarge", verr.Detail}
	case errors.As(err, &verr):
		ae = Invalid(verr.Error())
	case errors.As(err, &syntax):
		ae = &Error{http.StatusBadRequest, "MalformedRequest", "The body is not valid JSON: " + syntax.Error()}
	case errors.As(err, &typeErr):
		ae = &Error{http.StatusBadRequest, "MalformedRequest", typeErr.Error()}
	case Refused(err) != nil:
		ae = Refused(err)
	case errors.Is(err, keys.ErrBusy):
		log.WarnContext(ctx, "store busy", "dialect", dialect, "error", err.Error())
		ae = &Error{http.StatusTooManyRequests, "Throttled", "The service is busy; retry."}
	case errors.Is(err, keys.ErrStoreTimeout):
		log.WarnContext(ctx, "store timed out", "dialect", dialect, "error", err.Error())
		ae = &Error{http.StatusGatewayTimeout, "StoreTimeout", "The key store did not answer in time; retry."}
	case errors.Is(err, keys.ErrUnavailable):
		log.WarnContext(ctx, "store unavailable", "dialect", dialect, "error", err.Error())
		ae = &Error{http.StatusServiceUnavailable, "StoreUnavailable", "The key store is unavailable; retry."}
	default:
		log.ErrorContext(ctx, "internal error", "dialect", dialect, "error", err.Error())
		ae = &Error{http.StatusInternalServerError, "InternalError", "An internal error occurred."}
	}
	httpapi.InfoFrom(ctx).ErrorCode = ae.Code
	writeJSON(w, ae.Status, map[string]map[string]string{"error": {"code": ae.Code, "message": ae.Message}})
}

// Refused is the answer to a call the domain refused: 403 AccessDenied by
// the deletion policy, 409 InvalidState by the key's state, 404
// KeyNotFound; nil for any other error.
func Refused(err error) *Error {
	var (
		denied   *keys.PolicyError
		stateErr *keys.StateError
	)
	switch {
	case errors.As(err, &denied):
		return &Error{http.StatusForbidden, "AccessDenied", denied.Reason()}
	case errors.As(err, &stateErr):
		return &Error{http.StatusConflict, "InvalidState", stateMessage(stateErr)}
	case errors.Is(err, keys.ErrNotFound):
		return &Error{http.StatusNotFound, "KeyNotFound", "No such key."}
	}
	return nil
}

// stateMessage says why the key's state refused the call.
func stateMessage(e *keys.StateError) string {
	if e.NotHeld {
		return "The key's deletion does not await approval."
	}
	return "The key is " + string(e.State) + "."
}
