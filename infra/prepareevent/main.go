// Command prepareevent readies an event from events/ for `sam local invoke`:
// it puts the events' key into the state the event expects in a DynamoDB
// table (DynamoDB Local) and writes the event signed as its manifest entry
// says (signatures expire within minutes, so events are stored unsigned).
//
// It also writes the --env-vars file: DynamoDB Local's address as the
// container sees it, the table, and the development credentials document
// (the container cannot read project files, and has no secret to read).
//
//	go run ./infra/prepareevent -event huawei-schedule-key-deletion -out /tmp/event.json -env-out /tmp/env.json
//	sam local invoke ScheduleFunction -e /tmp/event.json --env-vars /tmp/env.json
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/eventgen"
	"github.com/keydeletion/service/shared/dynamostore"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:8000", "DynamoDB endpoint (DynamoDB Local)")
	table := flag.String("table", "kms-dev-keys", "keys table (created if missing)")
	event := flag.String("event", "", "event name in events/, without .json")
	out := flag.String("out", "", "where to write the signed event (default: stdout)")
	envOut := flag.String("env-out", "", "where to write the sam local invoke --env-vars file (default: none)")
	containerEndpoint := flag.String("container-endpoint", "http://host.docker.internal:8000", "DynamoDB Local as the function's container reaches it")
	dir := flag.String("events", "events", "the events folder")
	creds := flag.String("credentials", "infra/local/credentials.json", "the credentials document")
	flag.Parse()
	if err := run(*endpoint, *table, *dir, *event, *creds, *out); err != nil {
		fmt.Fprintln(os.Stderr, "prepareevent:", err)
		os.Exit(1)
	}
	if *envOut != "" {
		if err := writeEnv(*envOut, *containerEndpoint, *table, *creds); err != nil {
			fmt.Fprintln(os.Stderr, "prepareevent:", err)
			os.Exit(1)
		}
	}
}

// writeEnv writes the --env-vars file for sam local invoke.
func writeEnv(path, endpoint, table, credsPath string) error {
	doc, err := os.ReadFile(credsPath)
	if err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, doc); err != nil {
		return err
	}
	env := map[string]map[string]string{"Parameters": {
		"DYNAMODB_ENDPOINT": endpoint, "TABLE_NAME": table, "CREDENTIALS_SECRET_ARN": "",
		"CREDENTIALS_DOCUMENT": compact.String(), "LOG_LEVEL": "debug",
		// No bus in a local container: the events go to the log only.
		"EVENT_BUS_NAME": "",
	}}
	raw, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

func run(endpoint, table, dir, event, credsPath, out string) error {
	m, err := eventgen.Load(dir)
	if err != nil {
		return err
	}
	want, ok := m.Events[event]
	if !ok {
		return fmt.Errorf("no event %q in %s/manifest.json", event, dir)
	}
	creds, err := devclient.Load(credsPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	db := dynamodblocal.Client(endpoint)
	if err := dynamostore.EnsureTable(ctx, db, table); err != nil {
		return err
	}
	if err := dynamodblocal.CheckShared(ctx, endpoint, table); err != nil {
		return err
	}
	// Remove only what a previous preparation left: the events' key, its
	// alias, its tombstone. Nothing else in the table is touched.
	for _, sk := range []string{"K#" + m.KeyID, "A#" + eventgen.StreamAlias, "D#" + m.KeyID} {
		if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#" + eventgen.Owner}, "sk": &types.AttributeValueMemberS{Value: sk}}}); err != nil {
			return err
		}
	}
	st := dynamostore.New(db, table)
	raw, err := m.Event(event)
	if err != nil {
		return err
	}
	if want.IsStream() {
		err = m.SeedRemovedByTTL(ctx, st, dynamodblocal.KeyRemover(db, table))
	} else {
		if err = m.Seed(ctx, st, want.Seed); err == nil {
			raw, err = m.Signed(event, creds, time.Now())
		}
	}
	if err != nil {
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(append(raw, '\n'))
		return err
	}
	fmt.Fprintf(os.Stderr, "table %s ready for %s; event written to %s\n", table, event, out)
	return os.WriteFile(out, raw, 0o644)
}
