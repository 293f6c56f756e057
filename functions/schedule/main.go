// Command schedule serves the schedule-deletion routes of the Huawei and NCP dialects,
// behind API Gateway (HTTP API, payload 2.0).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/keydeletion/service/shared/config"
	"github.com/keydeletion/service/shared/routes"
)

func main() {
	log := config.Logger()
	ctx := context.Background()
	awsConfig := config.AWS(ctx) // loaded once, shared by the store and the secret read
	store := config.MustDynamoStore(awsConfig, log)
	tenants := config.MustTenants(ctx, awsConfig, log) // read once per cold start
	handler := routes.Handler(config.MustService(store, log), tenants, log, routes.ScheduleFunction...)
	lambda.Start(httpadapter.NewV2(handler).ProxyWithContext)
}
