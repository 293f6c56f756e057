// Command expire consumes the keys table's stream: it carries out the final
// deletion of each key that DynamoDB TTL removed, and publishes the event
// of each new audit record to EventBridge.
package main

import (
	"cmp"
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keydeletion/service/shared/config"
	"github.com/keydeletion/service/shared/expiry"
)

func main() {
	log := config.Logger()
	ctx := context.Background()
	awsConfig := config.AWS(ctx)
	store := config.MustDynamoStore(awsConfig, log)
	tenants := config.MustTenants(ctx, awsConfig, log) // for the events' account, region and key ARN
	cfg := config.MustExpiry(awsConfig, tenants, log)
	cfg.Source = "stream"
	h := &streamHandler{fin: expiry.New(store, cfg), decode: store.Stream(), log: log, parallelism: cmp.Or(cfg.Parallelism, expiry.DefaultParallelism)}
	lambda.Start(h.handle)
}
