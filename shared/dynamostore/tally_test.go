package dynamostore_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/keys"
)

// A table written before the tally was kept (its count items removed, and a
// stale one left) is recounted from its keys: every owner's numbered pages
// are exact again, and the stale count is gone.
func TestRecount(t *testing.T) {
	db, table := dynamodblocal.NewTable(t)
	st := dynamostore.New(db, table)
	ctx := context.Background()
	svc := keys.NewService(st, time.Now)
	owners := map[string]int{"a": 30, "b": 7}
	for owner, n := range owners {
		for range n {
			if _, err := svc.Create(ctx, keys.Principal{Tenant: owner}, keys.CreateRequest{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, item := range out.Items {
		sk := item["sk"].(*types.AttributeValueMemberS).Value
		if sk[:2] == "S#" || sk[:2] == "C#" {
			if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{"pk": item["pk"], "sk": item["sk"]}}); err != nil {
				t.Fatal(err)
			}
			removed++
		}
	}
	stale := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "T#a"}, "sk": &types.AttributeValueMemberS{Value: "S#z"}, "AES_256": &types.AttributeValueMemberN{Value: "5"}}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: stale}); err != nil {
		t.Fatal(err)
	}
	if removed == 0 {
		t.Fatal("no count items to remove: the creates kept no tally")
	}
	if page, err := svc.ListNumbered(ctx, keys.Principal{Tenant: "a"}, keys.NumberedQuery{Limit: 100}); err != nil || page.Total != 5 {
		t.Fatalf("before the recount: total %d (%v), want the stale 5", page.Total, err)
	}
	n, err := st.Recount(ctx)
	if err != nil || n != 37 {
		t.Fatalf("recount: %d keys, %v; want 37", n, err)
	}
	for owner, want := range owners {
		page, err := svc.ListNumbered(ctx, keys.Principal{Tenant: owner}, keys.NumberedQuery{Offset: 2, Limit: 100})
		if err != nil || page.Total != want || len(page.Keys) != want-2 {
			t.Fatalf("%s after the recount: total %d, %d keys from the 3rd (%v); want %d, %d", owner, page.Total, len(page.Keys), err, want, want-2)
		}
	}
}
