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
	"github.com/keydeletion/service/shared/boltstore"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/validation"
)

// BenchmarkScheduleCancel measures one schedule plus one cancel through each
// dialect's full HTTP handling (routing, parsing, validation, the service,
// the embedded store with its fsyncs, logging to a discarded JSON sink).
func BenchmarkScheduleCancel(b *testing.B) {
	st, err := boltstore.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := keys.NewService(st, time.Now)
	h := routes.Handler(svc, directory, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	serve := func(method, path, target, body string) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if target != "" {
			r.Header.Set("X-Amz-Target", target)
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		} else if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if err := devclient.Sign(r, []byte(body), creds["dev-a"], time.Now()); err != nil {
			b.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
	}
	hw := "/v1.0/" + projectID + "/kms/"
	for _, d := range []struct {
		name  string
		cycle func(id string)
	}{
		{"aws", func(id string) {
			serve("POST", "/", "TrentService.ScheduleKeyDeletion", `{"KeyId":"`+id+`","PendingWindowInDays":7}`)
			serve("POST", "/", "TrentService.CancelKeyDeletion", `{"KeyId":"`+id+`"}`)
		}},
		{"huawei", func(id string) {
			serve("POST", hw+"schedule-key-deletion", "", `{"key_id":"`+id+`","pending_days":"7"}`)
			serve("POST", hw+"cancel-key-deletion", "", `{"key_id":"`+id+`"}`)
		}},
		{"ncp", func(id string) {
			tag := validation.KeyTagFor(id)
			serve("POST", "/kms/v1/keys/"+tag+"/request-deletion", "", "")
			serve("POST", "/kms/v1/keys/"+tag+"/cancel-deletion", "", "")
		}},
	} {
		b.Run(d.name, func(b *testing.B) {
			b.SetParallelism(8) // 8 × GOMAXPROCS clients: their fsyncs are shared
			b.RunParallel(func(pb *testing.PB) {
				k, err := svc.Create(b.Context(), keys.CreateRequest{Owner: def.ID})
				if err != nil {
					b.Error(err)
					return
				}
				for pb.Next() {
					d.cycle(k.ID)
				}
			})
		})
	}
}

// BenchmarkDescribe measures a read through each dialect.
func BenchmarkDescribe(b *testing.B) {
	st, err := boltstore.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := keys.NewService(st, time.Now)
	h := routes.Handler(svc, directory, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	k, _ := svc.Create(b.Context(), keys.CreateRequest{Owner: def.ID})
	reqs := map[string]func() *http.Request{
		"aws": func() *http.Request {
			r := httptest.NewRequest("POST", "/", strings.NewReader(`{"KeyId":"`+k.ID+`"}`))
			r.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			return r
		},
		"huawei": func() *http.Request {
			r := httptest.NewRequest("POST", "/v1.0/"+projectID+"/kms/describe-key", strings.NewReader(`{"key_id":"`+k.ID+`"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		},
		"ncp": func() *http.Request {
			return httptest.NewRequest("GET", "/kms/v1/keys/"+validation.KeyTagFor(k.ID), nil)
		},
	}
	for _, name := range []string{"aws", "huawei", "ncp"} {
		b.Run(name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w := httptest.NewRecorder()
					r := reqs[name]()
					body, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(strings.NewReader(string(body)))
					if err := devclient.Sign(r, body, creds["dev-a"], time.Now()); err != nil {
						b.Error(err)
						return
					}
					h.ServeHTTP(w, r)
					if w.Code != 200 {
						b.Errorf("%d %s", w.Code, w.Body)
						return
					}
				}
			})
		})
	}
}
