package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/google/uuid"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	hwkms "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2"
	hwmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/faultproxy"
	"github.com/keydeletion/service/shared/validation"
)

// tenants are the development tenants' credentials, as the server reads them.
var tenants = func() map[string]devclient.Creds {
	c, err := devclient.Load("../local/credentials.json")
	if err != nil {
		panic(err)
	}
	return c
}()

func awsClient(url string, c devclient.Creds) *kms.Client { return devclient.AWSKMS(url, c) }

func huaweiClient(t *testing.T, url string, c devclient.Creds) *hwkms.KmsClient {
	t.Helper()
	client, err := devclient.HuaweiKMS(url, c)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

type clockState struct {
	Tenant        string `json:"tenant"`
	Now           string `json:"now"`
	Offset        string `json:"offset"`
	OffsetSeconds int64  `json:"offsetSeconds"`
	Finalized     *int   `json:"finalized"`
	Complete      *bool  `json:"complete"`
	Remaining     *int   `json:"remaining"`
	Error         *struct {
		Code, Message string
	} `json:"error"`
}

// clockCall calls the clock API signed in scheme ("aws", "huawei-token",
// "huawei-aksk" is not offered by devclient, "ncp", or "" for unsigned).
func clockCall(t *testing.T, url, method, body, scheme string, c devclient.Creds) (int, clockState) {
	t.Helper()
	req, _ := http.NewRequest(method, url+"/_local/v1/clock", strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch scheme {
	case "aws":
		if err := devclient.SignAWS(req, []byte(body), c, time.Now()); err != nil {
			t.Fatal(err)
		}
	case "huawei":
		devclient.SignHuawei(req, c)
		req.Header.Set("X-Project-Id", c.HuaweiProjID)
	case "ncp":
		devclient.SignNCP(req, c, time.Now())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.HasSuffix(string(raw), "}\n") {
		t.Errorf("%s clock: the answer does not end in a newline: %q", method, raw)
	}
	var st clockState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("%s clock: %d %s", method, resp.StatusCode, raw)
	}
	return resp.StatusCode, st
}

// Moving a tenant's clock forward returns after its keys whose window ended
// are finalized: the next request in every dialect finds them gone, while
// another tenant's key, due at the same time by the real clock, is still
// pending. Each call is signed in another dialect's scheme.
func TestClockAPIFinalizesBeforeItReturns(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testClockAPIFinalizes(t, "DATA_DIR="+t.TempDir()) })
	t.Run("dynamodb", func(t *testing.T) {
		table := "localserver-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
		testClockAPIFinalizes(t, "DYNAMODB_ENDPOINT="+dynamodblocal.Endpoint(t), "TABLE_NAME="+table)
	})
}

