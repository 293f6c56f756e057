package routes_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/storetest"
	"github.com/keydeletion/service/shared/validation"
)

// dev-c of infra/local/credentials.json has a deletion policy: windows of
// 14 to 30 days; its reader key (AKIADEVCREADER000000) may cancel but not
// schedule; only its NCP key may delete at once; keys tagged
// deletion-protection, or aliased payments-root, are protected.
var (
	governed   = creds["dev-c"]
	governedPj = governed.HuaweiProjID
	readerKey  = "AKIADEVCREADER000000"
	readerSec  = "dev-c-aws-reader-secret-do-not-use-in-production"
)

// governedServer serves every route on a fresh store of kind name, logging
// into logs.
func governedServer(t *testing.T, name string, logs *lockedBuffer) string {
	st := newStores[name](t)
	clock := storetest.NewClock(storetest.RealNow())
	log := slog.New(slog.NewJSONHandler(logs, nil))
	srv := httptest.NewServer(routes.Handler(keys.NewService(st, clock.Now), directory, log))
	t.Cleanup(srv.Close)
	return srv.URL
}

// awsErr is the AWS SDK's view of a failed call: error code and message.
func awsErr(err error) (code, msg string) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode(), apiErr.ErrorMessage()
	}
	return "", fmt.Sprint(err)
}

// The deletion policy, in every dialect, through the official clients: the
// refusal is the dialect's own access-denied answer, names the rule, and
// changes nothing; refused calls are logged CloudTrail-style and counted.
func TestDeletionPolicyInEveryDialect(t *testing.T) {
	for _, name := range []string{"bolt", "dynamodb"} {
		t.Run(name, func(t *testing.T) {
			logs := &lockedBuffer{}
			base := governedServer(t, name, logs)
			ctx := context.Background()
			writer := awsClientAs(base, governed.AWSKey, governed.AWSSecret, governed.AWSRegion)
			reader := awsClientAs(base, readerKey, readerSec, governed.AWSRegion)

			plain, err := writer.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("plain")})
			if err != nil {
				t.Fatal(err)
			}
			plainID := aws.ToString(plain.KeyMetadata.KeyId)
			tagged, err := writer.CreateKey(ctx, &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("deletion-protection"), TagValue: aws.String("yes")}}})
			if err != nil {
				t.Fatal(err)
			}
			taggedID := aws.ToString(tagged.KeyMetadata.KeyId)
			hw := huaweiClientAs(t, base, governed.HuaweiAK, governed.HuaweiSK, governedPj)
			rootKey, err := hw.CreateKey(&model.CreateKeyRequest{Body: &model.CreateKeyRequestBody{KeyAlias: "payments-root"}})
			if err != nil {
				t.Fatal(err)
			}
			rootID := *rootKey.KeyInfo.KeyId

			// AWS: AccessDeniedException (HTTP 400), naming the rule.
			for _, c := range []struct {
				name   string
				client *kms.Client
				id     string
				days   int32
				says   string
			}{
				{"7 days under a 14-day minimum", writer, plainID, 7, "at least 14 days (7 asked)"},
				{"a key tagged deletion-protection", writer, taggedID, 14, "carries the tag deletion-protection"},
				{"a key aliased payments-root", writer, rootID, 14, "by its alias"},
				{"the reader key", reader, plainID, 14, "does not allow this access key to schedule key deletion"},
			} {
				_, err := c.client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(c.id), PendingWindowInDays: aws.Int32(c.days)})
				code, msg := awsErr(err)
				if code != "AccessDeniedException" || !strings.Contains(msg, c.says) || !strings.Contains(msg, "kms:ScheduleKeyDeletion") {
					t.Errorf("AWS, %s: %s %q", c.name, code, msg)
				}
			}
			// The reader still reads, and disables and enables.
			if _, err := reader.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(plainID)}); err != nil {
				t.Fatal(err)
			}
			if _, err := reader.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(plainID)}); err != nil {
				t.Fatal(err)
			}
			if _, err := reader.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(plainID)}); err != nil {
				t.Fatal(err)
			}

			// Huawei: 403, KMS.0307 for the API's rules, KMS.0306 for the key's.
			for _, c := range []struct {
				name, id, days, code string
			}{
				{"7 days", plainID, "7", "KMS.0307"},
				{"60 days over a 30-day maximum", plainID, "60", "KMS.0307"},
				{"payments-root", rootID, "14", "KMS.0306"},
			} {
				_, err := hw.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: c.id, PendingDays: c.days}})
				if status, code := hwError(err); status != http.StatusForbidden || code != c.code {
					t.Errorf("Huawei, %s: %d %s (%v)", c.name, status, code, err)
				}
			}

			// NCP: its window is 72 hours, under the minimum: 401, code 210,
			// and it says so.
			nc := governed
			r := doAs(t, &nc, http.MethodPost, base+"/kms/v1/keys/"+validation.KeyTagFor(plainID)+"/request-deletion", nil, "")
			if r.status != http.StatusUnauthorized || r.str("error.errorCode") != "210" || !strings.Contains(r.str("error.details"), "fixed at 72 hours") ||
				!strings.Contains(r.str("error.details"), "at least 14 days") {
				t.Errorf("NCP request-deletion: %d %s", r.status, r.raw)
			}

			// A deletion call the key's state refuses is logged the same way.
			if _, err := writer.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(plainID)}); !strings.Contains(fmt.Sprint(err), "KMSInvalidStateException") {
				t.Errorf("cancel of an enabled key: %v", err)
			}

			// Nothing changed.
			for _, id := range []string{plainID, taggedID, rootID} {
				d, err := writer.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
				if err != nil || d.KeyMetadata.KeyState != types.KeyStateEnabled {
					t.Fatalf("key %s after the refusals: %v %v", id, d, err)
				}
			}

			// Within the policy: the writer schedules for 14 days, the
			// reader cancels, the writer schedules again, and NCP's key
			// ends the window at once.
			if _, err := writer.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(plainID), PendingWindowInDays: aws.Int32(14)}); err != nil {
				t.Fatal(err)
			}
			if _, err := reader.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(plainID)}); err != nil {
				t.Fatal(err)
			}
			if _, err := hw.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: plainID, PendingDays: "30"}}); err != nil {
				t.Fatal(err)
			}
			if r := doAs(t, &nc, http.MethodDelete, base+"/kms/v1/keys/"+validation.KeyTagFor(plainID), nil, ""); r.status != http.StatusOK {
				t.Fatalf("NCP delete: %d %s", r.status, r.raw)
			}

			// The refusals, logged and counted: one line each, with the
			// error code the caller got and the embedded metric.
			var refused []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var l map[string]any
				if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "deletion call refused" {
					refused = append(refused, l)
				}
			}
			var codes []string
			for i, l := range refused {
				codes = append(codes, l["errorCode"].(string)+"/"+fmt.Sprint(l["Refusal"])+"/"+fmt.Sprint(l["Operation"]))
				aws, _ := l["_aws"].(map[string]any)
				if l["RefusedDeletionCalls"] != float64(1) || aws == nil || aws["CloudWatchMetrics"] == nil ||
					l["userIdentity"].(map[string]any)["tenant"] != "dev-c" || l["eventName"] == "" || l["requestID"] == "" {
					t.Errorf("refusal line %d: %v", i, l)
				}
			}
			const denied, s = "AccessDeniedException/policy/ScheduleDeletion", "/policy/ScheduleDeletion"
			want := []string{denied, denied, denied, denied, "KMS.0307" + s, "KMS.0307" + s, "KMS.0306" + s, "210" + s,
				"KMSInvalidStateException/state/CancelDeletion"}
			if !slices.Equal(codes, want) {
				t.Errorf("refusals logged %v, want %v", codes, want)
			}
		})
	}
}

