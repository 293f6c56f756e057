package huaweisig

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"github.com/keydeletion/service/shared/auth"
)

// The Huawei Cloud Go SDK's own signer test vectors
// (core/auth/signer/signer_test.go in huaweicloud-sdk-go-v3): AK
// "AccessKey", SK "SecretKey", X-Sdk-Date 20060102T150405Z, signed header
// x-sdk-date only. The SDK's JSON bodies end in a newline.
func TestSDKSignerVectors(t *testing.T) {
	const sk, date = "SecretKey", "20060102T150405Z"
	h := http.Header{}
	h.Set("X-Sdk-Date", date)
	h.Set("TEST_UNDERSCORE", "TEST_VALUE")
	cases := []struct {
		method, path string
		query        url.Values
		body         string
		want         string
	}{
		{"GET", "/path", url.Values{"limit": {"1"}}, "", "5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624"},
		{"POST", "/path", url.Values{"key": {"value"}}, "{\"Name\":\"test\",\"Id\":1}\n", "cecc2af119b18ab70b4d094c0750f3b42c02f254903179a0fc2cc72fc9db4f59"},
	}
	for _, c := range cases {
		cr := CanonicalRequest(c.method, c.path, c.query, h, "example.huaweicloud.com", []string{"x-sdk-date"}, hashHex([]byte(c.body)))
		if got := Sign(sk, cr, date); got != c.want {
			t.Errorf("%s %s: signature %s, want %s\ncanonical request:\n%s", c.method, c.path, got, c.want, cr)
		}
	}
}

// The SDK's canonical query string vector.
func TestSDKCanonicalQueryVector(t *testing.T) {
	q := url.Values{"limit": {"1"}, "enable": {"true"}, "test": {"一 (&=?!#%.*)"}, "path": {"/tmp/123"}, "multi": {"1", "2", "3"}}
	cr := CanonicalRequest("GET", "/", q, http.Header{}, "h", nil, "x")
	want := "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29"
	if got := splitLines(cr)[2]; got != want {
		t.Errorf("canonical query %q, want %q", got, want)
	}
}

func TestCanonicalURIEndsInSlash(t *testing.T) {
	cr := CanonicalRequest("POST", "/v1.0/p/kms/schedule-key-deletion", nil, http.Header{}, "h", nil, "x")
	if got := splitLines(cr)[1]; got != "/v1.0/p/kms/schedule-key-deletion/" {
		t.Errorf("canonical URI %q", got)
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// A signature binds the body: X-Sdk-Content-Sha256 counts only when it is
// signed and equal to the hash of the body received. Requests are signed by
// the Huawei SDK's own signer, which uses the header as the body hash when
// the header is present.
func TestContentHashHeaderBindsTheBody(t *testing.T) {
	const project = "0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f"
	bodyA := `{"key_id":"0d0466b0-e727-4d9c-b35d-f84bb474a37f","pending_days":"1096"}`
	bodyB := `{"key_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","pending_days":"7"}`
	now := time.Now()
	sign := func(signedBody string, extra map[string]string) http.Header {
		path := "/v1.0/" + project + "/kms/schedule-key-deletion"
		b := request.NewHttpRequestBuilder().WithMethod("POST").WithEndpoint("http://kms.local").WithPath(path).
			WithBody("body", signedBody).
			AddHeaderParam("Content-Type", "application/json").
			AddHeaderParam("X-Sdk-Date", now.UTC().Format(DateFormat))
		for k, v := range extra {
			b = b.AddHeaderParam(k, v)
		}
		out, err := signer.Signer{}.Sign(b.Build(), "AK", "SK")
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		for k, v := range extra {
			h.Set(k, v)
		}
		for k, v := range out {
			h.Set(k, v)
		}
		return h
	}
	cases := []struct {
		name   string
		header http.Header
		sent   string
		ok     bool
	}{
		{"signed hash of the body sent", sign(bodyA, map[string]string{contentHashHeader: hashHex([]byte(bodyA))}), bodyA, true},
		{"no header, body hashed", sign(bodyA, nil), bodyA, true},
		{"signed hash of another body", sign(bodyA, map[string]string{contentHashHeader: hashHex([]byte(bodyA))}), bodyB, false},
		{"signed UNSIGNED-PAYLOAD", sign(bodyA, map[string]string{contentHashHeader: "UNSIGNED-PAYLOAD"}), bodyA, false},
		{"unsigned header naming the signed body", withHeader(sign(bodyA, nil), contentHashHeader, hashHex([]byte(bodyA))), bodyB, false},
		{"unsigned header, signature over the body sent", withHeader(sign(bodyB, nil), contentHashHeader, hashHex([]byte(bodyA))), bodyB, true},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "http://kms.local/v1.0/"+project+"/kms/schedule-key-deletion", strings.NewReader(c.sent))
		r.Header = c.header
		_, err := Verify(r, []byte(c.sent), project, fuzzDir, now)
		if e, _ := auth.As(err); c.ok && err != nil || !c.ok && (e == nil || e.Reason != auth.BadSignature) {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func withHeader(h http.Header, name, value string) http.Header {
	h = h.Clone()
	h.Set(name, value)
	return h
}
