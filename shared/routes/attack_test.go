package routes_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/validation"
)

// Requests an attacker would craft: captured signatures resent with another
// body or operation, JSON that Go would read one way and a vendor another,
// ARNs of another partition, paths that Go's router would redirect. Each is
// refused with its dialect's own error and changes nothing.
func TestCraftedRequestsChangeNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		a, b := creds["dev-a"], creds["dev-b"]
		keyA := awsCall(t, e.url, "CreateKey", `{}`).str("KeyMetadata.KeyId")
		keyB := awsCall(t, e.url, "CreateKey", `{}`).str("KeyMetadata.KeyId")
		huaweiCall(t, e.url, "create-key", `{"key_alias":"crafted-hw"}`)
		before := snapshot(t, e)
		hwURL := e.url + "/v1.0/" + projectID + "/kms/"
		awsH := func(op string) map[string]string {
			return map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + op}
		}
		bodyA := `{"key_id":"` + keyA + `","pending_days":"1096"}`
		bodyB := `{"key_id":"` + keyB + `","pending_days":"7"}`
		hashA := sha256Hex(bodyA)

		type want struct {
			status      int
			field, code string
		}
		awsErr := func(status int, typ string) want { return want{status, "__type", typ} }
		hwErr := func(status int, code string) want { return want{status, "error.error_code", code} }
		gwErr := func(status int, code string) want { return want{status, "error_code", code} } // Huawei's API gateway
		ncpErr := func(status int, code string) want { return want{status, "error.errorCode", code} }
		cases := []struct {
			name string
			send func() reply
			want want
		}{
			// Huawei: a captured schedule of A, resent with B's body.
			{"huawei signed content hash of another body", func() reply {
				return sendHuaweiSDKSigned(t, e.url, "schedule-key-deletion", bodyA, bodyB, map[string]string{"X-Sdk-Content-Sha256": hashA}, a)
			}, gwErr(401, "APIGW.0301")},
			{"huawei unsigned content hash of the signed body", func() reply {
				r := huaweiSDKRequest(t, e.url, "schedule-key-deletion", bodyA, bodyB, nil, a, time.Now())
				r.Header.Set("X-Sdk-Content-Sha256", hashA)
				return send(t, r)
			}, gwErr(401, "APIGW.0301")},
			{"huawei signed UNSIGNED-PAYLOAD", func() reply {
				return sendHuaweiSDKSigned(t, e.url, "schedule-key-deletion", bodyB, bodyB, map[string]string{"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"}, a)
			}, gwErr(401, "APIGW.0301")},
			{"huawei token with another project's X-Project-Id", func() reply {
				return doAs(t, nil, "POST", hwURL+"schedule-key-deletion", map[string]string{"Content-Type": "application/json",
					"X-Auth-Token": a.HuaweiToken, "X-Project-Id": b.HuaweiProjID}, bodyB)
			}, hwErr(403, "KMS.0305")},

			// AWS: a captured DescribeKey, its target changed after signing.
			{"aws target not signed", func() reply {
				return send(t, awsSignedWithoutTarget(t, e.url, "ScheduleKeyDeletion", `{"KeyId":"`+keyB+`"}`, a))
			}, awsErr(403, "IncompleteSignatureException")},

			// JSON as the vendors read it: a member twice is malformed, and
			// names match exactly.
			{"aws duplicate KeyId", func() reply {
				return awsCall(t, e.url, "ScheduleKeyDeletion", `{"KeyId":"`+keyA+`","KeyId":"`+keyB+`","PendingWindowInDays":7}`)
			}, awsErr(400, "SerializationException")},
			{"aws duplicate window", func() reply {
				return awsCall(t, e.url, "ScheduleKeyDeletion", `{"KeyId":"`+keyB+`","PendingWindowInDays":30,"PendingWindowInDays":7}`)
			}, awsErr(400, "SerializationException")},
			{"aws KeyId in another case", func() reply {
				return awsCall(t, e.url, "ScheduleKeyDeletion", `{"keyid":"`+keyB+`","PendingWindowInDays":7}`)
			}, awsErr(400, "ValidationException")},
			{"huawei duplicate key_id", func() reply {
				return huaweiCall(t, e.url, "schedule-key-deletion", `{"key_id":"`+keyA+`","key_id":"`+keyB+`","pending_days":"7"}`)
			}, hwErr(400, "KMS.0202")},
			{"huawei key_id beside KEY_ID", func() reply {
				return huaweiCall(t, e.url, "schedule-key-deletion", `{"KEY_ID":"`+keyB+`","pending_days":"7"}`)
			}, hwErr(400, "KMS.0204")},
			{"huawei Key_Id beside key_id", func() reply {
				// Go's decoder would take the last of the two as key_id.
				return huaweiCall(t, e.url, "schedule-key-deletion", `{"key_id":"`+keyA+`","Key_Id":"`+keyB+`","pending_days":"6"}`)
			}, hwErr(400, "KMS.1401")},
			{"ncp duplicate keyName", func() reply {
				return do(t, "POST", e.url+"/kms/v1/keys", jsonCT, `{"keyName":"dupone","keyName":"duptwo","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`)
			}, ncpErr(400, "100")},
			{"ncp keyName in another case", func() reply {
				return do(t, "POST", e.url+"/kms/v1/keys", jsonCT, `{"KEYNAME":"caseone","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`)
			}, ncpErr(400, "100")},

			// ARNs name a key only in the tenant's partition, region and account.
			{"aws ARN in another partition", func() reply {
				return awsCall(t, e.url, "ScheduleKeyDeletion", `{"KeyId":"arn:aws-cn:kms:`+def.AWSRegion+`:`+def.AWSAccountID+`:key/`+keyB+`","PendingWindowInDays":7}`)
			}, awsErr(400, "NotFoundException")},
			{"aws ARN in GovCloud's partition", func() reply {
				return awsCall(t, e.url, "DisableKey", `{"KeyId":"arn:aws-us-gov:kms:`+def.AWSRegion+`:`+def.AWSAccountID+`:key/`+keyB+`"}`)
			}, awsErr(400, "NotFoundException")},
			{"aws ARN in no partition", func() reply {
				return awsCall(t, e.url, "DisableKey", `{"KeyId":"arn:awsx:kms:`+def.AWSRegion+`:`+def.AWSAccountID+`:key/`+keyB+`"}`)
			}, awsErr(400, "InvalidArnException")},

			// Paths Go's router would clean with a redirect: the dialect answers.
			{"aws double slash", func() reply { return sendRaw(t, signedRaw(t, "POST", e.url+"//", awsH("ListKeys"), `{}`)) }, awsErr(404, "UnknownOperationException")},
			{"aws dot segment", func() reply { return sendRaw(t, signedRaw(t, "POST", e.url+"/./", awsH("ListKeys"), `{}`)) }, awsErr(404, "UnknownOperationException")},
			{"huawei empty project segment", func() reply {
				return sendRaw(t, signedRaw(t, "POST", e.url+"/v1.0//"+projectID+"/kms/schedule-key-deletion", jsonCT, bodyB))
			}, hwErr(400, "KMS.0201")},
			{"huawei dot-dot", func() reply {
				return sendRaw(t, signedRaw(t, "POST", hwURL+"list-keys/../schedule-key-deletion", jsonCT, bodyB))
			}, hwErr(400, "KMS.0201")},
			{"huawei root without slash", func() reply { return sendRaw(t, signedRaw(t, "POST", e.url+"/v1.0", jsonCT, `{}`)) }, hwErr(400, "KMS.0201")},
			{"ncp dot-dot", func() reply {
				return sendRaw(t, signedRaw(t, "POST", e.url+"/kms/v1/keys/x/../"+validation.KeyTagFor(keyB)+"/request-deletion", nil, ""))
			}, ncpErr(404, "300")},
			{"ncp double slash", func() reply {
				return sendRaw(t, signedRaw(t, "POST", e.url+"/kms/v1/keys//"+validation.KeyTagFor(keyB)+"/request-deletion", nil, ""))
			}, ncpErr(404, "300")},
			{"ncp root without slash", func() reply { return sendRaw(t, signedRaw(t, "GET", e.url+"/kms", nil, "")) }, ncpErr(404, "300")},
		}
		for _, c := range cases {
			r := c.send()
			if r.status != c.want.status || r.str(c.want.field) != c.want.code {
				t.Errorf("%s: %d %s, want %d with %s=%s", c.name, r.status, r.raw, c.want.status, c.want.field, c.want.code)
			}
		}
		if after := snapshot(t, e); !reflect.DeepEqual(before, after) {
			t.Fatalf("crafted requests changed keys:\n%+v\n%+v", before, after)
		}
		for _, id := range []string{keyA, keyB} {
			if k, err := e.store.Get(context.Background(), def.ID, id); err != nil || k.State != keys.Enabled {
				t.Errorf("key %s after the crafted requests: %v %v", id, k.State, err)
			}
		}
		// The same requests, made honestly, work: the refusals above are the
		// craft's, not the path's or the signer's.
		if r := sendHuaweiSDKSigned(t, e.url, "schedule-key-deletion", bodyB, bodyB, map[string]string{"X-Sdk-Content-Sha256": sha256Hex(bodyB)}, a); r.status != 200 {
			t.Errorf("signed content hash of the body sent: %d %s", r.status, r.raw)
		}
		if r := awsCall(t, e.url, "DescribeKey", `{"KeyId":"`+validation.KeyARN(def.AWSRegion, def.AWSAccountID, keyA)+`"}`); r.status != 200 {
			t.Errorf("ARN in the tenant's partition: %d %s", r.status, r.raw)
		}
	})
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func sendHuaweiSDKSigned(t *testing.T, base, op, signedBody, sentBody string, extra map[string]string, c devclient.Creds) reply {
	t.Helper()
	return send(t, huaweiSDKRequest(t, base, op, signedBody, sentBody, extra, c, time.Now()))
}