// trailGet reads the audit trail with the request signed by sign.
func trailGet(t *testing.T, base, query string, sign func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/audit/v1/records?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	sign(req)
	return send(t, req)
}

// huaweiSignGet signs a GET with the Huawei SDK's own signer (AK/SK), with
// X-Project-Id naming the tenant's project.
func huaweiSignGet(t *testing.T, c devclient.Creds, project string) func(*http.Request) {
	return func(req *http.Request) {
		b := request.NewHttpRequestBuilder().WithMethod("GET").WithEndpoint(req.URL.Scheme+"://"+req.URL.Host).WithPath(req.URL.Path).
			AddHeaderParam("X-Project-Id", project).AddHeaderParam("X-Sdk-Date", time.Now().UTC().Format("20060102T150405Z"))
		for k, vs := range req.URL.Query() {
			b = b.AddQueryParam(k, reflect.ValueOf(vs[0])) // as the SDK's generated code adds them
		}
		headers, err := signer.Sign(b.Build(), c.HuaweiAK, c.HuaweiSK)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Project-Id", project)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
	}
}

// The trail of a key from creation to tombstone, read with each dialect's
// credentials: the same records, by key and time, paged; another tenant's
// credentials see none of them.
func TestTrailThroughEveryScheme(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := awsClient(e.url)
		k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(k.KeyMetadata.KeyId)
		if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		if _, err := huaweiClient(t, e.url).CancelKeyDeletion(&model.CancelKeyDeletionRequest{Body: &model.OperateKeyRequestBody{KeyId: id}}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		tag := validation.KeyTagFor(id)
		if r := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/request-deletion"); r.status != 200 {
			t.Fatalf("NCP request-deletion: %d %s", r.status, r.raw)
		}
		e.clock.Advance(time.Second)
		if r := ncpCall(t, e.url, http.MethodDelete, "/"+tag); r.status != 200 {
			t.Fatalf("NCP delete: %d %s", r.status, r.raw)
		}

		a := creds["dev-a"]
		schemes := map[string]func(*http.Request){
			"aws": func(r *http.Request) {
				if err := devclient.SignAWS(r, nil, a, time.Now()); err != nil {
					t.Fatal(err)
				}
			},
			"huawei-aksk": huaweiSignGet(t, a, projectID),
			"huawei-token": func(r *http.Request) {
				r.Header.Set("X-Auth-Token", a.HuaweiToken)
				r.Header.Set("X-Project-Id", projectID)
			},
			"ncp": func(r *http.Request) { devclient.SignNCP(r, a, time.Now()) },
		}
		var first []any
		for name, sign := range schemes {
			r := trailGet(t, e.url, "keyId="+id, sign)
			if r.status != http.StatusOK {
				t.Fatalf("%s: %d %s", name, r.status, r.raw)
			}
			records := r.path("records").([]any)
			if first == nil {
				first = records
			} else if !reflect.DeepEqual(records, first) {
				t.Fatalf("%s read another trail:\n%v\n%v", name, records, first)
			}
		}
		var got []string
		for _, rec := range first {
			m := rec.(map[string]any)
			got = append(got, m["operation"].(string)+"/"+m["dialect"].(string))
			if m["keyId"] != id || m["tenant"] != "dev-a" || m["eventId"] == "" || m["requestId"] == "" {
				t.Fatalf("record %v", m)
			}
		}
		if want := []string{"ScheduleDeletion/aws", "CancelDeletion/huawei", "ScheduleDeletion/ncp", "DeleteNow/ncp", "FinalDeletion/ncp"}; !slices.Equal(got, want) {
			t.Fatalf("trail %v, want %v", got, want)
		}
		if acc := first[0].(map[string]any)["accessKeyId"]; acc != a.AWSKey {
			t.Fatalf("the schedule's access key: %v", acc)
		}
		if acc := first[1].(map[string]any)["accessKeyId"]; acc != a.HuaweiAK {
			t.Fatalf("the cancel's access key: %v", acc)
		}

		// Paged by three, by time.
		sign := schemes["aws"]
		page := trailGet(t, e.url, "keyId="+id+"&limit=3", sign)
		token := page.str("nextToken")
		if len(page.path("records").([]any)) != 3 || token == "" {
			t.Fatalf("first page: %s", page.raw)
		}
		rest := trailGet(t, e.url, "keyId="+id+"&limit=3&nextToken="+url.QueryEscape(token), sign)
		if recs := rest.path("records").([]any); len(recs) != 2 || rest.str("nextToken") != "" ||
			recs[0].(map[string]any)["eventId"] != first[3].(map[string]any)["eventId"] {
			t.Fatalf("second page: %s", rest.raw)
		}
		from := first[1].(map[string]any)["eventTime"].(string)
		ranged := trailGet(t, e.url, "from="+url.QueryEscape(from), sign)
		if recs := ranged.path("records").([]any); len(recs) != 4 {
			t.Fatalf("from %s: %s", from, ranged.raw)
		}

		// Another tenant's credentials read their own (empty) trail.
		b := creds["dev-b"]
		if r := trailGet(t, e.url, "keyId="+id, func(r *http.Request) { devclient.SignNCP(r, b, time.Now()) }); r.status != 200 || len(r.path("records").([]any)) != 0 {
			t.Fatalf("dev-b: %d %s", r.status, r.raw)
		}
		// Refusals, in the API's own shape.
		for _, c := range []struct {
			name, query string
			sign        func(*http.Request)
			status      int
			code        string
		}{
			{"unsigned", "", func(*http.Request) {}, 401, "AuthenticationFailed"},
			{"limit 0", "limit=0", sign, 400, "InvalidParameter"},
			{"a bad time", "from=yesterday", sign, 400, "InvalidParameter"},
			{"an empty range", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", sign, 400, "InvalidParameter"},
			{"a forged token", "nextToken=bm9wZQ", sign, 400, "InvalidParameter"},
			{"an unknown parameter", "owner=dev-b", sign, 400, "InvalidParameter"},
			{"a Huawei token without its project", "", func(r *http.Request) { r.Header.Set("X-Auth-Token", a.HuaweiToken) }, 401, "AuthenticationFailed"},
			{"another tenant's project", "", func(r *http.Request) {
				r.Header.Set("X-Auth-Token", a.HuaweiToken)
				r.Header.Set("X-Project-Id", governedPj)
			}, 403, "AccessDenied"},
		} {
			if r := trailGet(t, e.url, c.query, c.sign); r.status != c.status || r.str("error.code") != c.code {
				t.Errorf("%s: %d %s", c.name, r.status, r.raw)
			}
		}
	})
}
