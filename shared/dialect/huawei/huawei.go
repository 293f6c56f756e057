// Package huawei speaks Huawei Cloud KMS v1.0: POST /v1.0/{project_id}/kms/<operation>,
// string-valued JSON bodies, {"error":{"error_code","error_msg"}} errors.
// It only translates between that wire and the keys service.
package huawei

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/auth/huaweisig"
	"github.com/keydeletion/service/shared/governance"
	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

// Dialect names this dialect in routes and logs.
const Dialect = "huawei"

const contentType = "application/json;charset=UTF-8"

// Routes returns every Huawei route, served by svc. Every request must
// carry an X-Auth-Token or an SDK-HMAC-SHA256 signature of a tenant in dir
// that owns the path's project.
func Routes(svc *keys.Service, dir *tenant.Directory, log *slog.Logger) []httpapi.Route {
	a := &api{svc: svc, log: log}
	a.wire = &httpapi.Wire{
		Dialect: Dialect, RequestIDHeader: "X-Request-Id",
		Verify: func(r *http.Request, body []byte, now time.Time) (tenant.Caller, error) {
			projectID := r.PathValue("project_id")
			if err := validation.ProjectID(projectID); err != nil {
				return tenant.Caller{}, err
			}
			return huaweisig.Verify(r, body, projectID, dir, now)
		},
		WriteResult: func(w http.ResponseWriter, result any) {
			httpapi.WriteJSON(w, http.StatusOK, contentType, result)
		},
		WriteError: a.writeError, Refused: governance.Refusals(log),
	}
	return []httpapi.Route{
		a.route(httpapi.Create, "create-key", a.createKey),
		a.route(httpapi.Describe, "describe-key", a.describeKey),
		a.route(httpapi.List, "list-keys", a.listKeys),
		a.route(httpapi.Enable, "enable-key", a.enableKey),
		a.route(httpapi.Disable, "disable-key", a.disableKey),
		a.route(httpapi.Schedule, "schedule-key-deletion", a.scheduleKeyDeletion),
		a.route(httpapi.Cancel, "cancel-key-deletion", a.cancelKeyDeletion),
		a.wire.Fallback("/v1.0/", func(r *http.Request) error {
			return &kmsError{http.StatusBadRequest, "KMS.0201", "Invalid request URL: " + r.Method + " " + r.URL.Path}
		}),
	}
}

type api struct {
	svc  *keys.Service
	log  *slog.Logger
	wire *httpapi.Wire
}

// kmsError is an error of KMS's table, as it is written.
type kmsError struct {
	status int
	code   string
	msg    string
}

func (e *kmsError) Error() string { return e.code + ": " + e.msg }

// route is one operation: POST /v1.0/{project_id}/kms/<op>, whose body is JSON.
func (a *api) route(action httpapi.Action, op string, serve httpapi.Operation) httpapi.Route {
	return httpapi.Route{Action: action, Method: http.MethodPost, Path: "/v1.0/{project_id}/kms/" + op,
		Handler: a.wire.Handler(op, func(c *httpapi.Call) (any, error) {
			if err := validation.ContentType(c.Request.Header.Get("Content-Type"), "application/json"); err != nil {
				return nil, err
			}
			return serve(c)
		})}
}

// Key states on the wire.
var stateCodes = map[keys.State]string{
	keys.Enabled: "2", keys.Disabled: "3", keys.PendingDeletion: "4", keys.PendingImport: "5",
}

var originNames = map[keys.Origin]string{keys.OriginKMS: "kms", keys.OriginExternal: "external"}

// keyRequest is the body of describe-key, enable-key, disable-key and cancel-key-deletion.
type keyRequest struct {
	KeyID    *string `json:"key_id"`
	Sequence *string `json:"sequence"`
}

func keyID(c *httpapi.Call) (string, error) {
	var req keyRequest
	if err := c.Decode(&req); err != nil {
		return "", err
	}
	return checkKey(c, req.KeyID, req.Sequence)
}

