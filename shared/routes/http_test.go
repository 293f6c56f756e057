package routes_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/shared/validation"
)

// reply is a decoded response.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// path returns a value by dotted path, e.g. "data.keyTag" or "error.error_code".
func (r reply) path(p string) any {
	var cur any = r.body
	for _, part := range strings.Split(p, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func (r reply) str(p string) string {
	s, _ := r.path(p).(string)
	return s
}

// huaweiCode is a Huawei error's code: KMS's nested {"error":{...}} or the
// API gateway's flat body.
func (r reply) huaweiCode() string {
	if c := r.str("error.error_code"); c != "" {
		return c
	}
	return r.str("error_code")
}

// idOfTag is the key id an NCP keyTag names.
func idOfTag(t *testing.T, tag string) string {
	t.Helper()
	id, err := validation.KeyTag(tag)
	if err != nil {
		t.Fatalf("keyTag %q: %v", tag, err)
	}
	return id
}

// do sends a request signed as dev-a.
func do(t *testing.T, method, url string, headers map[string]string, body string) reply {
	t.Helper()
	c := creds["dev-a"]
	return doAs(t, &c, method, url, headers, body)
}

// doAs sends a request signed with c (unsigned if c is nil).
func doAs(t *testing.T, c *devclient.Creds, method, url string, headers map[string]string, body string) reply {
	t.Helper()
	return send(t, newRequest(t, c, method, url, headers, body))
}

// newRequest is a request signed with c (unsigned if c is nil).
func newRequest(t *testing.T, c *devclient.Creds, method, url string, headers map[string]string, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if c != nil {
		if err := devclient.Sign(req, []byte(body), *c, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

func parse(t *testing.T, resp *http.Response, raw []byte) reply {
	t.Helper()
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: response is not a JSON object: %q", resp.Request.Method, resp.Request.URL, raw)
		}
	}
	return r
}

var (
	jsonCT = map[string]string{"Content-Type": "application/json"}
)

func awsCall(t *testing.T, base, op, body string) reply {
	return do(t, http.MethodPost, base+"/", map[string]string{
		"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + op}, body)
}

func huaweiCall(t *testing.T, base, op, body string) reply {
	return do(t, http.MethodPost, base+"/v1.0/"+projectID+"/kms/"+op, jsonCT, body)
}

func ncpCall(t *testing.T, base, method, path string) reply {
	return do(t, method, base+"/kms/v1/keys"+path, nil, "")
}
