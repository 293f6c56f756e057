package routes_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/validation"
)

func awsCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// The official clients with bad credentials get the vendors' errors, and
// change nothing.
func TestAuthenticationFailures(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a := creds["dev-a"]
		created, err := awsClient(e.url).CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(created.KeyMetadata.KeyId)
		before := snapshot(t, e)

		// AWS, through the official client.
		for name, c := range map[string]struct {
			client *kms.Client
			code   string
		}{
			"wrong secret": {awsClientAs(e.url, a.AWSKey, "wrong-secret", a.AWSRegion), "InvalidSignatureException"},
			"unknown key":  {awsClientAs(e.url, "AKIAUNKNOWN000000000", a.AWSSecret, a.AWSRegion), "UnrecognizedClientException"},
			"other region": {awsClientAs(e.url, a.AWSKey, a.AWSSecret, "eu-west-1"), "InvalidSignatureException"},
			"other's key":  {awsClientAs(e.url, creds["dev-b"].AWSKey, a.AWSSecret, a.AWSRegion), "InvalidSignatureException"},
		} {
			_, err := c.client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
			if awsCode(err) != c.code {
				t.Errorf("AWS %s: %v, want %s", name, err, c.code)
			}
		}
		// A stale date, signed by the AWS SDK's signer 20 minutes ago.
		r := signedAt(t, http.MethodPost, e.url+"/", `{"KeyId":"`+id+`"}`, map[string]string{
			"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.DisableKey"}, a, time.Now().Add(-20*time.Minute))
		if r.status != 400 || r.str("__type") != "InvalidSignatureException" || !strings.Contains(r.str("message"), "Signature expired") {
			t.Errorf("AWS stale date: %d %s", r.status, r.raw)
		}
		if r := doAs(t, nil, http.MethodPost, e.url+"/", map[string]string{"Content-Type": "application/x-amz-json-1.1",
			"X-Amz-Target": "TrentService.DisableKey"}, `{"KeyId":"`+id+`"}`); r.status != 403 || r.str("__type") != "MissingAuthenticationTokenException" {
			t.Errorf("AWS unsigned: %d %s", r.status, r.raw)
		}

		// Huawei, through the official client.
		b := creds["dev-b"]
		for name, c := range map[string]struct {
			ak, sk, project string
			status          int
			code            string
		}{
			"wrong SK":           {a.HuaweiAK, "wrong", projectID, 401, "APIGW.0301"},
			"unknown AK":         {"HWUNKNOWN", a.HuaweiSK, projectID, 401, "APIGW.0301"},
			"another's project":  {a.HuaweiAK, a.HuaweiSK, b.HuaweiProjID, 403, "KMS.0305"},
			"other tenant's key": {b.HuaweiAK, b.HuaweiSK, b.HuaweiProjID, 404, "KMS.0207"},
		} {
			_, err := huaweiClientAs(t, e.url, c.ak, c.sk, c.project).DeleteKey(&model.DeleteKeyRequest{
				Body: &model.ScheduleKeyDeletionRequestBody{KeyId: id, PendingDays: "7"}})
			if !is(err, c.status, c.code) {
				t.Errorf("Huawei %s: %v, want %d %s", name, err, c.status, c.code)
			}
		}
		// A stale X-Sdk-Date, signed by the Huawei SDK's own signer.
		if r := huaweiSDKSigned(t, e.url, "disable-key", `{"key_id":"`+id+`"}`, a, time.Now().Add(-20*time.Minute)); r.status != 401 || r.str("error_code") != "APIGW.0301" ||
			!strings.Contains(r.str("error_msg"), "Incorrect IAM authentication information: calc aksk signature fail:signature expired") {
			t.Errorf("Huawei stale date: %d %s", r.status, r.raw)
		}
		if r := huaweiSDKSigned(t, e.url, "disable-key", `{"key_id":"`+id+`"}`, a, time.Now()); r.status != 200 {
			t.Errorf("Huawei SDK signer, fresh date: %d %s", r.status, r.raw)
		}
		if _, err := huaweiClient(t, e.url).EnableKey(&model.EnableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: id}}); err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]struct {
			headers map[string]string
			status  int
			code    string
		}{
			"no credentials":  {map[string]string{}, 401, "APIGW.0301"},
			"unknown token":   {map[string]string{"X-Auth-Token": "nope"}, 401, "APIGW.0301"},
			"another's token": {map[string]string{"X-Auth-Token": b.HuaweiToken}, 403, "KMS.0305"},
			"malformed AK/SK": {map[string]string{"Authorization": "SDK-HMAC-SHA256 Access=x"}, 401, "APIGW.0301"},
			"other algorithm": {map[string]string{"Authorization": "Bearer abc"}, 401, "APIGW.0301"},
		} {
			c.headers["Content-Type"] = "application/json"
			r := doAs(t, nil, http.MethodPost, e.url+"/v1.0/"+projectID+"/kms/disable-key", c.headers, `{"key_id":"`+id+`"}`)
			if r.status != c.status || r.huaweiCode() != c.code {
				t.Errorf("Huawei %s: %d %s", name, r.status, r.raw)
			}
		}

		// NCP, signed by the test client written from NCP's description.
		tag := validation.KeyTagFor(id)
		wrong := a
		wrong.NCPSecret = "wrong"
		for name, c := range map[string]struct {
			c      *devclient.Creds
			at     time.Time
			status int
			code   string
		}{
			"unsigned":           {nil, time.Now(), 401, "200"},
			"wrong secret":       {&wrong, time.Now(), 401, "200"},
			"6 minutes old":      {&a, time.Now().Add(-6 * time.Minute), 401, "200"},
			"other tenant's key": {&b, time.Now(), 404, "300"},
		} {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/kms/v1/keys/"+tag+"/request-deletion", nil)
			if c.c != nil {
				devclient.SignNCP(req, *c.c, c.at)
			}
			r := send(t, req)
			if r.status != c.status || r.str("error.errorCode") != c.code {
				t.Errorf("NCP %s: %d %s", name, r.status, r.raw)
			}
		}

		// The test's own signed disable and enable leave their stamp: all
		// else must be as it was.
		after := snapshot(t, e)
		for i := range after {
			if i < len(before) {
				before[i].LastChange = keys.Stamp{}
			}
			after[i].LastChange = keys.Stamp{}
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("refused requests changed keys:\n%+v\n%+v", before, after)
		}
	})
}

