// Package awsjson speaks AWS KMS's JSON 1.1 protocol: every operation is
// POST / with X-Amz-Target: TrentService.<Operation>; errors are
// {"__type","message"}. It only translates between that wire and the keys service.
package awsjson

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/auth/awssig"
	"github.com/keydeletion/service/shared/governance"
	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

// Dialect names this dialect in routes and logs.
const Dialect = "aws"

const (
	contentType  = "application/x-amz-json-1.1"
	targetPrefix = "TrentService."
)

// Routes returns the AWS route: one POST / that dispatches on X-Amz-Target.
// Every request must carry a SigV4 signature by a key in dir.
func Routes(svc *keys.Service, dir *tenant.Directory, log *slog.Logger) []httpapi.Route {
	a := &api{svc: svc, dir: dir, log: log}
	a.ops = map[string]httpapi.Operation{
		"CreateKey": a.createKey, "DescribeKey": a.describeKey, "ListKeys": a.listKeys,
		"EnableKey": a.enableKey, "DisableKey": a.disableKey,
		"ScheduleKeyDeletion": a.scheduleKeyDeletion, "CancelKeyDeletion": a.cancelKeyDeletion,
		"TagResource": a.tagResource, "UntagResource": a.untagResource, "ListResourceTags": a.listResourceTags,
	}
	wire := &httpapi.Wire{
		Dialect: Dialect, RequestIDHeader: "X-Amzn-RequestId",
		OperationOf: func(r *http.Request) string {
			// Named for the log only; an operation this service lacks is "unknown".
			if op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix); a.ops[op] != nil {
				return op
			}
			return "unknown"
		},
		Verify: func(r *http.Request, body []byte, now time.Time) (tenant.Caller, error) {
			return awssig.Verify(r, body, dir, now)
		},
		WriteResult: func(w http.ResponseWriter, result any) {
			if result == nil {
				w.Header().Set("Content-Type", contentType)
				w.WriteHeader(http.StatusOK)
				return
			}
			httpapi.WriteJSON(w, http.StatusOK, contentType, result)
		},
		WriteError: a.writeError, Refused: governance.Refusals(log),
	}
	return []httpapi.Route{
		{Action: httpapi.Dispatch, Method: http.MethodPost, Path: "/{$}", Handler: wire.Handler("", a.dispatch)},
		wire.Fallback("/", func(r *http.Request) error {
			return &apiError{status: http.StatusNotFound, typ: "UnknownOperationException", msg: "No operation at " + r.Method + " " + r.URL.Path}
		}),
	}
}

type api struct {
	svc *keys.Service
	dir *tenant.Directory
	log *slog.Logger
	ops map[string]httpapi.Operation
}

// apiError is an AWS error: __type, message, and HTTP status.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func badRequest(typ, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, msg: fmt.Sprintf(format, args...)}
}

// dispatch serves the operation X-Amz-Target names (the signature already
// holds, and binds the header).
func (a *api) dispatch(c *httpapi.Call) (any, error) {
	target := c.Request.Header.Get("X-Amz-Target")
	op, ok := a.ops[strings.TrimPrefix(target, targetPrefix)]
	if !ok || !strings.HasPrefix(target, targetPrefix) {
		return nil, badRequest("UnknownOperationException", "Unknown operation %q", target)
	}
	c.Info.Operation = strings.TrimPrefix(target, targetPrefix)
	if err := validation.ContentType(c.Request.Header.Get("Content-Type"), contentType); err != nil {
		return nil, err
	}
	return op(c)
}

// epochSeconds is a timestamp as AWS JSON writes it: a number of seconds.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return json.Marshal(float64(ms) / 1000)
}

// Key specs and origins on the wire.
var specNames = map[keys.Spec]string{
	keys.AES256: "SYMMETRIC_DEFAULT", keys.RSA2048: "RSA_2048", keys.RSA3072: "RSA_3072",
	keys.RSA4096: "RSA_4096", keys.ECP256: "ECC_NIST_P256", keys.ECP384: "ECC_NIST_P384",
}

