package routes_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/validation"
)

// presigned is a request signed once by the client, replayed by a benchmark
// so that the client's signing stays out of the server's figures (the
// verification is in them).
type presigned struct {
	method, path, body string
	header             http.Header
}

func presign(b *testing.B, method, path, body string, header map[string]string) presigned {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	if err := devclient.Sign(r, []byte(body), creds["dev-a"], time.Now()); err != nil {
		b.Fatal(err)
	}
	return presigned{method, path, body, r.Header}
}

func (p presigned) serve(b *testing.B, h http.Handler) {
	r := httptest.NewRequest(p.method, p.path, strings.NewReader(p.body))
	r.Header = p.header.Clone()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Errorf("%s %s: %d %s", p.method, p.path, w.Code, w.Body)
	}
}

func benchServer(b *testing.B) (*keys.Service, http.Handler) {
	st, err := pebblestore.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	svc := keys.NewService(st, time.Now)
	return svc, routes.Handler(svc, directory, slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

var (
	awsHeaders = func(op string) map[string]string {
		return map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + op}
	}
	hwHeaders = map[string]string{"Content-Type": "application/json"}
)

// BenchmarkScheduleCancel measures one schedule plus one cancel through each
// dialect's full HTTP handling (routing, signature verification, parsing,
// validation, the service, the embedded store with its fsyncs, logging to a
// discarded JSON sink), 16 clients at once.
func BenchmarkScheduleCancel(b *testing.B) {
	svc, h := benchServer(b)
	hw := "/v1.0/" + projectID + "/kms/"
	cycles := map[string]func(b *testing.B, id string) [2]presigned{
		"aws": func(b *testing.B, id string) [2]presigned {
			return [2]presigned{
				presign(b, "POST", "/", `{"KeyId":"`+id+`","PendingWindowInDays":7}`, awsHeaders("ScheduleKeyDeletion")),
				presign(b, "POST", "/", `{"KeyId":"`+id+`"}`, awsHeaders("CancelKeyDeletion")),
			}
		},
		"huawei": func(b *testing.B, id string) [2]presigned {
			return [2]presigned{
				presign(b, "POST", hw+"schedule-key-deletion", `{"key_id":"`+id+`","pending_days":"7"}`, hwHeaders),
				presign(b, "POST", hw+"cancel-key-deletion", `{"key_id":"`+id+`"}`, hwHeaders),
			}
		},
		"ncp": func(b *testing.B, id string) [2]presigned {
			tag := validation.KeyTagFor(id)
			return [2]presigned{
				presign(b, "POST", "/kms/v1/keys/"+tag+"/request-deletion", "", nil),
				presign(b, "POST", "/kms/v1/keys/"+tag+"/cancel-deletion", "", nil),
			}
		},
	}
	for _, name := range []string{"aws", "huawei", "ncp"} {
		b.Run(name, func(b *testing.B) {
			b.SetParallelism(8) // 8 × GOMAXPROCS clients: their fsyncs are shared
			b.RunParallel(func(pb *testing.PB) {
				k, err := svc.Create(b.Context(), keys.Principal{Tenant: def.ID}, keys.CreateRequest{})
				if err != nil {
					b.Error(err)
					return
				}
				reqs := cycles[name](b, k.ID)
				for pb.Next() {
					reqs[0].serve(b, h)
					reqs[1].serve(b, h)
				}
			})
		})
	}
}

// BenchmarkDescribe measures a read through each dialect.
func BenchmarkDescribe(b *testing.B) {
	svc, h := benchServer(b)
	k, _ := svc.Create(b.Context(), keys.Principal{Tenant: def.ID}, keys.CreateRequest{})
	reqs := map[string]presigned{
		"aws":    presign(b, "POST", "/", `{"KeyId":"`+k.ID+`"}`, awsHeaders("DescribeKey")),
		"huawei": presign(b, "POST", "/v1.0/"+projectID+"/kms/describe-key", `{"key_id":"`+k.ID+`"}`, hwHeaders),
		"ncp":    presign(b, "GET", "/kms/v1/keys/"+validation.KeyTagFor(k.ID), "", nil),
	}
	for _, name := range []string{"aws", "huawei", "ncp"} {
		b.Run(name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					reqs[name].serve(b, h)
				}
			})
		})
	}
}
