package dynamostore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, table := dynamodblocal.NewTable(t)
		return dynamostore.New(db, table)
	})
}

// A key item written before keys had numbers and tags (no number, no tags
// map) still reads, with the number its id implies, and takes tags: the
// first change writes its map whole.
func TestKeysWrittenBeforeTags(t *testing.T) {
	db, table := dynamodblocal.NewTable(t)
	st := dynamostore.New(db, table)
	ctx := context.Background()
	id := "5b7c2d1e-3f4a-4b5c-8d9e-0f1a2b3c4d5e"
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": s("T#legacy"), "sk": s("K#" + id), "id": s(id), "owner": s("legacy"), "spec": s("AES_256"),
		"usage": s("ENCRYPT_DECRYPT"), "origin": s("KMS"), "state": s("Enabled"),
		"createdAt": n(strconv.FormatInt(time.Now().UnixMilli(), 10)), "stateChangedAt": n(strconv.FormatInt(time.Now().UnixMilli(), 10)),
	}}); err != nil {
		t.Fatal(err)
	}
	svc := keys.NewService(st, time.Now)
	k, err := svc.Get(ctx, keys.Principal{Tenant: "legacy"}, id)
	if err != nil || k.Number != keys.NumberOf(id) || k.Tags != nil {
		t.Fatalf("legacy key: %+v %v", k, err)
	}
	if k, err = svc.Untag(ctx, keys.Principal{Tenant: "legacy"}, id, []string{"nothing"}); err != nil || k.Tags != nil {
		t.Fatalf("untag a legacy key: %+v %v", k, err)
	}
	if k, err = svc.Tag(ctx, keys.Principal{Tenant: "legacy"}, id, map[string]string{"a": "1"}); err != nil || k.Tags["a"] != "1" {
		t.Fatalf("tag a legacy key: %+v %v", k, err)
	}
	if k, err = svc.Tag(ctx, keys.Principal{Tenant: "legacy"}, id, map[string]string{"b": "2"}); err != nil || len(k.Tags) != 2 {
		t.Fatalf("tag it again: %+v %v", k, err)
	}
}
