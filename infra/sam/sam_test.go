//go:build sam

// Package sam_test drives the deployed path as SAM runs it -- sam local
// start-api, every function in its own container -- with the official
// clients, in all three dialects. make sam-test runs it inside
// infra/sam/sandbox.sh, which sets SAM_API_URL and CREDENTIALS_FILE.
package sam_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/keydeletion/service/infra/devclient"
)

func setup(t *testing.T) (string, devclient.Creds) {
	t.Helper()
	url := os.Getenv("SAM_API_URL")
	if url == "" {
		t.Fatal("SAM_API_URL is not set: run make sam-test (infra/sam/sandbox.sh)")
	}
	all, err := devclient.Load(os.Getenv("CREDENTIALS_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	return url, all["dev-a"]
}

// The AWS SDK through start-api: the lifecycle, and its refusals in AWS's words.
func TestAWSThroughStartAPI(t *testing.T) {
	url, a := setup(t)
	ctx := context.Background()
	c := devclient.AWSKMS(url, a)
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("through sam")})
	if err != nil {
		t.Fatal(err)
	}
	id := out.KeyMetadata.KeyId
	sched, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: aws.Int32(7)})
	if err != nil || sched.KeyState != kmstypes.KeyStatePendingDeletion {
		t.Fatalf("schedule: %+v %v", sched, err)
	}
	if d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: id}); err != nil || d.KeyMetadata.KeyState != kmstypes.KeyStatePendingDeletion {
		t.Fatalf("describe: %+v %v", d, err)
	}
	if _, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	for want, call := range map[string]func() error{
		"ValidationException": func() error {
			_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: id, PendingWindowInDays: aws.Int32(6)})
			return err
		},
		"NotFoundException": func() error {
			_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("7e57b0b0-0000-4000-8000-000000000000")}) // no such key
			return err
		},
	} {
		var apiErr smithy.APIError
		if err := call(); !errors.As(err, &apiErr) || apiErr.ErrorCode() != want {
			t.Errorf("want %s: %v", want, err)
		}
	}
}

// The Huawei SDK through start-api: create, schedule (its DeleteKey), cancel.
func TestHuaweiThroughStartAPI(t *testing.T) {
	url, a := setup(t)
	c, err := devclient.HuaweiKMS(url, a)
	if err != nil {
		t.Fatal(err)
	}
	alias := "sam-" + time.Now().Format("150405.000000")
	alias = strings.ReplaceAll(alias, ".", "-")
	created, err := c.CreateKey(&model.CreateKeyRequest{Body: &model.CreateKeyRequestBody{KeyAlias: alias}})
	if err != nil {
		t.Fatal(err)
	}
	id := *created.KeyInfo.KeyId
	if _, err := c.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: id, PendingDays: "7"}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: id, PendingDays: "7"}})
	var sre *sdkerr.ServiceResponseError
	if !errors.As(err, &sre) || sre.ErrorCode != "KMS.1402" {
		t.Errorf("schedule again: %v, want KMS.1402", err)
	}
	if out, err := c.CancelKeyDeletion(&model.CancelKeyDeletionRequest{Body: &model.OperateKeyRequestBody{KeyId: id}}); err != nil || *out.KeyState != "3" {
		t.Fatalf("cancel: %+v %v", out, err)
	}
}

// NCP's signature v2 through start-api: create, request deletion, delete now.
func TestNCPThroughStartAPI(t *testing.T) {
	url, a := setup(t)
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		devclient.SignNCP(req, a, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	name := "s" + time.Now().Format("150405000")
	code, created := call("POST", "/kms/v1/keys", `{"keyName":"`+name+`","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`)
	if code != 200 {
		t.Fatalf("create: %d %v", code, created)
	}
	tag := created["data"].(map[string]any)["keyTag"].(string)
	if code, m := call("POST", "/kms/v1/keys/"+tag+"/request-deletion", ""); code != 200 {
		t.Fatalf("request-deletion: %d %v", code, m)
	}
	if code, m := call("DELETE", "/kms/v1/keys/"+tag, ""); code != 200 {
		t.Fatalf("DELETE: %d %v", code, m)
	}
	if code, m := call("GET", "/kms/v1/keys/"+tag, ""); code != 404 {
		t.Fatalf("get after DELETE: %d %v", code, m)
	}
	// The name is free at once: the immediate deletion is the final one.
	if code, m := call("POST", "/kms/v1/keys", `{"keyName":"`+name+`","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`); code != 200 {
		t.Fatalf("the name again: %d %v", code, m)
	}
}
