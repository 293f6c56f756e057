package routes_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/storetest"
	"github.com/keydeletion/service/shared/validation"
)

// What AWS answers, from its key-state table, botocore's model and
// responses LocalStack recorded against AWS, through the official SDK.
func TestAWSAnswersAsAWSDoes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := awsClient(e.url)
		create := func(in *kms.CreateKeyInput) *types.KeyMetadata {
			t.Helper()
			out, err := c.CreateKey(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			return out.KeyMetadata
		}
		code := func(err error) string {
			var ae smithy.APIError
			if errors.As(err, &ae) {
				return ae.ErrorCode() + ": " + ae.ErrorMessage()
			}
			return fmt.Sprint(err)
		}

		// Enabling an enabled key and disabling a disabled one succeed.
		sym := create(&kms.CreateKeyInput{})
		id := aws.ToString(sym.KeyId)
		if _, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: sym.KeyId}); err != nil {
			t.Errorf("EnableKey on an Enabled key: %v", err)
		}
		for range 2 {
			if _, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: sym.KeyId}); err != nil {
				t.Errorf("DisableKey on a key already disabled: %v", err)
			}
		}

		// KeyMetadata carries what AWS returns for each spec and usage.
		hexID := regexp.MustCompile(`^[a-f0-9]{64}$`)
		if !slices.Equal(sym.EncryptionAlgorithms, []types.EncryptionAlgorithmSpec{"SYMMETRIC_DEFAULT"}) ||
			sym.SigningAlgorithms != nil || sym.MultiRegion == nil || *sym.MultiRegion ||
			customerMasterKeySpec(sym) != "SYMMETRIC_DEFAULT" ||
			!hexID.MatchString(aws.ToString(sym.CurrentKeyMaterialId)) {
			t.Errorf("symmetric key metadata: %+v", sym)
		}
		for _, tc := range []struct {
			spec       types.KeySpec
			usage      types.KeyUsageType
			encryption []types.EncryptionAlgorithmSpec
			signing    []types.SigningAlgorithmSpec
		}{
			{types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt, []types.EncryptionAlgorithmSpec{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}, nil},
			{types.KeySpecRsa4096, types.KeyUsageTypeSignVerify, nil, []types.SigningAlgorithmSpec{"RSASSA_PKCS1_V1_5_SHA_256",
				"RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"}},
			{types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify, nil, []types.SigningAlgorithmSpec{"ECDSA_SHA_256"}},
			{types.KeySpecEccNistP384, types.KeyUsageTypeSignVerify, nil, []types.SigningAlgorithmSpec{"ECDSA_SHA_384"}},
		} {
			md := create(&kms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: tc.usage})
			if !slices.Equal(md.EncryptionAlgorithms, tc.encryption) || !slices.Equal(md.SigningAlgorithms, tc.signing) ||
				customerMasterKeySpec(md) != string(tc.spec) || md.CurrentKeyMaterialId != nil || md.KeyAgreementAlgorithms != nil {
				t.Errorf("%s %s: %+v", tc.spec, tc.usage, md)
			}
		}
		ext := create(&kms.CreateKeyInput{Origin: types.OriginTypeExternal})
		if ext.KeyState != types.KeyStatePendingImport || ext.Enabled || ext.CurrentKeyMaterialId != nil {
			t.Errorf("EXTERNAL key before import: %+v", ext)
		}

		// Refusals, worded as AWS words them where a recording exists.
		other := validation.KeyARN("eu-west-1", def.AWSAccountID, id)
		mrk := "mrk-1234abcd12ab34cd56ef1234567890ab"
		for _, tc := range []struct {
			name string
			err  error
			want string
		}{
			{"multi-Region create", func() error {
				_, err := c.CreateKey(ctx, &kms.CreateKeyInput{MultiRegion: aws.Bool(true)})
				return err
			}(), "UnsupportedOperationException: Multi-Region keys are not supported by this service; create a single-Region key (MultiRegion false)."},
			{"a well-formed mrk id", func() error {
				_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(mrk)})
				return err
			}(), "NotFoundException: Key '" + validation.KeyARN(def.AWSRegion, def.AWSAccountID, mrk) + "' does not exist"},
			{"a malformed mrk id", func() error {
				_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("mrk-fake-key-id")})
				return err
			}(), "NotFoundException: Invalid keyId 'mrk-fake-key-id'"},
			{"another region's ARN", func() error {
				_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(other)})
				return err
			}(), "NotFoundException: Invalid arn eu-west-1"},
			{"a marker never issued", func() error {
				_, err := c.ListKeys(ctx, &kms.ListKeysInput{Marker: aws.String("not-a-marker")})
				return err
			}(), "InvalidMarkerException: The request was rejected because the marker that specifies where pagination should next begin is not valid."},
			{"RSA without usage", func() error {
				_, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048})
				return err
			}(), "ValidationException: You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."},
		} {
			if got := code(tc.err); got != tc.want {
				t.Errorf("%s: %s\n  want %s", tc.name, got, tc.want)
			}
		}

		// Tags are kept: given at creation, added, overwritten, removed,
		// listed in pages; at most 50 a key, counted exactly.
		tagged := create(&kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("payments")}}})
		tid := tagged.KeyId
		listTags := func(limit int32) map[string]string {
			t.Helper()
			out := map[string]string{}
			p := kms.NewListResourceTagsPaginator(c, &kms.ListResourceTagsInput{KeyId: tid, Limit: aws.Int32(limit)})
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, tag := range page.Tags {
					out[aws.ToString(tag.TagKey)] = aws.ToString(tag.TagValue)
				}
			}
			return out
		}
		if got := listTags(50); len(got) != 1 || got["team"] != "payments" {
			t.Fatalf("tags given at creation: %v", got)
		}
		if _, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: tid, Tags: []types.Tag{
			{TagKey: aws.String("team"), TagValue: aws.String("ledger")}, {TagKey: aws.String("env"), TagValue: aws.String("")}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.UntagResource(ctx, &kms.UntagResourceInput{KeyId: tid, TagKeys: []string{"env", "never-there"}}); err != nil {
			t.Fatal(err)
		}
		if got := listTags(50); len(got) != 1 || got["team"] != "ledger" {
			t.Fatalf("after tag and untag: %v", got)
		}
		var many []types.Tag
		for i := range 49 {
			many = append(many, types.Tag{TagKey: aws.String("k" + strconv.Itoa(i)), TagValue: aws.String("v")})
		}
		if _, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: tid, Tags: many}); err != nil {
			t.Fatalf("up to 50 tags: %v", err)
		}
		if got := listTags(7); len(got) != 50 {
			t.Fatalf("50 tags listed 7 at a time: %d", len(got))
		}
		// At the limit, overwriting is allowed and adding is not.
		if _, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: tid, Tags: []types.Tag{{TagKey: aws.String("k3"), TagValue: aws.String("w")}}}); err != nil {
			t.Errorf("overwrite at 50 tags: %v", err)
		}
		var limit *types.LimitExceededException
		if _, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: tid, Tags: []types.Tag{{TagKey: aws.String("k3"), TagValue: aws.String("x")},
			{TagKey: aws.String("one-more"), TagValue: aws.String("v")}}}); !errors.As(err, &limit) {
			t.Errorf("a 51st tag: %v, want LimitExceededException", err)
		}
		if got := listTags(50); len(got) != 50 || got["k3"] != "w" {
			t.Errorf("the refused tagging changed the tags: %d, k3=%q", len(got), got["k3"])
		}
		// A key pending deletion keeps its tags, which can be read but not changed.
		if err := schedule(c, aws.ToString(tid), 7); err != nil {
			t.Fatal(err)
		}
		var ise *types.KMSInvalidStateException
		if _, err := c.TagResource(ctx, &kms.TagResourceInput{KeyId: tid, Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}}); !errors.As(err, &ise) {
			t.Errorf("tag a key pending deletion: %v", err)
		}
		if _, err := c.UntagResource(ctx, &kms.UntagResourceInput{KeyId: tid, TagKeys: []string{"team"}}); !errors.As(err, &ise) {
			t.Errorf("untag a key pending deletion: %v", err)
		}
		if got := listTags(50); len(got) != 50 {
			t.Errorf("tags of a key pending deletion: %d", len(got))
		}
	})
}

