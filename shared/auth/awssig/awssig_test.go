package awssig

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/tenant"
)

// Cases from AWS's published Signature Version 4 test suite
// (AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service").
func TestAWSTestSuite(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	signedAt := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	for _, c := range []struct{ name, method, target, want string }{
		{"get-vanilla", "GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	} {
		r := httptest.NewRequest(c.method, "https://example.amazonaws.com"+c.target, nil)
		r.Host = "example.amazonaws.com"
		r.Header.Set("X-Amz-Date", "20150830T123600Z")
		a := Authorization{AccessKeyID: "AKIDEXAMPLE", Date: "20150830", Region: "us-east-1", Service: "service",
			SignedHeaders: []string{"host", "x-amz-date"}}
		got, err := expected(r, nil, a, secret, signedAt)
		if err != nil || got != c.want {
			t.Errorf("%s: %s %v, want %s", c.name, got, err, c.want)
		}
	}
}

var dir = func() *tenant.Directory {
	d, err := tenant.Parse([]byte(`{"tenants":[{"id":"t1","aws":{"accountId":"111122223333","region":"eu-west-1",
		"accessKeys":[{"id":"AKIDT1","secret":"s3cr3t"}]}}]}`))
	if err != nil {
		panic(err)
	}
	return d
}()

// signed returns a KMS request signed as the AWS SDK signs it.
func signed(t *testing.T, body, akid, secret, region, service string, at time.Time) *http.Request {
	r := httptest.NewRequest("POST", "https://kms.example.com/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
	sum := sha256.Sum256([]byte(body))
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("User-Agent", "added-after-signing")
	r.Header.Set("Accept-Encoding", "gzip")
	return r
}

func TestVerify(t *testing.T) {
	now := time.Now()
	body := `{"KeyId":"x"}`
	cases := []struct {
		name   string
		req    func() *http.Request
		body   string
		reason auth.Reason
	}{
		{"good", func() *http.Request { return signed(t, body, "AKIDT1", "s3cr3t", "eu-west-1", "kms", now) }, body, 0},
		{"14 minutes old", func() *http.Request {
			return signed(t, body, "AKIDT1", "s3cr3t", "eu-west-1", "kms", now.Add(-14*time.Minute))
		}, body, 0},
		{"16 minutes old", func() *http.Request {
			return signed(t, body, "AKIDT1", "s3cr3t", "eu-west-1", "kms", now.Add(-16*time.Minute))
		}, body, auth.Expired},
		{"16 minutes ahead", func() *http.Request {
			return signed(t, body, "AKIDT1", "s3cr3t", "eu-west-1", "kms", now.Add(16*time.Minute))
		}, body, auth.Expired},
		{"wrong secret", func() *http.Request { return signed(t, body, "AKIDT1", "other", "eu-west-1", "kms", now) }, body, auth.BadSignature},
		{"unknown key", func() *http.Request { return signed(t, body, "AKIDNOPE", "s3cr3t", "eu-west-1", "kms", now) }, body, auth.UnknownKey},
		{"other region", func() *http.Request { return signed(t, body, "AKIDT1", "s3cr3t", "us-east-1", "kms", now) }, body, auth.WrongScope},
		{"other service", func() *http.Request { return signed(t, body, "AKIDT1", "s3cr3t", "eu-west-1", "s3", now) }, body, auth.WrongScope},
		{"body changed", func() *http.Request { return signed(t, body, "AKIDT1", "s3cr3t", "eu-west-1", "kms", now) }, `{"KeyId":"y"}`, auth.BadSignature},
		{"target changed", func() *http.Request {
			r := signed(t, body, "AKIDT1", "s3cr3t", "eu-west-1", "kms", now)
			r.Header.Set("X-Amz-Target", "TrentService.ScheduleKeyDeletion")
			return r
		}, body, auth.BadSignature},
		{"target not signed", func() *http.Request {
			// A request signed without X-Amz-Target, the target added after:
			// the operation would be the sender's choice, not the signer's.
			r := signed(t, body, "AKIDT1", "s3cr3t", "eu-west-1", "kms", now)
			r.Header.Del("X-Amz-Target")
			r.Header.Del("Authorization")
			sum := sha256.Sum256([]byte(body))
			if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDT1", SecretAccessKey: "s3cr3t"},
				r, hex.EncodeToString(sum[:]), "kms", "eu-west-1", now); err != nil {
				t.Fatal(err)
			}
			r.Header.Set("X-Amz-Target", "TrentService.ScheduleKeyDeletion")
			return r
		}, body, auth.Malformed},
		{"unsigned", func() *http.Request { return httptest.NewRequest("POST", "/", nil) }, body, auth.Missing},
		{"garbage", func() *http.Request {
			r := httptest.NewRequest("POST", "/", nil)
			r.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
			return r
		}, body, auth.Malformed},
		{"session token", func() *http.Request {
			r := signed(t, body, "AKIDT1", "s3cr3t", "eu-west-1", "kms", now)
			r.Header.Set("X-Amz-Security-Token", "tok")
			return r
		}, body, auth.UnknownKey},
	}
	for _, c := range cases {
		tn, err := Verify(c.req(), []byte(c.body), dir, now)
		e, _ := auth.As(err)
		switch {
		case c.reason == 0 && (err != nil || tn.Tenant.ID != "t1"):
			t.Errorf("%s: %v", c.name, err)
		case c.reason != 0 && (e == nil || e.Reason != c.reason):
			t.Errorf("%s: %v, want reason %d", c.name, err, c.reason)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error reveals the secret", c.name)
		}
	}
}