var originNames = map[keys.Origin]string{keys.OriginKMS: "AWS_KMS", keys.OriginExternal: "EXTERNAL"}

var usageNames = map[keys.Usage]string{keys.EncryptDecrypt: "ENCRYPT_DECRYPT", keys.SignVerify: "SIGN_VERIFY"}

var stateNames = map[keys.State]string{
	keys.Enabled: "Enabled", keys.Disabled: "Disabled", keys.PendingDeletion: "PendingDeletion",
	keys.PendingImport: "PendingImport",
}

// keyMetadata is KeyMetadata as AWS returns it for a single-Region
// customer managed key (botocore's model, and responses LocalStack recorded
// against AWS). PendingDeletionWindowInDays is absent: botocore documents it
// only for PendingReplicaDeletion, a multi-Region state.
type keyMetadata struct {
	AWSAccountId          string        `json:"AWSAccountId"`
	KeyId                 string        `json:"KeyId"`
	Arn                   string        `json:"Arn"`
	CreationDate          epochSeconds  `json:"CreationDate"`
	Enabled               bool          `json:"Enabled"`
	Description           string        `json:"Description"`
	KeyUsage              string        `json:"KeyUsage"`
	KeyState              string        `json:"KeyState"`
	DeletionDate          *epochSeconds `json:"DeletionDate,omitempty"`
	Origin                string        `json:"Origin"`
	KeyManager            string        `json:"KeyManager"`
	CustomerMasterKeySpec string        `json:"CustomerMasterKeySpec"`
	KeySpec               string        `json:"KeySpec"`
	EncryptionAlgorithms  []string      `json:"EncryptionAlgorithms,omitempty"`
	SigningAlgorithms     []string      `json:"SigningAlgorithms,omitempty"`
	MultiRegion           bool          `json:"MultiRegion"`
	CurrentKeyMaterialId  string        `json:"CurrentKeyMaterialId,omitempty"`
}

// describeResponse is DescribeKey's and CreateKey's answer.
type describeResponse struct {
	KeyMetadata keyMetadata `json:"KeyMetadata"`
}

// algorithms returns what a key of this spec and usage supports, in the
// order AWS lists them (botocore's DescribeKey and CreateKey examples).
func algorithms(spec keys.Spec, usage keys.Usage) (encryption, signing []string) {
	switch {
	case usage == keys.EncryptDecrypt && spec.Symmetric():
		return []string{"SYMMETRIC_DEFAULT"}, nil
	case usage == keys.EncryptDecrypt:
		return []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}, nil
	case spec == keys.ECP256:
		return nil, []string{"ECDSA_SHA_256"}
	case spec == keys.ECP384:
		return nil, []string{"ECDSA_SHA_384"}
	}
	return nil, []string{"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
		"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"}
}

// keyMaterialID names a key's (only) key material: 64 hex digits, derived
// from the key, as AWS returns for symmetric keys with KMS key material.
func keyMaterialID(id string) string {
	sum := sha256.Sum256([]byte("key-material/v1:" + id))
	return hex.EncodeToString(sum[:])
}

// arn is the ARN of the caller's key id.
func arn(c *httpapi.Call, id string) string {
	return validation.KeyARN(c.Tenant.AWSRegion, c.Tenant.AWSAccountID, id)
}

func metadata(c *httpapi.Call, k keys.Key) keyMetadata {
	m := keyMetadata{
		AWSAccountId: c.Tenant.AWSAccountID, KeyId: k.ID, Arn: arn(c, k.ID),
		CreationDate: epochSeconds(k.CreatedAt), Enabled: k.State == keys.Enabled,
		Description: k.Description, KeyUsage: string(k.Usage), KeyState: stateNames[k.State],
		Origin: originNames[k.Origin], KeyManager: "CUSTOMER",
		CustomerMasterKeySpec: specNames[k.Spec], KeySpec: specNames[k.Spec],
	}
	m.EncryptionAlgorithms, m.SigningAlgorithms = algorithms(k.Spec, k.Usage)
	if k.Spec.Symmetric() && k.Origin == keys.OriginKMS {
		m.CurrentKeyMaterialId = keyMaterialID(k.ID)
	}
	if !k.DeleteAt.IsZero() {
		d := epochSeconds(k.DeleteAt)
		m.DeletionDate = &d
	}
	return m
}

