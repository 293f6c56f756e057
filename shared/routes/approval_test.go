package routes_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/validation"
)

// dev-d of infra/local/credentials.json holds every scheduled deletion for
// approval; its second AWS key, AKIADEVDAPPROVER0000, is the approver, and
// the responder who may freeze.
var (
	dualTenant = creds["dev-d"]
	approver   = creds["dev-d/AKIADEVDAPPROVER0000"]
)

// governanceCall posts to the governance API, signed by c (AWS SigV4), and
// returns the status and the decoded answer.
func governanceCall(t *testing.T, base string, c devclient.Creds, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
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
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %d %q is not JSON", path, resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

// createKeys creates n keys with c and returns their ids.
func createKeys(t *testing.T, c *kms.Client, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		out, err := c.CreateKey(t.Context(), &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = *out.KeyMetadata.KeyId
	}
	return ids
}

func errorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// Dual approval through the dialects: schedules by AWS, Huawei and NCP
// callers of a tenant whose policy holds every deletion are held; past
// their dates the keys are still pending deletion in each dialect, NCP's
// immediate deletion is refused, and neither the scheduler nor a
// non-approver can approve. The approver's approval ends a key at once (its
// date has passed); a rejection brings one back Disabled. Bad input to the
// governance API gets a 4xx and changes nothing.
func TestDualApprovalThroughTheDialects(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		operator := awsClientAs(e.url, dualTenant.AWSKey, dualTenant.AWSSecret, dualTenant.AWSRegion)
		hw := huaweiClientAs(t, e.url, dualTenant.HuaweiAK, dualTenant.HuaweiSK, dualTenant.HuaweiProjID)
		ids := createKeys(t, operator, 3)
		if _, err := operator.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &ids[0], PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatalf("AWS schedule: %v", err)
		}
		if _, err := hw.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: ids[1], PendingDays: "7"}}); err != nil {
			t.Fatalf("Huawei schedule: %v", err)
		}
		tag := validation.KeyTagFor(ids[2])
		if r := doAs(t, &dualTenant, http.MethodPost, e.url+"/kms/v1/keys/"+tag+"/request-deletion", nil, ""); r.status != 200 {
			t.Fatalf("NCP request-deletion: %d %s", r.status, r.raw)
		}
		for _, id := range ids {
			if k, err := e.store.Get(ctx, "dev-d", id); err != nil || !k.HasHold(keys.HoldApproval) {
				t.Fatalf("%s after its schedule: %+v %v, want held for approval", id, k, err)
			}
		}

		e.clock.Advance(8 * 24 * time.Hour) // past every date
		d, err := operator.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &ids[0]})
		if err != nil || d.KeyMetadata.KeyState != "PendingDeletion" {
			t.Fatalf("AWS describe of a held key past its date: %v %v", d, err)
		}
		hd, err := hw.ListKeyDetail(&model.ListKeyDetailRequest{Body: &model.OperateKeyRequestBody{KeyId: ids[1]}})
		if err != nil || *hd.KeyInfo.KeyState != "4" {
			t.Fatalf("Huawei describe of a held key past its date: %v %v", hd, err)
		}
		// NCP's own refusal by policy: 401, errorCode 210, as for every rule.
		if r := doAs(t, &dualTenant, http.MethodDelete, e.url+"/kms/v1/keys/"+tag, nil, ""); r.status != 401 || r.path("error.errorCode") != "210" {
			t.Fatalf("NCP DELETE of a held key: %d %s, want NCP's refusal by policy", r.status, r.raw)
		}
		approve := func(c devclient.Creds, id string) (int, map[string]any) {
			return governanceCall(t, e.url, c, "/governance/v1/keys/"+id+"/approve-deletion", "")
		}
		if status, m := approve(dualTenant, ids[0]); status != 403 || errorCode(m) != "AccessDenied" {
			t.Fatalf("the scheduler's approval: %d %v", status, m)
		}
		// Another tenant's caller is no approver of dev-d's: refused before
		// the key is looked up, so the refusal says nothing of it.
		if status, m := approve(creds["dev-a"], ids[0]); status != 403 || errorCode(m) != "AccessDenied" {
			t.Fatalf("another tenant's approval: %d %v, want 403", status, m)
		}
		for _, bad := range []struct{ path, body string }{
			{"/governance/v1/keys/" + ids[0] + "/approve-deletion", `{"force":true}`},
			{"/governance/v1/keys/not-a-key/approve-deletion", ""},
			{"/governance/v1/keys/" + ids[0] + "/approve-deletion", `[`},
		} {
			if status, m := governanceCall(t, e.url, approver, bad.path, bad.body); status != 400 {
				t.Fatalf("%s %s: %d %v, want 400", bad.path, bad.body, status, m)
			}
		}
		if status, _ := governanceCall(t, e.url, approver, "/governance/v1/keys/"+ids[0]+"/erase", ""); status != 404 {
			t.Fatalf("an unknown governance path: %d, want 404", status)
		}
		if k, _ := e.store.Get(ctx, "dev-d", ids[0]); !k.Held() {
			t.Fatal("refused calls released the hold")
		}

		status, m := approve(approver, ids[0])
		if status != 200 || m["keyState"] != "PendingDeletion" || m["keyId"] != ids[0] {
			t.Fatalf("the approver's approval: %d %v", status, m)
		}
		if _, err := operator.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &ids[0]}); err == nil {
			t.Fatal("an approved key past its date is still there")
		}
		status, m = governanceCall(t, e.url, approver, "/governance/v1/keys/"+ids[1]+"/reject-deletion", "{}")
		if status != 200 || m["keyState"] != "Disabled" {
			t.Fatalf("the approver's rejection: %d %v", status, m)
		}
		if d, err := operator.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &ids[1]}); err != nil || d.KeyMetadata.KeyState != "Disabled" {
			t.Fatalf("a rejected key: %v %v", d, err)
		}
		if status, m := approve(approver, ids[1]); status != 409 || errorCode(m) != "InvalidState" {
			t.Fatalf("approving a rejected key: %d %v, want 409", status, m)
		}
	})
}