func testClockAPIFinalizes(t *testing.T, store ...string) {
	// A loop slower than the test: only the clock call can finalize.
	s := start(t, append(store, "EXPIRY_INTERVAL=1h")...)
	ctx := context.Background()
	a, b := tenants["dev-a"], tenants["dev-b"]

	schedule := func(c devclient.Creds) string {
		cl := awsClient(s.url, c)
		out, err := cl.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		id := *out.KeyMetadata.KeyId
		if _, err := cl.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	idA, idB := schedule(a), schedule(b)

	if code, st := clockCall(t, s.url, "GET", "", "ncp", a); code != 200 || st.Tenant != "dev-a" || st.OffsetSeconds != 0 {
		t.Fatalf("GET clock: %d %+v", code, st)
	}
	// Six days: nothing is due yet.
	if code, st := clockCall(t, s.url, "POST", `{"advance":"6d"}`, "aws", a); code != 200 || st.Finalized == nil || *st.Finalized != 0 || !between(st.OffsetSeconds, 6*24*3600, 6*24*3600+1) {
		t.Fatalf("advance 6d: %d %+v", code, st)
	}
	// Seven days in all, right after the schedule: the window has ended.
	code, st := clockCall(t, s.url, "POST", `{"advance":"1d"}`, "huawei", a)
	if code != 200 || st.Finalized == nil || *st.Finalized != 1 || !between(st.OffsetSeconds, 7*24*3600, 7*24*3600+2) {
		t.Fatalf("advance 1d: %d %+v", code, st)
	}
	now, err := time.Parse(time.RFC3339, st.Now)
	if err != nil || time.Until(now) < 7*24*time.Hour-time.Minute {
		t.Errorf("the clock says %q (%v)", st.Now, err)
	}

	// AWS: NotFoundException; the other tenant's key is still pending.
	_, err = awsClient(s.url, a).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &idA})
	var nf *kmstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("AWS DescribeKey after the window: %v, want NotFoundException", err)
	}
	if out, err := awsClient(s.url, b).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &idB}); err != nil || out.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion {
		t.Errorf("dev-b's key, under dev-b's unmoved clock: %v %v", out, err)
	}
	// Huawei: 404 KMS.0207 from the official SDK.
	_, err = huaweiClient(t, s.url, a).ListKeyDetail(&hwmodel.ListKeyDetailRequest{Body: &hwmodel.OperateKeyRequestBody{KeyId: idA}})
	var sre *sdkerr.ServiceResponseError
	if !errors.As(err, &sre) || sre.StatusCode != 404 {
		t.Errorf("Huawei ListKeyDetail after the window: %v, want 404", err)
	}
	// NCP: the key's tag names no key.
	req, _ := http.NewRequest("GET", s.url+"/kms/v1/keys/"+validation.KeyTagFor(idA), nil)
	devclient.SignNCP(req, a, time.Now())
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("NCP get-key after the window: 200")
		}
	}

	// dev-b's clock has not moved; dev-a's reset brings it back.
	if code, st := clockCall(t, s.url, "GET", "", "aws", b); code != 200 || st.Tenant != "dev-b" || st.OffsetSeconds != 0 {
		t.Errorf("dev-b's clock: %d %+v", code, st)
	}
	if code, st := clockCall(t, s.url, "POST", `{"reset":true}`, "ncp", a); code != 200 || st.OffsetSeconds != 0 || *st.Finalized != 0 {
		t.Errorf("reset: %d %+v", code, st)
	}
	// The deletion stands after the reset: it was carried out, not hidden
	// (right after the move, the tenant's clock alone hides the key).
	if _, err := awsClient(s.url, a).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &idA}); !errors.As(err, &nf) {
		t.Errorf("after reset: %v, want NotFoundException", err)
	}
}

// between: an advance lands on the next whole second, up to a second past
// the length asked for.
func between(n, lo, hi int64) bool { return lo <= n && n <= hi }

// Bad moves get 400 and change nothing; unsigned or wrongly signed calls get 401.
func TestClockAPIRefusals(t *testing.T) {
	s := start(t, "DATA_DIR="+t.TempDir())
	a := tenants["dev-a"]
	for _, c := range []struct{ name, body, scheme string }{
		{"backwards", `{"advance":"-1d"}`, "aws"},
		{"zero", `{"advance":"0s"}`, "aws"},
		{"two at once", `{"advance":"1d","reset":true}`, "aws"},
		{"none", `{}`, "aws"},
		{"unknown field", `{"advnace":"1d"}`, "aws"},
		{"unknown field beside a good one", `{"advance":"1d","note":"x"}`, "aws"},
		{"not a length", `{"advance":"soon"}`, "aws"},
		{"not a time", `{"time":"tomorrow"}`, "aws"},
		{"not JSON", `{"advance":`, "aws"},
	} {
		if code, st := clockCall(t, s.url, "POST", c.body, c.scheme, a); code != 400 || st.Error == nil {
			t.Errorf("%s: %d %+v, want 400", c.name, code, st)
		}
	}
	if code, _ := clockCall(t, s.url, "POST", `{"advance":"1d"}`, "", a); code != 401 {
		t.Errorf("unsigned: %d, want 401", code)
	}
	forged := a
	forged.AWSSecret = "not-the-secret"
	if code, _ := clockCall(t, s.url, "POST", `{"advance":"1d"}`, "aws", forged); code != 401 {
		t.Errorf("wrong secret: %d, want 401", code)
	}
	if code, st := clockCall(t, s.url, "GET", "", "aws", a); code != 200 || st.OffsetSeconds != 0 {
		t.Errorf("after the refusals: %d %+v, want the clock unmoved", code, st)
	}
	// time and offset set the clock anywhere, the past included.
	target := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	if code, st := clockCall(t, s.url, "POST", `{"time":"`+target+`"}`, "aws", a); code != 200 || st.OffsetSeconds < 30*24*3600-60 || st.OffsetSeconds > 30*24*3600 {
		t.Errorf("time: %d %+v", code, st)
	}
	if code, st := clockCall(t, s.url, "POST", `{"offset":"-2h"}`, "aws", a); code != 200 || st.Offset != "-2h0m0s" {
		t.Errorf("offset: %d %+v", code, st)
	}
}