// awsSignedWithoutTarget signs a KMS request as the AWS SDK signer does but
// without X-Amz-Target, then adds the target: what a captured request
// resent as another operation looks like, had it not signed its target.
func awsSignedWithoutTarget(t *testing.T, base, op, body string, c devclient.Creds) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AWSKey, SecretAccessKey: c.AWSSecret},
		req, hex.EncodeToString(sum[:]), "kms", c.AWSRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "TrentService."+op)
	return req
}

// signedRaw is a request signed as dev-a, its path sent exactly as written.
func signedRaw(t *testing.T, method, url string, headers map[string]string, body string) *http.Request {
	t.Helper()
	c := creds["dev-a"]
	return newRequest(t, &c, method, url, headers, body)
}

// sendRaw sends req and never follows a redirect: a redirect is an answer.
func sendRaw(t *testing.T, req *http.Request) reply {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return reply{status: resp.StatusCode, raw: string(raw) + " Location: " + resp.Header.Get("Location")}
	}
	return parse(t, resp, raw)
}

// busyStore is a store whose writes keep losing to concurrent changes, as
// dynamostore reports once its retries are spent.
type busyStore struct{ keys.Store }

func (busyStore) Apply(context.Context, keys.Change) (keys.Key, error) {
	return keys.Key{}, fmt.Errorf("dynamostore: 8 attempts lost to concurrent transactions: %w", keys.ErrBusy)
}