// The dry run of a schedule answers what the schedule would do, decided as
// it is, and changes and records nothing: dev-a's key is allowed, with its
// date and reminders; dev-c's policy refuses a 7-day window and names the
// rule; dev-d's key would need its approver; bad input gets a 400.
func TestScheduleDryRun(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		dryRun := func(c devclient.Creds, id, body string) (int, map[string]any) {
			return governanceCall(t, e.url, c, "/governance/v1/keys/"+id+"/schedule-deletion/dry-run", body)
		}
		ids := map[string]string{}
		for _, tenant := range []string{"dev-a", "dev-c", "dev-d"} {
			c := creds[tenant]
			ids[tenant] = createKeys(t, awsClientAs(e.url, c.AWSKey, c.AWSSecret, c.AWSRegion), 1)[0]
		}
		now := e.clock.Now()
		status, m := dryRun(creds["dev-a"], ids["dev-a"], `{"pendingWindowInDays":10}`)
		if status != 200 || m["allowed"] != true || m["keyState"] != "Enabled" || m["approvalRequired"] != false {
			t.Fatalf("dev-a: %d %v", status, m)
		}
		date, _ := time.Parse(time.RFC3339, m["deletionDate"].(string))
		if want := keys.CeilSecond(now.Add(10 * 24 * time.Hour)); date.Before(want.Add(-time.Second)) || date.After(want.Add(time.Minute)) {
			t.Fatalf("deletion date %v, want about %v", date, want)
		}
		if r, _ := m["reminders"].([]any); len(r) != 2 || r[0] != date.Add(-7*24*time.Hour).Format(time.RFC3339) {
			t.Fatalf("reminders %v, want 7 days and 1 day before %v", m["reminders"], date)
		}
		status, m = dryRun(creds["dev-c"], ids["dev-c"], `{"pendingWindowInDays":7}`)
		ref, _ := m["refusal"].(map[string]any)
		if status != 200 || m["allowed"] != false || ref["rule"] != keys.RuleMinWindow || ref["code"] != "AccessDenied" {
			t.Fatalf("dev-c under its minimum: %d %v", status, m)
		}
		status, m = dryRun(creds["dev-d"], ids["dev-d"], `{"pendingWindowInDays":7}`)
		if status != 200 || m["allowed"] != true || m["approvalRequired"] != true || m["frozen"] != false ||
			!reflect.DeepEqual(m["approvers"], []any{"AKIADEVDAPPROVER0000"}) ||
			!reflect.DeepEqual(m["guard"], map[string]any{"tripped": false, "count": float64(0), "maxDeletions": float64(5)}) {
			t.Fatalf("dev-d: %d %v", status, m)
		}
		for _, bad := range []struct {
			id, body string
			status   int
		}{
			{ids["dev-a"], `{}`, 400},
			{ids["dev-a"], `{"pendingWindowInDays":0}`, 400},
			{ids["dev-a"], `{"pendingWindowInDays":"7"}`, 400},
			{ids["dev-a"], `{"pendingWindowInDays":7,"force":true}`, 400},
			{ids["dev-a"], `[7]`, 400},
			{"not-a-key", `{"pendingWindowInDays":7}`, 400},
			{ids["dev-c"], `{"pendingWindowInDays":7}`, 404}, // dev-c's key, asked by dev-a
		} {
			if status, m := dryRun(creds["dev-a"], bad.id, bad.body); status != bad.status {
				t.Errorf("%s %s: %d %v, want %d", bad.id, bad.body, status, m, bad.status)
			}
		}
		for tenant, id := range ids {
			k, err := e.store.Get(ctx, tenant, id)
			if err != nil || k.State != keys.Enabled || k.LastChange.Op != keys.OpCreate {
				t.Errorf("%s's key after dry runs: %+v %v", tenant, k, err)
			}
		}
	})
}

