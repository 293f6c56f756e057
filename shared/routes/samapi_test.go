package routes_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
)

// A request signed for a host with a port, as a client of sam local
// start-api signs it (http://127.0.0.1:3000), reaches the function as
// SAM's API Gateway emulation builds the event: the domain name without the
// port, the client's Host header among the headers. The Lambda proxy makes
// the request's Host the domain name; the signature holds over the Host the
// client sent. (It failed with InvalidSignatureException, every call,
// through start-api.)
func TestSignaturesHoldBehindSAMsAPIGateway(t *testing.T) {
	st := newStores["bolt"](t)
	adapter := httpadapter.NewV2(routes.Handler(keys.NewService(st, time.Now), directory, slog.New(slog.NewJSONHandler(io.Discard, nil))))
	a := creds["dev-a"]
	for name, c := range map[string]struct {
		method, path, body string
		headers            map[string]string
	}{
		"aws":    {"POST", "/", `{}`, map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"}},
		"huawei": {"POST", "/v1.0/" + projectID + "/kms/list-keys", `{}`, map[string]string{"Content-Type": "application/json"}},
		"ncp":    {"GET", "/kms/v1/keys", "", nil},
	} {
		req, err := http.NewRequest(c.method, "http://127.0.0.1:3000"+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		if name == "huawei" {
			// The Huawei SDK's own scheme, which signs the host when asked.
			req.Header.Set("X-Project-Id", projectID)
		}
		if err := devclient.Sign(req, []byte(c.body), a, time.Now()); err != nil {
			t.Fatal(err)
		}
		headers := map[string]string{"host": "127.0.0.1:3000"}
		for k, vs := range req.Header {
			headers[strings.ToLower(k)] = strings.Join(vs, ",")
		}
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: c.path, Headers: headers, Body: c.body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				DomainName: "127.0.0.1", Stage: "$default",
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: c.method, Path: c.path, SourceIP: "127.0.0.1"},
			},
		}
		resp, err := adapter.ProxyWithContext(context.Background(), ev)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", name, resp.StatusCode, resp.Body)
		}
	}
}
