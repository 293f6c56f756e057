// Command seedevents puts the key that events/ names into a DynamoDB table
// in the state an event expects, so that `sam local invoke` with an event
// from events/ finds what the event's manifest entry assumes.
//
//	go run ./infra/seedevents -endpoint http://127.0.0.1:8000 -table kms-dev-keys -event huawei-schedule-key-deletion
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/eventgen"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/tenant"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:8000", "DynamoDB endpoint (DynamoDB Local)")
	table := flag.String("table", "kms-dev-keys", "keys table (created if missing)")
	event := flag.String("event", "", "event name in events/, without .json")
	dir := flag.String("events", "events", "the events folder")
	flag.Parse()
	if err := run(*endpoint, *table, *dir, *event); err != nil {
		fmt.Fprintln(os.Stderr, "seedevents:", err)
		os.Exit(1)
	}
}

func run(endpoint, table, dir, event string) error {
	m, err := eventgen.Load(dir)
	if err != nil {
		return err
	}
	want, ok := m.Events[event]
	if !ok {
		return fmt.Errorf("no event %q in %s/manifest.json", event, dir)
	}
	ctx := context.Background()
	db := dynamodblocal.Client(endpoint)
	if err := dynamostore.EnsureTable(ctx, db, table); err != nil {
		return err
	}
	// Remove only what a previous seeding left: the events' key, its alias,
	// its tombstone. Nothing else in the table is touched.
	owner := tenant.Default().ID
	for _, sk := range []string{"K#" + m.KeyID, "A#" + eventgen.StreamAlias, "D#" + m.KeyID} {
		if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#" + owner}, "sk": &types.AttributeValueMemberS{Value: sk}}}); err != nil {
			return err
		}
	}
	st := dynamostore.New(db, table)
	if want.IsStream() {
		err = m.SeedRemovedByTTL(ctx, st, dynamodblocal.KeyRemover(db, table))
	} else {
		err = m.Seed(ctx, st, want.Seed)
	}
	if err != nil {
		return err
	}
	fmt.Printf("table %s ready for %s (key %s)\n", table, event, m.KeyID)
	return nil
}
