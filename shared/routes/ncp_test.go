package routes_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/keydeletion/service/shared/validation"
)

func TestNCPLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		created := do(t, http.MethodPost, e.url+"/kms/v1/keys", jsonCT,
			`{"keyName":"ncp-orders","keyType":"AES256","isAutoRotation":true,"rotationPeriod":90,"protectionType":"BASIC","memo":"m"}`)
		if created.status != 200 || created.str("code") != "SUCCESS" || created.str("data.status") != "ENABLE" {
			t.Fatalf("create: %d %s", created.status, created.raw)
		}
		tag := created.str("data.keyTag")
		id := idOfTag(t, tag)
		number, ok := created.path("data.keyId").(float64)
		if len(tag) != 64 || validation.KeyTagFor(id) != tag || !ok || number < 1 || number > 1<<31-1 {
			t.Fatalf("keyTag %q, keyId %v for key %s", tag, created.path("data.keyId"), id)
		}
		got := ncpCall(t, e.url, http.MethodGet, "/"+tag)
		if got.status != 200 || got.str("data.keyName") != "ncp-orders" || got.path("data.rotationPeriod") != 90.0 ||
			got.str("data.keyTag") != tag || got.path("data.keyId") != number {
			t.Fatalf("get: %d %s", got.status, got.raw)
		}

		before := e.clock.Now()
		req := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/request-deletion")
		if req.status != 200 || req.str("data.status") != "REVOKE" || req.str("data.keyTag") != tag ||
			int64(req.path("data.statusDate").(float64)) != before.UnixMilli() {
			t.Fatalf("request-deletion: %d %s", req.status, req.raw)
		}
		got = ncpCall(t, e.url, http.MethodGet, "/"+tag)
		destroy := time.UnixMilli(int64(got.path("data.destroyDate").(float64)))
		if want := before.Add(72 * time.Hour); destroy.Before(want) || destroy.After(want.Add(time.Second)) {
			t.Fatalf("destroyDate %v, want ~%v", destroy, want)
		}
		if r := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/enable"); r.status != 400 || r.str("error.errorCode") != "100" {
			t.Fatalf("enable a REVOKE key: %d %s", r.status, r.raw)
		}
		if r := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/request-deletion"); r.status != 400 {
			t.Fatalf("request deletion twice: %d %s", r.status, r.raw)
		}
		cancel := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/cancel-deletion")
		if cancel.status != 200 || cancel.str("data.status") != "DISABLE" {
			t.Fatalf("cancel-deletion: %d %s", cancel.status, cancel.raw)
		}
		if r := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/enable"); r.status != 200 || r.str("data.status") != "ENABLE" {
			t.Fatalf("enable: %d %s", r.status, r.raw)
		}
		if r := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/disable"); r.status != 200 || r.str("data.status") != "DISABLE" {
			t.Fatalf("disable: %d %s", r.status, r.raw)
		}
		list := ncpCall(t, e.url, http.MethodGet, "?pageNo=1&pageSize=10")
		if list.status != 200 || list.path("data.totalCount") != 1.0 {
			t.Fatalf("list: %d %s", list.status, list.raw)
		}

		// Exactly 72 hours after the request, the key is gone.
		if r := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/request-deletion"); r.status != 200 {
			t.Fatalf("request-deletion: %s", r.raw)
		}
		e.clock.Advance(72*time.Hour + time.Second)
		if r := ncpCall(t, e.url, http.MethodGet, "/"+tag); r.status != 404 || r.str("error.errorCode") != "300" {
			t.Fatalf("after 72h: %d %s", r.status, r.raw)
		}
	})
}