// resolve turns an AWS KeyId into a key id of the caller. Another
// partition's, region's or account's ARN names no key of the caller: not
// found, as an unknown key.
func (a *api) resolve(c *httpapi.Call, ref *string, allowAlias bool) (string, error) {
	if err := validation.Required("keyId", ref != nil); err != nil {
		return "", err
	}
	r, err := validation.AWSKeyRef(*ref, allowAlias)
	if err != nil {
		return "", err
	}
	isARN := r.Kind == validation.RefKeyARN || r.Kind == validation.RefAliasARN
	switch {
	case isARN && r.Region != c.Tenant.AWSRegion:
		// As AWS words an ARN of another region (LocalStack's recording).
		return "", &notFound{msg: "Invalid arn " + r.Region}
	case isARN && !r.NamesAccount(c.Tenant.AWSRegion, c.Tenant.AWSAccountID):
		return "", &notFound{msg: "Key '" + *ref + "' does not exist"}
	case r.MultiRegion:
		// A well-formed multi-Region key id: this service has none.
		return "", &notFound{msg: "Key '" + arn(c, r.KeyID) + "' does not exist"}
	}
	id := r.KeyID
	if r.Kind == validation.RefAliasName || r.Kind == validation.RefAliasARN {
		k, err := a.svc.GetByAlias(c.Ctx, c.Principal, r.Alias)
		if err != nil {
			return "", aliasNotFound(err, *ref)
		}
		id = k.ID
	}
	c.Info.KeyID = id
	return id, nil
}

// notFound is a NotFoundException whose message names the KeyId as the
// caller gave it.
type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

func aliasNotFound(err error, ref string) error {
	if errors.Is(err, keys.ErrNotFound) {
		return &notFound{msg: "Alias '" + ref + "' is not found."}
	}
	return err
}

// keyIDRequest is the KeyId every key operation takes; requests with more
// members inline it.
type keyIDRequest struct {
	KeyId *string `json:"KeyId"`
}

func (r *keyIDRequest) keyRef() *string { return r.KeyId }

// decodeKey decodes req and resolves the KeyId it names (aliases only where
// allowAlias says the operation takes them).
func (a *api) decodeKey(c *httpapi.Call, req interface{ keyRef() *string }, allowAlias bool) (string, error) {
	if err := c.Decode(req); err != nil {
		return "", err
	}
	return a.resolve(c, req.keyRef(), allowAlias)
}

func (a *api) scheduleKeyDeletion(c *httpapi.Call) (any, error) {
	var req struct {
		keyIDRequest        `json:",inline"`
		PendingWindowInDays *int `json:"PendingWindowInDays"`
	}
	id, err := a.decodeKey(c, &req, false)
	if err != nil {
		return nil, err
	}
	days, err := validation.AWSWindow(req.PendingWindowInDays)
	if err != nil {
		return nil, err
	}
	t, err := a.svc.ScheduleDeletion(c.Ctx, c.Principal, id, days)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"KeyId": arn(c, t.KeyID), "DeletionDate": epochSeconds(t.DeleteAt),
		"KeyState": stateNames[t.State], "PendingWindowInDays": t.PendingDays,
	}, nil
}

// keyOp runs op on the key a KeyId-only request names (key id or key ARN).
func (a *api) keyOp(c *httpapi.Call, op func(ctx context.Context, p keys.Principal, id string) (keys.Key, error)) (keys.Key, error) {
	id, err := a.decodeKey(c, &keyIDRequest{}, false)
	if err != nil {
		return keys.Key{}, err
	}
	return op(c.Ctx, c.Principal, id)
}

