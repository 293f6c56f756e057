// Package huaweisig verifies Huawei Cloud API requests: SDK-HMAC-SHA256 AK/SK
// signatures, as the official SDKs send them, or an X-Auth-Token. Either way
// the project in the request's path must be the caller's. Failure details
// are worded as Huawei's API gateway words them after "Incorrect IAM
// authentication information: " (its documented and quoted messages).
package huaweisig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/tenant"
)

const (
	algorithm = "SDK-HMAC-SHA256"
	// MaxSkew is how far X-Sdk-Date may be from the server's clock.
	MaxSkew    = 15 * time.Minute
	DateFormat = "20060102T150405Z"
)

// Authorization is a parsed "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex".
type Authorization struct {
	AccessKey     string
	SignedHeaders []string
	Signature     string
}

// ParseAuthorization parses the Authorization header the SDKs send.
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return a, auth.Fail(auth.Malformed, "verify aksk signature fail: Authorization must use "+algorithm)
	}
	fields, ok := auth.ParseParams(rest, "Access", "SignedHeaders", "Signature")
	if !ok {
		return a, auth.Fail(auth.Malformed, "verify aksk signature fail: Authorization must carry Access, SignedHeaders and Signature once each")
	}
	a.AccessKey, a.Signature = fields[0], fields[2]
	if a.SignedHeaders, ok = auth.ParseSignedHeaders(fields[1]); !ok {
		return a, auth.Fail(auth.Malformed, "verify aksk signature fail: SignedHeaders must be sorted, distinct, lowercase header names")
	}
	if !auth.IsHexSignature(a.Signature) {
		return a, auth.Fail(auth.Malformed, "verify aksk signature fail: Signature must be 64 lowercase hexadecimal characters")
	}
	return a, nil
}

// escape percent-encodes everything but A-Za-z0-9_-~. as the SDK's signer does.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '~' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// CanonicalRequest builds the SDK's canonical request. The canonical URI
// always ends in "/" (the SDK signs "/v1.0/<pid>/kms/op/" though it sends
// the path without the slash).
func CanonicalRequest(method, path string, query url.Values, header http.Header, host string, signed []string, bodyHash string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = escape(s)
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var q []string
	for _, k := range keys {
		vals := slices.Clone(query[k])
		sort.Strings(vals)
		for _, v := range vals {
			q = append(q, escape(k)+"="+escape(v))
		}
	}
	var h strings.Builder
	for _, name := range signed {
		vals := header.Values(name)
		if name == "host" {
			vals = []string{host}
		}
		vals = slices.Clone(vals)
		sort.Strings(vals)
		for _, v := range vals {
			h.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
		}
	}
	return strings.Join([]string{method, uri, strings.Join(q, "&"), h.String(), strings.Join(signed, ";"), bodyHash}, "\n")
}

