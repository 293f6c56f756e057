// Package awssig verifies AWS Signature Version 4 on KMS requests. It
// recomputes the signature over the headers the client signed (headers
// added after signing cannot break it) and compares in constant time. The
// canonical request is built exactly as the aws-sdk-go-v2 signer builds it
// (path escaping, query order, header values), without the signer's
// allocations: its tests check it against the SDK on AWS's test suite and
// on random requests the SDK signs (FuzzAgreesWithTheSDK).
package awssig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	cred, sh, sig := fields[0], fields[1], fields[2]
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

// ignoredHeaders are the headers the SDK signer never signs: a request that
// claims to have signed one was not signed by it, and cannot verify.
var ignoredHeaders = []string{"authorization", "user-agent", "x-amzn-trace-id", "expect", "transfer-encoding"}

// expected recomputes the signature the client should have sent.
func expected(r *http.Request, body []byte, a Authorization, secret string, signedAt time.Time) (string, error) {
	cr, err := canonicalRequest(r, body, a, signedAt)
	if err != nil {
		return "", err
	}
	scope := a.Date + "/" + a.Region + "/" + a.Service + "/aws4_request"
	crHash := sha256.Sum256(cr)
	sts := make([]byte, 0, 128)
	sts = append(sts, algorithm+"\n"...)
	sts = signedAt.UTC().AppendFormat(sts, dateFormat)
	sts = append(sts, '\n')
	sts = append(sts, scope...)
	sts = append(sts, '\n')
	sts = hex.AppendEncode(sts, crHash[:])
	k := signingKey(secret, a.Date, a.Region, a.Service)
	mac := k.macs.Get().(hash.Hash)
	mac.Reset()
	mac.Write(sts)
	var sum [sha256.Size]byte
	sig := hex.EncodeToString(mac.Sum(sum[:0]))
	k.macs.Put(mac)
	return sig, nil
}

// canonicalRequest is the SigV4 canonical request of r over the signed
// headers, as the aws-sdk-go-v2 signer builds it: the path escaped again
// (every byte but A-Z a-z 0-9 - . _ ~ and /), the query sorted by name then
// value, host first without a default port, content-length when it is
// positive, and each header's values trimmed, inner spaces collapsed, joined
// by commas.
func canonicalRequest(r *http.Request, body []byte, a Authorization, signedAt time.Time) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, '\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b = escapePath(b, path)
	b = append(b, '\n')
	b = appendQuery(b, r.URL.Query())
	b = append(b, '\n')
	for _, name := range a.SignedHeaders {
		if slices.Contains(ignoredHeaders, name) {
			return nil, auth.Fail(auth.BadSignature, "SignedHeaders include headers this service does not sign with")
		}
		b = append(b, name...)
		b = append(b, ':')
		switch name {
		case "host":
			b = append(b, stripExcessSpaces(hostForSigning(auth.Host(r)))...)
		case "x-amz-date":
			b = signedAt.UTC().AppendFormat(b, dateFormat)
		case "content-length":
			n, err := strconv.ParseInt(r.Header.Get("Content-Length"), 10, 64)
			if err != nil {
				n = r.ContentLength
			}
			if n <= 0 {
				// The signer signs content-length only when it is positive.
				return nil, auth.Fail(auth.BadSignature, "SignedHeaders include headers this service does not sign with")
			}
			b = strconv.AppendInt(b, n, 10)
		default:
			vals := r.Header.Values(name)
			if len(vals) == 0 {
				return nil, auth.Fail(auth.BadSignature, "SignedHeaders names a header the request does not carry: "+name)
			}
			for i, v := range vals {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, strings.TrimSpace(stripExcessSpaces(v))...)
			}
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, strings.Join(a.SignedHeaders, ";")...)
	b = append(b, '\n')
	sum := sha256.Sum256(body)
	return hex.AppendEncode(b, sum[:]), nil
}

// hostForSigning is the host as the signer signs it: without :443, the
// default port of the https scheme its requests are rebuilt with.
func hostForSigning(host string) string {
	if h, port, err := net.SplitHostPort(host); err == nil && port == "443" {
		if strings.Contains(h, ":") {
			return "[" + h + "]" // an IPv6 literal keeps its brackets
		}
		return h
	}
	return host
}

// stripExcessSpaces trims spaces at both ends and collapses runs of spaces
// inside, as the SDK's v4 signer does.
func stripExcessSpaces(s string) string {
	s = strings.Trim(s, " ")
	if !strings.Contains(s, "  ") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && s[i-1] == ' ' {
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

// escapePath appends p with every byte but the unreserved ones and '/'
// percent-encoded in uppercase hex (an escaped path is escaped again).
func escapePath(b []byte, p string) []byte {
	const upperhex = "0123456789ABCDEF"
	for i := 0; i < len(p); i++ {
		c := p[i]
		if unreserved(c) || c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// appendQuery appends the query's pairs, each name and value escaped (a
// space is %20), sorted by name, then value.
func appendQuery(b []byte, q url.Values) []byte {
	if len(q) == 0 {
		return b
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(q))
	for k, vs := range q {
		ek := escapeQuery(k)
		for _, v := range vs {
			pairs = append(pairs, pair{ek, escapeQuery(v)})
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		if c := strings.Compare(x.k, y.k); c != 0 {
			return c
		}
		return strings.Compare(x.v, y.v)
	})
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b
}

func escapeQuery(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// derivedKey is a key derived from a secret for a date, region and
// service, with HMACs keyed with it, ready to reuse (making one costs more
// than using it).
type derivedKey struct{ macs sync.Pool }

// signingKey is the key derived from secret for a date, region and
// service, kept: it changes once a day.
func signingKey(secret, date, region, service string) *derivedKey {
	id := secret + "\x00" + date + "\x00" + region + "\x00" + service
	if k, ok := keyCache.Load(id); ok {
		return k.(*derivedKey)
	}
	key := hmacSHA256([]byte("AWS4"+secret), date)
	for _, part := range []string{region, service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	k := &derivedKey{macs: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
	if keyCacheSize.Add(1) > maxCachedKeys {
		keyCache.Clear() // old dates: drop them all, rather than grow
		keyCacheSize.Store(1)
	}
	keyCache.Store(id, k)
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	return mac.Sum(nil)
}

// The derived keys: a tenant's secrets, for today and the day a signature
// of the last 15 minutes may still carry.
var (
	keyCache     sync.Map
	keyCacheSize atomic.Int64
)

const maxCachedKeys = 4096
