package dynamostore_test

import (
	"context"
	"fmt"
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
// stale one left) and before keys were sharded by owner in the due index
// (pending keys on other shards) is recounted from its keys: every owner's
// numbered pages are exact again, the keys past their window taken off, and
// the stale count is gone.
func TestRecount(t *testing.T) {
	db, table := dynamodblocal.NewTable(t)
	st := dynamostore.New(db, table)
	ctx := context.Background()
	now := time.Now()
	svc := keys.NewService(st, func() time.Time { return now })
	owners := map[string]int{"a": 30, "b": 7}
	var scheduled []string
	for owner, n := range owners {
		for i := range n {
			k, err := svc.Create(ctx, keys.Principal{Tenant: owner}, keys.CreateRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if owner == "a" && i < 3 {
				if _, err := svc.ScheduleDeletion(ctx, keys.Principal{Tenant: owner}, k.ID, 7); err != nil {
					t.Fatal(err)
				}
				scheduled = append(scheduled, k.ID)
			}
		}
	}
	out, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	removed, moved := 0, 0
	for _, item := range out.Items {
		sk := item["sk"].(*types.AttributeValueMemberS).Value
		if shard, ok := item["dueShard"].(*types.AttributeValueMemberS); ok && sk[:2] == "K#" {
			// Where a version that spread keys by id could have put it.
			other := fmt.Sprintf("K#%d", (int(shard.Value[2]-'0')+1)%8)
			if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
				Key:              map[string]types.AttributeValue{"pk": item["pk"], "sk": item["sk"]},
				UpdateExpression: aws.String("SET dueShard = :other"), ExpressionAttributeValues: map[string]types.AttributeValue{":other": &types.AttributeValueMemberS{Value: other}},
			}); err != nil {
				t.Fatal(err)
			}
			moved++
		}
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
	if removed == 0 || moved != len(scheduled) {
		t.Fatalf("%d count items removed, %d of %d scheduled keys moved", removed, moved, len(scheduled))
	}
	if page, err := svc.ListNumbered(ctx, keys.Principal{Tenant: "a"}, keys.NumberedQuery{Limit: 100}); err != nil || page.Total != 5 {
		t.Fatalf("before the recount: total %d (%v), want the stale 5", page.Total, err)
	}
	n, err := st.Recount(ctx)
	if err != nil || n != 37 {
		t.Fatalf("recount: %d keys, %v; want 37", n, err)
	}
	now = now.Add(8 * 24 * time.Hour) // the scheduled keys' windows have ended
	owners["a"] -= len(scheduled)
	for owner, want := range owners {
		page, err := svc.ListNumbered(ctx, keys.Principal{Tenant: owner}, keys.NumberedQuery{Offset: 2, Limit: 100})
		if err != nil || page.Total != want || len(page.Keys) != want-2 {
			t.Fatalf("%s after the recount: total %d, %d keys from the 3rd (%v); want %d, %d", owner, page.Total, len(page.Keys), err, want, want-2)
		}
	}
}