// Nobody sees or changes another tenant's key: in every dialect, each
// operation on dev-a's key by dev-b answers exactly as for a key that does
// not exist (the key id aside), and changes nothing.
func TestTenantIsolation(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		hwA := huaweiCall(t, e.url, "create-key", `{"key_alias":"iso-hw"}`)
		ncpA := do(t, http.MethodPost, e.url+"/kms/v1/keys", jsonCT, `{"keyName":"isoncp","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`)
		awsA := awsCall(t, e.url, "CreateKey", `{}`)
		ids := []string{hwA.str("key_info.key_id"), idOfTag(t, ncpA.str("data.keyTag")), awsA.str("KeyMetadata.KeyId")}
		pending := ids[0]
		if r := awsCall(t, e.url, "ScheduleKeyDeletion", `{"KeyId":"`+pending+`"}`); r.status != 200 {
			t.Fatal(r.raw)
		}
		before := snapshot(t, e)
		unknown := "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
		b := creds["dev-b"]
		bHW := e.url + "/v1.0/" + b.HuaweiProjID + "/kms/"
		awsH := func(op string) map[string]string {
			return map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + op}
		}
		type req struct {
			method, url, body string
			headers           map[string]string
		}
		requests := func(id string) map[string]req {
			arnA := "arn:aws:kms:" + def.AWSRegion + ":" + def.AWSAccountID + ":key/" + id
			tag := validation.KeyTagFor(id)
			return map[string]req{
				"aws DescribeKey":              {"POST", e.url + "/", `{"KeyId":"` + id + `"}`, awsH("DescribeKey")},
				"aws DescribeKey by dev-a ARN": {"POST", e.url + "/", `{"KeyId":"` + arnA + `"}`, awsH("DescribeKey")},
				"aws EnableKey":                {"POST", e.url + "/", `{"KeyId":"` + id + `"}`, awsH("EnableKey")},
				"aws DisableKey":               {"POST", e.url + "/", `{"KeyId":"` + id + `"}`, awsH("DisableKey")},
				"aws ScheduleKeyDeletion":      {"POST", e.url + "/", `{"KeyId":"` + id + `","PendingWindowInDays":7}`, awsH("ScheduleKeyDeletion")},
				"aws CancelKeyDeletion":        {"POST", e.url + "/", `{"KeyId":"` + arnA + `"}`, awsH("CancelKeyDeletion")},
				"huawei describe-key":          {"POST", bHW + "describe-key", `{"key_id":"` + id + `"}`, jsonCT},
				"huawei enable-key":            {"POST", bHW + "enable-key", `{"key_id":"` + id + `"}`, jsonCT},
				"huawei disable-key":           {"POST", bHW + "disable-key", `{"key_id":"` + id + `"}`, jsonCT},
				"huawei schedule-key-deletion": {"POST", bHW + "schedule-key-deletion", `{"key_id":"` + id + `","pending_days":"7"}`, jsonCT},
				"huawei cancel-key-deletion":   {"POST", bHW + "cancel-key-deletion", `{"key_id":"` + id + `"}`, jsonCT},
				"ncp get-key":                  {"GET", e.url + "/kms/v1/keys/" + tag, "", nil},
				"ncp enable":                   {"POST", e.url + "/kms/v1/keys/" + tag + "/enable", "", nil},
				"ncp disable":                  {"POST", e.url + "/kms/v1/keys/" + tag + "/disable", "", nil},
				"ncp request-deletion":         {"POST", e.url + "/kms/v1/keys/" + tag + "/request-deletion", "", nil},
				"ncp cancel-deletion":          {"POST", e.url + "/kms/v1/keys/" + tag + "/cancel-deletion", "", nil},
			}
		}
		normalize := func(r reply, id string) string {
			s := strings.ReplaceAll(r.raw, id, "KEY")
			return strings.ReplaceAll(s, validation.KeyTagFor(id), "TAG")
		}
		for name, ref := range requests(unknown) {
			want := doAs(t, &b, ref.method, ref.url, ref.headers, ref.body)
			// The reference must be a real not-found, not an authentication
			// failure that would make every answer alike.
			notFound := want.str("__type") == "NotFoundException" || want.str("error.error_code") == "KMS.0207" || want.str("error.errorCode") == "300"
			if !notFound {
				t.Fatalf("%s on an unknown key: %d %s", name, want.status, want.raw)
			}
			for _, id := range ids {
				q := requests(id)[name]
				got := doAs(t, &b, q.method, q.url, q.headers, q.body)
				if got.status != want.status || normalize(got, id) != normalize(want, unknown) {
					t.Errorf("%s on dev-a's key: %d %s\n  unknown key: %d %s", name, got.status, got.raw, want.status, want.raw)
				}
			}
		}
		// Listings show dev-b nothing of dev-a's.
		for name, r := range map[string]reply{
			"aws":    doAs(t, &b, "POST", e.url+"/", awsH("ListKeys"), `{}`),
			"huawei": doAs(t, &b, "POST", bHW+"list-keys", jsonCT, `{}`),
			"ncp":    doAs(t, &b, "GET", e.url+"/kms/v1/keys", nil, ""),
		} {
			for _, id := range ids {
				if r.status != 200 || strings.Contains(r.raw, id) {
					t.Errorf("%s list by dev-b: %d %s", name, r.status, r.raw)
				}
			}
		}
		// dev-b's names are its own: dev-a's alias is free for dev-b.
		if r := doAs(t, &b, "POST", bHW+"create-key", jsonCT, `{"key_alias":"iso-hw"}`); r.status != 200 {
			t.Errorf("dev-b reusing dev-a's alias: %d %s", r.status, r.raw)
		}
		if after := snapshot(t, e); !reflect.DeepEqual(before, after) {
			t.Fatalf("dev-b changed dev-a's keys:\n%+v\n%+v", before, after)
		}
	})
}

