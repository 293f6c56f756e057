package routes_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	hwkms "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"
)

func huaweiClient(t *testing.T, url string) *hwkms.KmsClient {
	t.Helper()
	return huaweiClientAs(t, url, creds["dev-a"].HuaweiAK, creds["dev-a"].HuaweiSK, projectID)
}

// huaweiClientAs is the official client with the given AK/SK and project,
// unchanged but for its endpoint.
func huaweiClientAs(t *testing.T, url, ak, sk, project string) *hwkms.KmsClient {
	t.Helper()
	auth, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId(project).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := hwkms.KmsClientBuilder().WithEndpoint(url).WithCredential(auth).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return hwkms.NewKmsClient(hc)
}

func str(s string) *string { return &s }

// hwError returns the Huawei SDK's view of a failed call: status and error_code.
func hwError(err error) (int, string) {
	var sre *sdkerr.ServiceResponseError
	if errors.As(err, &sre) {
		return sre.StatusCode, sre.ErrorCode
	}
	return 0, ""
}

// The official Huawei Cloud Go SDK kms/v2 client, unchanged, through the
// whole lifecycle and its error cases.
func TestHuaweiSDKLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		c := huaweiClient(t, e.url)
		created, err := c.CreateKey(&model.CreateKeyRequest{Body: &model.CreateKeyRequestBody{KeyAlias: "hw-orders",
			KeyDescription: str("orders")}})
		if err != nil {
			t.Fatal(err)
		}
		id := *created.KeyInfo.KeyId
		if *created.KeyInfo.DomainId != def.HuaweiDomainID {
			t.Fatalf("create: %+v", created.KeyInfo)
		}
		describe := func() *model.KeyDetails {
			t.Helper()
			d, err := c.ListKeyDetail(&model.ListKeyDetailRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
			if err != nil {
				t.Fatal(err)
			}
			return d.KeyInfo
		}
		d := describe()
		if *d.KeyState != "2" || *d.KeyAlias != "hw-orders" || *d.ScheduledDeletionDate != "" || d.KeySpec.Value() != "AES_256" ||
			*d.KeyDescription != "orders" || d.Origin.Value() != "kms" {
			t.Fatalf("describe: %+v", d)
		}

		before := e.clock.Now()
		del, err := c.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: id, PendingDays: "7",
			Sequence: str("919c82d4-8046-4722-9094-35c3c6524cff")}})
		if err != nil {
			t.Fatal(err)
		}
		if *del.KeyId != id || *del.KeyState != "4" {
			t.Fatalf("schedule: %+v", del)
		}
		d = describe()
		ms, _ := strconv.ParseInt(*d.ScheduledDeletionDate, 10, 64)
		want := before.Add(7 * 24 * time.Hour)
		if got := time.UnixMilli(ms); *d.KeyState != "4" || got.Before(want) || got.After(want.Add(time.Second)) {
			t.Fatalf("describe while pending: state %s date %v, want ~%v", *d.KeyState, got, want)
		}
		if _, err := c.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: id, PendingDays: "7"}}); !is(err, 400, "KMS.1402") {
			t.Fatalf("schedule twice: %v", err)
		}
		if _, err := c.EnableKey(&model.EnableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: id}}); !is(err, 400, "KMS.0210") {
			t.Fatalf("enable a pending key: %v", err)
		}

		cancel, err := c.CancelKeyDeletion(&model.CancelKeyDeletionRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
		if err != nil || *cancel.KeyState != "3" {
			t.Fatalf("cancel: %+v %v", cancel, err)
		}
		if d := describe(); *d.KeyState != "3" || *d.ScheduledDeletionDate != "" {
			t.Fatalf("after cancel: %+v", d)
		}
		if _, err := c.CancelKeyDeletion(&model.CancelKeyDeletionRequest{Body: &model.OperateKeyRequestBody{KeyId: id}}); !is(err, 400, "KMS.1501") {
			t.Fatalf("cancel twice: %v", err)
		}
		en, err := c.EnableKey(&model.EnableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
		if err != nil || *en.KeyInfo.KeyState != "2" {
			t.Fatalf("enable: %+v %v", en, err)
		}
		dis, err := c.DisableKey(&model.DisableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
		if err != nil || *dis.KeyInfo.KeyState != "3" {
			t.Fatalf("disable: %+v %v", dis, err)
		}

		list, err := c.ListKeys(&model.ListKeysRequest{Body: &model.ListKeysRequestBody{Limit: str("10")}})
		if err != nil || len(*list.Keys) != 1 || (*list.Keys)[0] != id || *list.Total != 1 || list.Truncated.Value() != "false" {
			t.Fatalf("list: %+v %v", list, err)
		}

		// The window ends: the key is gone for every caller.
		if _, err := c.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: id, PendingDays: "1096"}}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(1096*24*time.Hour + time.Second) // deletion times round up to the second
		_, err = c.ListKeyDetail(&model.ListKeyDetailRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
		if !is(err, 404, "KMS.0207") {
			t.Fatalf("after the window: %v", err)
		}
	})
}