func checkKey(c *httpapi.Call, keyID, seq *string) (string, error) {
	if err := validation.KeyID("key_id", httpapi.Value(keyID)); err != nil {
		return "", err
	}
	if err := validation.Sequence(seq); err != nil {
		return "", err
	}
	c.Info.KeyID = *keyID
	return *keyID, nil
}

func names[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

type keyStatus struct {
	KeyID    string `json:"key_id"`
	KeyState string `json:"key_state"`
}

func (a *api) scheduleKeyDeletion(c *httpapi.Call) (any, error) {
	var req struct {
		KeyID       *string `json:"key_id"`
		PendingDays *string `json:"pending_days"`
		Sequence    *string `json:"sequence"`
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	id, err := checkKey(c, req.KeyID, req.Sequence)
	if err != nil {
		return nil, err
	}
	days, err := validation.HuaweiPendingDays(httpapi.Value(req.PendingDays))
	if err != nil {
		return nil, err
	}
	t, err := a.svc.ScheduleDeletion(c.Ctx, c.Principal, id, days)
	if err != nil {
		return nil, err
	}
	return keyStatus{KeyID: t.KeyID, KeyState: stateCodes[t.State]}, nil
}

// keyOp runs op on the key a key_id request names and returns its new state.
func (a *api) keyOp(c *httpapi.Call, op func(ctx context.Context, p keys.Principal, id string, opts ...keys.Option) (keys.Key, error)) (keyStatus, error) {
	id, err := keyID(c)
	if err != nil {
		return keyStatus{}, err
	}
	k, err := op(c.Ctx, c.Principal, id)
	if err != nil {
		return keyStatus{}, err
	}
	return keyStatus{KeyID: k.ID, KeyState: stateCodes[k.State]}, nil
}

func (a *api) cancelKeyDeletion(c *httpapi.Call) (any, error) {
	id, err := keyID(c)
	if err != nil {
		return nil, err
	}
	t, err := a.svc.CancelDeletion(c.Ctx, c.Principal, id)
	if err != nil {
		return nil, err
	}
	return keyStatus{KeyID: t.KeyID, KeyState: stateCodes[t.State]}, nil
}

// enable-key and disable-key wrap the status in key_info. Enabling an
// enabled key (disabling a disabled one) is KMS.1201 (KMS.1301), as
// Huawei's error table has it.
func (a *api) enableKey(c *httpapi.Call) (any, error) {
	st, err := a.keyOp(c, a.svc.Enable)
	return map[string]keyStatus{"key_info": st}, err
}

func (a *api) disableKey(c *httpapi.Call) (any, error) {
	st, err := a.keyOp(c, a.svc.Disable)
	return map[string]keyStatus{"key_info": st}, err
}

func (a *api) createKey(c *httpapi.Call) (any, error) {
	var req struct {
		KeyAlias       *string `json:"key_alias"`
		KeySpec        *string `json:"key_spec"`
		KeyUsage       *string `json:"key_usage"`
		KeyDescription *string `json:"key_description"`
		Origin         *string `json:"origin"`
		Sequence       *string `json:"sequence"`
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if err := validation.HuaweiAlias(httpapi.Value(req.KeyAlias)); err != nil {
		return nil, err
	}
	if err := validation.Sequence(req.Sequence); err != nil {
		return nil, err
	}
	if err := validation.Description("key_description", httpapi.Value(req.KeyDescription), 255); err != nil {
		return nil, err
	}
	cr := keys.CreateRequest{Alias: *req.KeyAlias, Description: httpapi.Value(req.KeyDescription)}
	// Huawei's spec and usage names are the domain's own.
	if req.KeySpec != nil {
		if err := validation.OneOf("key_spec", *req.KeySpec, names(keys.Specs())...); err != nil {
			return nil, err
		}
		cr.Spec = keys.Spec(*req.KeySpec)
	}
	if req.KeyUsage != nil {
		if err := validation.OneOf("key_usage", *req.KeyUsage, names(keys.Usages())...); err != nil {
			return nil, err
		}
		cr.Usage = keys.Usage(*req.KeyUsage)
	}
	if req.Origin != nil {
		o, ok := httpapi.FromWire(originNames, *req.Origin)
		if !ok {
			return nil, validation.OneOf("origin", *req.Origin, "kms", "external")
		}
		cr.Origin = o
	}
	k, err := a.svc.Create(c.Ctx, c.Principal, cr)
	if err != nil {
		return nil, err
	}
	c.Info.KeyID = k.ID
	return map[string]any{"key_info": map[string]string{
		"key_id": k.ID, "domain_id": c.Tenant.HuaweiDomainID, "region_id": c.Tenant.HuaweiRegion,
	}}, nil
}

// keyDetails is a key as describe-key and list-keys show it. Dates are epoch
// milliseconds in strings, as Huawei's documented examples show.
type keyDetails struct {
	KeyID                  string `json:"key_id"`
	DomainID               string `json:"domain_id"`
	KeyAlias               string `json:"key_alias"`
	Realm                  string `json:"realm"`
	KeySpec                string `json:"key_spec"`
	KeyUsage               string `json:"key_usage"`
	KeyDescription         string `json:"key_description"`
	CreationDate           string `json:"creation_date"`
	ScheduledDeletionDate  string `json:"scheduled_deletion_date"`
	KeyState               string `json:"key_state"`
	DefaultKeyFlag         string `json:"default_key_flag"`
	KeyType                string `json:"key_type"`
	ExpirationTime         string `json:"expiration_time"`
	Origin                 string `json:"origin"`
	KeyRotationEnabled     string `json:"key_rotation_enabled"`
	SysEnterpriseProjectID string `json:"sys_enterprise_project_id"`
}

func details(t tenant.Tenant, k keys.Key) keyDetails {
	d := keyDetails{
		KeyID: k.ID, DomainID: t.HuaweiDomainID, KeyAlias: k.Alias, Realm: t.HuaweiRegion,
		KeySpec: string(k.Spec), KeyUsage: string(k.Usage), KeyDescription: k.Description,
		CreationDate: strconv.FormatInt(k.CreatedAt.UnixMilli(), 10), KeyState: stateCodes[k.State],
		DefaultKeyFlag: "0", KeyType: "1", Origin: originNames[k.Origin],
		KeyRotationEnabled: strconv.FormatBool(k.AutoRotation), SysEnterpriseProjectID: "0",
	}
	if !k.DeleteAt.IsZero() {
		d.ScheduledDeletionDate = strconv.FormatInt(k.DeleteAt.UnixMilli(), 10)
	}
	return d
}

func (a *api) describeKey(c *httpapi.Call) (any, error) {
	id, err := keyID(c)
	if err != nil {
		return nil, err
	}
	k, err := a.svc.Get(c.Ctx, c.Principal, id)
	if err != nil {
		return nil, err
	}
	return map[string]keyDetails{"key_info": details(c.Tenant, k)}, nil
}

const maxListLimit = 1000

// listKeySpecs are the key_spec values list-keys takes (the SDK's model):
// every spec, or "ALL". Without one, list-keys lists AES_256 keys only.
var listKeySpecs = append([]string{"ALL", "SM4", "SM2"}, names(keys.Specs())...)

// list-keys pages by offset: marker is the position of the first key to
// return ("0" is the start), next_marker the position after the last one
// returned, as the API reference's example ("marker": "10") shows.
func (a *api) listKeys(c *httpapi.Call) (any, error) {
	var req struct {
		Limit    *string `json:"limit"`
		Marker   *string `json:"marker"`
		KeyState *string `json:"key_state"`
		KeySpec  *string `json:"key_spec"`
		Sequence *string `json:"sequence"`
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	if err := validation.Sequence(req.Sequence); err != nil {
		return nil, err
	}
	limit := maxListLimit
	if req.Limit != nil {
		var err error
		if limit, err = validation.DecimalString("limit", *req.Limit, 1, maxListLimit); err != nil {
			return nil, err
		}
	}
	offset := 0
	if m := httpapi.Value(req.Marker); m != "" {
		var err error
		if offset, err = validation.DecimalString("marker", m, 0, 1<<30); err != nil {
			return nil, err
		}
	}
	if req.KeyState != nil {
		if err := validation.OneOf("key_state", *req.KeyState, "1", "2", "3", "4", "5", "7"); err != nil {
			return nil, err
		}
	}
	spec := string(keys.AES256)
	if req.KeySpec != nil {
		if err := validation.OneOf("key_spec", *req.KeySpec, listKeySpecs...); err != nil {
			return nil, err
		}
		spec = *req.KeySpec
	}
	q := keys.NumberedQuery{Offset: offset, Limit: limit}
	if spec != "ALL" {
		q.Spec = keys.Spec(spec)
	}
	var page keys.NumberedPage
	known := true // a code no key of this service is ever in lists nothing
	if req.KeyState != nil {
		q.State, known = httpapi.FromWire(stateCodes, *req.KeyState)
	}
	if known {
		var err error
		if page, err = a.svc.ListNumbered(c.Ctx, c.Principal, q); err != nil {
			return nil, err
		}
	}
	ids := make([]string, 0, len(page.Keys))
	dets := make([]keyDetails, 0, len(page.Keys))
	for _, k := range page.Keys {
		ids = append(ids, k.ID)
		dets = append(dets, details(c.Tenant, k))
	}
	end := offset + len(page.Keys)
	resp := map[string]any{"keys": ids, "key_details": dets, "next_marker": "", "truncated": "false", "total": page.Total}
	if end < page.Total {
		resp["next_marker"], resp["truncated"] = strconv.Itoa(end), "true"
	}
	return resp, nil
}

// Error codes for inputs, by field (Huawei's error-code table); any other
// field's error is KMS.0308, a missing field KMS.0204.
var fieldCodes = map[string]string{
	"key_id":          "KMS.0205",
	"sequence":        "KMS.0206",
	"pending_days":    "KMS.1401",
	"project_id":      "KMS.0201",
	"body":            "KMS.0203",
	"Content-Type":    "KMS.0202",
	"key_alias":       "KMS.1101",
	"key_description": "KMS.1103",
	"limit":           "KMS.1601",
	"marker":          "KMS.1602",
}

// The table's words for those codes.
var codeMessages = map[string]string{
	"KMS.1101": "Invalid key_alias.", "KMS.1103": "Invalid key_description.",
	"KMS.1601": "Invalid limit.", "KMS.1602": "Invalid marker.",
}

func (a *api) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	var (
		denied   *keys.PolicyError
		kerr     *kmsError
		verr     *validation.Error
		syntax   *httpapi.SyntaxError
		typeErr  *httpapi.TypeError
		stateErr *keys.StateError
		usageErr *keys.UsageError
	)
	if ae, ok := auth.As(err); ok {
		httpapi.LogAuthFailure(ctx, a.log, Dialect, ae.Detail)
		if ae.Reason == auth.WrongProject {
			// Authenticated, but not for this project: KMS's own refusal.
			writeError(ctx, w, http.StatusForbidden, "KMS.0305", ae.Detail)
			return
		}
		// Everything else is refused by Huawei's API gateway before KMS,
		// in the gateway's shape and words.
		writeGatewayError(ctx, w, http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: "+ae.Detail)
		return
	}
	switch {
	case errors.As(err, &kerr):
		writeError(ctx, w, kerr.status, kerr.code, kerr.msg)
	case errors.As(err, &denied):
		// KMS's table: no permission on the key (0306) or on the API (0307).
		if denied.Rule == keys.RuleOperation || denied.Rule == keys.RuleMinWindow || denied.Rule == keys.RuleMaxWindow {
			writeError(ctx, w, http.StatusForbidden, "KMS.0307", "No permission to call the API: "+denied.Reason()+".")
		} else {
			writeError(ctx, w, http.StatusForbidden, "KMS.0306", "No permission on the key: "+denied.Reason()+".")
		}
	case errors.Is(err, keys.ErrBusy):
		// Throttling or contention that outlasted the store's retries: the
		// gateway's throttling answer, which clients retry.
		a.log.WarnContext(ctx, "store busy", "dialect", Dialect, "error", err.Error())
		writeGatewayError(ctx, w, http.StatusTooManyRequests, "APIG.0308", "The throttling threshold has been reached.")
	case errors.Is(err, keys.ErrStoreTimeout):
		// The API gateway's answers for a backend that timed out or failed
		// (its error table), never KMS's internal error.
		a.log.WarnContext(ctx, "store timed out", "dialect", Dialect, "error", err.Error())
		writeGatewayError(ctx, w, http.StatusGatewayTimeout, "APIG.0201", "Backend timeout.")
	case errors.Is(err, keys.ErrUnavailable):
		a.log.WarnContext(ctx, "store unavailable", "dialect", Dialect, "error", err.Error())
		writeGatewayError(ctx, w, http.StatusBadGateway, "APIG.0201", "Backend unavailable.")
	case errors.Is(err, httpapi.ErrRequestTimeout):
		// Huawei's API gateway answers a request that never arrived in full,
		// in its own error shape, before KMS sees it.
		writeGatewayError(ctx, w, http.StatusRequestTimeout, "APIG.0201", "Request timeout.")
	case errors.As(err, &verr):
		code, ok := fieldCodes[verr.Field]
		if verr.Problem == validation.Missing {
			code = "KMS.0204"
		} else if !ok {
			code = "KMS.0308"
		}
		msg := verr.Error()
		if verr.Field == "pending_days" {
			msg = "The pending deletion period must be 7 to 1096 days."
		} else if m, ok := codeMessages[code]; ok {
			msg = m + " " + verr.Error()
		}
		writeError(ctx, w, http.StatusBadRequest, code, msg)
	case errors.As(err, &syntax):
		writeError(ctx, w, http.StatusBadRequest, "KMS.0202", "Invalid JSON: "+syntax.Err.Error())
	case errors.As(err, &typeErr):
		writeError(ctx, w, http.StatusBadRequest, "KMS.0308", "Invalid parameter: "+typeErr.Field+" must be a string.")
	case errors.Is(err, keys.ErrNotFound):
		writeError(ctx, w, http.StatusNotFound, "KMS.0207", "The key does not exist.")
	case errors.As(err, &stateErr):
		code, msg := stateError(stateErr)
		writeError(ctx, w, http.StatusBadRequest, code, msg)
	case errors.Is(err, keys.ErrAliasExists):
		writeError(ctx, w, http.StatusBadRequest, "KMS.1104", "The key alias already exists.")
	case errors.As(err, &usageErr):
		writeError(ctx, w, http.StatusBadRequest, "KMS.0308", "Invalid parameter: key_spec "+string(usageErr.Spec)+" does not support key_usage "+string(usageErr.Usage)+".")
	default:
		a.log.ErrorContext(ctx, "internal error", "dialect", Dialect, "error", err.Error())
		writeError(ctx, w, http.StatusInternalServerError, "KMS.0101", "Internal error.")
	}
}

func stateError(e *keys.StateError) (code, msg string) {
	switch {
	case e.Op == keys.OpSchedule && e.State == keys.PendingDeletion:
		return "KMS.1402", "The key is already pending deletion."
	case e.Op == keys.OpCancel:
		return "KMS.1501", "The key is not pending deletion."
	case e.State == keys.PendingDeletion:
		return "KMS.0210", "The key is pending deletion and cannot be used."
	case e.Op == keys.OpEnable:
		return "KMS.1201", "The key is not disabled."
	case e.Op == keys.OpDisable:
		return "KMS.1301", "The key is not enabled."
	}
	return "KMS.0308", "The key state does not allow this operation."
}

func writeError(ctx context.Context, w http.ResponseWriter, status int, code, msg string) {
	httpapi.InfoFrom(ctx).ErrorCode = code
	httpapi.WriteJSON(w, status, contentType, map[string]map[string]string{
		"error": {"error_code": code, "error_msg": msg},
	})
}

// writeGatewayError writes an error of Huawei's API gateway, whose body is
// flat: {"error_code","error_msg","request_id"}.
func writeGatewayError(ctx context.Context, w http.ResponseWriter, status int, code, msg string) {
	info := httpapi.InfoFrom(ctx)
	info.ErrorCode = code
	requestID := info.RequestID
	httpapi.WriteJSON(w, status, contentType, map[string]string{
		"error_code": code, "error_msg": msg, "request_id": requestID,
	})
}
