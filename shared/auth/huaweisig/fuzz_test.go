package huaweisig

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keydeletion/service/shared/tenant"
)

var fuzzDir = func() *tenant.Directory {
	d, err := tenant.Parse([]byte(`{"tenants":[{"id":"t","huawei":{"projectIds":["0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f"],
		"accessKeys":[{"id":"AK","secret":"SK"}]}}]}`))
	if err != nil {
		panic(err)
	}
	return d
}()

// FuzzParseAuthorization: no input panics the parser or the verifier, and
// whatever parses has the shape the verifier relies on.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-project-id;x-sdk-date, Signature=5a2ce64c865e0e6046321c6f3d5a77ba8413eeaf355c3166c03d58d02ac79624")
	f.Add("SDK-HMAC-SHA256 Access=, SignedHeaders=, Signature=")
	f.Add("SDK-HMAC-SHA256 Access=AK,Access=AK")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err == nil && (a.AccessKey == "" || len(a.Signature) != 64 || len(a.SignedHeaders) == 0) {
			t.Fatalf("parsed into an unusable authorization: %+v", a)
		}
		r := httptest.NewRequest("POST", "/v1.0/0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f/kms/describe-key", strings.NewReader("{}"))
		r.Header.Set("Authorization", h)
		r.Header.Set("X-Sdk-Date", time.Now().UTC().Format(DateFormat))
		if _, err := Verify(r, []byte("{}"), "0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f", fuzzDir, time.Now()); err == nil {
			t.Fatalf("a fuzzed header verified: %q", h)
		}
	})
}
