// Package ncp speaks Naver Cloud Platform KMS: REST routes under /kms/v1/keys,
// {"code":"SUCCESS","data":...} bodies, times in epoch milliseconds, and the
// API gateway's {"error":{"errorCode","message","details"}} errors. It only
// translates between that wire and the keys service.
package ncp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/auth/ncpsig"
	"github.com/keydeletion/service/shared/governance"
	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

// Dialect names this dialect in routes and logs.
const Dialect = "ncp"

const (
	contentType = "application/json;charset=UTF-8"
	base        = "/kms/v1/keys"
	// NCP's waiting period is fixed: 72 hours, kept as whole days.
	windowDays = validation.NCPWindowHours / 24
)

// Routes returns every NCP route, served by svc. Every request must carry
// an API gateway signature v2 by a key in dir.
func Routes(svc *keys.Service, dir *tenant.Directory, log *slog.Logger) []httpapi.Route {
	a := &api{svc: svc, log: log}
	a.wire = &httpapi.Wire{
		Dialect: Dialect, RequestIDHeader: "X-Request-Id",
		Verify: func(r *http.Request, _ []byte, now time.Time) (tenant.Caller, error) {
			return ncpsig.Verify(r, dir, now)
		},
		WriteResult: func(w http.ResponseWriter, result any) {
			httpapi.WriteJSON(w, http.StatusOK, contentType, map[string]any{"code": "SUCCESS", "data": result})
		},
		WriteError: a.writeError, Refused: governance.Refusals(log),
	}
	return []httpapi.Route{
		a.route(httpapi.Create, "create-key", http.MethodPost, base, a.createKey),
		a.route(httpapi.List, "list-keys", http.MethodGet, base, a.listKeys),
		a.route(httpapi.Describe, "get-key", http.MethodGet, base+"/{keyTag}", keyOp(a.getKey)),
		a.route(httpapi.Enable, "enable-key", http.MethodPost, base+"/{keyTag}/enable", statusOp(a.enable)),
		a.route(httpapi.Disable, "disable-key", http.MethodPost, base+"/{keyTag}/disable", statusOp(a.disable)),
		a.route(httpapi.Schedule, "request-deletion", http.MethodPost, base+"/{keyTag}/request-deletion", statusOp(a.scheduleDeletion)),
		a.route(httpapi.Cancel, "cancel-deletion", http.MethodPost, base+"/{keyTag}/cancel-deletion", statusOp(a.cancelDeletion)),
		a.route(httpapi.Schedule, "delete-key", http.MethodDelete, base+"/{keyTag}", keyOp(a.deleteKey)),
		a.wire.Fallback("/kms/", func(r *http.Request) error {
			return &gatewayError{http.StatusNotFound, "300", "Not Found Exception", "No API at " + r.Method + " " + r.URL.Path}
		}),
	}
}

type api struct {
	svc  *keys.Service
	log  *slog.Logger
	wire *httpapi.Wire
}

// gatewayError is an NCP API gateway error: HTTP status and error code.
type gatewayError struct {
	status  int
	code    string
	message string
	details string
}

func (e *gatewayError) Error() string { return e.message + ": " + e.details }

func badRequest(details string) *gatewayError {
	return &gatewayError{http.StatusBadRequest, "100", "Bad Request Exception", details}
}

func (a *api) route(action httpapi.Action, op, method, path string, serve httpapi.Operation) httpapi.Route {
	return httpapi.Route{Action: action, Method: method, Path: path, Handler: a.wire.Handler(op, serve)}
}

// keyOp serves a key route: the path's keyTag names the key.
func keyOp(serve func(c *httpapi.Call, id string) (any, error)) httpapi.Operation {
	return func(c *httpapi.Call) (any, error) {
		id, err := validation.KeyTag(c.Request.PathValue("keyTag"))
		if err != nil {
			return nil, err
		}
		c.Info.KeyID = id
		return serve(c, id)
	}
}

// Statuses on the wire. NCP has no import state; those keys show
// the internal state's name, so that no NCP status misstates them.
var statusNames = map[keys.State]string{
	keys.Enabled: "ENABLE", keys.Disabled: "DISABLE", keys.PendingDeletion: "REVOKE",
	keys.PendingImport: "PENDING_IMPORT",
}

var keyTypes = map[keys.Spec]string{keys.AES256: "AES256", keys.RSA2048: "RSA2048", keys.ECP256: "ECDSA"}

