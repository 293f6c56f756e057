package huaweisig

import (
	"net/http"
	"net/url"
	"testing"
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
