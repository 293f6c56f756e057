package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/shared/keys"
)

// A write that touches an item while another transaction holds it is
// refused by DynamoDB (TransactionConflictException for a single-item write,
// TransactionCanceledException with a TransactionConflict reason for a
// transaction); the SDK's retryer does not retry either. Every write here is
// conditional on the state it changes, so it is retried as it was, after a
// jittered, doubling wait: conflictAttempts attempts in all, about a second.
const (
	conflictAttempts = 8
	conflictBackoff  = 10 * time.Millisecond
	conflictMaxWait  = 320 * time.Millisecond
)

// isConflict reports whether err is a loss to a concurrent transaction.
func isConflict(err error) bool {
	var conflict *types.TransactionConflictException
	if errors.As(err, &conflict) {
		return true
	}
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		for _, r := range cancelled.CancellationReasons {
			if aws.ToString(r.Code) == "TransactionConflict" {
				return true
			}
		}
	}
	return false
}

// retryConflicts runs write until it ends other than by a conflict. When
// every attempt conflicts, the error wraps keys.ErrBusy: the dialects answer
// it as their services' throttling error, which clients retry, never as an
// internal error.
func retryConflicts(ctx context.Context, backoff time.Duration, write func() error) error {
	wait := backoff
	for attempt := 1; ; attempt++ {
		err := write()
		if !isConflict(err) {
			return err
		}
		if attempt == conflictAttempts {
			return fmt.Errorf("dynamostore: %d attempts lost to concurrent transactions: %w: %w", attempt, keys.ErrBusy, err)
		}
		timer := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			timer.Stop()
			return errors.Join(ctx.Err(), err)
		case <-timer.C:
		}
		wait = min(2*wait, conflictMaxWait)
	}
}
