package routes_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

func awsClient(url string) *kms.Client {
	return awsClientAs(url, creds["dev-a"].AWSKey, creds["dev-a"].AWSSecret, def.AWSRegion)
}

// awsClientAs is the official client with the given credentials, unchanged
// but for its endpoint.
func awsClientAs(url, key, secret, region string) *kms.Client {
	return kms.New(kms.Options{
		Region:           region,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
		RetryMaxAttempts: 1, // a 5xx would be retried and hide a bug
	})
}

// The official AWS SDK for Go v2 kms client, unchanged, through the whole
// lifecycle and its error cases.
func TestAWSSDKLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := awsClient(e.url)
		created, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("orders")})
		if err != nil {
			t.Fatal(err)
		}
		md := created.KeyMetadata
		id := aws.ToString(md.KeyId)
		arn := "arn:aws:kms:" + def.AWSRegion + ":" + def.AWSAccountID + ":key/" + id
		if aws.ToString(md.Arn) != arn || md.KeyState != types.KeyStateEnabled || !md.Enabled ||
			md.KeySpec != types.KeySpecSymmetricDefault || md.Origin != types.OriginTypeAwsKms ||
			aws.ToString(md.AWSAccountId) != def.AWSAccountID || md.CreationDate == nil {
			t.Fatalf("CreateKey metadata: %+v", md)
		}

		before := e.clock.Now()
		sched, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
		if err != nil {
			t.Fatal(err)
		}
		wantDel := before.Add(7 * 24 * time.Hour)
		if aws.ToString(sched.KeyId) != arn || sched.KeyState != types.KeyStatePendingDeletion ||
			aws.ToInt32(sched.PendingWindowInDays) != 7 || sched.DeletionDate.Before(wantDel) ||
			sched.DeletionDate.After(wantDel.Add(time.Second)) {
			t.Fatalf("ScheduleKeyDeletion: %+v (deletion %v, want ~%v)", sched, sched.DeletionDate, wantDel)
		}
		desc, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if desc.KeyMetadata.KeyState != types.KeyStatePendingDeletion || desc.KeyMetadata.Enabled ||
			!desc.KeyMetadata.DeletionDate.Equal(*sched.DeletionDate) || desc.KeyMetadata.PendingDeletionWindowInDays != nil {
			t.Fatalf("DescribeKey while pending: %+v", desc.KeyMetadata)
		}

		// A pending key cannot be enabled, disabled or scheduled again.
		for name, call := range map[string]func() error{
			"EnableKey":  func() error { _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(id)}); return err },
			"DisableKey": func() error { _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(id)}); return err },
			"ScheduleKeyDeletion": func() error {
				_, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id)})
				return err
			},
		} {
			var ise *types.KMSInvalidStateException
			if err := call(); !errors.As(err, &ise) || aws.ToString(ise.Message) != arn+" is pending deletion." {
				t.Fatalf("%s on a pending key: %v", name, err)
			}
		}

		cancel, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(id)})
		if err != nil || aws.ToString(cancel.KeyId) != arn {
			t.Fatalf("CancelKeyDeletion: %+v %v", cancel, err)
		}
		desc, _ = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if desc.KeyMetadata.KeyState != types.KeyStateDisabled || desc.KeyMetadata.DeletionDate != nil ||
			desc.KeyMetadata.PendingDeletionWindowInDays != nil {
			t.Fatalf("after cancel: %+v", desc.KeyMetadata)
		}
		var ise *types.KMSInvalidStateException
		if _, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(id)}); !errors.As(err, &ise) ||
			aws.ToString(ise.Message) != arn+" is not pending deletion." {
			t.Fatalf("cancel twice: %v", err)
		}
		if _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(arn)}); err != nil {
			t.Fatal(err)
		}
		desc, _ = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if desc.KeyMetadata.KeyState != types.KeyStateEnabled || !desc.KeyMetadata.Enabled {
			t.Fatalf("after enable: %+v", desc.KeyMetadata)
		}

		// Default window is 30 days; when it ends the key is gone.
		sched, err = c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id)})
		if err != nil || aws.ToInt32(sched.PendingWindowInDays) != 30 {
			t.Fatalf("default window: %+v %v", sched, err)
		}
		e.clock.Set(*sched.DeletionDate)
		var nf *types.NotFoundException
		if _, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)}); !errors.As(err, &nf) ||
			aws.ToString(nf.Message) != "Key '"+arn+"' does not exist" {
			t.Fatalf("after the window: %v", err)
		}
		if _, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(id)}); !errors.As(err, &nf) {
			t.Fatalf("cancel after the window: %v", err)
		}
	})
}