func is(err error, status int, code string) bool {
	s, c := hwError(err)
	return s == status && c == code
}

func TestHuaweiSDKErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		c := huaweiClient(t, e.url)
		created, err := c.CreateKey(&model.CreateKeyRequest{Body: &model.CreateKeyRequestBody{KeyAlias: "hw-errors"}})
		if err != nil {
			t.Fatal(err)
		}
		id := *created.KeyInfo.KeyId
		sched := func(keyID, days string) error {
			_, err := c.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: keyID, PendingDays: days}})
			return err
		}
		cases := []struct {
			name   string
			err    error
			status int
			code   string
		}{
			{"pending_days 6", sched(id, "6"), 400, "KMS.1401"},
			{"pending_days 1097", sched(id, "1097"), 400, "KMS.1401"},
			{"pending_days abc", sched(id, "abc"), 400, "KMS.1401"},
			{"pending_days empty", sched(id, ""), 400, "KMS.0204"},
			{"malformed key_id", sched("0D0466B0-E727-4D9C-B35D-F84BB474A37F", "7"), 400, "KMS.0205"},
			{"unknown key", sched("0d0466b0-e727-4d9c-b35d-f84bb474a37f", "7"), 404, "KMS.0207"},
			{"duplicate alias", func() error {
				_, err := c.CreateKey(&model.CreateKeyRequest{Body: &model.CreateKeyRequestBody{KeyAlias: "hw-errors"}})
				return err
			}(), 400, "KMS.1104"},
			{"bad sequence", func() error {
				_, err := c.CancelKeyDeletion(&model.CancelKeyDeletionRequest{Body: &model.OperateKeyRequestBody{KeyId: id, Sequence: str("short")}})
				return err
			}(), 400, "KMS.0206"},
			{"cancel an enabled key", func() error {
				_, err := c.CancelKeyDeletion(&model.CancelKeyDeletionRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
				return err
			}(), 400, "KMS.1501"},
			{"disable twice", func() error {
				c.DisableKey(&model.DisableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
				_, err := c.DisableKey(&model.DisableKeyRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
				return err
			}(), 400, "KMS.1301"},
		}
		for _, tc := range cases {
			if s, code := hwError(tc.err); s != tc.status || code != tc.code {
				t.Errorf("%s: got %d %s (%v), want %d %s", tc.name, s, code, tc.err, tc.status, tc.code)
			}
		}
		d, err := c.ListKeyDetail(&model.ListKeyDetailRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
		if err != nil || *d.KeyInfo.KeyState != "3" || *d.KeyInfo.ScheduledDeletionDate != "" {
			t.Fatalf("refused calls changed the key: %+v %v", d, err)
		}
	})
}
