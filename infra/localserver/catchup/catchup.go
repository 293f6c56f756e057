// Package catchup is the local server's part of the work after a window:
// what its clock API carries out when it moves a tenant's clock (every
// final deletion due by the new time, then the events and reminders), and
// the loop that stands in for TTL, the stream and the scheduled sweep. In
// AWS none of this runs: package expiry, which it drives, does the work.
package catchup

import (
	"context"
	"log/slog"
	"math"
	"time"

	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
)

// batch bounds the keys a catch-up reads at a time.
const batch = 1000

// Store is what the clock API needs of a store beyond expiry.Store.
type Store interface {
	// DueOf returns up to limit of owner's keys pending deletion whose
	// window ends at or before before, oldest first.
	DueOf(ctx context.Context, owner string, before time.Time, limit int) ([]keys.Key, error)
}

// RecordExpirer is a store that removes audit records past their
// retention itself (the embedded store; DynamoDB's TTL does it there).
type RecordExpirer interface {
	// ExpireRecords removes the audit records whose retention ended by
	// their owner's clock, and says how many.
	ExpireRecords(ctx context.Context, clock keys.Clock) (int, error)
}

// Worker carries out, on the local server, what the clocks bring due.
type Worker struct {
	Finalizer *expiry.Finalizer
	Store     Store
	Clock     keys.Clock
	Log       *slog.Logger
}

// Result is what a catch-up did.
type Result struct {
	// Finalized counts the keys it finalized.
	Finalized int
	// Complete is false when it stopped at its deadline with work left.
	Complete bool
}

// CatchUp carries out everything due for owner by its clock: every final
// deletion (tombstone, name released, trail, report), then a sweep's worth
// of the rest (events, reminders, records past retention) until none is
// left. It starts no new work after stop (zero: none) and then says it is
// not complete; what it left is the loop's. The clock API calls it after
// moving a tenant's clock, so the caller's next request sees it done.
func (w *Worker) CatchUp(ctx context.Context, owner string, stop time.Time) (Result, error) {
	var res Result
	for {
		due, err := w.Store.DueOf(ctx, owner, w.Clock(owner), batch)
		if err != nil {
			return res, err
		}
		finalized, started, err := w.Finalizer.FinalizeEach(ctx, due, stop)
		res.Finalized += finalized
		if err != nil {
			return res, stopped(ctx, err)
		}
		if started < len(due) {
			return res, nil // stopped: not complete
		}
		if len(due) < batch {
			break
		}
	}
	for {
		if !stop.IsZero() && !time.Now().Before(stop) {
			return res, nil
		}
		full, err := w.Finalizer.SweepUntil(ctx, stop)
		if err != nil {
			return res, stopped(ctx, err)
		}
		if !full {
			res.Complete = true
			return res, stopped(ctx, w.expireRecords(ctx))
		}
	}
}

// DueCount counts owner's keys whose window has ended by its clock and
// that are not yet finalized.
func (w *Worker) DueCount(ctx context.Context, owner string) (int, error) {
	due, err := w.Store.DueOf(ctx, owner, w.Clock(owner), math.MaxInt32)
	return len(due), err
}

// Run sweeps every interval until ctx ends, and removes records past their
// retention: the local stand-in for TTL, the stream and the scheduled
// sweep.
func (w *Worker) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := w.Finalizer.SweepUntilDone(ctx)
		if err == nil {
			err = w.expireRecords(ctx)
		}
		if err != nil && ctx.Err() == nil {
			w.Log.ErrorContext(ctx, "expiry sweep failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) expireRecords(ctx context.Context) error {
	expirer, ok := w.Store.(RecordExpirer)
	if !ok {
		return nil
	}
	n, err := expirer.ExpireRecords(ctx, w.Clock)
	if n > 0 {
		w.Log.InfoContext(ctx, "audit records past their retention removed", "count", n)
	}
	return err
}

// stopped is err, unless ctx ended: then the work is only incomplete.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
