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
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/keydeletion/service/shared/keys"
)

// ErrNotPending: the key handed over was not pending deletion, or lacks an
// id or owner, so there is nothing to finalize.
var ErrNotPending = errors.New("key is not pending deletion")

// Store is what the final deletion needs of a store.
type Store interface {
	// Due returns up to limit pending-deletion keys whose window ended at or
	// before now, oldest first.
	Due(ctx context.Context, now time.Time, limit int) ([]keys.Key, error)
	// Finalize carries out f as one atomic write, if f.Permits the stored
	// item: it removes what remains of the key (the item, if TTL has not
	// removed it, and its alias, if it still names the key) and writes the
	// tombstone. It returns the tombstone as stored and whether this call
	// wrote it. Idempotent: finalizing an already finalized key changes
	// nothing and returns the tombstone written before.
	Finalize(ctx context.Context, f keys.Finalization) (stored keys.Tombstone, created bool, err error)
	// MarkReported records that the final deletion of owner's key id was
	// reported at at.
	MarkReported(ctx context.Context, owner, id string, at time.Time) error
	// Unreported returns up to limit tombstones whose deletion has not been
	// reported, for a sweep to report after a crash.
	Unreported(ctx context.Context, limit int) ([]keys.Tombstone, error)
}

// Finalizer carries out final deletions.
type Finalizer struct {
	store Store
	now   func() time.Time
	log   *slog.Logger
}

// New returns a finalizer on store with clock now.
func New(store Store, now func() time.Time, log *slog.Logger) *Finalizer {
	if now == nil {
		now = time.Now
	}
	return &Finalizer{store: store, now: now, log: log}
}

// Finalize removes what remains of k, records its deletion in a tombstone,
// and reports it. Safe to repeat: each tombstone is reported once, when it is
// written, and again only if a crash came between the write and the report
// (the tombstone remembers whether it was reported); a repeat that finds
// nothing to do says so at debug level.
func (f *Finalizer) Finalize(ctx context.Context, k keys.Key) error {
	fin, err := keys.Finalize(k, f.now())
	if err != nil {
		return fmt.Errorf("finalize %q of %q in state %q: %w: %w", k.ID, k.Owner, k.State, ErrNotPending, err)
	}
	if fin.Now.Before(k.DeleteAt) {
		// Only DynamoDB's clock decided; the item is gone all the same, so
		// record it, but say so: it means clock skew.
		f.log.WarnContext(ctx, "finalizing before the deletion time", "key", k.ID, "deleteAt", k.DeleteAt)
	}
	stored, created, err := f.store.Finalize(ctx, fin)
	if err != nil {
		return fmt.Errorf("finalize %s: %w", k.ID, err)
	}
	if !stored.ReportedAt.IsZero() {
		f.log.DebugContext(ctx, "key already deleted and reported: nothing left to do", "key", k.ID, "owner", k.Owner)
		return nil
	}
	f.report(ctx, stored, created)
	return nil
}

// report logs a final deletion, then records that it was reported. A crash
// between the two reports it again (at least once, each line naming the
// tombstone's key); a failure to record it is only a warning, as the line
// is out.
func (f *Finalizer) report(ctx context.Context, t keys.Tombstone, created bool) {
	f.log.InfoContext(ctx, "key deleted", "key", t.KeyID, "owner", t.Owner, "alias", t.Alias,
		"deleteAt", t.DeleteAt, "pendingDays", t.PendingDays, "scheduledAt", t.ScheduledAt,
		"deletedAt", t.DeletedAt, "recovered", !created)
	if err := f.store.MarkReported(ctx, t.Owner, t.KeyID, f.now()); err != nil {
		f.log.WarnContext(ctx, "key deleted, but recording the report failed; it may be reported again",
			"key", t.KeyID, "owner", t.Owner, "error", err.Error())
	}
}

// Sweep reports the final deletions a crash left unreported, then
// finalizes up to limit keys the store reports due, and returns how many it
// finalized.
func (f *Finalizer) Sweep(ctx context.Context, limit int) (int, error) {
	unreported, err := f.store.Unreported(ctx, limit)
	if err != nil {
		return 0, fmt.Errorf("sweep: %w", err)
	}
	for _, t := range unreported {
		f.report(ctx, t, false)
	}
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
// ok is false for records that are not TTL removals (inserts, updates, a
// user's delete); every TTL removal is handed over, whatever it removed, so
// that Finalize decides, and one it cannot finalize is logged, not dropped.
type RecordDecoder func(events.DynamoDBEventRecord) (k keys.Key, ok bool, err error)

// StreamHandler returns the Lambda handler for the table's stream: it
// finalizes each TTL removal and reports the records it could not finalize
// (ReportBatchItemFailures), so that only those are retried. A TTL removal
// of something that was not a key pending deletion cannot be finalized by
// retrying: it is logged as an error with the record's identity, and not
// reported as a failure.
func (f *Finalizer) StreamHandler(decode RecordDecoder) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var resp events.DynamoDBEventResponse
		for _, rec := range ev.Records {
			k, ok, err := decode(rec)
			if err == nil && ok {
				err = f.Finalize(ctx, k)
			}
			switch {
			case err == nil:
			case errors.Is(err, ErrNotPending):
				f.log.ErrorContext(ctx, "TTL removed an item that was not a key pending deletion; nothing finalized",
					"eventId", rec.EventID, "sequenceNumber", rec.Change.SequenceNumber, "keys", recordKeys(rec),
					"state", string(k.State), "error", err.Error())
			default:
				f.log.ErrorContext(ctx, "expiry record failed", "eventId", rec.EventID,
					"sequenceNumber", rec.Change.SequenceNumber, "keys", recordKeys(rec), "error", err.Error())
				resp.BatchItemFailures = append(resp.BatchItemFailures,
					events.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
			}
		}
		return resp, nil
	}
}

// recordKeys renders a stream record's table keys ("pk=T#a sk=K#b"), its
// identity in the table.
func recordKeys(rec events.DynamoDBEventRecord) string {
	names := make([]string, 0, len(rec.Change.Keys))
	for name := range rec.Change.Keys {
		names = append(names, name)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, name := range names {
		v := rec.Change.Keys[name]
		if v.DataType() == events.DataTypeString {
			parts[i] = name + "=" + v.String()
		} else {
			parts[i] = name + "=?"
		}
	}
	return strings.Join(parts, " ")
}
