// Command sweep runs on a schedule: it sends reminders before deletion
// windows end, and is the backstop of the stream (keys whose window ended a
// few minutes ago and that TTL has not removed, events and reports a failed
// stream batch left undone), through the same code paths.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/keydeletion/service/shared/config"
	"github.com/keydeletion/service/shared/expiry"
)

// grace is how long after its time the sweep leaves work to TTL and the
// stream.
const grace = 5 * time.Minute

func main() {
	log := config.Logger()
	ctx := context.Background()
	awsConfig := config.AWS(ctx)
	store := config.MustDynamoStore(awsConfig, log)
	tenants := config.MustTenants(ctx, awsConfig, log)
	cfg := config.MustExpiry(awsConfig, tenants, log)
	cfg.Source, cfg.Grace = "sweep", grace
	lambda.Start(expiry.New(store, cfg).SweepUntilDone)
}