// keyView is a key as NCP's create-key, get-key and list-keys show it
// (Key API 2.0: keyId is an Integer). rotationPeriod and nextRotationDate
// are null when auto-rotation is off; statusDate and destroyDate (when the
// key is pending deletion) are this service's, from NCP's status answers.
type keyView struct {
	KeyID            int64  `json:"keyId"`
	KeyTag           string `json:"keyTag"`
	KeyName          string `json:"keyName"`
	KeyType          string `json:"keyType"`
	Status           string `json:"status"`
	KeystoreID       int64  `json:"keystoreId"`
	CurrentVersion   int    `json:"currentVersion"`
	ProtectionType   string `json:"protectionType"`
	Memo             string `json:"memo"`
	IsConvergent     bool   `json:"isConvergent"`
	IsAutoRotation   bool   `json:"isAutoRotation"`
	RotationPeriod   *int   `json:"rotationPeriod"`
	NextRotationDate *int64 `json:"nextRotationDate"`
	RegisterDate     int64  `json:"registerDate"`
	StatusDate       int64  `json:"statusDate"`
	DestroyDate      *int64 `json:"destroyDate,omitempty"`
}

// keystoreID is the tenant's keystore number: NCP assigns one logical
// keystore per user; here it is derived from the tenant, stable and 31-bit.
func keystoreID(tenantID string) int64 {
	sum := sha256.Sum256([]byte("ncp-keystore/v1:" + tenantID))
	return int64(binary.BigEndian.Uint32(sum[:4]) & 0x7fffffff)
}

// nextRotation is when an auto-rotating key next rotates: a whole period
// after its creation, or after the last rotation that has come since.
func nextRotation(k keys.Key, now time.Time) int64 {
	period := time.Duration(k.RotationPeriodDays) * 24 * time.Hour
	next := k.CreatedAt.Add(period)
	if now.After(next) {
		next = next.Add(now.Sub(next).Truncate(period) + period)
	}
	return next.UnixMilli()
}

// view is k as the caller sees it at now.
func view(c *httpapi.Call, k keys.Key, now time.Time) keyView {
	v := keyView{
		KeyID: k.Number, KeyTag: validation.KeyTagFor(k.ID), KeyName: k.Alias, KeyType: keyTypes[k.Spec],
		Status: statusNames[k.State], KeystoreID: keystoreID(c.Tenant.ID), CurrentVersion: 1,
		ProtectionType: k.Protection, Memo: k.Description, IsConvergent: k.Convergent,
		IsAutoRotation: k.AutoRotation, RegisterDate: k.CreatedAt.UnixMilli(), StatusDate: k.StateChangedAt.UnixMilli(),
	}
	if k.AutoRotation && k.RotationPeriodDays > 0 {
		period, next := k.RotationPeriodDays, nextRotation(k, now)
		v.RotationPeriod, v.NextRotationDate = &period, &next
	}
	if v.KeyType == "" {
		v.KeyType = string(k.Spec)
	}
	if v.ProtectionType == "" {
		v.ProtectionType = "BASIC"
	}
	if !k.DeleteAt.IsZero() {
		d := k.DeleteAt.UnixMilli()
		v.DestroyDate = &d
	}
	return v
}

type statusView struct {
	KeyTag     string `json:"keyTag"`
	Status     string `json:"status"`
	StatusDate int64  `json:"statusDate"`
}

func status(id string, st keys.State, at time.Time) statusView {
	return statusView{KeyTag: validation.KeyTagFor(id), Status: statusNames[st], StatusDate: at.UnixMilli()}
}

// enable and disable change the status; enabling an ENABLE key (disabling a
// DISABLE one) is refused: NCP documents enable-key as "change the status of
// the key from Disabled to Enabled", and nothing else.
func (a *api) enable(ctx context.Context, p keys.Principal, id string) (statusView, error) {
	k, err := a.svc.Enable(ctx, p, id)
	return status(k.ID, k.State, k.StateChangedAt), err
}

func (a *api) disable(ctx context.Context, p keys.Principal, id string) (statusView, error) {
	k, err := a.svc.Disable(ctx, p, id)
	return status(k.ID, k.State, k.StateChangedAt), err
}

// scheduleDeletion schedules with NCP's fixed window.
func (a *api) scheduleDeletion(ctx context.Context, p keys.Principal, id string) (statusView, error) {
	t, err := a.svc.ScheduleDeletion(ctx, p, id, windowDays)
	return status(t.KeyID, t.State, t.StateChangedAt), err
}

func (a *api) cancelDeletion(ctx context.Context, p keys.Principal, id string) (statusView, error) {
	t, err := a.svc.CancelDeletion(ctx, p, id)
	return status(t.KeyID, t.State, t.StateChangedAt), err
}