// One key, three faces: whichever dialect creates a key, the other two
// describe, list, schedule and cancel it by the same id.
func TestOneKeyThreeFaces(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		hw := huaweiCall(t, e.url, "create-key", `{"key_alias":"three-faces"}`)
		id := hw.str("key_info.key_id")
		tag := validation.KeyTagFor(id)
		arn := "arn:aws:kms:" + def.AWSRegion + ":" + def.AWSAccountID + ":key/" + id

		// AWS sees it, by id, ARN and alias; NCP by tag, with the alias as its name.
		for _, ref := range []string{id, arn, "alias/three-faces"} {
			if r := awsCall(t, e.url, "DescribeKey", `{"KeyId":"`+ref+`"}`); r.status != 200 || r.str("KeyMetadata.KeyId") != id {
				t.Fatalf("AWS DescribeKey %s: %d %s", ref, r.status, r.raw)
			}
		}
		if r := ncpCall(t, e.url, http.MethodGet, "/"+tag); r.status != 200 || r.str("data.keyName") != "three-faces" || r.str("data.keyTag") != tag {
			t.Fatalf("NCP get: %d %s", r.status, r.raw)
		}
		// Scheduled through AWS, seen pending by Huawei and NCP, cancelled through NCP.
		if r := awsCall(t, e.url, "ScheduleKeyDeletion", `{"KeyId":"`+arn+`","PendingWindowInDays":9}`); r.status != 200 {
			t.Fatalf("AWS schedule: %s", r.raw)
		}
		if r := huaweiCall(t, e.url, "describe-key", `{"key_id":"`+id+`"}`); r.str("key_info.key_state") != "4" || r.str("key_info.scheduled_deletion_date") == "" {
			t.Fatalf("Huawei describe: %s", r.raw)
		}
		if r := ncpCall(t, e.url, http.MethodGet, "/"+tag); r.str("data.status") != "REVOKE" {
			t.Fatalf("NCP get: %s", r.raw)
		}
		if r := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/cancel-deletion"); r.status != 200 {
			t.Fatalf("NCP cancel: %s", r.raw)
		}
		if r := awsCall(t, e.url, "DescribeKey", `{"KeyId":"`+id+`"}`); r.str("KeyMetadata.KeyState") != "Disabled" {
			t.Fatalf("AWS after NCP cancel: %s", r.raw)
		}
		// An NCP key is listed by the other two.
		ncpKey := do(t, http.MethodPost, e.url+"/kms/v1/keys", jsonCT, `{"keyName":"fromncp","keyType":"RSA2048","isAutoRotation":false,"protectionType":"COMMON_HSM"}`)
		nid := idOfTag(t, ncpKey.str("data.keyTag"))
		if r := huaweiCall(t, e.url, "list-keys", `{"key_spec":"ALL"}`); r.path("total") != 2.0 || !contains(r.path("keys"), nid) {
			t.Fatalf("Huawei list: %s", r.raw)
		}
		if r := awsCall(t, e.url, "ListKeys", `{}`); len(r.path("Keys").([]any)) != 2 {
			t.Fatalf("AWS list: %s", r.raw)
		}
		if r := huaweiCall(t, e.url, "describe-key", `{"key_id":"`+nid+`"}`); r.str("key_info.key_spec") != "RSA_2048" || r.str("key_info.key_alias") != "fromncp" {
			t.Fatalf("Huawei describe NCP key: %s", r.raw)
		}
		// An NCP ECDSA key is a signing key to the other dialects.
		ec := do(t, http.MethodPost, e.url+"/kms/v1/keys", jsonCT, `{"keyName":"ncpec","keyType":"ECDSA","isAutoRotation":false,"protectionType":"BASIC"}`)
		if r := awsCall(t, e.url, "DescribeKey", `{"KeyId":"`+idOfTag(t, ec.str("data.keyTag"))+`"}`); r.str("KeyMetadata.KeyUsage") != "SIGN_VERIFY" ||
			r.str("KeyMetadata.KeySpec") != "ECC_NIST_P256" {
			t.Fatalf("AWS describe of an NCP ECDSA key: %s", r.raw)
		}
		// NCP names and Huawei aliases share one namespace per tenant.
		if r := huaweiCall(t, e.url, "create-key", `{"key_alias":"fromncp"}`); r.status != 400 {
			t.Fatalf("alias taken by an NCP name: %d %s", r.status, r.raw)
		}
	})
}

func contains(list any, s string) bool {
	l, _ := list.([]any)
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