// A freeze through the dialects: set by the credential the policy names
// (dev-d's operator key), it holds the tenant's pending deletions, and
// every dialect refuses a schedule with its own access-denied answer; a
// credential the policy does not name cannot set or lift it; GET says how
// it stands; lifted, schedules work again. Bad input gets a 400.
func TestFreezeThroughTheDialects(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		operator := awsClientAs(e.url, dualTenant.AWSKey, dualTenant.AWSSecret, dualTenant.AWSRegion)
		hw := huaweiClientAs(t, e.url, dualTenant.HuaweiAK, dualTenant.HuaweiSK, dualTenant.HuaweiProjID)
		ids := createKeys(t, operator, 3)
		if _, err := operator.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &ids[0], PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
		if status, m := governanceCall(t, e.url, dualTenant, "/governance/v1/freeze", `{"frozen":true}`); status != 403 || errorCode(m) != "AccessDenied" {
			t.Fatalf("a freeze by a credential the policy does not name: %d %v", status, m)
		}
		for _, bad := range []string{`{}`, `{"frozen":"yes"}`, `{"frozen":true,"reason":"x"}`, `[true]`} {
			if status, m := governanceCall(t, e.url, approver, "/governance/v1/freeze", bad); status != 400 {
				t.Fatalf("%s: %d %v, want 400", bad, status, m)
			}
		}
		status, m := governanceCall(t, e.url, approver, "/governance/v1/freeze", `{"frozen":true}`)
		if status != 200 || m["frozen"] != true || m["keysChanged"] != float64(1) || m["complete"] != true || m["changedBy"] != approver.AWSKey {
			t.Fatalf("freeze: %d %v", status, m)
		}
		if k, _ := e.store.Get(ctx, "dev-d", ids[0]); !k.HasHold(keys.HoldFreeze) || !k.HasHold(keys.HoldApproval) {
			t.Fatalf("the pending key under the freeze: %v", k.Holds)
		}
		r := doAs(t, &dualTenant, http.MethodGet, e.url+"/governance/v1/freeze", nil, "")
		if r.status != 200 || r.path("frozen") != true {
			t.Fatalf("GET freeze: %d %s", r.status, r.raw)
		}
		status, m = governanceCall(t, e.url, dualTenant, "/governance/v1/keys/"+ids[1]+"/schedule-deletion/dry-run", `{"pendingWindowInDays":7}`)
		if ref, _ := m["refusal"].(map[string]any); status != 200 || m["allowed"] != false || m["frozen"] != true || ref["rule"] != keys.RuleFrozen {
			t.Fatalf("a dry run while frozen: %d %v", status, m)
		}
		_, err := operator.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &ids[1], PendingWindowInDays: aws.Int32(7)})
		if code, msg := awsErr(err); code != "AccessDeniedException" || !strings.Contains(msg, "frozen") {
			t.Fatalf("AWS schedule while frozen: %v", err)
		}
		if _, err := hw.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: ids[1], PendingDays: "7"}}); err == nil {
			t.Fatal("Huawei schedule while frozen: accepted")
		}
		tag := validation.KeyTagFor(ids[2])
		if r := doAs(t, &dualTenant, http.MethodPost, e.url+"/kms/v1/keys/"+tag+"/request-deletion", nil, ""); r.status != 401 || r.path("error.errorCode") != "210" {
			t.Fatalf("NCP request-deletion while frozen: %d %s", r.status, r.raw)
		}
		for _, id := range ids[1:] {
			if k, _ := e.store.Get(ctx, "dev-d", id); k.State != keys.Enabled {
				t.Fatalf("%s after refused schedules: %s", id, k.State)
			}
		}
		status, m = governanceCall(t, e.url, approver, "/governance/v1/freeze", `{"frozen":false}`)
		if status != 200 || m["frozen"] != false || m["keysChanged"] != float64(1) {
			t.Fatalf("unfreeze: %d %v", status, m)
		}
		if _, err := operator.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &ids[1], PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatalf("a schedule after the freeze: %v", err)
		}
		// The trail filters by operation: the freeze and its lifting.
		for _, op := range []string{"FreezeDeletion", "UnfreezeDeletion"} {
			r := doAs(t, &dualTenant, http.MethodGet, e.url+"/audit/v1/records?operation="+op, nil, "")
			recs, _ := r.path("records").([]any)
			if r.status != 200 || len(recs) != 1 {
				t.Fatalf("trail of %s: %d %s", op, r.status, r.raw)
			}
			rec := recs[0].(map[string]any)
			if rec["operation"] != op || rec["accessKeyId"] != approver.AWSKey || rec["keyId"] != nil {
				t.Fatalf("trail of %s: %v", op, rec)
			}
		}
		if r := doAs(t, &dualTenant, http.MethodGet, e.url+"/audit/v1/records?operation=Erase", nil, ""); r.status != 400 {
			t.Fatalf("trail of an unknown operation: %d %s", r.status, r.raw)
		}
	})
}

