package main_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/testtool"
)

// A refused request's lines can be followed: the authentication failure and
// the request line carry the request id the client got, the operation it
// asked for, the access key id it named (never the secret) and the error
// code it was answered with.
func TestRefusedRequestsAreLoggedWithTheirRequestID(t *testing.T) {
	s := start(t, "DATA_DIR="+t.TempDir())
	forged := tenants["dev-a"]
	forged.AWSSecret = "not-the-secret"
	body := `{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","PendingWindowInDays":7}`
	req, _ := http.NewRequest("POST", s.url+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.ScheduleKeyDeletion")
	if err := devclient.SignAWS(req, []byte(body), forged, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Amzn-RequestId")
	if resp.StatusCode != 400 || id == "" {
		t.Fatalf("forged request: %d, request id %q", resp.StatusCode, id)
	}
	var authLine, requestLine map[string]any
	testtool.WaitFor(t, 5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range s.lines {
			if l["requestId"] != id {
				continue
			}
			switch l["msg"] {
			case "authentication failed":
				authLine = l
			case "request":
				requestLine = l
			}
		}
		return authLine != nil && requestLine != nil
	}, "both lines of the refused request")
	if authLine["operation"] != "ScheduleKeyDeletion" || authLine["accessKey"] != forged.AWSKey || authLine["dialect"] != "aws" {
		t.Errorf("authentication line: %v", authLine)
	}
	if requestLine["errorCode"] != "InvalidSignatureException" || requestLine["status"] != 400.0 ||
		requestLine["accessKey"] != forged.AWSKey || requestLine["operation"] != "ScheduleKeyDeletion" {
		t.Errorf("request line: %v", requestLine)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		for k, v := range l {
			if str, ok := v.(string); ok && strings.Contains(str, forged.AWSSecret) {
				t.Errorf("line %v: %s holds the secret", l["msg"], k)
			}
		}
	}
}
