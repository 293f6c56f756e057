package main_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/shared/validation"
)

// The clock API and a held deletion, on the compiled local server: dev-d's
// key, scheduled through NCP, survives its date however far its tenant's
// clock moves; once the approver approves it, the next move finalizes it
// before it answers (the key is gone, its name free, its trail ends in its
// final deletion).
func TestHeldKeySurvivesTheClockUntilApproved(t *testing.T) {
	s := start(t, "DATA_DIR="+t.TempDir())
	all, err := devclient.Load("../local/credentials.json")
	if err != nil {
		t.Fatal(err)
	}
	operator := all["dev-d"]
	approver := all["dev-d/AKIADEVDAPPROVER0000"]
	call := func(c devclient.Creds, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if err := devclient.Sign(req, []byte(body), c, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	status, body := call(operator, "POST", "/kms/v1/keys", `{"keyName":"held-one","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`)
	if status != 200 {
		t.Fatalf("create: %d %s", status, body)
	}
	tag := body[strings.Index(body, `"keyTag":"`)+len(`"keyTag":"`):]
	tag = tag[:strings.Index(tag, `"`)]
	id, err := validation.KeyTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := call(operator, "POST", "/kms/v1/keys/"+tag+"/request-deletion", ""); status != 200 {
		t.Fatalf("request-deletion: %d %s", status, body)
	}
	if code, st := clockCall(t, s.url, "POST", `{"advance":"30d"}`, "ncp", operator); code != 200 || st.Finalized == nil || *st.Finalized != 0 {
		t.Fatalf("30 days on: %d %+v, want nothing finalized", code, st)
	}
	if status, body := call(operator, "GET", "/kms/v1/keys/"+tag, ""); status != 200 || !strings.Contains(body, `"REVOKE"`) {
		t.Fatalf("the held key 30 days on: %d %s, want it still pending", status, body)
	}
	if status, body := call(approver, "POST", "/governance/v1/keys/"+id+"/approve-deletion", ""); status != 200 {
		t.Fatalf("approve: %d %s", status, body)
	}
	if code, st := clockCall(t, s.url, "POST", `{"advance":"1s"}`, "ncp", operator); code != 200 || st.Finalized == nil || *st.Finalized != 1 {
		t.Fatalf("the move after the approval: %d %+v, want the key finalized", code, st)
	}
	if status, _ := call(operator, "GET", "/kms/v1/keys/"+tag, ""); status != 404 {
		t.Fatalf("the approved key: %d, want 404", status)
	}
	trail := trailOfAs(t, s, operator, id)
	if len(trail) == 0 || trail[len(trail)-1].Operation != "FinalDeletion" || trail[len(trail)-2].Operation != "ApproveDeletion" {
		t.Fatalf("trail %+v, want it to end in the approval and the final deletion", trail)
	}
}
