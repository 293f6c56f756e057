// Package ncpsig verifies Naver Cloud API gateway signature v2:
// x-ncp-apigw-signature-v2 = base64(HMAC-SHA256(secret,
// METHOD + " " + URI + "\n" + timestamp + "\n" + accessKey)), where URI is the
// path with its query string and the timestamp is epoch milliseconds.
package ncpsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/tenant"
)

// MaxSkew: NCP rejects a timestamp 5 minutes or more from its clock.
const MaxSkew = 5 * time.Minute

// Header names.
const (
	HeaderTimestamp = "x-ncp-apigw-timestamp"
	HeaderAccessKey = "x-ncp-iam-access-key"
	HeaderSignature = "x-ncp-apigw-signature-v2"
)

// Sign returns the signature of a request.
func Sign(secret, method, uri, timestamp, accessKey string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(method + " " + uri + "\n" + timestamp + "\n" + accessKey))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// URI is what NCP signs of a request: its path and query, without the host.
func URI(r *http.Request) string {
	uri := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	return uri
}

// ParseTimestamp reads x-ncp-apigw-timestamp (epoch milliseconds).
func ParseTimestamp(s string) (time.Time, error) {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 || len(s) > 16 {
		return time.Time{}, auth.Fail(auth.Malformed, HeaderTimestamp+" must be epoch milliseconds")
	}
	return time.UnixMilli(ms), nil
}

// Verify authenticates a request and returns the caller.
func Verify(r *http.Request, dir *tenant.Directory, now time.Time) (tenant.Caller, error) {
	ts, ak, sig := r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderAccessKey), r.Header.Get(HeaderSignature)
	if ts == "" || ak == "" || sig == "" {
		return tenant.Caller{}, auth.Fail(auth.Missing, "The request must carry "+HeaderTimestamp+", "+HeaderAccessKey+" and "+HeaderSignature+".")
	}
	at, err := ParseTimestamp(ts)
	if err != nil {
		return tenant.Caller{}, err
	}
	// In milliseconds, the timestamp's own unit.
	if skew := now.UnixMilli() - at.UnixMilli(); skew >= MaxSkew.Milliseconds() || skew <= -MaxSkew.Milliseconds() {
		return tenant.Caller{}, auth.Fail(auth.Expired, "The timestamp is 5 minutes or more from the server's time.")
	}
	t, secret, ok := dir.NCPAccessKey(ak)
	if !ok {
		return tenant.Caller{}, auth.Fail(auth.UnknownKey, "The access key is invalid.")
	}
	if !auth.Equal(Sign(secret, r.Method, URI(r), ts, ak), sig) {
		return tenant.Caller{}, auth.Fail(auth.BadSignature, "The signature does not match.")
	}
	return tenant.Caller{Tenant: t, AccessKey: ak}, nil
}