func (a *api) cancelKeyDeletion(c *httpapi.Call) (any, error) {
	id, err := a.decodeKey(c, &keyIDRequest{}, false)
	if err != nil {
		return nil, err
	}
	t, err := a.svc.CancelDeletion(c.Ctx, c.Principal, id)
	if err != nil {
		return nil, err
	}
	return map[string]string{"KeyId": arn(c, t.KeyID)}, nil
}

// EnableKey and DisableKey answer with an empty body. On a key already
// enabled (disabled) they succeed: AWS's key-state table.
func (a *api) enableKey(c *httpapi.Call) (any, error) {
	_, err := a.keyOp(c, func(ctx context.Context, p keys.Principal, id string) (keys.Key, error) {
		return a.svc.Enable(ctx, p, id, keys.SucceedIfAlready)
	})
	return nil, err
}

func (a *api) disableKey(c *httpapi.Call) (any, error) {
	_, err := a.keyOp(c, func(ctx context.Context, p keys.Principal, id string) (keys.Key, error) {
		return a.svc.Disable(ctx, p, id, keys.SucceedIfAlready)
	})
	return nil, err
}

func (a *api) describeKey(c *httpapi.Call) (any, error) {
	id, err := a.decodeKey(c, &keyIDRequest{}, true)
	if err != nil {
		return nil, err
	}
	k, err := a.svc.Get(c.Ctx, c.Principal, id)
	if err != nil {
		return nil, err
	}
	return describeResponse{metadata(c, k)}, nil
}

const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

