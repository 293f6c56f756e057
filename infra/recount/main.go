// Command recount writes the tally of every tenant of a DynamoDB table
// afresh from its keys, and moves pending keys to their owner's shard of the
// due index (dynamostore.Store.Recount): run it once on a table written by a
// version that kept no tally, with writes stopped, before the Huawei and NCP
// listings are served from it.
//
//	TABLE_NAME=keydeletion-keys go run ./infra/recount
//
// It takes the environment the functions take (TABLE_NAME, AWS_REGION or a
// profile, DYNAMODB_ENDPOINT for DynamoDB Local), and needs dynamodb:Scan,
// PutItem, DeleteItem and UpdateItem on the table.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/keydeletion/service/shared/config"
)

func main() {
	ctx := context.Background()
	st, err := config.DynamoStore(config.AWS(ctx))
	if err == nil {
		var n int
		if n, err = st.Recount(ctx); err == nil {
			fmt.Printf("recounted %d keys in %s\n", n, os.Getenv("TABLE_NAME"))
			return
		}
	}
	fmt.Fprintln(os.Stderr, "recount:", err)
	os.Exit(1)
}
