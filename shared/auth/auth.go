// Package auth holds what the three request verifiers share: why a request
// was refused. Each dialect turns a Reason into its vendor's error; Detail
// is safe to show (it never carries a secret, token or signature).
package auth

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
)

// Reason is why a request failed authentication.
type Reason int

const (
	Missing      Reason = iota + 1 // no credentials at all
	Malformed                      // credentials present but unreadable
	UnknownKey                     // an access key or token nobody has
	Expired                        // a stale or future-dated signature, an expired token
	BadSignature                   // the signature does not match
	WrongScope                     // signed for another region or service
	WrongProject                   // a Huawei project that is not the caller's
)

// Error is a refused authentication.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string { return "authentication failed: " + e.Detail }

// Fail returns an *Error.
func Fail(r Reason, detail string) error { return &Error{Reason: r, Detail: detail} }

// As returns the authentication error in err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Equal compares two signatures in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// ParseParams parses the "Name=value, Name=value" list of an Authorization
// header (after its scheme) into the values of names, in their order. It
// requires exactly the given names, once each, with values. (It allocates
// nothing but the slice: it runs on every request.)
func ParseParams(s string, names ...string) ([]string, bool) {
	values := make([]string, len(names))
	seen := 0
	for {
		part, rest, more := strings.Cut(s, ",")
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return nil, false
		}
		i := slices.Index(names, k)
		if i < 0 || values[i] != "" {
			return nil, false
		}
		values[i] = v
		seen++
		if !more {
			return values, seen == len(names)
		}
		s = rest
	}
}

// ParseSignedHeaders parses "a;b;c": sorted, distinct, lowercase names.
func ParseSignedHeaders(s string) ([]string, bool) {
	names := strings.Split(s, ";")
	for i, name := range names {
		if name == "" || name != strings.ToLower(name) || (i > 0 && names[i-1] >= name) {
			return nil, false
		}
	}
	return names, true
}

// IsHexSignature reports whether s is 64 lowercase hexadecimal characters,
// the form of both HMAC-SHA256 signature schemes here.
func IsHexSignature(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// maxClaimedKey bounds what ClaimedAccessKey returns: it is logged, and the
// header it comes from is the caller's.
const maxClaimedKey = 128

// ClaimedAccessKey is the access key id a request names in whichever
// scheme it uses (AWS SigV4 header or query, Huawei SDK-HMAC-SHA256, NCP),
// "token" for a Huawei X-Auth-Token (a token is a secret), or "". It is
// what the caller claims, not who it is: for the log line of a refused
// request, never for a decision.
func ClaimedAccessKey(r *http.Request) string {
	authorization := r.Header.Get("Authorization")
	var id string
	switch amzCredential, ncpAccessKey := r.URL.Query().Get("X-Amz-Credential"), r.Header.Get("x-ncp-iam-access-key"); {
	case strings.HasPrefix(authorization, "AWS4-HMAC-SHA256 "):
		_, cred, _ := strings.Cut(authorization, "Credential=")
		id, _, _ = strings.Cut(cred, "/")
	case amzCredential != "":
		id, _, _ = strings.Cut(amzCredential, "/")
	case strings.HasPrefix(authorization, "SDK-HMAC-SHA256 "):
		_, access, _ := strings.Cut(authorization, "Access=")
		id, _, _ = strings.Cut(access, ",")
	case ncpAccessKey != "":
		id = ncpAccessKey
	case r.Header.Get("X-Auth-Token") != "":
		return "token"
	}
	id = strings.TrimSpace(id)
	if len(id) > maxClaimedKey {
		id = id[:maxClaimedKey] + "..."
	}
	return id
}

// Host is the host the client addressed, as it signed it: the Host header
// the request arrived with. Behind API Gateway the Lambda proxy sets the
// request's Host to the API's domain name (without the port the client
// used, under sam local) and keeps the client's own Host header among the
// headers; a Go server removes that header and keeps it in r.Host.
func Host(r *http.Request) string {
	if h := r.Header.Get("Host"); h != "" {
		return h
	}
	return r.Host
}
