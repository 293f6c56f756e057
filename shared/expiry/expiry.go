// Package expiry carries out the final deletion of keys whose window has
// ended. The expire Lambda feeds it DynamoDB TTL removals from the stream;
// the local server's loop feeds it what the store reports due. Both take the
// same path: Finalizer.Finalize.
package expiry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keydeletion/service/shared/keys"
)

// ErrNotPending: the key handed over was not pending deletion, so there is
// nothing to finalize (e.g. a malformed stream image).
var ErrNotPending = errors.New("key is not pending deletion")

// Finalizer carries out final deletions.
type Finalizer struct {
	store keys.Store
	now   func() time.Time
	log   *slog.Logger
}

// New returns a finalizer on store with clock now.
func New(store keys.Store, now func() time.Time, log *slog.Logger) *Finalizer {
	if now == nil {
		now = time.Now
	}
	return &Finalizer{store: store, now: now, log: log}
}

// Finalize removes what remains of k and records its deletion in a
// tombstone. Safe to repeat.
func (f *Finalizer) Finalize(ctx context.Context, k keys.Key) error {
	if k.State != keys.PendingDeletion || k.DeleteAt.IsZero() {
		return fmt.Errorf("finalize %s in state %s: %w", k.ID, k.State, ErrNotPending)
	}
	now := f.now().UTC().Truncate(time.Millisecond)
	if now.Before(k.DeleteAt) {
		// Only DynamoDB's clock decided; the item is gone all the same, so
		// record it, but say so: it means clock skew.
		f.log.WarnContext(ctx, "finalizing before the deletion time", "key", k.ID, "deleteAt", k.DeleteAt)
	}
	t := keys.Tombstone{
		KeyID: k.ID, Owner: k.Owner, Alias: k.Alias, ScheduledAt: k.StateChangedAt,
		DeleteAt: k.DeleteAt, PendingDays: k.PendingDays, DeletedAt: now,
	}
	if err := f.store.Finalize(ctx, k, t); err != nil {
		return fmt.Errorf("finalize %s: %w", k.ID, err)
	}
	f.log.InfoContext(ctx, "key deleted", "key", k.ID, "owner", k.Owner, "deleteAt", k.DeleteAt,
		"pendingDays", k.PendingDays, "scheduledAt", k.StateChangedAt)
	return nil
}

// Sweep finalizes up to limit keys the store reports due, and returns how
// many it finalized.
func (f *Finalizer) Sweep(ctx context.Context, limit int) (int, error) {
	due, err := f.store.Due(ctx, f.now(), limit)
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	done := 0
	var errs []error
	for _, k := range due {
		if err := f.Finalize(ctx, k); err != nil {
			errs = append(errs, err)
			continue
		}
		done++
	}
	return done, errors.Join(errs...)
}

// Run sweeps every interval until ctx ends: the local stand-in for TTL and
// the stream.
func (f *Finalizer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := f.Sweep(ctx, 100)
			if err != nil && ctx.Err() == nil {
				f.log.ErrorContext(ctx, "expiry sweep failed", "error", err.Error())
			}
			if n < 100 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RecordDecoder extracts from a stream record the key a TTL removal deleted.
// ok is false for records to ignore (not a removal by TTL, not a pending key).
type RecordDecoder func(events.DynamoDBEventRecord) (k keys.Key, ok bool, err error)

// StreamHandler returns the Lambda handler for the table's stream: it
// finalizes each TTL removal and reports the records it could not finalize
// (ReportBatchItemFailures), so that only those are retried.
func (f *Finalizer) StreamHandler(decode RecordDecoder) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var resp events.DynamoDBEventResponse
		for _, rec := range ev.Records {
			k, ok, err := decode(rec)
			if err == nil && ok {
				err = f.Finalize(ctx, k)
			}
			if err != nil {
				f.log.ErrorContext(ctx, "expiry record failed", "eventId", rec.EventID,
					"sequenceNumber", rec.Change.SequenceNumber, "error", err.Error())
				resp.BatchItemFailures = append(resp.BatchItemFailures,
					events.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
			}
		}
		return resp, nil
	}
}