// customerMasterKeySpec reads the deprecated field AWS still returns, and
// clients written before KeySpec still read.
func customerMasterKeySpec(md *types.KeyMetadata) string {
	//lint:ignore SA1019 the field is what is tested
	return string(md.CustomerMasterKeySpec)
}

// Huawei's list-keys and create-key, as its API reference and the SDK's
// model say, through the official SDK.
func TestHuaweiAnswersAsHuaweiDoes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		c := huaweiClient(t, e.url)
		var aesIDs []string
		for i := range 5 {
			out, err := c.CreateKey(&model.CreateKeyRequest{Body: &model.CreateKeyRequestBody{KeyAlias: "aes-" + strconv.Itoa(i)}})
			if err != nil {
				t.Fatal(err)
			}
			aesIDs = append(aesIDs, *out.KeyInfo.KeyId)
		}
		rsaSpec := model.GetCreateKeyRequestBodyKeySpecEnum().RSA_2048
		rsa, err := c.CreateKey(&model.CreateKeyRequest{Body: &model.CreateKeyRequestBody{KeyAlias: "rsa", KeySpec: &rsaSpec}})
		if err != nil {
			t.Fatal(err)
		}
		// An asymmetric key without key_usage signs (the SDK's model).
		d, err := c.ListKeyDetail(&model.ListKeyDetailRequest{Body: &model.OperateKeyRequestBody{KeyId: *rsa.KeyInfo.KeyId}})
		if err != nil || d.KeyInfo.KeyUsage.Value() != "SIGN_VERIFY" {
			t.Fatalf("RSA key without key_usage: %+v %v", d, err)
		}

		list := func(body *model.ListKeysRequestBody) *model.ListKeysResponse {
			t.Helper()
			out, err := c.ListKeys(&model.ListKeysRequest{Body: body})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		// Without key_spec: AES_256 keys only; "ALL": every key.
		if out := list(&model.ListKeysRequestBody{}); *out.Total != 5 || slices.Contains(*out.Keys, *rsa.KeyInfo.KeyId) {
			t.Errorf("default key_spec: total %d keys %v", *out.Total, *out.Keys)
		}
		all := model.GetListKeysRequestBodyKeySpecEnum().ALL
		if out := list(&model.ListKeysRequestBody{KeySpec: &all}); *out.Total != 6 {
			t.Errorf(`key_spec "ALL": total %d`, *out.Total)
		}
		// Numeric offsets: marker "0", next_marker where the next page starts.
		var seen []string
		marker := "0"
		for pages := 0; ; pages++ {
			out := list(&model.ListKeysRequestBody{Limit: str("2"), Marker: &marker})
			seen = append(seen, *out.Keys...)
			if out.Truncated.Value() == "false" {
				if pages != 2 || *out.NextMarker != "" {
					t.Errorf("last page %d, next_marker %q", pages, *out.NextMarker)
				}
				break
			}
			if *out.NextMarker != strconv.Itoa(len(seen)) {
				t.Fatalf("next_marker %q after %d keys", *out.NextMarker, len(seen))
			}
			marker = *out.NextMarker
		}
		slices.Sort(aesIDs)
		if !slices.Equal(seen, aesIDs) {
			t.Errorf("paged %v, want %v", seen, aesIDs)
		}
	})
}

