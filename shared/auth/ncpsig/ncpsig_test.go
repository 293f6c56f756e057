package ncpsig

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/keydeletion/service/shared/auth"
	"github.com/keydeletion/service/shared/tenant"
)

// A vector computed independently of this package, from NCP's description
// (python3: base64(hmac.new(b"secret", b"POST /kms/v1/keys/abc/request-deletion\n1733468239421\nAK", sha256).digest())).
func TestSignVector(t *testing.T) {
	got := Sign("secret", "POST", "/kms/v1/keys/abc/request-deletion", "1733468239421", "AK")
	if want := vector; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

var dir = func() *tenant.Directory {
	d, err := tenant.Parse([]byte(`{"tenants":[{"id":"t1","ncp":{"accessKeys":[{"id":"AK1","secret":"s3cr3t"}]}}]}`))
	if err != nil {
		panic(err)
	}
	return d
}()

func TestVerify(t *testing.T) {
	now := time.Now()
	req := func(path, ak, secret string, at time.Time, mutate func(string) string) *httptestReq {
		ts := strconv.FormatInt(at.UnixMilli(), 10)
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set(HeaderTimestamp, ts)
		r.Header.Set(HeaderAccessKey, ak)
		sig := Sign(secret, "GET", path, ts, ak)
		if mutate != nil {
			sig = mutate(sig)
		}
		r.Header.Set(HeaderSignature, sig)
		return &httptestReq{r}
	}
	for _, c := range []struct {
		name   string
		r      *httptestReq
		reason auth.Reason
	}{
		{"good", req("/kms/v1/keys?pageNo=1&pageSize=20", "AK1", "s3cr3t", now, nil), 0},
		{"4m59s old", req("/kms/v1/keys", "AK1", "s3cr3t", now.Add(-299*time.Second), nil), 0},
		{"5 minutes old", req("/kms/v1/keys", "AK1", "s3cr3t", now.Add(-5*time.Minute), nil), auth.Expired},
		{"5 minutes ahead", req("/kms/v1/keys", "AK1", "s3cr3t", now.Add(5*time.Minute), nil), auth.Expired},
		{"wrong secret", req("/kms/v1/keys", "AK1", "nope", now, nil), auth.BadSignature},
		{"unknown key", req("/kms/v1/keys", "AK9", "s3cr3t", now, nil), auth.UnknownKey},
		{"tampered", req("/kms/v1/keys", "AK1", "s3cr3t", now, tamper), auth.BadSignature},
	} {
		tn, err := Verify(c.r.Request, dir, now)
		e, _ := auth.As(err)
		if c.reason == 0 && (err != nil || tn.Tenant.ID != "t1") || c.reason != 0 && (e == nil || e.Reason != c.reason) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	r := httptest.NewRequest("GET", "/kms/v1/keys", nil)
	if _, err := Verify(r, dir, now); err == nil {
		t.Error("unsigned request verified")
	}
	// The query is signed: changing it breaks the signature.
	tampered := req("/kms/v1/keys?pageNo=1", "AK1", "s3cr3t", now, nil)
	tampered.URL.RawQuery = "pageNo=2"
	if _, err := Verify(tampered.Request, dir, now); err == nil {
		t.Error("changed query verified")
	}
}

// tamper changes the signature's first character, whatever it is, so the
// tampered case can never be the signature itself.
func tamper(sig string) string {
	first := byte('A')
	if sig[0] == first {
		first = 'B'
	}
	return string(first) + sig[1:]
}

const vector = "bGUmVo3klaWfZJdmEzhUTjO0eav371TjWyXB3i1cnUg="

type httptestReq struct{ *http.Request }
