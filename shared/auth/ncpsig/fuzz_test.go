package ncpsig

import (
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzHeaders: no combination of the three signature headers panics the
// verifier or verifies without the secret.
func FuzzHeaders(f *testing.F) {
	f.Add("1733468239421", "AK1", "p2LtjzMG3KuP1V6MPx6FJ5BxBR0ChmBdeTaAgU9ffmo=")
	f.Add("-1", "", "")
	f.Add("99999999999999999999", "AK1", "====")
	f.Fuzz(func(t *testing.T, ts, ak, sig string) {
		r := httptest.NewRequest("GET", "/kms/v1/keys", nil)
		r.Header.Set(HeaderTimestamp, ts)
		r.Header.Set(HeaderAccessKey, ak)
		r.Header.Set(HeaderSignature, sig)
		if _, err := Verify(r, dir, time.Now()); err == nil {
			t.Fatalf("fuzzed headers verified: %q %q %q", ts, ak, sig)
		}
		if at, err := ParseTimestamp(ts); err == nil && at.UnixMilli() <= 0 {
			t.Fatalf("timestamp %q parsed to %v", ts, at)
		}
	})
}