// Sign returns the hex signature of a canonical request made at date.
func Sign(sk, canonicalRequest, date string) string {
	crHash := sha256.Sum256([]byte(canonicalRequest))
	sts := algorithm + "\n" + date + "\n" + hex.EncodeToString(crHash[:])
	mac := hmac.New(sha256.New, []byte(sk))
	mac.Write([]byte(sts))
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify authenticates a request for projectID (from the path) and returns
// the caller. body is the request body as received.
func Verify(r *http.Request, body []byte, projectID string, dir *tenant.Directory, now time.Time) (tenant.Caller, error) {
	if token := r.Header.Get("X-Auth-Token"); token != "" {
		t, tokenProject, expiresAt, ok := dir.HuaweiToken(token)
		switch {
		case !ok:
			return tenant.Caller{}, auth.Fail(auth.UnknownKey, "decrypt token fail")
		case !now.Before(expiresAt):
			return tenant.Caller{}, auth.Fail(auth.Expired, "token expires, expires_at: "+expiresAt.UTC().Format("2006-01-02T15:04:05.000000Z"))
		case tokenProject != projectID:
			return tenant.Caller{}, auth.Fail(auth.WrongProject, "The token's project does not match the project in the request.")
		}
		return tenant.Caller{Tenant: t, AccessKey: tenant.TokenID(token)}, checkProjectHeader(r, projectID)
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return tenant.Caller{}, auth.Fail(auth.Missing, "x-auth-token not found")
	}
	a, err := ParseAuthorization(h)
	if err != nil {
		return tenant.Caller{}, err
	}
	if !slices.Contains(a.SignedHeaders, "x-sdk-date") {
		return tenant.Caller{}, auth.Fail(auth.Malformed, "verify aksk signature fail: SignedHeaders must include x-sdk-date")
	}
	t, sk, ok := dir.HuaweiAccessKey(a.AccessKey)
	if !ok {
		return tenant.Caller{}, auth.Fail(auth.UnknownKey, "Get secretKey failed,ak:"+a.AccessKey+",err:ak not exist")
	}
	date := r.Header.Get("X-Sdk-Date")
	signedAt, err := time.Parse(DateFormat, date)
	if err != nil {
		return tenant.Caller{}, auth.Fail(auth.Malformed, "verify aksk signature fail: X-Sdk-Date must have the form yyyymmddThhmmssZ")
	}
	if skew := now.Sub(signedAt); skew > MaxSkew || skew < -MaxSkew {
		return tenant.Caller{}, auth.Fail(auth.Expired, "calc aksk signature fail:signature expired, signature time:"+date+",server time:"+now.UTC().Format(DateFormat))
	}
	bodyHash, err := signedBodyHash(r, a.SignedHeaders, body)
	if err != nil {
		return tenant.Caller{}, err
	}
	cr := CanonicalRequest(r.Method, r.URL.Path, r.URL.Query(), r.Header, auth.Host(r), a.SignedHeaders, bodyHash)
	if !auth.Equal(Sign(sk, cr, date), a.Signature) {
		return tenant.Caller{}, auth.Fail(auth.BadSignature, "verify aksk signature fail")
	}
	if !t.OwnsProject(projectID) {
		return tenant.Caller{}, auth.Fail(auth.WrongProject, "The project in the request is not the caller's.")
	}
	return tenant.Caller{Tenant: t, AccessKey: a.AccessKey}, checkProjectHeader(r, projectID)
}

// checkProjectHeader refuses an X-Project-Id that names another project
// than the path's, whichever way the caller authenticated.
func checkProjectHeader(r *http.Request, projectID string) error {
	if pid := r.Header.Get("X-Project-Id"); pid != "" && pid != projectID {
		return auth.Fail(auth.WrongProject, "X-Project-Id does not match the project in the request.")
	}
	return nil
}

// contentHashHeader carries the body's SHA-256 when a client hashed it
// itself (the SDKs do for payloads they do not sign).
const contentHashHeader = "X-Sdk-Content-Sha256"

// signedBodyHash is the body hash that goes into the canonical request: the
// hash of the body received. X-Sdk-Content-Sha256 counts only when the
// client signed it, and then only if it is that same hash: a header the
// signature does not cover, or a hash of some other body, must never let a
// captured signature carry a different body. UNSIGNED-PAYLOAD is refused,
// as a JSON API has no use for it.
func signedBodyHash(r *http.Request, signed []string, body []byte) (string, error) {
	sum := hashHex(body)
	if !slices.Contains(signed, strings.ToLower(contentHashHeader)) {
		return sum, nil
	}
	switch claimed := r.Header.Get(contentHashHeader); claimed {
	case sum:
		return sum, nil
	case "UNSIGNED-PAYLOAD":
		return "", auth.Fail(auth.BadSignature, "verify aksk signature fail: the body must be signed ("+contentHashHeader+" UNSIGNED-PAYLOAD)")
	default:
		return "", auth.Fail(auth.BadSignature, "verify aksk signature fail: "+contentHashHeader+" is not the SHA-256 of the body")
	}
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