// deleteKey is DELETE /keys/{keyTag}: the immediate deletion of a key in
// REVOKE. It answers {"code":"SUCCESS","data":null}.
func (a *api) deleteKey(c *httpapi.Call, id string) (any, error) {
	_, err := a.svc.DeleteNow(c.Ctx, c.Principal, id)
	return nil, err
}

// statusOp serves a key route that changes the key's status and answers
// with the new status.
func statusOp(op func(ctx context.Context, p keys.Principal, id string) (statusView, error)) httpapi.Operation {
	return keyOp(func(c *httpapi.Call, id string) (any, error) {
		st, err := op(c.Ctx, c.Principal, id)
		if err != nil {
			return nil, err
		}
		return st, nil
	})
}

func (a *api) getKey(c *httpapi.Call, id string) (any, error) {
	k, err := a.svc.Get(c.Ctx, c.Principal, id)
	if err != nil {
		return nil, err
	}
	return view(c, k, a.svc.Now(c.Principal.Tenant)), nil
}

const (
	defaultPageSize = 100 // NCP's documented default
	maxPageSize     = 200
)

func (a *api) listKeys(c *httpapi.Call) (any, error) {
	q := c.Request.URL.Query()
	pageNo, pageSize := 1, defaultPageSize
	var err error
	if s := q.Get("pageNo"); s != "" {
		if pageNo, err = validation.DecimalString("pageNo", s, 1, 1_000_000); err != nil {
			return nil, err
		}
	}
	if s := q.Get("pageSize"); s != "" {
		if pageSize, err = validation.DecimalString("pageSize", s, 1, maxPageSize); err != nil {
			return nil, err
		}
	}
	page, err := a.svc.ListNumbered(c.Ctx, c.Principal, keys.NumberedQuery{Offset: (pageNo - 1) * pageSize, Limit: pageSize})
	if err != nil {
		return nil, err
	}
	list := make([]keyView, 0, len(page.Keys))
	now := a.svc.Now(c.Principal.Tenant)
	for _, k := range page.Keys {
		list = append(list, view(c, k, now))
	}
	return map[string]any{
		"keyList": list, "currentPageNo": pageNo, "totalCount": page.Total,
		"totalPageNo": (page.Total + pageSize - 1) / pageSize,
	}, nil
}

// NCP's create-key limits (Key API 2.0).
const (
	defaultRotationDays = 90
	maxRotationDays     = 730
	maxMemoLength       = 100
)

