package routes_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	hwretry "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/invoker/retry"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/faultproxy"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/validation"
)

// faultBudget is the time of each request in the fault tests (production:
// httpapi.DefaultBudget).
const faultBudget = 3 * time.Second

// faultEnv is the service on DynamoDB Local behind a fault proxy. The
// store's client is made as in production (dynamostore.ClientOptions), the
// server's budget is shorter; checks read the table directly, past the
// proxy.
type faultEnv struct {
	proxy  *faultproxy.Proxy
	url    string
	store  *dynamostore.Store // through the proxy
	direct *dynamostore.Store // the same table without the proxy: what is stored
	svc    *keys.Service      // on direct: puts keys into the state a case needs
	owner  keys.Principal
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	db, table := dynamodblocal.NewTable(t)
	proxy, err := faultproxy.New(dynamodblocal.Endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	st := dynamostore.New(dynamodblocal.Client(proxy.URL), table)
	h := routes.Handler(keys.NewService(st, time.Now), directory, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	h.SetBudget(faultBudget)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	direct := dynamostore.New(db, table)
	return &faultEnv{proxy: proxy, url: srv.URL, store: st, direct: direct, svc: keys.NewService(direct, time.Now),
		owner: keys.Principal{Tenant: def.ID, Dialect: "test", RequestID: "setup"}}
}

// key makes a key of dev-a in state (Enabled, Disabled, PendingDeletion),
// with alias (none if ""), directly in the table.
func (fe *faultEnv) key(t *testing.T, state keys.State, alias string) keys.Key {
	t.Helper()
	ctx := context.Background()
	k, err := fe.svc.Create(ctx, fe.owner, keys.CreateRequest{Alias: alias})
	if err != nil {
		t.Fatal(err)
	}
	switch state {
	case keys.Disabled:
		_, err = fe.svc.Disable(ctx, fe.owner, k.ID)
	case keys.PendingDeletion:
		_, err = fe.svc.ScheduleDeletion(ctx, fe.owner, k.ID, 7)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// state is the stored key's state ("" when there is no key item).
func (fe *faultEnv) state(t *testing.T, id string) keys.State {
	t.Helper()
	k, err := fe.direct.Get(context.Background(), def.ID, id)
	if errors.Is(err, keys.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return k.State
}

// trail counts the key's audit records by operation.
func (fe *faultEnv) trail(t *testing.T, id string) map[keys.Op]int {
	t.Helper()
	page, err := fe.direct.Records(context.Background(), def.ID, keys.TrailQuery{KeyID: id, Limit: keys.MaxTrailPage}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n := map[keys.Op]int{}
	for _, r := range page.Records {
		n[r.Op]++
	}
	return n
}

// keyCount is how many live keys dev-a has.
func (fe *faultEnv) keyCount(t *testing.T) int {
	t.Helper()
	ks, _, err := fe.direct.List(context.Background(), def.ID, keys.ListQuery{Limit: 10000, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return len(ks)
}

// awsRetrying is the official AWS client with its own retries on (the
// standard retryer, 3 attempts), as applications run it.
func awsRetrying(url string) *kms.Client {
	a := creds["dev-a"]
	return kms.New(kms.Options{Region: a.AWSRegion, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(a.AWSKey, a.AWSSecret, "")})
}

// huaweiRetry retries a Huawei SDK call on the answers its API gateway
// gives for throttling and a failed backend, as an application configures
// the SDK's invoker (it retries nothing by default).
func huaweiRetry(resp any, err error) bool {
	status, _ := hwError(err)
	return status == http.StatusTooManyRequests || status >= 500
}

func hwBackoff() hwretry.Strategy { return hwretry.NewEqualJitter() }

// A write DynamoDB applied whose answer was lost -- the connection reset, or
// a 500 after the commit -- is retried by the store's SDK; the retry's
// condition then fails on the change it made itself. Every write answers
// the first attempt's success, the key holds the change once, and the trail
// holds one record per change. The transactions are tried with their
// ClientRequestToken and without it (as DynamoDB treats a retry after the
// token's ten minutes).
func TestAppliedWriteWithLostAnswerSucceeds(t *testing.T) {
	fe := newFaultEnv(t)
	ctx := context.Background()
	c := awsClient(fe.url) // no client retries: the service alone must get it right
	hw := huaweiClient(t, fe.url)
	a := creds["dev-a"]
	ncp := func(method, path string) reply { return doAs(t, &a, method, fe.url+"/kms/v1/keys"+path, nil, "") }
	ncpBody := func(body string) reply {
		return doAs(t, &a, http.MethodPost, fe.url+"/kms/v1/keys", map[string]string{"Content-Type": "application/json"}, body)
	}
	type outcome struct {
		state keys.State      // the key's stored state after ("" gone)
		trail map[keys.Op]int // its audit records after
		check func(id string) // anything else
	}
	cases := []struct {
		name  string
		op    string     // the DynamoDB write that loses its answer
		from  keys.State // the key's state before ("" : no key)
		alias string
		call  func(k keys.Key) (id string, err error)
		want  outcome
	}{
		{"AWS CreateKey with tags", "TransactWriteItems", "", "", func(keys.Key) (string, error) {
			out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Tags: []kmstypes.Tag{{TagKey: aws.String("team"), TagValue: aws.String("a")}}})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.KeyMetadata.KeyId), nil
		}, outcome{state: keys.Enabled}},
		{"Huawei create-key with an alias", "TransactWriteItems", "", "", func(keys.Key) (string, error) {
			out, err := hw.CreateKey(&model.CreateKeyRequest{Body: &model.CreateKeyRequestBody{KeyAlias: "lost-" + fmt.Sprint(rand.Uint32())}})
			if err != nil {
				return "", err
			}
			return *out.KeyInfo.KeyId, nil
		}, outcome{state: keys.Enabled}},
		{"NCP create with a keyName", "TransactWriteItems", "", "", func(keys.Key) (string, error) {
			r := ncpBody(`{"keyName":"lost` + fmt.Sprint(rand.N(100000)) + `","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`)
			if r.status != 200 {
				return "", fmt.Errorf("%d %s", r.status, r.raw)
			}
			return idOfTag(t, r.str("data.keyTag")), nil
		}, outcome{state: keys.Enabled}},
		{"Huawei disable-key", "UpdateItem", keys.Enabled, "", func(k keys.Key) (string, error) {
			out, err := hw.DisableKey(&model.DisableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: k.ID}})
			if err == nil && (out.KeyInfo == nil || *out.KeyInfo.KeyState != "3") {
				err = fmt.Errorf("answer %+v", out)
			}
			return k.ID, err
		}, outcome{state: keys.Disabled}},
		{"Huawei enable-key", "UpdateItem", keys.Disabled, "", func(k keys.Key) (string, error) {
			_, err := hw.EnableKey(&model.EnableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: k.ID}})
			return k.ID, err
		}, outcome{state: keys.Enabled}},
		{"NCP disable", "UpdateItem", keys.Enabled, "", func(k keys.Key) (string, error) {
			r := ncp(http.MethodPost, "/"+validation.KeyTagFor(k.ID)+"/disable")
			if r.status != 200 || r.str("data.status") != "DISABLE" {
				return k.ID, fmt.Errorf("%d %s", r.status, r.raw)
			}
			return k.ID, nil
		}, outcome{state: keys.Disabled}},
		{"NCP enable", "UpdateItem", keys.Disabled, "", func(k keys.Key) (string, error) {
			r := ncp(http.MethodPost, "/"+validation.KeyTagFor(k.ID)+"/enable")
			if r.status != 200 || r.str("data.status") != "ENABLE" {
				return k.ID, fmt.Errorf("%d %s", r.status, r.raw)
			}
			return k.ID, nil
		}, outcome{state: keys.Enabled}},
		{"AWS DisableKey", "UpdateItem", keys.Enabled, "", func(k keys.Key) (string, error) {
			_, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(k.ID)})
			return k.ID, err
		}, outcome{state: keys.Disabled}},
		{"AWS TagResource", "UpdateItem", keys.Enabled, "", func(k keys.Key) (string, error) {
			_, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(k.ID), Tags: []kmstypes.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
			return k.ID, err
		}, outcome{state: keys.Enabled, check: func(id string) {
			if k, _ := fe.direct.Get(ctx, def.ID, id); k.Tags["a"] != "b" {
				t.Errorf("tags after TagResource: %v", k.Tags)
			}
		}}},
		{"AWS ScheduleKeyDeletion", "TransactWriteItems", keys.Enabled, "", func(k keys.Key) (string, error) {
			out, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k.ID), PendingWindowInDays: aws.Int32(7)})
			if err == nil && out.KeyState != kmstypes.KeyStatePendingDeletion {
				err = fmt.Errorf("answer %+v", out)
			}
			return k.ID, err
		}, outcome{state: keys.PendingDeletion, trail: map[keys.Op]int{keys.OpSchedule: 1}}},
		{"Huawei schedule-key-deletion", "TransactWriteItems", keys.Disabled, "", func(k keys.Key) (string, error) {
			_, err := hw.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: k.ID, PendingDays: "10"}})
			return k.ID, err
		}, outcome{state: keys.PendingDeletion, trail: map[keys.Op]int{keys.OpSchedule: 1}}},
		{"Huawei cancel-key-deletion", "TransactWriteItems", keys.PendingDeletion, "", func(k keys.Key) (string, error) {
			_, err := hw.CancelKeyDeletion(&model.CancelKeyDeletionRequest{Body: &model.OperateKeyRequestBody{KeyId: k.ID}})
			return k.ID, err
		}, outcome{state: keys.Disabled, trail: map[keys.Op]int{keys.OpSchedule: 1, keys.OpCancel: 1}}},
		{"NCP request-deletion", "TransactWriteItems", keys.Enabled, "", func(k keys.Key) (string, error) {
			r := ncp(http.MethodPost, "/"+validation.KeyTagFor(k.ID)+"/request-deletion")
			if r.status != 200 || r.str("data.status") != "REVOKE" {
				return k.ID, fmt.Errorf("%d %s", r.status, r.raw)
			}
			return k.ID, nil
		}, outcome{state: keys.PendingDeletion, trail: map[keys.Op]int{keys.OpSchedule: 1}}},
		{"NCP cancel-deletion", "TransactWriteItems", keys.PendingDeletion, "", func(k keys.Key) (string, error) {
			r := ncp(http.MethodPost, "/"+validation.KeyTagFor(k.ID)+"/cancel-deletion")
			if r.status != 200 || r.str("data.status") != "DISABLE" {
				return k.ID, fmt.Errorf("%d %s", r.status, r.raw)
			}
			return k.ID, nil
		}, outcome{state: keys.Disabled, trail: map[keys.Op]int{keys.OpSchedule: 1, keys.OpCancel: 1}}},
		{"NCP DELETE", "TransactWriteItems", keys.PendingDeletion, "gone", func(k keys.Key) (string, error) {
			r := ncp(http.MethodDelete, "/"+validation.KeyTagFor(k.ID))
			if r.status != 200 || r.str("code") != "SUCCESS" {
				return k.ID, fmt.Errorf("%d %s", r.status, r.raw)
			}
			return k.ID, nil
		}, outcome{state: "", trail: map[keys.Op]int{keys.OpSchedule: 1, keys.OpDeleteNow: 1, keys.OpFinalize: 1}}},
	}
	for _, fault := range []faultproxy.Fault{faultproxy.LostAnswer, faultproxy.ServerErrorAfter} {
		for _, strip := range []bool{false, true} {
			for _, tc := range cases {
				if strip && tc.op != "TransactWriteItems" {
					continue
				}
				name := tc.name + ", " + fault.String()
				if strip {
					name += ", no token"
				}
				t.Run(name, func(t *testing.T) {
					var k keys.Key
					alias := tc.alias
					if alias != "" {
						alias += fmt.Sprint(rand.N(1000000))
					}
					if tc.from != "" {
						k = fe.key(t, tc.from, alias)
					}
					before := fe.keyCount(t)
					fe.proxy.Clear()
					fe.proxy.StripTokens(strip)
					fe.proxy.Inject(tc.op, 1, fault)
					id, err := tc.call(k)
					fe.proxy.StripTokens(false)
					if fe.proxy.Faulted() != 1 {
						t.Fatalf("the fault was not met (requests %v): the case proves nothing", fe.proxy.Entries())
					}
					if err != nil {
						t.Fatalf("answered %v, want the first attempt's success", err)
					}
					if got := fe.state(t, id); got != tc.want.state {
						t.Errorf("stored state %q, want %q", got, tc.want.state)
					}
					if tc.from == "" {
						if after := fe.keyCount(t); after != before+1 {
							t.Errorf("%d keys after one create, %d before", after, before)
						}
					}
					want := tc.want.trail
					if want == nil {
						want = map[keys.Op]int{}
					}
					if got := fe.trail(t, id); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("trail %v, want %v", got, want)
					}
					if tc.alias != "" {
						// The immediate deletion released the name at once.
						if _, err := fe.svc.Create(ctx, fe.owner, keys.CreateRequest{Alias: alias}); err != nil {
							t.Errorf("the deleted key's name %q is still taken: %v", alias, err)
						}
					}
					if tc.want.check != nil {
						tc.want.check(id)
					}
				})
			}
		}
	}
	// The final deletion itself (the stream, the sweep, the clock API).
	for _, fault := range []faultproxy.Fault{faultproxy.LostAnswer, faultproxy.ServerErrorAfter} {
		t.Run("final deletion, "+fault.String(), func(t *testing.T) {
			k := fe.key(t, keys.PendingDeletion, "")
			stored, err := fe.direct.Get(ctx, def.ID, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			var logs lockedBuffer
			at := stored.DeleteAt.Add(time.Second)
			fin := expiry.New(fe.store, expiry.Config{Now: func() time.Time { return at },
				Log: slog.New(slog.NewJSONHandler(&logs, nil)), Reminders: []time.Duration{}})
			fe.proxy.Clear()
			fe.proxy.StripTokens(true)
			fe.proxy.Inject("TransactWriteItems", 1, fault)
			err = fin.Finalize(ctx, stored)
			fe.proxy.StripTokens(false)
			if fe.proxy.Faulted() != 1 {
				t.Fatalf("the fault was not met (requests %v)", fe.proxy.Entries())
			}
			if err != nil {
				t.Fatalf("finalize: %v", err)
			}
			if _, err := fe.direct.Tombstone(ctx, def.ID, k.ID); err != nil {
				t.Errorf("tombstone: %v", err)
			}
			if got := fe.trail(t, k.ID); got[keys.OpFinalize] != 1 {
				t.Errorf("trail %v, want one final deletion", got)
			}
			if n := countLines(logs.String(), `"msg":"key deleted"`); n != 1 || countLines(logs.String(), `"recovered":false`) != 1 {
				t.Errorf("%d reports of the deletion, want one not marked recovered:\n%s", n, logs.String())
			}
		})
	}
}

