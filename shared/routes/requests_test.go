package routes_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/lambdaharness"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/validation"
)

// Every mutating call is one DynamoDB write, governance included: the
// audit record rides in the change's transaction, protection in its
// condition, and the rules that need no key are decided before any
// request (NCP's DELETE alone reads the key first: its tombstone is made of
// it). Counted at a proxy in front of DynamoDB Local.
func TestOneRequestPerMutation(t *testing.T) {
	rec, err := lambdaharness.NewRecorder(dynamodblocal.Endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	_, table := dynamodblocal.NewTable(t)
	st := dynamostore.New(dynamodblocal.Client(rec.URL), table)
	srv := httptest.NewServer(routes.Handler(keys.NewService(st, time.Now), directory, slog.New(slog.NewJSONHandler(io.Discard, nil))))
	defer srv.Close()
	ctx := context.Background()
	c := awsClientAs(srv.URL, governed.AWSKey, governed.AWSSecret, governed.AWSRegion)
	hw := huaweiClientAs(t, srv.URL, governed.HuaweiAK, governed.HuaweiSK, governedPj)
	var id, protectedID string
	nc := governed
	ncp := func(method, path string) func() error {
		return func() error {
			if r := doAs(t, &nc, method, srv.URL+"/kms/v1/keys/"+validation.KeyTagFor(id)+path, nil, ""); r.status != 200 && r.status != 401 {
				t.Errorf("NCP %s %s: %d %s", method, path, r.status, r.raw)
			}
			return nil
		}
	}
	calls := []struct {
		name string
		call func() error
		want []string
	}{
		{"AWS CreateKey", func() error {
			out, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
			if err == nil {
				id = aws.ToString(out.KeyMetadata.KeyId)
			}
			return err
		}, []string{"TransactWriteItems"}},
		{"AWS CreateKey, tagged protected", func() error {
			out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("deletion-protection"), TagValue: aws.String("on")}}})
			if err == nil {
				protectedID = aws.ToString(out.KeyMetadata.KeyId)
			}
			return err
		}, []string{"TransactWriteItems"}},
		{"AWS DisableKey", func() error { _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &id}); return err }, []string{"UpdateItem"}},
		{"AWS EnableKey", func() error { _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: &id}); return err }, []string{"UpdateItem"}},
		{"AWS TagResource", func() error {
			_, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: &id, Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("a")}}})
			return err
		}, []string{"UpdateItem"}},
		{"AWS ScheduleKeyDeletion, 7 days under the 14-day minimum (refused)", func() error {
			_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
			return expect(err, "AccessDeniedException")
		}, nil},
		{"AWS ScheduleKeyDeletion of a protected key (refused)", func() error {
			_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &protectedID, PendingWindowInDays: aws.Int32(14)})
			return expect(err, "AccessDeniedException")
		}, []string{"TransactWriteItems"}},
		{"AWS ScheduleKeyDeletion", func() error {
			_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(14)})
			return err
		}, []string{"TransactWriteItems"}},
		{"AWS CancelKeyDeletion", func() error { _, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: &id}); return err }, []string{"TransactWriteItems"}},
		{"Huawei schedule-key-deletion", func() error {
			_, err := hw.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: id, PendingDays: "20"}})
			return err
		}, []string{"TransactWriteItems"}},
		{"Huawei cancel-key-deletion", func() error {
			_, err := hw.CancelKeyDeletion(&model.CancelKeyDeletionRequest{Body: &model.OperateKeyRequestBody{KeyId: id}})
			return err
		}, []string{"TransactWriteItems"}},
		{"NCP request-deletion, 72 hours (refused)", ncp(http.MethodPost, "/request-deletion"), nil},
		{"AWS ScheduleKeyDeletion again", func() error {
			_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(30)})
			return err
		}, []string{"TransactWriteItems"}},
		// The tombstone is made of the key as read: one read, then one write.
		{"NCP DELETE (the final deletion, now)", ncp(http.MethodDelete, ""), []string{"GetItem", "TransactWriteItems"}},
	}
	for _, c := range calls {
		rec.Reset()
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := rec.Requests()
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: DynamoDB requests %v, want %v", c.name, got, c.want)
		}
		t.Logf("%-70s %d request(s) %s", c.name, len(got), strings.Join(got, " "))
	}
}

// expect turns the refusal a call must meet into success.
func expect(err error, code string) error {
	if got, _ := awsErr(err); got != code {
		return err
	}
	return nil
}