// NCP's create-key, get-key, list-keys and DELETE, as its Key API 2.0 pages
// say: an integer keyId, the documented defaults and fields.
func TestNCPAnswersAsNCPDoes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		created := do(t, http.MethodPost, e.url+"/kms/v1/keys", jsonCT,
			`{"keyName":"rotating","keyType":"AES256","isAutoRotation":true,"protectionType":"BASIC","isConvergent":true}`)
		if created.status != 200 {
			t.Fatalf("create: %s", created.raw)
		}
		tag := created.str("data.keyTag")
		got := ncpCall(t, e.url, http.MethodGet, "/"+tag)
		registered := int64(got.path("data.registerDate").(float64))
		for field, want := range map[string]any{
			"data.keyId": created.path("data.keyId"), "data.rotationPeriod": 90.0, "data.isConvergent": true,
			"data.isAutoRotation": true, "data.keystoreId": created.path("data.keystoreId"), "data.currentVersion": 1.0,
			"data.nextRotationDate": float64(registered + (90 * 24 * time.Hour).Milliseconds()), "data.memo": "",
		} {
			if got.path(field) != want {
				t.Errorf("get-key %s = %v, want %v (%s)", field, got.path(field), want, got.raw)
			}
		}
		if _, ok := created.path("data.keyId").(float64); !ok {
			t.Errorf("keyId is not a number: %s", created.raw)
		}
		plain := do(t, http.MethodPost, e.url+"/kms/v1/keys", jsonCT,
			`{"keyName":"plain","keyType":"ECDSA","isAutoRotation":false,"protectionType":"BASIC","memo":"`+string(make([]byte, 0))+`"}`)
		if plain.path("data.rotationPeriod") != nil || plain.path("data.nextRotationDate") != nil || plain.path("data.isConvergent") != false {
			t.Errorf("a key without auto-rotation: %s", plain.raw)
		}
		if plain.path("data.keyId") == created.path("data.keyId") {
			t.Errorf("two keys with keyId %v", plain.path("data.keyId"))
		}

		// list-keys: 100 keys a page unless told otherwise.
		for i := range 101 {
			if r := do(t, http.MethodPost, e.url+"/kms/v1/keys", jsonCT,
				fmt.Sprintf(`{"keyName":"bulk%d","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`, i)); r.status != 200 {
				t.Fatal(r.raw)
			}
		}
		if r := ncpCall(t, e.url, http.MethodGet, ""); len(r.path("data.keyList").([]any)) != 100 || r.path("data.totalPageNo") != 2.0 {
			t.Errorf("default page: %d keys, %v pages", len(r.path("data.keyList").([]any)), r.path("data.totalPageNo"))
		}

		// DELETE ends a REVOKE key's window at once; the key is gone in every dialect.
		if r := ncpCall(t, e.url, http.MethodPost, "/"+tag+"/request-deletion"); r.status != 200 {
			t.Fatal(r.raw)
		}
		del := ncpCall(t, e.url, http.MethodDelete, "/"+tag)
		if del.status != 200 || del.str("code") != "SUCCESS" || del.raw != `{"code":"SUCCESS","data":null}` {
			t.Fatalf("DELETE: %d %s", del.status, del.raw)
		}
		id := idOfTag(t, tag)
		if r := ncpCall(t, e.url, http.MethodGet, "/"+tag); r.status != 404 {
			t.Errorf("NCP get after DELETE: %d %s", r.status, r.raw)
		}
		if r := awsCall(t, e.url, "DescribeKey", `{"KeyId":"`+id+`"}`); r.str("__type") != "NotFoundException" {
			t.Errorf("AWS after DELETE: %s", r.raw)
		}
		if r := huaweiCall(t, e.url, "cancel-key-deletion", `{"key_id":"`+id+`"}`); r.status != 404 {
			t.Errorf("Huawei cancel after DELETE: %s", r.raw)
		}
		if r := ncpCall(t, e.url, http.MethodDelete, "/"+tag); r.status != 404 {
			t.Errorf("DELETE twice: %d %s", r.status, r.raw)
		}
		// The immediate deletion is the final deletion: the key item is
		// gone, the tombstone keeps its schedule.
		if k, err := e.store.Get(context.Background(), def.ID, id); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("stored after DELETE: %+v %v", k, err)
		}
		if tomb, err := e.store.(storetest.Store).Tombstone(context.Background(), def.ID, id); err != nil || tomb.PendingDays != 3 ||
			tomb.DeleteAt.After(e.clock.Now()) || !tomb.Immediate() {
			t.Errorf("tombstone after DELETE: %+v %v", tomb, err)
		}
	})
}
