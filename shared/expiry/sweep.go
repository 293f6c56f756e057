package expiry

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// sweepBatch bounds each part of a sweep's work per round.
const sweepBatch = 1000

// Sweep does what is due and the fast path has not done within the grace
// period: it reports final deletions a crash left unreported, finalizes
// keys whose window has ended (many at once), publishes the events of
// audit records and sends reminders. It says whether a part found a full
// batch (more may wait); an error of one part does not stop the others.
func (f *Finalizer) Sweep(ctx context.Context) (full bool, err error) {
	return f.SweepUntil(ctx, time.Time{})
}

// SweepUntil is a round of Sweep that starts no new part of its work after
// stop (zero: none), and then says it is full: more waits.
func (f *Finalizer) SweepUntil(ctx context.Context, stop time.Time) (full bool, err error) {
	f.sweeping.Lock()
	defer f.sweeping.Unlock()
	return f.sweep(ctx, stop)
}

// SweepUntilDone sweeps while a round finds a full batch and ctx allows
// (the sweep function's handler: a failure is the invocation's error, for
// its alarm).
func (f *Finalizer) SweepUntilDone(ctx context.Context) error {
	f.sweeping.Lock()
	defer f.sweeping.Unlock()
	for {
		full, err := f.sweep(ctx, time.Time{})
		if err != nil || !full || ctx.Err() != nil {
			return err
		}
	}
}

// sweep is a round: four reads (unreported tombstones; keys pending
// deletion up to the reminders' horizon, which serves the final deletions
// and the reminders; the outbox) and the writes they call for.
func (f *Finalizer) sweep(ctx context.Context, stop time.Time) (full bool, err error) {
	now := f.cfg.Now()
	late := now.Add(-f.cfg.Grace)
	var errs []error
	past := func() bool { return !stop.IsZero() && !time.Now().Before(stop) }

	unreported, err := f.final.Unreported(ctx, late, sweepBatch)
	started, reportErr := f.each(len(unreported), stop, func(i int) error {
		f.report(ctx, unreported[i], !unreported[i].Immediate())
		return nil
	})
	errs = append(errs, err, reportErr)
	full = len(unreported) == sweepBatch || started < len(unreported)

	// Oldest first, so what is due comes before what is only near.
	pending, err := f.final.Due(ctx, f.reminderHorizon(now), sweepBatch) // late <= now <= the horizon
	errs = append(errs, err)
	// Due by its owner's clock (the read went by the latest).
	due := slices.DeleteFunc(slices.Clone(pending), func(k keys.Key) bool { return k.Live(f.cfg.Clock(k.Owner).Add(-f.cfg.Grace)) })
	started, finalizeErr := f.each(len(due), stop, func(i int) error {
		_, err := f.finalizeDue(ctx, due[i])
		return err
	})
	errs = append(errs, finalizeErr)
	full = full || len(pending) == sweepBatch && len(due) > 0 || started < len(due) // more may wait, and this round made way

	records, err := f.outbox.Unpublished(ctx, late, sweepBatch)
	errs = append(errs, err)
	full = full || len(records) == sweepBatch
	for chunk := range slices.Chunk(records, publishChunk) {
		if past() {
			full = true
			break
		}
		errs = append(errs, f.Publish(ctx, chunk))
	}

	if past() {
		return true, errors.Join(errs...)
	}
	errs = append(errs, f.remind(ctx, pending))
	return full, errors.Join(errs...)
}
