package dynamostore

import (
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// AttemptTimeout bounds one attempt of a DynamoDB request. DynamoDB answers
// in milliseconds; an attempt that stalls (a lost connection, an overloaded
// endpoint) is abandoned and retried by the SDK, so that a request's time
// (httpapi.DefaultBudget) is not spent on one attempt. The store's writes
// are safe to retry even when the abandoned attempt was applied.
const AttemptTimeout = 2 * time.Second

// Backoff before the SDK's second and third attempts: full jitter on a
// doubling base, from retryBase (throttlingBase after a throttle) up to
// maxBackoff. The SDK's default waits up to 2 s, then 4 s, which would
// spend a request's whole budget before the third attempt.
const (
	retryBase      = 50 * time.Millisecond
	throttlingBase = 250 * time.Millisecond
	maxBackoff     = time.Second
)

// ClientOptions sets the client options the store is designed for: the
// SDK's standard retryer (3 attempts; throttling, 5xx and broken
// connections retried) with the backoff above, each attempt bounded by
// AttemptTimeout. Every client the store runs on, in AWS and in tests, is
// made with it.
func ClientOptions(o *dynamodb.Options) {
	o.HTTPClient = awshttp.NewBuildableClient().WithTimeout(AttemptTimeout)
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.Backoff = retry.BackoffDelayerFunc(backoff)
	})
}

func backoff(attempt int, err error) (time.Duration, error) {
	base := retryBase
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		base = throttlingBase
	}
	ceiling := min(maxBackoff, base<<min(attempt, 16))
	return rand.N(ceiling + 1), nil
}
