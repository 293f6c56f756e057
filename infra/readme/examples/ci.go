package examples

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	hwkms "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2"
	hwmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"
)

// The clients of a CI suite, made as in AWSClient and HuaweiClient.
var (
	client *kms.Client
	huawei *hwkms.KmsClient
)

// TestKeyIsGoneAfterItsWindow is a CI test of an application's own suite,
// against the local server: not run here (no server listens), compiled.
func TestKeyIsGoneAfterItsWindow(t *testing.T) {
	ctx := context.Background()
	out, err := client.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	id := *out.KeyMetadata.KeyId
	if _, err := client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{
		KeyId: &id, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	advance(t, "7d")

	var notFound *kmstypes.NotFoundException
	if _, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id}); !errors.As(err, &notFound) {
		t.Fatalf("AWS: %v, want NotFoundException", err)
	}
	_, err = huawei.ListKeyDetail(&hwmodel.ListKeyDetailRequest{Body: &hwmodel.OperateKeyRequestBody{KeyId: id}})
	var hwErr *sdkerr.ServiceResponseError
	if !errors.As(err, &hwErr) || hwErr.StatusCode != 404 {
		t.Fatalf("Huawei: %v, want 404", err)
	}
}

// advance moves dev-a's clock, signing the call with the AWS SDK's own signer.
func advance(t *testing.T, by string) {
	body := []byte(`{"advance":"` + by + `"}`)
	req, _ := http.NewRequest("POST", "http://127.0.0.1:8080/_local/v1/clock", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: "AKIADEVA0000000000AA", SecretAccessKey: "dev-a-aws-secret-do-not-use-in-production"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("advance %s: %v %v", by, resp, err)
	}
	resp.Body.Close()
}
