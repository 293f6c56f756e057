package awssig

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzParseAuthorization: no input panics the parser or the verifier, and
// whatever parses has the shape the verifier relies on.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature=")
	f.Add("AWS4-HMAC-SHA256 Credential=a=b=c, Credential=x")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err == nil {
			if a.AccessKeyID == "" || len(a.Signature) != 64 || len(a.Date) != 8 || len(a.SignedHeaders) == 0 {
				t.Fatalf("parsed into an unusable authorization: %+v", a)
			}
			for i := 1; i < len(a.SignedHeaders); i++ {
				if a.SignedHeaders[i-1] >= a.SignedHeaders[i] {
					t.Fatalf("unsorted signed headers: %v", a.SignedHeaders)
				}
			}
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader("{}"))
		r.Header.Set("Authorization", h)
		r.Header.Set("X-Amz-Date", time.Now().UTC().Format(dateFormat))
		if _, err := Verify(r, []byte("{}"), dir, time.Now()); err == nil {
			t.Fatalf("a fuzzed header verified: %q", h)
		}
	})
}
