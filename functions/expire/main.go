// Command expire carries out final deletions: it consumes the keys table's
// stream and finalizes each key that DynamoDB TTL removed.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keydeletion/service/shared/config"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/expiry"
)

func main() {
	log := config.Logger()
	store := config.MustDynamoStore(config.AWS(context.Background()), log)
	finalizer := expiry.New(store, time.Now, log)
	lambda.Start(finalizer.StreamHandler(dynamostore.ExpiredKey))
}
