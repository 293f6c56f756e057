package dynamostore

import (
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Backoff before the SDK's second and third attempts: full jitter on a
// doubling base, from retryBase (throttlingBase after a throttle) up to
// maxBackoff. The SDK's default waits up to 2 s, then 4 s, which would
// spend a request's whole budget (httpapi.DefaultBudget) before the third
// attempt.
const (
	retryBase      = 50 * time.Millisecond
	throttlingBase = 250 * time.Millisecond
	maxBackoff     = time.Second
)

// ClientOptions sets the client options the store is designed for: the
// SDK's standard retryer (3 attempts; throttling, 5xx and broken
// connections retried) with the backoff above. Every client the store runs
// on, in AWS and in tests, is made with it.
//
// No attempt has a timeout of its own: a request's context bounds them all
// (its budget). An attempt abandoned on a timer is not abandoned by
// DynamoDB, and DynamoDB Local carries out one write at a time: there,
// attempts timed out under a burst were retried into a queue that only
// grew (measured: 60 concurrent final deletions, 2 s attempts, none done).
func ClientOptions(o *dynamodb.Options) {
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