// countLines counts the lines of s that contain sub.
func countLines(s, sub string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// When DynamoDB throttles, fails or stalls past the SDK's attempts, each
// dialect answers with its service's retryable error -- never an internal
// error -- and a refusal changes nothing.
func TestStoreFaultsAnswerRetryable(t *testing.T) {
	fe := newFaultEnv(t)
	a := creds["dev-a"]
	type answer struct {
		status      int
		field, code string
	}
	busy := map[string]answer{
		"aws": {400, "__type", "ThrottlingException"}, "huawei": {429, "error_code", "APIG.0308"},
		"ncp": {429, "error.errorCode", "410"}, "trail": {429, "error.code", "Throttled"},
	}
	unavailable := map[string]answer{
		"aws": {500, "__type", "KMSInternalException"}, "huawei": {502, "error_code", "APIG.0201"},
		"ncp": {503, "error.errorCode", "500"}, "trail": {503, "error.code", "StoreUnavailable"},
	}
	timeout := map[string]answer{
		"aws": {500, "__type", "DependencyTimeoutException"}, "huawei": {504, "error_code", "APIG.0201"},
		"ncp": {503, "error.errorCode", "500"}, "trail": {504, "error.code", "StoreTimeout"},
	}
	for _, tc := range []struct {
		fault   faultproxy.Fault
		want    map[string]answer
		applied bool // a late write may still land (a timeout's outcome is unknown)
	}{
		{faultproxy.Throttled, busy, false},
		{faultproxy.RequestLimit, busy, false},
		{faultproxy.Throttling, busy, false},
		{faultproxy.ServerError, unavailable, false},
		{faultproxy.Unavailable, unavailable, false},
		{faultproxy.Slow(faultBudget + time.Second), timeout, true},
	} {
		t.Run(tc.fault.String(), func(t *testing.T) {
			k := fe.key(t, keys.Enabled, "")
			tag := validation.KeyTagFor(k.ID)
			calls := map[string]func() reply{
				"aws": func() reply { return awsCall(t, fe.url, "DisableKey", `{"KeyId":"`+k.ID+`"}`) },
				"huawei": func() reply {
					return huaweiCall(t, fe.url, "schedule-key-deletion", `{"key_id":"`+k.ID+`","pending_days":"7"}`)
				},
				"ncp":   func() reply { return doAs(t, &a, http.MethodGet, fe.url+"/kms/v1/keys/"+tag, nil, "") },
				"trail": func() reply { return doAs(t, &a, http.MethodGet, fe.url+"/audit/v1/records?keyId="+k.ID, nil, "") },
			}
			for name, call := range calls {
				fe.proxy.Clear()
				fe.proxy.Inject("", -1, tc.fault)
				r := call()
				if fe.proxy.Faulted() == 0 {
					t.Fatalf("%s: the fault was not met", name)
				}
				fe.proxy.Clear()
				w := tc.want[name]
				if r.status != w.status || r.str(w.field) != w.code {
					t.Errorf("%s: %d %s, want %d with %s=%s", name, r.status, r.raw, w.status, w.field, w.code)
				}
				if strings.Contains(strings.ToLower(r.raw), "dynamo") || strings.Contains(r.raw, "injected") {
					t.Errorf("%s: the answer names the store's error: %s", name, r.raw)
				}
			}
			if !tc.applied {
				if got := fe.state(t, k.ID); got != keys.Enabled {
					t.Errorf("a refused call changed the key: %s", got)
				}
				if got := fe.trail(t, k.ID); len(got) != 0 {
					t.Errorf("a refused call wrote the trail: %v", got)
				}
			}
		})
	}
}

// With their retries on, as applications run them, the official clients
// ride out a store that throttles or fails for a while: the call succeeds,
// once, with one record.
func TestClientsRideOutTransientStoreFaults(t *testing.T) {
	fe := newFaultEnv(t)
	ctx := context.Background()
	c := awsRetrying(fe.url)
	hw := huaweiClient(t, fe.url)
	// The store's SDK makes 3 attempts; 4 faulted requests outlast them,
	// so the client's own retry is what gets through.
	for _, fault := range []faultproxy.Fault{faultproxy.Throttled, faultproxy.ServerError, faultproxy.LostAnswer} {
		t.Run("AWS ScheduleKeyDeletion, "+fault.String(), func(t *testing.T) {
			k := fe.key(t, keys.Enabled, "")
			fe.proxy.Clear()
			fe.proxy.Inject("", 4, fault)
			if _, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k.ID), PendingWindowInDays: aws.Int32(7)}); err != nil {
				t.Fatalf("with the client's retries: %v (requests %v)", err, fe.proxy.Entries())
			}
			if fe.proxy.Faulted() != 4 {
				t.Fatalf("%d faults met, want 4", fe.proxy.Faulted())
			}
			if got := fe.trail(t, k.ID); got[keys.OpSchedule] != 1 || fe.state(t, k.ID) != keys.PendingDeletion {
				t.Errorf("trail %v, state %s", got, fe.state(t, k.ID))
			}
		})
		t.Run("Huawei disable-key, "+fault.String(), func(t *testing.T) {
			k := fe.key(t, keys.Enabled, "")
			fe.proxy.Clear()
			fe.proxy.Inject("", 4, fault)
			_, err := hw.DisableKeyInvoker(&model.DisableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: k.ID}}).
				WithRetry(3, huaweiRetry, hwBackoff()).Invoke()
			if err != nil {
				t.Fatalf("with the invoker's retries: %v (requests %v)", err, fe.proxy.Entries())
			}
			if got := fe.state(t, k.ID); got != keys.Disabled {
				t.Errorf("state %s", got)
			}
		})
	}
	t.Run("latency within the budget", func(t *testing.T) {
		k := fe.key(t, keys.Enabled, "")
		fe.proxy.Clear()
		fe.proxy.Inject("", -1, faultproxy.Slow(100*time.Millisecond))
		if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(k.ID)}); err != nil {
			t.Fatal(err)
		}
		fe.proxy.Clear()
	})
}