// Contention a client cannot cause is never an internal error: each dialect
// answers with its service's throttling error, which clients retry.
func TestContentionIsThrottling(t *testing.T) {
	st := newStores["bolt"](t)
	svc := keys.NewService(st, time.Now)
	k, err := svc.Create(context.Background(), keys.Principal{Tenant: def.ID}, keys.CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes.Handler(keys.NewService(busyStore{st}, time.Now), directory, slog.New(slog.NewJSONHandler(io.Discard, nil))))
	defer srv.Close()
	for name, c := range map[string]struct {
		r           reply
		status      int
		field, code string
	}{
		"aws":    {awsCall(t, srv.URL, "DisableKey", `{"KeyId":"`+k.ID+`"}`), 400, "__type", "ThrottlingException"},
		"huawei": {huaweiCall(t, srv.URL, "disable-key", `{"key_id":"`+k.ID+`"}`), 429, "error_code", "APIG.0308"},
		"ncp":    {ncpCall(t, srv.URL, "POST", "/"+validation.KeyTagFor(k.ID)+"/disable"), 429, "error.errorCode", "410"},
	} {
		if c.r.status != c.status || c.r.str(c.field) != c.code {
			t.Errorf("%s: %d %s, want %d with %s=%s", name, c.r.status, c.r.raw, c.status, c.field, c.code)
		}
	}
}