// The health check answers unsigned, says what the server is, and is not
// logged per request.
func TestHealth(t *testing.T) {
	s := start(t, "DATA_DIR="+t.TempDir())
	resp, err := http.Get(s.url + "/_local/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Status string
		Server struct {
			Store   map[string]any
			Tenants []string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 200 || h.Status != "ok" ||
		h.Server.Store["kind"] != "embedded" || len(h.Server.Tenants) != 4 {
		t.Errorf("health: %d %+v %v", resp.StatusCode, h, err)
	}
	if resp, err := http.Post(s.url+"/_local/health", "application/json", nil); err != nil || resp.StatusCode != 405 {
		t.Errorf("POST health: %v %v", resp, err)
	}
}

// A clock move always answers, within CLOCK_MOVE_TIMEOUT: on a store too
// slow to carry out everything it brought due in that time (DynamoDB Local
// behind a proxy that adds latency), it answers 202 with what it finalized
// and what remains, and the same move again carries out the rest.
func TestClockMoveAnswersWithinItsTimeout(t *testing.T) {
	proxy, err := faultproxy.New(dynamodblocal.Endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	table := "localserver-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	s := start(t, "DYNAMODB_ENDPOINT="+proxy.URL, "TABLE_NAME="+table, "EXPIRY_INTERVAL=1h", "CLOCK_MOVE_TIMEOUT=2s")
	ctx := context.Background()
	a := tenants["dev-a"]
	c := awsClient(s.url, a)
	const n = 12
	for range n {
		out, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: out.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
	}
	// Each request 400 ms late, at most 4 final deletions at once, each
	// two requests: 12 take at least 2.4 s, past the 2 s timeout.
	proxy.Inject("", -1, faultproxy.Slow(400*time.Millisecond))
	began := time.Now()
	code, st := clockCall(t, s.url, "POST", `{"advance":"8d"}`, "aws", a)
	took := time.Since(began)
	if code != 202 || st.Complete == nil || *st.Complete || st.Remaining == nil || *st.Finalized+*st.Remaining != n {
		t.Fatalf("a move past %d windows on a slow store: %d %+v", n, code, st)
	}
	// The timeout, the work in flight at it, and the count of what remains.
	if took > 12*time.Second {
		t.Errorf("the move answered after %v", took)
	}
	t.Logf("answered 202 after %v: %d finalized, %d remaining", took, *st.Finalized, *st.Remaining)
	finalized := *st.Finalized
	proxy.Clear() // the store recovers
	offset := fmt.Sprintf(`{"offset":"%ds"}`, st.OffsetSeconds)
	for range 30 {
		code, st = clockCall(t, s.url, "POST", offset, "aws", a)
		if st.Finalized == nil {
			t.Fatalf("the same move again: %d %+v %+v", code, st, st.Error)
		}
		finalized += *st.Finalized
		if code == 200 {
			break
		}
	}
	if code != 200 || !*st.Complete || st.Remaining != nil || finalized != n {
		t.Fatalf("the same move again until complete: %d %+v, %d finalized in all", code, st, finalized)
	}
}