// A mixed load through all three dialects with 15% of DynamoDB's answers
// lost after the write applied: every call succeeds (the clients retry
// what they are told is retryable), and the trail holds exactly one record
// per deletion call that succeeded.
func TestMixedLoadWithLostAnswers(t *testing.T) {
	fe := newFaultEnv(t)
	ctx := context.Background()
	c := awsRetrying(fe.url)
	hw := huaweiClient(t, fe.url)
	a := creds["dev-a"]
	rng := rand.New(rand.NewPCG(15, 2026)) // fixed: the same run every time
	const rounds = 30
	lost := 0
	for i := range rounds {
		k := fe.key(t, keys.Enabled, "")
		tag := validation.KeyTagFor(k.ID)
		steps := []func() error{
			func() error { // disable, in a dialect drawn at random
				switch rng.IntN(3) {
				case 0:
					_, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(k.ID)})
					return err
				case 1:
					_, err := hw.DisableKeyInvoker(&model.DisableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: k.ID}}).
						WithRetry(3, huaweiRetry, hwBackoff()).Invoke()
					return err
				}
				return ncpOK(doAs(t, &a, http.MethodPost, fe.url+"/kms/v1/keys/"+tag+"/disable", nil, ""))
			},
			func() error {
				_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(k.ID), PendingWindowInDays: aws.Int32(7)})
				return err
			},
			func() error {
				return ncpOK(doAs(t, &a, http.MethodPost, fe.url+"/kms/v1/keys/"+tag+"/cancel-deletion", nil, ""))
			},
			func() error {
				_, err := hw.EnableKeyInvoker(&model.EnableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: k.ID}}).
					WithRetry(3, huaweiRetry, hwBackoff()).Invoke()
				return err
			},
			func() error {
				_, err := hw.DeleteKeyInvoker(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: k.ID, PendingDays: "7"}}).
					WithRetry(3, huaweiRetry, hwBackoff()).Invoke()
				return err
			},
		}
		for j, step := range steps {
			fe.proxy.Clear()
			if rng.Float64() < 0.15 {
				fe.proxy.Inject("", 1, faultproxy.LostAnswer)
			}
			err := step()
			lost += fe.proxy.Faulted()
			if err != nil {
				t.Fatalf("round %d, step %d: %v (requests %v)", i, j, err, fe.proxy.Entries())
			}
		}
		if got := fe.trail(t, k.ID); got[keys.OpSchedule] != 2 || got[keys.OpCancel] != 1 || len(got) != 2 {
			t.Errorf("round %d: trail %v, want 2 schedules and 1 cancel", i, got)
		}
		if got := fe.state(t, k.ID); got != keys.PendingDeletion {
			t.Errorf("round %d: state %s", i, got)
		}
	}
	if lost == 0 {
		t.Fatal("no answer was lost: the run proves nothing")
	}
	t.Logf("%d rounds, %d answers lost after their write applied", rounds, lost)
}

func ncpOK(r reply) error {
	if r.status != 200 {
		return fmt.Errorf("NCP %d %s", r.status, r.raw)
	}
	return nil
}