func (a *api) createKey(c *httpapi.Call) (any, error) {
	// Only create-key has a body; the key routes take none.
	if err := validation.ContentType(c.Request.Header.Get("Content-Type"), "application/json"); err != nil {
		return nil, err
	}
	var req struct {
		KeyName        *string `json:"keyName"`
		KeyType        *string `json:"keyType"`
		IsAutoRotation *bool   `json:"isAutoRotation"`
		RotationPeriod *int    `json:"rotationPeriod"`
		ProtectionType *string `json:"protectionType"`
		Memo           *string `json:"memo"`
		IsConvergent   *bool   `json:"isConvergent"`
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if err := validation.NCPKeyName(httpapi.Value(req.KeyName)); err != nil {
		return nil, err
	}
	if err := validation.Required("keyType", req.KeyType != nil); err != nil {
		return nil, err
	}
	spec, ok := httpapi.FromWire(keyTypes, *req.KeyType)
	if !ok {
		return nil, validation.OneOf("keyType", *req.KeyType, "AES256", "RSA2048", "ECDSA")
	}
	if err := validation.Required("isAutoRotation", req.IsAutoRotation != nil); err != nil {
		return nil, err
	}
	if err := validation.Required("protectionType", req.ProtectionType != nil); err != nil {
		return nil, err
	}
	if err := validation.OneOf("protectionType", *req.ProtectionType, "BASIC", "COMMON_HSM"); err != nil {
		return nil, err
	}
	period := 0
	switch {
	case *req.IsAutoRotation && req.RotationPeriod == nil:
		period = defaultRotationDays
	case *req.IsAutoRotation:
		if err := validation.IntRange("rotationPeriod", *req.RotationPeriod, 1, maxRotationDays); err != nil {
			return nil, err
		}
		period = *req.RotationPeriod
	case req.RotationPeriod != nil:
		return nil, badRequest("rotationPeriod can be set only when isAutoRotation is true.")
	}
	if req.Memo != nil && len([]rune(*req.Memo)) > maxMemoLength {
		return nil, validation.Description("memo", *req.Memo, maxMemoLength)
	}
	convergent := req.IsConvergent != nil && *req.IsConvergent
	if convergent && spec != keys.AES256 {
		return nil, badRequest("isConvergent can be set only for keyType AES256.")
	}
	// NCP's RSA2048 keys encrypt and sign; the domain keeps one usage, and
	// NCP's first-named purpose is encryption. Other types take their
	// spec's default (ECDSA signs).
	usage := keys.Usage("")
	if spec == keys.RSA2048 {
		usage = keys.EncryptDecrypt
	}
	k, err := a.svc.Create(c.Ctx, c.Principal, keys.CreateRequest{
		Alias: *req.KeyName, Description: httpapi.Value(req.Memo), Spec: spec, Usage: usage,
		AutoRotation: *req.IsAutoRotation, RotationPeriodDays: period, Protection: *req.ProtectionType,
		Convergent: convergent,
	})
	if err != nil {
		return nil, err
	}
	c.Info.KeyID = k.ID
	return view(c, k, a.svc.Now(c.Principal.Tenant)), nil
}

func (a *api) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	var (
		ge       *gatewayError
		verr     *validation.Error
		syntax   *httpapi.SyntaxError
		typeErr  *httpapi.TypeError
		stateErr *keys.StateError
		denied   *keys.PolicyError
	)
	authErr, isAuth := auth.As(err)
	switch {
	case isAuth:
		httpapi.LogAuthFailure(ctx, a.log, Dialect, authErr.Detail)
		ge = &gatewayError{http.StatusUnauthorized, "200", "Authentication Failed", authErr.Detail}
	case errors.As(err, &ge):
	case errors.As(err, &denied):
		details := denied.Reason() + "."
		if denied.Rule == keys.RuleMinWindow && denied.Days == windowDays {
			details = fmt.Sprintf("NCP's deletion window is fixed at %d hours, and this tenant's deletion policy requires at least %d days: schedule the deletion through the AWS or Huawei Cloud API, whose waiting period can be set.",
				validation.NCPWindowHours, denied.Limit)
		}
		ge = &gatewayError{http.StatusUnauthorized, "210", "Permission Denied", details}
	case errors.Is(err, keys.ErrBusy):
		a.log.WarnContext(ctx, "store busy", "dialect", Dialect, "error", err.Error())
		ge = &gatewayError{http.StatusTooManyRequests, "410", "Throttle Limited", "The service is busy; retry."}
	case errors.Is(err, keys.ErrStoreTimeout), errors.Is(err, keys.ErrUnavailable):
		// The API gateway's answer for a backend that failed (its error
		// table: 503, code 500), which clients retry.
		a.log.WarnContext(ctx, "store unavailable", "dialect", Dialect, "error", err.Error())
		ge = &gatewayError{http.StatusServiceUnavailable, "500", "Endpoint Error", "The service is unavailable; retry."}
	case errors.Is(err, httpapi.ErrRequestTimeout):
		ge = &gatewayError{http.StatusRequestTimeout, "100", "Request Timeout", "The request body did not arrive in time."}
	case errors.Is(err, keys.ErrNotFound), errors.Is(err, validation.ErrUnknownKeyTag):
		ge = &gatewayError{http.StatusNotFound, "300", "Not Found Exception", "The key does not exist."}
	case errors.As(err, &verr) && verr.Field == "body":
		ge = &gatewayError{http.StatusRequestEntityTooLarge, "430", "Request Entity Too Large", verr.Detail}
	case errors.As(err, &verr):
		ge = badRequest(verr.Error())
	case errors.As(err, &syntax):
		ge = badRequest(syntax.Error())
	case errors.As(err, &typeErr):
		ge = badRequest(typeErr.Error())
	case errors.As(err, &stateErr):
		ge = badRequest("The key status " + statusNames[stateErr.State] + " does not allow " + string(stateErr.Op) + ".")
	case errors.Is(err, keys.ErrAliasExists):
		ge = badRequest("keyName is already in use.")
	case errors.Is(err, keys.ErrIncompatibleUsage):
		ge = badRequest(err.Error())
	default:
		a.log.ErrorContext(ctx, "internal error", "dialect", Dialect, "error", err.Error())
		ge = &gatewayError{http.StatusInternalServerError, "900", "Internal Server Error", "An internal error occurred."}
	}
	httpapi.InfoFrom(ctx).ErrorCode = ge.code
	httpapi.WriteJSON(w, ge.status, contentType, map[string]map[string]string{
		"error": {"errorCode": ge.code, "message": ge.message, "details": ge.details},
	})
}