// No secret, token or signature from the credentials document reaches a
// log line or a response, whatever the request.
func TestSecretsStayOutOfLogs(t *testing.T) {
	var logs lockedBuffer
	st, err := pebblestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(routes.Handler(keys.NewService(st, time.Now), directory, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	defer srv.Close()
	a := creds["dev-a"]
	var bodies strings.Builder
	for _, c := range []*devclient.Creds{&a, nil, {AWSKey: a.AWSKey, AWSSecret: "x", AWSRegion: a.AWSRegion, HuaweiToken: a.HuaweiToken + "x", NCPKey: a.NCPKey, NCPSecret: "x"}} {
		for _, q := range [][3]string{{"POST", "/", `{}`}, {"POST", "/v1.0/" + projectID + "/kms/list-keys", `{}`}, {"GET", "/kms/v1/keys", ""}} {
			h := map[string]string{"Content-Type": "application/json"}
			if q[1] == "/" {
				h = map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"}
			}
			r := doAs(t, c, q[0], srv.URL+q[1], h, q[2])
			bodies.WriteString(r.raw)
		}
	}
	for _, c := range creds {
		for _, secret := range []string{c.AWSSecret, c.HuaweiSK, c.HuaweiToken, c.NCPSecret} {
			if strings.Contains(logs.String(), secret) || strings.Contains(bodies.String(), secret) {
				t.Errorf("a secret of %s appears in the logs or a response", c.Tenant)
			}
		}
	}
	if !strings.Contains(logs.String(), `"msg":"authentication failed"`) {
		t.Error("failed authentications are not logged")
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// signedAt sends a request signed by c at time at.
func signedAt(t *testing.T, method, url, body string, headers map[string]string, c devclient.Creds, at time.Time) reply {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if err := devclient.SignAWS(req, []byte(body), c, at); err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// huaweiSDKSigned sends a request signed by the Huawei SDK's own signer with
// X-Sdk-Date set to at.
func huaweiSDKSigned(t *testing.T, base, op, body string, c devclient.Creds, at time.Time) reply {
	t.Helper()
	return send(t, huaweiSDKRequest(t, base, op, body, body, nil, c, at))
}

// huaweiSDKRequest is a request whose headers the Huawei SDK's signer made
// at time at for signedBody (with the extra headers), carrying sentBody.
func huaweiSDKRequest(t *testing.T, base, op, signedBody, sentBody string, extra map[string]string, c devclient.Creds, at time.Time) *http.Request {
	t.Helper()
	path := "/v1.0/" + c.HuaweiProjID + "/kms/" + op
	b := request.NewHttpRequestBuilder().WithMethod("POST").WithEndpoint(base).WithPath(path).
		WithBody("body", signedBody).
		AddHeaderParam("Content-Type", "application/json").
		AddHeaderParam("X-Project-Id", c.HuaweiProjID).
		AddHeaderParam("X-Sdk-Date", at.UTC().Format("20060102T150405Z"))
	for k, v := range extra {
		b = b.AddHeaderParam(k, v)
	}
	headers, err := signer.Sign(b.Build(), c.HuaweiAK, c.HuaweiSK)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(sentBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", c.HuaweiProjID)
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req
}

func send(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return parse(t, resp, raw)
}
