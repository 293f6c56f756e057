package routes_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"

	"github.com/keydeletion/service/shared/keys"
)

// A bulk cancel undoes a stolen credential's burst: the dry run lists what
// one access key scheduled and changes nothing; the call cancels those, each
// an ordinary audited cancel naming the caller and the bulk call, and leaves
// the deletions others scheduled; a repeat finds nothing more; bad filters
// get a 400.
func TestBulkCancel(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		a := creds["dev-a"]
		attacker := awsClient(e.url)
		hw := huaweiClient(t, e.url)
		var burst, others []string
		for i, id := range createKeys(t, attacker, 7) {
			var err error
			if i < 5 {
				_, err = attacker.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &id, PendingWindowInDays: aws.Int32(7)})
				burst = append(burst, id)
			} else {
				_, err = hw.DeleteKey(&model.DeleteKeyRequest{Body: &model.ScheduleKeyDeletionRequestBody{KeyId: id, PendingDays: "7"}})
				others = append(others, id)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		filter := `{"filter":{"scheduledBy":"` + a.AWSKey + `"}`
		status, m := governanceCall(t, e.url, a, "/governance/v1/bulk-cancel-deletion", filter+`,"dryRun":true}`)
		matched, _ := m["matched"].([]any)
		if status != 200 || len(matched) != len(burst) || len(m["cancelled"].([]any)) != 0 || m["nextToken"] != nil {
			t.Fatalf("dry run: %d %v", status, m)
		}
		for _, id := range append(burst, others...) {
			if k, _ := e.store.Get(ctx, "dev-a", id); k.State != keys.PendingDeletion {
				t.Fatalf("the dry run changed %s: %s", id, k.State)
			}
		}
		status, m = governanceCall(t, e.url, a, "/governance/v1/bulk-cancel-deletion", filter+`}`)
		if cancelled, _ := m["cancelled"].([]any); status != 200 || len(cancelled) != len(burst) {
			t.Fatalf("bulk cancel: %d %v", status, m)
		}
		var requestID string
		for _, id := range burst {
			if k, _ := e.store.Get(ctx, "dev-a", id); k.State != keys.Disabled {
				t.Errorf("%s after the bulk cancel: %s", id, k.State)
			}
			page, err := e.store.Records(ctx, "dev-a", keys.TrailQuery{KeyID: id, Limit: 10}, e.clock.Now())
			if err != nil || len(page.Records) != 2 || page.Records[1].Op != keys.OpCancel {
				t.Fatalf("%s's trail: %+v %v", id, page.Records, err)
			}
			by := page.Records[1].By
			if by.Dialect != "governance" || by.AccessKey != a.AWSKey || by.RequestID == "" ||
				requestID != "" && by.RequestID != requestID {
				t.Errorf("%s's cancel was recorded as by %+v, want the bulk call's", id, by)
			}
			requestID = by.RequestID
		}
		for _, id := range others {
			if k, _ := e.store.Get(ctx, "dev-a", id); k.State != keys.PendingDeletion {
				t.Errorf("a deletion another key scheduled was cancelled: %s %s", id, k.State)
			}
		}
		if status, m := governanceCall(t, e.url, a, "/governance/v1/bulk-cancel-deletion", filter+`}`); status != 200 ||
			len(m["matched"].([]any)) != 0 {
			t.Fatalf("a repeat: %d %v, want nothing left", status, m)
		}
		for _, bad := range []string{
			`{"filter":{"scheduledBy":"x","force":true}}`, `{"filter":{"scheduledFrom":"yesterday"}}`,
			`{"filter":{"tag":{"value":"v"}}}`, `{"filter":{"held":"everything"}}`, `{"dryRun":"yes"}`,
			`{"nextToken":"!!"}`, `{"purge":true}`, `[]`,
		} {
			if status, m := governanceCall(t, e.url, a, "/governance/v1/bulk-cancel-deletion", bad); status != 400 {
				t.Errorf("%s: %d %v, want 400", bad, status, m)
			}
		}
	})
}
