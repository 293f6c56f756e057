package dynamostore

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/keydeletion/service/shared/keys"
)

// classify marks an error the SDK gave up on with what a caller may do
// about it: keys.ErrBusy when DynamoDB throttled (the SDK's own list of
// throttling codes, and a transaction cancelled for throttling),
// keys.ErrStoreTimeout when the request's time ran out, keys.ErrUnavailable
// for a server error or a broken connection (what the SDK itself would
// have retried). Every other error is returned as it is: the dialects
// answer it as an internal error.
func classify(err error) error {
	switch {
	case errors.Is(err, keys.ErrBusy), errors.Is(err, keys.ErrUnavailable), errors.Is(err, keys.ErrStoreTimeout):
		return err
	case errors.Is(err, context.DeadlineExceeded) || timedOut(err):
		return fmt.Errorf("%w: %w", keys.ErrStoreTimeout, err)
	case throttled(err):
		return fmt.Errorf("%w: %w", keys.ErrBusy, err)
	case errors.Is(err, context.Canceled):
		return err // the caller went away: nobody reads the answer
	case serverFault(err) || retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary:
		return fmt.Errorf("%w: %w", keys.ErrUnavailable, err)
	}
	return err
}

// throttled reports whether DynamoDB refused err's request for its rate.
func throttled(err error) bool {
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary {
		return true
	}
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		for _, r := range cancelled.CancellationReasons {
			switch aws.ToString(r.Code) {
			case "ThrottlingError", "ProvisionedThroughputExceeded":
				return true
			}
		}
	}
	return false
}

// serverFault reports whether DynamoDB answered err with a fault of its own
// (InternalServerError, ServiceUnavailable: a 5xx).
func serverFault(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultServer
}

// timedOut reports whether err is a network timeout.
func timedOut(err error) bool {
	var timeout interface{ Timeout() bool }
	return errors.As(err, &timeout) && timeout.Timeout()
}