func (a *api) listKeys(c *httpapi.Call) (any, error) {
	var req struct {
		Limit  *int    `json:"Limit"`
		Marker *string `json:"Marker"`
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	limit := defaultListLimit
	if req.Limit != nil {
		if err := validation.IntRange("limit", *req.Limit, 1, maxListLimit); err != nil {
			return nil, err
		}
		limit = *req.Limit
	}
	after := ""
	if req.Marker != nil {
		if validation.KeyID("marker", *req.Marker) != nil {
			return nil, errInvalidMarker
		}
		after = *req.Marker
	}
	p, err := a.svc.List(c.Ctx, c.Principal, after, limit)
	if err != nil {
		return nil, err
	}
	type entry struct {
		KeyId  string `json:"KeyId"`
		KeyArn string `json:"KeyArn"`
	}
	list := make([]entry, len(p.Keys))
	for i, k := range p.Keys {
		list[i] = entry{KeyId: k.ID, KeyArn: arn(c, k.ID)}
	}
	resp := map[string]any{"Keys": list, "Truncated": p.Next != ""}
	if p.Next != "" {
		resp["NextMarker"] = p.Next
	}
	return resp, nil
}

// The values botocore's model allows; of these, the service supports those
// in specNames, usageNames and originNames. A value outside the model is a
// ValidationException, as AWS answers; a modelled one this service lacks
// is UnsupportedOperationException.
var (
	modelKeySpecs = []string{"RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
		"ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2",
		"ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519"}
	modelCustomerMasterKeySpecs = modelKeySpecs[:13]
	modelKeyUsages              = []string{"SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"}
	modelOrigins                = []string{"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"}
)

// fromModel maps a wire value to the domain's: a ValidationException for a
// value outside the model's enumeration, UnsupportedOperationException for
// one this service does not offer.
func fromModel[K comparable](names map[K]string, model []string, field, wire string) (K, error) {
	if v, ok := httpapi.FromWire(names, wire); ok {
		return v, nil
	}
	var zero K
	if !slices.Contains(model, wire) {
		return zero, badRequest("ValidationException", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
			wire, field, strings.Join(model, ", "))
	}
	return zero, badRequest("UnsupportedOperationException", "%s %s is not supported by this service.", strings.ToUpper(field[:1])+field[1:], wire)
}

func (a *api) createKey(c *httpapi.Call) (any, error) {
	var req struct {
		Description           *string             `json:"Description"`
		KeyUsage              *string             `json:"KeyUsage"`
		KeySpec               *string             `json:"KeySpec"`
		CustomerMasterKeySpec *string             `json:"CustomerMasterKeySpec"`
		Origin                *string             `json:"Origin"`
		MultiRegion           *bool               `json:"MultiRegion"`
		Tags                  []validation.AWSTag `json:"Tags"`
	}
	if err := c.Decode(&req); err != nil {
		return nil, err
	}
	cr := keys.CreateRequest{}
	if req.Description != nil {
		if err := validation.Description("description", *req.Description, 8192); err != nil {
			return nil, err
		}
		cr.Description = *req.Description
	}
	var err error
	switch {
	case req.KeySpec != nil:
		cr.Spec, err = fromModel(specNames, modelKeySpecs, "keySpec", *req.KeySpec)
	case req.CustomerMasterKeySpec != nil:
		cr.Spec, err = fromModel(specNames, modelCustomerMasterKeySpecs, "customerMasterKeySpec", *req.CustomerMasterKeySpec)
	default:
		cr.Spec = keys.AES256
	}
	if err != nil {
		return nil, err
	}
	switch {
	case req.KeyUsage != nil:
		if cr.Usage, err = fromModel(usageNames, modelKeyUsages, "keyUsage", *req.KeyUsage); err != nil {
			return nil, err
		}
	case cr.Spec.Symmetric():
		cr.Usage = keys.EncryptDecrypt
	default:
		// AWS's words (LocalStack's recording).
		return nil, badRequest("ValidationException", "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
	}
	if req.Origin != nil {
		if cr.Origin, err = fromModel(originNames, modelOrigins, "origin", *req.Origin); err != nil {
			return nil, err
		}
	}
	if req.MultiRegion != nil && *req.MultiRegion {
		return nil, badRequest("UnsupportedOperationException", "Multi-Region keys are not supported by this service; create a single-Region key (MultiRegion false).")
	}
	if cr.Tags, err = validation.AWSTags(req.Tags); err != nil {
		return nil, err
	}
	k, err := a.svc.Create(c.Ctx, c.Principal, cr)
	if err != nil {
		return nil, err
	}
	c.Info.KeyID = k.ID
	return describeResponse{metadata(c, k)}, nil
}

func (a *api) writeError(ctx context.Context, w http.ResponseWriter, err error) {
	if ae, ok := auth.As(err); ok {
		httpapi.LogAuthFailure(ctx, a.log, Dialect, ae.Detail)
	}
	e := a.translate(ctx, err)
	httpapi.InfoFrom(ctx).ErrorCode = e.typ
	httpapi.WriteJSON(w, e.status, contentType, map[string]string{"__type": e.typ, "message": e.msg})
}

func (a *api) translate(ctx context.Context, err error) *apiError {
	var (
		ae       *apiError
		verr     *validation.Error
		syntax   *httpapi.SyntaxError
		typeErr  *httpapi.TypeError
		stateErr *keys.StateError
		usageErr *keys.UsageError
		nf       *notFound
		denied   *keys.PolicyError
	)
	info := httpapi.InfoFrom(ctx)
	if authErr, ok := auth.As(err); ok {
		return authError(authErr)
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &denied):
		return badRequest("AccessDeniedException", "User: %s is not authorized to perform: kms:%s on resource: %s because %s",
			info.AccessKey, info.Operation, a.arnOf(info), denied.Reason())
	case errors.Is(err, keys.ErrTooManyTags):
		return badRequest("LimitExceededException", "The request was rejected because a key can have at most %d tags.", keys.MaxTags)
	case errors.Is(err, keys.ErrBusy):
		// Throttling or contention that outlasted the store's retries:
		// KMS's throttling answer, which the SDKs retry with backoff.
		a.log.WarnContext(ctx, "store busy", "dialect", Dialect, "error", err.Error())
		return badRequest("ThrottlingException", "Rate exceeded")
	case errors.Is(err, keys.ErrStoreTimeout):
		// KMS's own answers for a dependency that failed, in its words
		// (botocore's model): faults, which the SDKs retry.
		a.log.WarnContext(ctx, "store timed out", "dialect", Dialect, "error", err.Error())
		return &apiError{status: http.StatusInternalServerError, typ: "DependencyTimeoutException",
			msg: "The system timed out while trying to fulfill the request. You can retry the request."}
	case errors.Is(err, keys.ErrUnavailable):
		a.log.WarnContext(ctx, "store unavailable", "dialect", Dialect, "error", err.Error())
		return &apiError{status: http.StatusInternalServerError, typ: "KMSInternalException",
			msg: "The request was rejected because an internal exception occurred. The request can be retried."}
	case errors.Is(err, httpapi.ErrRequestTimeout):
		// A code the SDKs' retryers know as transient.
		return &apiError{status: http.StatusRequestTimeout, typ: "RequestTimeoutException", msg: "Request timed out: the request body did not arrive in time."}
	case errors.Is(err, validation.ErrInvalidARN):
		return badRequest("InvalidArnException", "%s", strings.TrimPrefix(err.Error(), "invalid ARN: ")+" is not a valid ARN.")
	case errors.As(err, &verr):
		return validationError(verr)
	case errors.As(err, &syntax):
		return badRequest("SerializationException", "%s", syntax.Error())
	case errors.As(err, &typeErr):
		return badRequest("SerializationException", "Start of structure or map found where not expected: %s must be %s", typeErr.Field, typeErr.Want)
	case errors.As(err, &nf):
		return badRequest("NotFoundException", "%s", nf.Error())
	case errors.Is(err, keys.ErrNotFound):
		return badRequest("NotFoundException", "Key '%s' does not exist", a.arnOf(info))
	case errors.As(err, &stateErr):
		return badRequest("KMSInvalidStateException", "%s", stateMessage(a.arnOf(info), stateErr))
	case errors.As(err, &usageErr):
		return badRequest("ValidationException", "KeyUsage %s is not compatible with KeySpec %s", usageNames[usageErr.Usage], specNames[usageErr.Spec])
	}
	a.log.ErrorContext(ctx, "internal error", "dialect", Dialect, "error", err.Error())
	return &apiError{status: http.StatusInternalServerError, typ: "KMSInternalException", msg: "An internal error occurred."}
}

// arnOf is the ARN of the request's key, in the caller's account.
func (a *api) arnOf(info *httpapi.Info) string {
	t, _ := a.dir.ByID(info.Tenant)
	return validation.KeyARN(t.AWSRegion, t.AWSAccountID, info.KeyID)
}

// authError is a refused authentication as AWS words it.
func authError(e *auth.Error) *apiError {
	switch e.Reason {
	case auth.Missing:
		return &apiError{status: http.StatusForbidden, typ: "MissingAuthenticationTokenException", msg: e.Detail}
	case auth.Malformed:
		return &apiError{status: http.StatusForbidden, typ: "IncompleteSignatureException", msg: e.Detail}
	case auth.UnknownKey:
		return badRequest("UnrecognizedClientException", "%s", e.Detail)
	}
	return badRequest("InvalidSignatureException", "%s", e.Detail)
}

func stateMessage(arn string, e *keys.StateError) string {
	switch e.State {
	case keys.PendingDeletion:
		return arn + " is pending deletion."
	case keys.PendingImport:
		return arn + " is pending import."
	}
	switch e.Op {
	case keys.OpCancel:
		return arn + " is not pending deletion."
	case keys.OpEnable:
		return arn + " is not disabled."
	case keys.OpDisable:
		return arn + " is not enabled."
	}
	return arn + " is " + stateNames[e.State] + "."
}

// validationError renders a rule broken as AWS does. A malformed KeyId is
// NotFoundException ("Invalid keyId"), as in AWS KMS.
func validationError(v *validation.Error) *apiError {
	switch {
	case v.Field == "body":
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: "ValidationException", msg: v.Detail}
	case v.Field == "tags" && v.Problem == validation.Format:
		return badRequest("TagException", "%s", v.Detail)
	case v.Field == "Content-Type":
		return badRequest("SerializationException", "Content-Type %q is not supported; use %s", v.Value, contentType)
	case v.Field == "keyId" && v.Problem == validation.Format:
		return badRequest("NotFoundException", "Invalid keyId '%s'", v.Value)
	case v.Problem == validation.Missing:
		return badRequest("ValidationException", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", v.Field)
	case v.Problem == validation.OutsideRule:
		return badRequest("ValidationException", "%s", v.Detail)
	case v.Problem == validation.TooSmall:
		return badRequest("ValidationException", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", v.Value, v.Field, v.Limit)
	case v.Problem == validation.TooLarge:
		return badRequest("ValidationException", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", v.Value, v.Field, v.Limit)
	case v.Problem == validation.TooLong:
		return badRequest("ValidationException", "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", v.Field, v.Limit)
	}
	return badRequest("ValidationException", "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", v.Value, v.Field, v.Detail)
}

// errInvalidMarker is a Marker this service did not issue.
var errInvalidMarker = badRequest("InvalidMarkerException", "The request was rejected because the marker that specifies where pagination should next begin is not valid.")

type tagsRequest struct {
	keyIDRequest `json:",inline"`
	Tags         []validation.AWSTag `json:"Tags"`
	TagKeys      []string            `json:"TagKeys"`
}

// TagResource adds or overwrites tags; it answers with an empty body.
func (a *api) tagResource(c *httpapi.Call) (any, error) {
	var req tagsRequest
	id, err := a.decodeKey(c, &req, false)
	if err != nil {
		return nil, err
	}
	if err := validation.Required("tags", req.Tags != nil); err != nil {
		return nil, err
	}
	tags, err := validation.AWSTags(req.Tags)
	if err != nil {
		return nil, err
	}
	_, err = a.svc.Tag(c.Ctx, c.Principal, id, tags)
	return nil, err
}

// UntagResource removes tags; a tag key the key does not have is no error.
func (a *api) untagResource(c *httpapi.Call) (any, error) {
	var req tagsRequest
	id, err := a.decodeKey(c, &req, false)
	if err != nil {
		return nil, err
	}
	if err := validation.Required("tagKeys", req.TagKeys != nil); err != nil {
		return nil, err
	}
	for _, k := range req.TagKeys {
		if err := validation.AWSTagKey(k); err != nil {
			return nil, err
		}
	}
	_, err = a.svc.Untag(c.Ctx, c.Principal, id, req.TagKeys)
	return nil, err
}

const (
	defaultTagLimit = 50
	maxTagLimit     = 50
)

// ListResourceTags pages through a key's tags in tag-key order. Its marker
// is opaque: the last tag key returned, base64url-encoded.
func (a *api) listResourceTags(c *httpapi.Call) (any, error) {
	var req struct {
		keyIDRequest `json:",inline"`
		Limit        *int    `json:"Limit"`
		Marker       *string `json:"Marker"`
	}
	id, err := a.decodeKey(c, &req, false)
	if err != nil {
		return nil, err
	}
	limit := defaultTagLimit
	if req.Limit != nil {
		if err := validation.IntRange("limit", *req.Limit, 1, maxTagLimit); err != nil {
			return nil, err
		}
		limit = *req.Limit
	}
	after := ""
	if req.Marker != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*req.Marker)
		if err != nil || len(raw) == 0 {
			return nil, errInvalidMarker
		}
		after = string(raw)
	}
	k, err := a.svc.Get(c.Ctx, c.Principal, id)
	if err != nil {
		return nil, err
	}
	type tag struct {
		TagKey   string `json:"TagKey"`
		TagValue string `json:"TagValue"`
	}
	out := []tag{}
	truncated := false
	for _, key := range slices.Sorted(maps.Keys(k.Tags)) {
		if after != "" && key <= after {
			continue
		}
		if len(out) == limit {
			truncated = true
			break
		}
		out = append(out, tag{TagKey: key, TagValue: k.Tags[key]})
	}
	resp := map[string]any{"Tags": out, "Truncated": truncated}
	if truncated {
		resp["NextMarker"] = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].TagKey))
	}
	return resp, nil
}
