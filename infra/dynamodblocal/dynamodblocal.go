// Package dynamodblocal connects tests to the DynamoDB Local that
// start.sh (run by `make test`) started, and gives each test a table of its own.
package dynamodblocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/keydeletion/service/infra/testtool"
	"github.com/keydeletion/service/shared/dynamostore"
)

// Client returns a client for the DynamoDB at endpoint. DynamoDB Local
// accepts any credentials.
func Client(endpoint string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return ClientAs(endpoint, "local", opts...)
}

// ClientAs is Client with another access key id (DynamoDB Local takes
// letters and digits only): DynamoDB Local keeps one
// database per access key id and region unless it runs with -sharedDb.
func ClientAs(endpoint, accessKeyID string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(accessKeyID, "local", ""),
	}, append([]func(*dynamodb.Options){dynamostore.ClientOptions}, opts...)...)
}

// CheckShared reports an error unless the DynamoDB Local at endpoint shows
// table to every access key id (-sharedDb): sam local invoke gives the
// function its own AWS_ACCESS_KEY_ID (yours, or "defaultkey"), which would
// otherwise see an empty database.
func CheckShared(ctx context.Context, endpoint, table string) error {
	_, err := ClientAs(endpoint, "sharedDbProbe").DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return fmt.Errorf("DynamoDB Local at %s keeps a database per access key (it was started without -sharedDb), so the function, "+
			"which sam local gives its own credentials, would not see table %s: start it with `make dynamodb-local`", endpoint, table)
	}
	return err
}

// Endpoint returns DYNAMODB_ENDPOINT. Without it the test is skipped, unless
// REQUIRE_DYNAMODB is set (as `make test` sets it): then it fails, so that a
// run meant to include DynamoDB can never pass without it.
func Endpoint(t testing.TB) string {
	t.Helper()
	testtool.Slow(t, "DynamoDB Local")
	ep := os.Getenv("DYNAMODB_ENDPOINT")
	if ep == "" {
		if os.Getenv("REQUIRE_DYNAMODB") != "" {
			t.Fatal("DYNAMODB_ENDPOINT is not set but REQUIRE_DYNAMODB is: DynamoDB Local did not start")
		}
		t.Skip("DYNAMODB_ENDPOINT not set; run `make test` to start DynamoDB Local")
	}
	return ep
}

// NewTable creates a fresh keys table for this test and returns a client and
// its name.
func NewTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	db := Client(Endpoint(t))
	name := "keys-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16]
	if err := dynamostore.EnsureTable(context.Background(), db, name); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return db, name
}

// KeyRemover deletes a key's item from table as DynamoDB TTL would, for
// tests that start from "TTL has removed the key".
func KeyRemover(db *dynamodb.Client, table string) func(ctx context.Context, owner, id string) error {
	return func(ctx context.Context, owner, id string) error {
		_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#" + owner}, "sk": &types.AttributeValueMemberS{Value: "K#" + id}}})
		return err
	}
}

// Clear deletes every item of table, so one table can serve many cases.
func Clear(ctx context.Context, db *dynamodb.Client, table string) error {
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
				Key: map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"]}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// DisableTTL turns DynamoDB Local's TTL off on table: for tests of the
// sweep's backstop, which is what runs when TTL is late by days (its own
// TTL pass would race them).
func DisableTTL(ctx context.Context, db *dynamodb.Client, table string) error {
	_, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: &table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String("deleteAt"), Enabled: aws.Bool(false)}})
	return err
}
