package awssig

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"golang.org/x/net/http/httpguts"
)

// FuzzAgreesWithTheSDK: for any request the AWS SDK for Go v2 signs, the
// signature this package computes is the SDK's; and a request changed in a
// signed part after signing no longer verifies.
func FuzzAgreesWithTheSDK(f *testing.F) {
	f.Add("POST", "kms.example.com", "/", "", "X-Amz-Target", "TrentService.DescribeKey", "Content-Type", "application/x-amz-json-1.1", []byte(`{"KeyId":"x"}`))
	f.Add("GET", "localhost:8080", "/audit/v1/records", "keyId=a&limit=2&from=2026-01-01T00:00:00Z", "X-Custom", "  two  spaces  ", "X-Custom", "second", []byte(nil))
	f.Add("PUT", "[::1]:443", "/a b/%2F/ü", "x=1&x=0&a+b=c d&=e", "X-Amz-Target", "a", "X-Empty", "", []byte("body"))
	f.Add("DELETE", "example.com:443", "", "q", "Accept", "*/*", "X-Tab", "\tv\t", []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, method, host, path, query, h1, v1, h2, v2 string, body []byte) {
		if !httpguts.ValidHostHeader(host) || host == "" || method == "" || !validToken(method) {
			return
		}
		u := &url.URL{Scheme: "https", Host: host, Path: path, RawQuery: query}
		r, err := http.NewRequest(method, u.String(), strings.NewReader(string(body)))
		if err != nil {
			return
		}
		for _, h := range [][2]string{{h1, v1}, {h2, v2}} {
			if !httpguts.ValidHeaderFieldName(h[0]) || !httpguts.ValidHeaderFieldValue(h[1]) {
				return
			}
			r.Header.Add(h[0], h[1])
		}
		at := time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "kms", "eu-west-1", at); err != nil {
			return
		}
		a, err := ParseAuthorization(r.Header.Get("Authorization"))
		if err != nil {
			t.Fatalf("the SDK's Authorization %q: %v", r.Header.Get("Authorization"), err)
		}
		// As the server receives it: Go's server parses the request URI.
		recv, err := http.NewRequest(r.Method, r.URL.String(), nil)
		if err != nil {
			t.Skip()
		}
		recv.Host, recv.Header, recv.ContentLength = r.Host, r.Header.Clone(), r.ContentLength
		got, err := expected(recv, body, a, creds.SecretAccessKey, at)
		if err != nil {
			// Refused only for headers the SDK itself would not sign.
			t.Fatalf("refused what the SDK signed (%s): %v", a.SignedHeaders, err)
		}
		if got != a.Signature {
			cr, _ := canonicalRequest(recv, body, a, at)
			t.Fatalf("signature %s, the SDK's %s; canonical request:\n%s", got, a.Signature, cr)
		}
		// A signed header changed after signing: no longer the signature.
		recv.Header.Set("X-Amz-Date", at.Add(time.Second).Format(dateFormat))
		if changed, err := expected(recv, body, a, creds.SecretAccessKey, at.Add(time.Second)); err == nil && changed == a.Signature {
			t.Fatal("a changed date verified")
		}
	})
}

func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}
