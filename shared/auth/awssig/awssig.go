// Package awssig verifies AWS Signature Version 4 on KMS requests. It
// recomputes the signature with the aws-sdk-go-v2 signer over a fresh request
// that carries only the headers the client signed (re-signing the incoming
// request as it is would pull in headers added after signing), and compares
// in constant time.
package awssig

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/tenant"
)

const (
	algorithm = "AWS4-HMAC-SHA256"
	service   = "kms"
	// MaxSkew is how far X-Amz-Date may be from the server's clock.
	MaxSkew    = 15 * time.Minute
	dateFormat = "20060102T150405Z"
)

// requiredSigned are the headers a KMS request must sign: the host and
// date, as SigV4 requires, and the operation, when the request names one.
var requiredSigned = []string{"Host", "X-Amz-Date", "X-Amz-Target"}

// signer recomputes signatures. One for the process: it is safe for
// concurrent use and caches the signing keys it derives (per key, date,
// region and service), which a signer made per request would throw away.
var signer = v4.NewSigner()

// Authorization is a parsed SigV4 Authorization header.
type Authorization struct {
	AccessKeyID   string
	Date          string // yyyymmdd of the credential scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// ParseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex".
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	rest, ok := strings.CutPrefix(h, algorithm+" ")
	if !ok {
		return a, auth.Fail(auth.Malformed, "Authorization header requires the "+algorithm+" algorithm")
	}
	const required = "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters"
	fields, ok := auth.ParseParams(rest, "Credential", "SignedHeaders", "Signature")
	if !ok {
		return a, auth.Fail(auth.Malformed, required)
	}
	cred, sh, sig := fields["Credential"], fields["SignedHeaders"], fields["Signature"]
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != "aws4_request" || len(scope[1]) != 8 {
		return a, auth.Fail(auth.Malformed, "Credential must have the form <access key>/<yyyymmdd>/<region>/<service>/aws4_request")
	}
	if _, err := time.Parse("20060102", scope[1]); err != nil {
		return a, auth.Fail(auth.Malformed, "Credential date is not a date")
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = scope[0], scope[1], scope[2], scope[3]
	if a.SignedHeaders, ok = auth.ParseSignedHeaders(sh); !ok {
		return a, auth.Fail(auth.Malformed, "SignedHeaders must be sorted, distinct, lowercase header names")
	}
	if !auth.IsHexSignature(sig) {
		return a, auth.Fail(auth.Malformed, "Signature must be 64 lowercase hexadecimal characters")
	}
	a.Signature = sig
	return a, nil
}

// Verify checks the request's signature against the directory and returns
// the caller. body is the request body as received.
func Verify(r *http.Request, body []byte, dir *tenant.Directory, now time.Time) (tenant.Caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return tenant.Caller{}, auth.Fail(auth.Missing, "Missing Authentication Token")
	}
	a, err := ParseAuthorization(h)
	if err != nil {
		return tenant.Caller{}, err
	}
	// X-Amz-Target names the operation: unsigned, a captured DescribeKey
	// could be resent as ScheduleKeyDeletion with the same body. (A request
	// without one names no operation, and is refused as such later.)
	for _, h := range requiredSigned {
		if h == "X-Amz-Target" && len(r.Header.Values(h)) == 0 {
			continue
		}
		if !slices.Contains(a.SignedHeaders, strings.ToLower(h)) {
			return tenant.Caller{}, auth.Fail(auth.Malformed, "'"+h+"' must be a 'SignedHeader' in the AWS Authorization.")
		}
	}
	t, secret, ok := dir.AWSAccessKey(a.AccessKeyID)
	if !ok || r.Header.Get("X-Amz-Security-Token") != "" {
		// This service issues no temporary credentials.
		return tenant.Caller{}, auth.Fail(auth.UnknownKey, "The security token included in the request is invalid.")
	}
	if a.Service != service {
		return tenant.Caller{}, auth.Fail(auth.WrongScope, "Credential should be scoped to correct service: '"+service+"'.")
	}
	if a.Region != t.AWSRegion {
		return tenant.Caller{}, auth.Fail(auth.WrongScope, "Credential should be scoped to a valid region.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signedAt, err := time.Parse(dateFormat, amzDate)
	if err != nil {
		return tenant.Caller{}, auth.Fail(auth.Malformed, "X-Amz-Date must have the form yyyymmddThhmmssZ")
	}
	if !strings.HasPrefix(amzDate, a.Date) {
		return tenant.Caller{}, auth.Fail(auth.BadSignature, "Credential date does not match X-Amz-Date")
	}
	if skew := now.Sub(signedAt); skew > MaxSkew || skew < -MaxSkew {
		return tenant.Caller{}, auth.Fail(auth.Expired, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.UTC().Add(-MaxSkew).Format(dateFormat), now.UTC().Format(dateFormat)))
	}
	want, err := expected(r, body, a, secret, signedAt)
	if err != nil {
		return tenant.Caller{}, err
	}
	if !auth.Equal(want, a.Signature) {
		return tenant.Caller{}, auth.Fail(auth.BadSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return tenant.Caller{Tenant: t, AccessKey: a.AccessKeyID}, nil
}

// expected recomputes the signature the client should have sent.
func expected(r *http.Request, body []byte, a Authorization, secret string, signedAt time.Time) (string, error) {
	u := &url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequest(r.Method, u.String(), nil)
	if err != nil {
		return "", auth.Fail(auth.Malformed, "request URL cannot be signed")
	}
	req.Host = r.Host
	for _, name := range a.SignedHeaders {
		switch name {
		case "host", "x-amz-date":
			// the signer writes these itself
		case "content-length":
			n, err := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64)
			if err != nil {
				n = r.ContentLength
			}
			req.ContentLength = n
		default:
			vals := r.Header.Values(name)
			if len(vals) == 0 {
				return "", auth.Fail(auth.BadSignature, "SignedHeaders names a header the request does not carry: "+name)
			}
			req.Header[http.CanonicalHeaderKey(name)] = vals
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: secret}
	if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), a.Service, a.Region, signedAt); err != nil {
		return "", fmt.Errorf("re-sign: %w", err)
	}
	got, err := ParseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		return "", fmt.Errorf("re-sign: %w", err)
	}
	if strings.Join(got.SignedHeaders, ";") != strings.Join(a.SignedHeaders, ";") {
		// The SDK signer would sign a different header set (it never signs
		// User-Agent, for one): this request cannot verify.
		return "", auth.Fail(auth.BadSignature, "SignedHeaders include headers this service does not sign with")
	}
	return got.Signature, nil
}