// The anomaly guard through the dialects: dev-d's guard allows 5 deletion
// requests an hour per credential. A sixth by the AWS key is refused with
// AWS's access-denied answer naming the guard, every deletion it scheduled
// is held, and its NCP DELETE is refused too; the Huawei credential, another
// one, still schedules. GET lists the trip; the credential that tripped it
// cannot release it; another can.
func TestGuardThroughTheDialects(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		attacker := awsClientAs(e.url, dualTenant.AWSKey, dualTenant.AWSSecret, dualTenant.AWSRegion)
		hw := huaweiClientAs(t, e.url, dualTenant.HuaweiAK, dualTenant.HuaweiSK, dualTenant.HuaweiProjID)
		ids := createKeys(t, attacker, 7)
		for _, id := range ids[:5] {
			if _, err := attacker.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := attacker.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &ids[5], PendingWindowInDays: aws.Int32(7)})
		if code, msg := awsErr(err); code != "AccessDeniedException" || !strings.Contains(msg, "guard") {
			t.Fatalf("the sixth schedule: %v", err)
		}
		for _, id := range ids[:5] {
			if k, _ := e.store.Get(ctx, "dev-d", id); !k.HasHold(keys.HoldGuard) {
				t.Fatalf("%s after the trip: %v", id, k.Holds)
			}
		}
		if _, err := hw.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: ids[6], PendingDays: "7"}}); err != nil {
			t.Fatalf("another credential's schedule: %v", err)
		}
		status, m := governanceCall(t, e.url, dualTenant, "/governance/v1/keys/"+ids[5]+"/schedule-deletion/dry-run", `{"pendingWindowInDays":7}`)
		if ref, _ := m["refusal"].(map[string]any); status != 200 || m["allowed"] != false || ref["rule"] != keys.RuleGuard ||
			m["guard"].(map[string]any)["tripped"] != true {
			t.Fatalf("a dry run after the trip: %d %v", status, m)
		}
		r := doAs(t, &dualTenant, http.MethodGet, e.url+"/governance/v1/guard", nil, "")
		trips, _ := r.path("trips").([]any)
		if r.status != 200 || len(trips) != 1 || trips[0].(map[string]any)["scope"] != dualTenant.AWSKey {
			t.Fatalf("GET guard: %d %s", r.status, r.raw)
		}
		release := `{"scope":"` + dualTenant.AWSKey + `"}`
		if status, m := governanceCall(t, e.url, dualTenant, "/governance/v1/guard/release", release); status != 403 {
			t.Fatalf("a release by the credential that tripped it: %d %v", status, m)
		}
		for _, bad := range []string{`{}`, `{"scope":""}`, `{"scope":"x","all":true}`} {
			if status, m := governanceCall(t, e.url, approver, "/governance/v1/guard/release", bad); status != 400 {
				t.Fatalf("%s: %d %v, want 400", bad, status, m)
			}
		}
		if status, m := governanceCall(t, e.url, approver, "/governance/v1/guard/release", `{"scope":"AKIANOTTRIPPED000000"}`); status != 404 || errorCode(m) != "NotTripped" {
			t.Fatalf("a release of no trip: %d %v", status, m)
		}
		status, m = governanceCall(t, e.url, approver, "/governance/v1/guard/release", release)
		if status != 200 || m["released"] != float64(5) || m["complete"] != true {
			t.Fatalf("release: %d %v", status, m)
		}
		for _, id := range ids[:5] {
			if k, _ := e.store.Get(ctx, "dev-d", id); k.HasHold(keys.HoldGuard) || k.State != keys.PendingDeletion {
				t.Fatalf("%s after the release: %+v", id, k)
			}
		}
	})
}
