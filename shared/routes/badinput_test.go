package routes_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/validation"
)

// snapshot is everything the default tenant's store holds that a request could change.
func snapshot(t *testing.T, e *env) []keys.Key {
	t.Helper()
	svc := keys.NewService(e.store, e.clock.Now)
	page, err := svc.ListNumbered(context.Background(), keys.Principal{Tenant: def.ID}, keys.NumberedQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return page.Keys
}

func TestBadInputChangesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		id := awsCall(t, e.url, "CreateKey", `{}`).str("KeyMetadata.KeyId")
		huaweiCall(t, e.url, "create-key", `{"key_alias":"taken"}`)
		tag := validation.KeyTagFor(id)
		unknownTag := validation.KeyTagFor("0d0466b0-e727-4d9c-b35d-f84bb474a37f")
		forgedTag := tag[:32] + strings.Repeat("0", 32)
		big := `{"KeyId":"` + strings.Repeat("a", validation.MaxBodyBytes) + `"}`
		hwBase := e.url + "/v1.0/" + projectID + "/kms/"
		awsH := func(op string) map[string]string {
			return map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + op}
		}
		type check struct {
			status int
			field  string // dotted path of the error code in the body
			code   string
		}
		aws := func(status int, typ string) check { return check{status, "__type", typ} }
		hw := func(status int, code string) check { return check{status, "error.error_code", code} }
		ncp := func(status int, code string) check { return check{status, "error.errorCode", code} }
		cases := []struct {
			name    string
			method  string
			url     string
			headers map[string]string
			body    string
			want    check
		}{
			// AWS JSON 1.1
			{"aws malformed JSON", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"KeyId":`, aws(400, "SerializationException")},
			{"aws KeyId wrong type", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"KeyId":5}`, aws(400, "SerializationException")},
			{"aws window as string", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"KeyId":"` + id + `","PendingWindowInDays":"7"}`, aws(400, "SerializationException")},
			{"aws window fraction", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"KeyId":"` + id + `","PendingWindowInDays":7.5}`, aws(400, "SerializationException")},
			{"aws window overflow", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"KeyId":"` + id + `","PendingWindowInDays":1e30}`, aws(400, "SerializationException")},
			{"aws window 6", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"KeyId":"` + id + `","PendingWindowInDays":6}`, aws(400, "ValidationException")},
			{"aws window 31", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"KeyId":"` + id + `","PendingWindowInDays":31}`, aws(400, "ValidationException")},
			{"aws window -1", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"KeyId":"` + id + `","PendingWindowInDays":-1}`, aws(400, "ValidationException")},
			{"aws missing KeyId", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"PendingWindowInDays":7}`, aws(400, "ValidationException")},
			{"aws null body", "POST", e.url + "/", awsH("CancelKeyDeletion"), `null`, aws(400, "ValidationException")},
			{"aws array body", "POST", e.url + "/", awsH("CancelKeyDeletion"), `[]`, aws(400, "SerializationException")},
			{"aws trailing data", "POST", e.url + "/", awsH("CancelKeyDeletion"), `{"KeyId":"` + id + `"} x`, aws(400, "SerializationException")},
			{"aws KeyId too long", "POST", e.url + "/", awsH("DisableKey"), `{"KeyId":"` + strings.Repeat("a", 2049) + `"}`, aws(400, "ValidationException")},
			{"aws malformed ARN", "POST", e.url + "/", awsH("DisableKey"), `{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/zz"}`, aws(400, "InvalidArnException")},
			{"aws alias where only ids are allowed", "POST", e.url + "/", awsH("ScheduleKeyDeletion"), `{"KeyId":"alias/taken"}`, aws(400, "NotFoundException")},
			{"aws unknown target", "POST", e.url + "/", awsH("Encrypt"), `{}`, aws(400, "UnknownOperationException")},
			{"aws target of another service", "POST", e.url + "/", map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "DynamoDB_20120810.ScheduleKeyDeletion"}, `{}`, aws(400, "UnknownOperationException")},
			{"aws no target", "POST", e.url + "/", map[string]string{"Content-Type": "application/x-amz-json-1.1"}, `{}`, aws(400, "UnknownOperationException")},
			{"aws wrong content type", "POST", e.url + "/", map[string]string{"Content-Type": "text/plain", "X-Amz-Target": "TrentService.DisableKey"}, `{"KeyId":"` + id + `"}`, aws(400, "SerializationException")},
			{"aws body over the limit", "POST", e.url + "/", awsH("DisableKey"), big, aws(413, "ValidationException")},
			{"aws GET /", "GET", e.url + "/", nil, "", aws(404, "UnknownOperationException")},
			{"aws unknown path", "POST", e.url + "/foo", awsH("DisableKey"), `{}`, aws(404, "UnknownOperationException")},
			{"aws list limit 1001", "POST", e.url + "/", awsH("ListKeys"), `{"Limit":1001}`, aws(400, "ValidationException")},
			{"aws list bad marker", "POST", e.url + "/", awsH("ListKeys"), `{"Marker":"../../"}`, aws(400, "InvalidMarkerException")},
			{"aws tags bad marker", "POST", e.url + "/", awsH("ListResourceTags"), `{"KeyId":"` + id + `","Marker":"!!"}`, aws(400, "InvalidMarkerException")},
			{"aws tags limit 51", "POST", e.url + "/", awsH("ListResourceTags"), `{"KeyId":"` + id + `","Limit":51}`, aws(400, "ValidationException")},
			{"aws tag reserved prefix", "POST", e.url + "/", awsH("TagResource"), `{"KeyId":"` + id + `","Tags":[{"TagKey":"aws:x","TagValue":"v"}]}`, aws(400, "TagException")},
			{"aws tag key too long", "POST", e.url + "/", awsH("TagResource"), `{"KeyId":"` + id + `","Tags":[{"TagKey":"` + strings.Repeat("k", 129) + `","TagValue":"v"}]}`, aws(400, "TagException")},
			{"aws tag value too long", "POST", e.url + "/", awsH("TagResource"), `{"KeyId":"` + id + `","Tags":[{"TagKey":"k","TagValue":"` + strings.Repeat("v", 257) + `"}]}`, aws(400, "TagException")},
			{"aws tag without value", "POST", e.url + "/", awsH("TagResource"), `{"KeyId":"` + id + `","Tags":[{"TagKey":"k"}]}`, aws(400, "TagException")},
			{"aws tag twice in one request", "POST", e.url + "/", awsH("TagResource"), `{"KeyId":"` + id + `","Tags":[{"TagKey":"k","TagValue":"1"},{"TagKey":"k","TagValue":"2"}]}`, aws(400, "TagException")},
			{"aws tags missing", "POST", e.url + "/", awsH("TagResource"), `{"KeyId":"` + id + `"}`, aws(400, "ValidationException")},
			{"aws untag keys missing", "POST", e.url + "/", awsH("UntagResource"), `{"KeyId":"` + id + `"}`, aws(400, "ValidationException")},
			{"aws create with bad tags", "POST", e.url + "/", awsH("CreateKey"), `{"Tags":[{"TagKey":"","TagValue":"v"}]}`, aws(400, "TagException")},
			{"aws create multi-Region", "POST", e.url + "/", awsH("CreateKey"), `{"MultiRegion":true}`, aws(400, "UnsupportedOperationException")},
			{"aws create spec outside the model", "POST", e.url + "/", awsH("CreateKey"), `{"KeySpec":"AES_128"}`, aws(400, "ValidationException")},
			{"aws create usage outside the model", "POST", e.url + "/", awsH("CreateKey"), `{"KeyUsage":"WRAP"}`, aws(400, "ValidationException")},
			{"aws create modelled spec not offered", "POST", e.url + "/", awsH("CreateKey"), `{"KeySpec":"HMAC_256","KeyUsage":"GENERATE_VERIFY_MAC"}`, aws(400, "UnsupportedOperationException")},
			{"aws create RSA without usage", "POST", e.url + "/", awsH("CreateKey"), `{"KeySpec":"RSA_2048"}`, aws(400, "ValidationException")},
			{"aws create bad usage pairing", "POST", e.url + "/", awsH("CreateKey"), `{"KeySpec":"SYMMETRIC_DEFAULT","KeyUsage":"SIGN_VERIFY"}`, aws(400, "ValidationException")},
			{"aws create ECC without usage", "POST", e.url + "/", awsH("CreateKey"), `{"KeySpec":"ECC_NIST_P256"}`, aws(400, "ValidationException")},
			{"aws create ECC to encrypt", "POST", e.url + "/", awsH("CreateKey"), `{"KeySpec":"ECC_NIST_P256","KeyUsage":"ENCRYPT_DECRYPT"}`, aws(400, "ValidationException")},
			{"aws create description too long", "POST", e.url + "/", awsH("CreateKey"), `{"Description":"` + strings.Repeat("d", 8193) + `"}`, aws(400, "ValidationException")},

			// Huawei
			{"huawei malformed JSON", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":`, hw(400, "KMS.0202")},
			{"huawei key_id wrong type", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":5,"pending_days":"7"}`, hw(400, "KMS.0308")},
			{"huawei pending_days as number", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":"` + id + `","pending_days":7}`, hw(400, "KMS.0308")},
			{"huawei missing key_id", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"pending_days":"7"}`, hw(400, "KMS.0204")},
			{"huawei missing pending_days", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":"` + id + `"}`, hw(400, "KMS.0204")},
			{"huawei empty body", "POST", hwBase + "schedule-key-deletion", jsonCT, ``, hw(400, "KMS.0204")},
			{"huawei pending_days 6", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":"` + id + `","pending_days":"6"}`, hw(400, "KMS.1401")},
			{"huawei pending_days 1097", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":"` + id + `","pending_days":"1097"}`, hw(400, "KMS.1401")},
			{"huawei pending_days abc", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":"` + id + `","pending_days":"abc"}`, hw(400, "KMS.1401")},
			{"huawei pending_days -7", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":"` + id + `","pending_days":"-7"}`, hw(400, "KMS.1401")},
			{"huawei pending_days 7.0", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":"` + id + `","pending_days":"7.0"}`, hw(400, "KMS.1401")},
			{"huawei pending_days huge", "POST", hwBase + "schedule-key-deletion", jsonCT, `{"key_id":"` + id + `","pending_days":"99999999999999999999"}`, hw(400, "KMS.1401")},
			{"huawei uppercase key_id", "POST", hwBase + "cancel-key-deletion", jsonCT, `{"key_id":"` + strings.ToUpper(id) + `"}`, hw(400, "KMS.0205")},
			{"huawei short key_id", "POST", hwBase + "cancel-key-deletion", jsonCT, `{"key_id":"0d0466b0"}`, hw(400, "KMS.0205")},
			{"huawei sequence 35 bytes", "POST", hwBase + "cancel-key-deletion", jsonCT, `{"key_id":"` + id + `","sequence":"` + strings.Repeat("a", 35) + `"}`, hw(400, "KMS.0206")},
			{"huawei sequence 37 bytes", "POST", hwBase + "enable-key", jsonCT, `{"key_id":"` + id + `","sequence":"` + strings.Repeat("a", 37) + `"}`, hw(400, "KMS.0206")},
			{"huawei bad project id", "POST", e.url + "/v1.0/abc/kms/schedule-key-deletion", jsonCT, `{"key_id":"` + id + `","pending_days":"7"}`, hw(400, "KMS.0201")},
			{"huawei unknown operation", "POST", hwBase + "destroy-key", jsonCT, `{}`, hw(400, "KMS.0201")},
			{"huawei GET", "GET", hwBase + "schedule-key-deletion", nil, ``, hw(400, "KMS.0201")},
			{"huawei wrong content type", "POST", hwBase + "schedule-key-deletion", map[string]string{"Content-Type": "text/plain"}, `{"key_id":"` + id + `","pending_days":"7"}`, hw(400, "KMS.0202")},
			{"huawei no content type", "POST", hwBase + "schedule-key-deletion", nil, `{"key_id":"` + id + `","pending_days":"7"}`, hw(400, "KMS.0202")},
			{"huawei body over the limit", "POST", hwBase + "schedule-key-deletion", jsonCT, big, hw(400, "KMS.0203")},
			{"huawei bad alias", "POST", hwBase + "create-key", jsonCT, `{"key_alias":"a b"}`, hw(400, "KMS.1101")},
			{"huawei alias in use", "POST", hwBase + "create-key", jsonCT, `{"key_alias":"taken"}`, hw(400, "KMS.1104")},
			{"huawei missing alias", "POST", hwBase + "create-key", jsonCT, `{}`, hw(400, "KMS.0204")},
			{"huawei alias too long", "POST", hwBase + "create-key", jsonCT, `{"key_alias":"` + strings.Repeat("a", 256) + `"}`, hw(400, "KMS.1101")},
			{"huawei bad key_spec", "POST", hwBase + "create-key", jsonCT, `{"key_alias":"x","key_spec":"DES"}`, hw(400, "KMS.0308")},
			{"huawei usage the spec lacks", "POST", hwBase + "create-key", jsonCT, `{"key_alias":"x","key_spec":"AES_256","key_usage":"SIGN_VERIFY"}`, hw(400, "KMS.0308")},
			{"huawei description too long", "POST", hwBase + "create-key", jsonCT, `{"key_alias":"x","key_description":"` + strings.Repeat("d", 256) + `"}`, hw(400, "KMS.1103")},
			{"huawei list limit 0", "POST", hwBase + "list-keys", jsonCT, `{"limit":"0"}`, hw(400, "KMS.1601")},
			{"huawei list limit 1001", "POST", hwBase + "list-keys", jsonCT, `{"limit":"1001"}`, hw(400, "KMS.1601")},
			{"huawei list limit abc", "POST", hwBase + "list-keys", jsonCT, `{"limit":"abc"}`, hw(400, "KMS.1601")},
			{"huawei list marker not a number", "POST", hwBase + "list-keys", jsonCT, `{"marker":"` + id + `"}`, hw(400, "KMS.1602")},
			{"huawei list marker negative", "POST", hwBase + "list-keys", jsonCT, `{"marker":"-1"}`, hw(400, "KMS.1602")},
			{"huawei list bad key_spec", "POST", hwBase + "list-keys", jsonCT, `{"key_spec":"DES"}`, hw(400, "KMS.0308")},
			{"huawei list bad key_state", "POST", hwBase + "list-keys", jsonCT, `{"key_state":"9"}`, hw(400, "KMS.0308")},

			// NCP
			{"ncp malformed tag", "POST", e.url + "/kms/v1/keys/abc/request-deletion", nil, ``, ncp(400, "100")},
			{"ncp uppercase tag", "POST", e.url + "/kms/v1/keys/" + strings.ToUpper(tag) + "/request-deletion", nil, ``, ncp(400, "100")},
			{"ncp unknown tag", "POST", e.url + "/kms/v1/keys/" + unknownTag + "/request-deletion", nil, ``, ncp(404, "300")},
			{"ncp forged tag", "POST", e.url + "/kms/v1/keys/" + forgedTag + "/request-deletion", nil, ``, ncp(404, "300")},
			{"ncp unknown route", "POST", e.url + "/kms/v1/keys/" + tag + "/destroy", nil, ``, ncp(404, "300")},
			{"ncp wrong method", "GET", e.url + "/kms/v1/keys/" + tag + "/request-deletion", nil, ``, ncp(404, "300")},
			{"ncp create malformed JSON", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":`, ncp(400, "100")},
			{"ncp create wrong type", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"abc","keyType":"AES256","isAutoRotation":"no","protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create missing name", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create name too short", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"ab","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create name starts with digit", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"1abc","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create name taken", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"taken","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create bad key type", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"abc","keyType":"DES","isAutoRotation":false,"protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create missing rotation flag", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"abc","keyType":"AES256","protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create period without rotation", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"abc","keyType":"AES256","isAutoRotation":false,"rotationPeriod":30,"protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create period 731", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"abc","keyType":"AES256","isAutoRotation":true,"rotationPeriod":731,"protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create memo of 101", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"abc","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC","memo":"` + strings.Repeat("m", 101) + `"}`, ncp(400, "100")},
			{"ncp create convergent RSA", "POST", e.url + "/kms/v1/keys", jsonCT, `{"keyName":"abc","keyType":"RSA2048","isAutoRotation":false,"protectionType":"BASIC","isConvergent":true}`, ncp(400, "100")},
			{"ncp delete an ENABLE key", "DELETE", e.url + "/kms/v1/keys/" + tag, nil, ``, ncp(400, "100")},
			{"ncp delete an unknown key", "DELETE", e.url + "/kms/v1/keys/" + unknownTag, nil, ``, ncp(404, "300")},
			{"ncp create wrong content type", "POST", e.url + "/kms/v1/keys", map[string]string{"Content-Type": "text/plain"}, `{"keyName":"abc","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`, ncp(400, "100")},
			{"ncp create body over the limit", "POST", e.url + "/kms/v1/keys", jsonCT, big, ncp(413, "430")},
			{"ncp list pageSize 0", "GET", e.url + "/kms/v1/keys?pageSize=0", nil, ``, ncp(400, "100")},
			{"ncp list pageSize 201", "GET", e.url + "/kms/v1/keys?pageSize=201", nil, ``, ncp(400, "100")},
			{"ncp list pageNo x", "GET", e.url + "/kms/v1/keys?pageNo=x", nil, ``, ncp(400, "100")},
		}
		before := snapshot(t, e)
		for _, tc := range cases {
			r := do(t, tc.method, tc.url, tc.headers, tc.body)
			if r.status >= 500 || r.status != tc.want.status || r.str(tc.want.field) != tc.want.code {
				t.Errorf("%s: got %d %s, want %d with %s=%s", tc.name, r.status, r.raw, tc.want.status, tc.want.field, tc.want.code)
			}
		}
		if after := snapshot(t, e); !reflect.DeepEqual(before, after) {
			t.Fatalf("bad input changed the store:\nbefore %+v\n after %+v", before, after)
		}
		// And the key still works.
		if r := awsCall(t, e.url, "ScheduleKeyDeletion", `{"KeyId":"`+id+`","PendingWindowInDays":7}`); r.status != http.StatusOK {
			t.Fatalf("good request after bad ones: %s", r.raw)
		}
	})
}