func TestAWSSDKErrors(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := awsClient(e.url)
		created, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(created.KeyMetadata.KeyId)
		unknown := "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
		otherAccount := "arn:aws:kms:us-east-1:999999999999:key/" + id
		cases := []struct {
			name    string
			call    func() error
			code    string
			message string
		}{
			// Inside the model's 1 to 365, KMS's own check in its words;
			// outside it, the model's validation in its words.
			{"window 6", func() error { return schedule(c, id, 6) }, "ValidationException", "PendingWindowInDays must be between 7 and 30"},
			{"window 31", func() error { return schedule(c, id, 31) }, "ValidationException", "PendingWindowInDays must be between 7 and 30"},
			{"window 1", func() error { return schedule(c, id, 1) }, "ValidationException", "PendingWindowInDays must be between 7 and 30"},
			{"window 0", func() error { return schedule(c, id, 0) }, "ValidationException",
				"1 validation error detected: Value '0' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1"},
			{"window 366", func() error { return schedule(c, id, 366) }, "ValidationException",
				"1 validation error detected: Value '366' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 365"},
			{"unknown key", func() error { return schedule(c, unknown, 7) }, "NotFoundException",
				"Key 'arn:aws:kms:us-east-1:111122223333:key/" + unknown + "' does not exist"},
			{"malformed key id", func() error { return schedule(c, "not-a-key", 7) }, "NotFoundException", "Invalid keyId 'not-a-key'"},
			{"malformed ARN", func() error { return schedule(c, "arn:aws:kms:us-east-1:1234:key/"+id, 7) }, "InvalidArnException", ""},
			{"another account's ARN", func() error { return schedule(c, otherAccount, 7) }, "NotFoundException",
				"Key '" + otherAccount + "' does not exist"},
			{"cancel an enabled key", func() error {
				_, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(id)})
				return err
			}, "KMSInvalidStateException", ""},
			{"unknown alias", func() error {
				_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/nope")})
				return err
			}, "NotFoundException", "Alias 'alias/nope' is not found."},
			{"list limit 0", func() error {
				_, err := c.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(0)})
				return err
			}, "ValidationException", ""},
			{"unsupported key spec", func() error {
				_, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256})
				return err
			}, "UnsupportedOperationException", ""},
		}
		for _, tc := range cases {
			err := tc.call()
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code || (tc.message != "" && ae.ErrorMessage() != tc.message) {
				t.Errorf("%s: got %v, want %s %q", tc.name, err, tc.code, tc.message)
			}
		}
		desc, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if err != nil || desc.KeyMetadata.KeyState != types.KeyStateEnabled {
			t.Fatalf("the refused calls changed the key: %+v %v", desc, err)
		}
	})
}

func schedule(c *kms.Client, id string, days int32) error {
	_, err := c.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(days)})
	return err
}

func TestAWSSDKListKeysPaginates(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := awsClient(e.url)
		want := map[string]bool{}
		for i := 0; i < 5; i++ {
			k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
			if err != nil {
				t.Fatal(err)
			}
			want[aws.ToString(k.KeyMetadata.KeyId)] = true
		}
		pages := 0
		got := map[string]bool{}
		p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, k := range out.Keys {
				got[aws.ToString(k.KeyId)] = true
			}
		}
		if pages != 3 || len(got) != 5 {
			t.Fatalf("%d pages, %d keys; want 3 and 5", pages, len(got))
		}
		for id := range want {
			if !got[id] {
				t.Fatalf("key %s not listed", id)
			}
		}
	})
}
