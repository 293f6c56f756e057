package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/shared/validation"
)

// Unclean paths reach the dialect that owns them, through the compiled
// server as a client meets it: each answers with its own error, never with
// a redirect of Go's router.
func TestUncleanPathsGetTheDialectsError(t *testing.T) {
	s := start(t, "DATA_DIR="+t.TempDir())
	a := tenants["dev-a"]
	project := a.HuaweiProjID
	tag := validation.KeyTagFor("0d0466b0-e727-4d9c-b35d-f84bb474a37f")
	awsH := map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"}
	jsonH := map[string]string{"Content-Type": "application/json"}
	cases := []struct {
		method, path string
		headers      map[string]string
		status       int
		field, code  string
	}{
		{"POST", "//", awsH, 404, "__type", "UnknownOperationException"},
		{"POST", "/./", awsH, 404, "__type", "UnknownOperationException"},
		{"POST", "/x/../", awsH, 404, "__type", "UnknownOperationException"},
		{"POST", "/v1.0//" + project + "/kms/list-keys", jsonH, 400, "error.error_code", "KMS.0201"},
		{"POST", "/v1.0/" + project + "/kms/list-keys/../schedule-key-deletion", jsonH, 400, "error.error_code", "KMS.0201"},
		{"POST", "/v1.0/" + project + "/./kms/list-keys", jsonH, 400, "error.error_code", "KMS.0201"},
		{"POST", "/v1.0", jsonH, 400, "error.error_code", "KMS.0201"},
		{"POST", "/kms/v1/keys//" + tag + "/request-deletion", nil, 404, "error.errorCode", "300"},
		{"POST", "/kms/v1/keys/x/../" + tag + "/request-deletion", nil, 404, "error.errorCode", "300"},
		{"GET", "/kms//v1/keys", nil, 404, "error.errorCode", "300"},
		{"GET", "/kms", nil, 404, "error.errorCode", "300"},
		{"GET", "/_local//health", nil, 404, "error.code", "NotFound"},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range cases {
		body := ""
		if c.method == "POST" {
			body = "{}"
		}
		req, err := http.NewRequest(c.method, s.url+c.path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		if err := devclient.Sign(req, []byte(body), a, time.Now()); err != nil {
			t.Fatal(err)
		}
		if req.URL.Path != c.path && req.URL.RawPath != c.path {
			t.Fatalf("the client itself cleaned %q to %q", c.path, req.URL.Path)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got map[string]any
		json.Unmarshal(raw, &got)
		if resp.StatusCode != c.status || lookup(got, c.field) != c.code {
			t.Errorf("%s %s: %d %s (Location %q), want %d with %s=%s", c.method, c.path, resp.StatusCode, raw,
				resp.Header.Get("Location"), c.status, c.field, c.code)
		}
	}
}

// lookup is the string at a dotted path of a decoded JSON object.
func lookup(m map[string]any, path string) string {
	var cur any = m
	for _, part := range strings.Split(path, ".") {
		next, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = next[part]
	}
	s, _ := cur.(string)
	return s
}
