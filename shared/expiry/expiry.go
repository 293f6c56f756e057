// Package expiry carries out what follows a deletion window: the final
// deletion of keys whose window has ended, the events of the audit trail,
// and reminders before a window ends. In AWS the expire function feeds it
// the table's stream (TTL removals, new audit records) and the sweep
// function runs Sweep on a schedule as the backstop of both and the sender
// of reminders; on a laptop the local server's loop runs Sweep every
// second. Every path to a final deletion is Finalizer.Finalize.
package expiry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/uuid"

	"github.com/keydeletion/service/shared/events"
	"github.com/keydeletion/service/shared/keys"
)

// ErrNotPending: the key handed over was not pending deletion, or lacks an
// id or owner, so there is nothing to finalize.
var ErrNotPending = errors.New("key is not pending deletion")

// Store is what the work after a window needs of a store. Every "before"
// lists what was due at or before that time, oldest first.
type Store interface {
	// Due returns up to limit keys pending deletion whose window ends at
	// or before before.
	Due(ctx context.Context, before time.Time, limit int) ([]keys.Key, error)
	// Finalize carries out f as one atomic write, if f.Permits the stored
	// item: it removes what remains of the key (the item, if TTL has not
	// removed it, and its alias, if it still names the key) and writes the
	// tombstone and f.Record. It returns the tombstone as stored and
	// whether this call wrote it. Idempotent: finalizing an already
	// finalized key changes nothing and returns the tombstone written
	// before.
	Finalize(ctx context.Context, f keys.Finalization) (stored keys.Tombstone, created bool, err error)
	// MarkReported records that the final deletion of owner's key id was
	// reported at at.
	MarkReported(ctx context.Context, owner, id string, at time.Time) error
	// Unreported returns up to limit tombstones, deleted at or before
	// before, whose deletion has not been reported.
	Unreported(ctx context.Context, before time.Time, limit int) ([]keys.Tombstone, error)
	// Unpublished returns up to limit audit records, written at or before
	// before, whose event has not been published.
	Unpublished(ctx context.Context, before time.Time, limit int) ([]keys.Record, error)
	// MarkPublished records that the events of rs were published.
	MarkPublished(ctx context.Context, rs []keys.Record) error
	// MarkReminded records that a reminder offset before k's deletion date
	// was sent, if k is still pending deletion with the same window
	// (keys.ErrNotFound otherwise).
	MarkReminded(ctx context.Context, k keys.Key, offset time.Duration) error
}

// DefaultReminders are the offsets before a deletion date at which
// reminders are sent.
var DefaultReminders = []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}

// Config says how a Finalizer works; the zero value of each field takes
// its default.
type Config struct {
	// Now is the time the sweep looks for due work by: with a Clock, the
	// latest time any owner's clock shows.
	Now func() time.Time
	// Clock is each owner's time, by which a key is due, a deletion dated
	// and a reminder timed (nil: Now for every owner). The local server
	// moves tenants' clocks one by one.
	Clock keys.Clock
	Log   *slog.Logger
	// Publisher delivers events; nil logs them only.
	Publisher events.Publisher
	// Events builds them.
	Events events.Builder
	// Reminders are the offsets before a deletion date at which a reminder
	// is sent (DefaultReminders if nil; empty: none).
	Reminders []time.Duration
	// Grace is how long Sweep leaves its work to the fast path: TTL and the
	// stream in AWS (there a few minutes); 0 on a laptop, where Sweep is
	// the only path.
	Grace time.Duration
	// Source names the path in the principal of final deletions ("stream",
	// "sweep", "local").
	Source string
	// Parallelism bounds how many final deletions (and stream records) are
	// carried out at once (DefaultParallelism if 0). On the embedded store
	// they share group commits, on DynamoDB they are concurrent requests;
	// DynamoDB Local carries out one write at a time, so many at once only
	// queue there (measured: no faster than one at a time).
	Parallelism int
}

// DefaultParallelism is Config.Parallelism's default.
const DefaultParallelism = 64

// Finalizer carries out final deletions, publishes events and sends
// reminders.
type Finalizer struct {
	store Store
	cfg   Config
	log   *slog.Logger
	// sweeping lets one sweep or catch-up run at a time, so that none
	// publishes what another is publishing.
	sweeping sync.Mutex
}

// New returns a finalizer on store.
func New(store Store, cfg Config) *Finalizer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Clock == nil {
		now := cfg.Now
		cfg.Clock = func(string) time.Time { return now() }
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Reminders == nil {
		cfg.Reminders = DefaultReminders
	}
	cfg.Reminders = slices.Clone(cfg.Reminders)
	slices.Sort(cfg.Reminders)
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = DefaultParallelism
	}
	if cfg.Events.Source == "" {
		cfg.Events.Source = events.DefaultSource
	}
	cfg.Publisher = events.Logged{Next: cfg.Publisher, Log: cfg.Log}
	return &Finalizer{store: store, cfg: cfg, log: cfg.Log}
}

// requestID names one piece of work in its records: the Lambda invocation,
// or a fresh id.
func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return uuid.NewString()
}

// Finalize removes what remains of k, records its deletion in a tombstone
// and the trail, and reports it. Safe to repeat: each tombstone is reported
// once, when it is written, and again only if a crash came between the
// write and the report (the tombstone remembers whether it was reported); a
// repeat that finds nothing to do says so at debug level.
func (f *Finalizer) Finalize(ctx context.Context, k keys.Key) error {
	by := keys.System(k.Owner, requestID(ctx))
	by.Source = f.cfg.Source
	fin, err := keys.Finalize(k, f.cfg.Clock(k.Owner), by)
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
	f.report(ctx, stored, !created)
	return nil
}

// report logs a final deletion, then records that it was reported. A crash
// between the two reports it again (at least once, each line naming the
// tombstone's key), as recovered; a failure to record it is only a
// warning, as the line is out. An immediate deletion (NCP's DELETE, carried
// out by the API) is reported here by the sweep, not recovered.
func (f *Finalizer) report(ctx context.Context, t keys.Tombstone, recovered bool) {
	f.log.InfoContext(ctx, "key deleted", "key", t.KeyID, "owner", t.Owner, "alias", t.Alias,
		"deleteAt", t.DeleteAt, "pendingDays", t.PendingDays, "scheduledAt", t.ScheduledAt,
		"deletedAt", t.DeletedAt, "immediate", t.Immediate(), "recovered", recovered)
	if err := f.store.MarkReported(ctx, t.Owner, t.KeyID, f.cfg.Clock(t.Owner)); err != nil {
		f.log.WarnContext(ctx, "key deleted, but recording the report failed; it may be reported again",
			"key", t.KeyID, "owner", t.Owner, "error", err.Error())
	}
}

// Publish publishes the events of audit records, then takes them out of the
// outbox. A failure leaves them in it, for the next sweep.
func (f *Finalizer) Publish(ctx context.Context, records []keys.Record) error {
	if len(records) == 0 {
		return nil
	}
	evs := make([]events.Event, 0, len(records))
	for _, r := range records {
		e, err := f.cfg.Events.ForRecord(r)
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	if err := f.cfg.Publisher.Publish(ctx, evs); err != nil {
		return err
	}
	// Published all the same if this fails: they may be published again.
	return f.store.MarkPublished(ctx, records)
}

// sweepBatch bounds each part of a sweep's work per round.
const sweepBatch = 1000

// each runs fn for every index below n, at most Parallelism at a time, and
// joins the errors. After stop (zero: never) it starts no more: it returns
// how many it started.
func (f *Finalizer) each(n int, stop time.Time, fn func(i int) error) (started int, err error) {
	errs := make([]error, n)
	sem := make(chan struct{}, f.cfg.Parallelism)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		if !stop.IsZero() && !time.Now().Before(stop) {
			<-sem
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return started, errors.Join(errs...)
}

// Sweep does what is due and the fast path has not done within the grace
// period: it reports final deletions a crash left unreported, finalizes
// keys whose window has ended (many at once), publishes the events of
// audit records, sends reminders, and removes audit records past their
// retention. It says whether a part found a full batch (more may wait); an
// error of one part does not stop the others.
func (f *Finalizer) Sweep(ctx context.Context) (full bool, err error) {
	f.sweeping.Lock()
	defer f.sweeping.Unlock()
	return f.sweep(ctx, time.Time{})
}

// publishChunk is how many events a sweep publishes and marks at a time.
const publishChunk = 50

// sweep is a round of Sweep. It starts no new part of its work after stop
// (zero: none) and then says it is full: more waits.
func (f *Finalizer) sweep(ctx context.Context, stop time.Time) (full bool, err error) {
	now := f.cfg.Now()
	late := now.Add(-f.cfg.Grace)
	var errs []error
	past := func() bool { return !stop.IsZero() && !time.Now().Before(stop) }

	unreported, err := f.store.Unreported(ctx, late, sweepBatch)
	started, reportErr := f.each(len(unreported), stop, func(i int) error {
		f.report(ctx, unreported[i], !unreported[i].Immediate())
		return nil
	})
	errs = append(errs, err, reportErr)
	full = len(unreported) == sweepBatch || started < len(unreported)

	due, err := f.store.Due(ctx, late, sweepBatch)
	found := len(due)
	// Due by the latest clock; finalized only when due by its owner's.
	due = slices.DeleteFunc(due, func(k keys.Key) bool { return k.Live(f.cfg.Clock(k.Owner).Add(-f.cfg.Grace)) })
	started, finalizeErr := f.each(len(due), stop, func(i int) error { return f.Finalize(ctx, due[i]) })
	errs = append(errs, err, finalizeErr)
	full = full || found == sweepBatch && len(due) > 0 || started < len(due) // more may wait, and this round made way

	records, err := f.store.Unpublished(ctx, late, sweepBatch)
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
	errs = append(errs, f.remind(ctx, now))
	return full, errors.Join(errs...)
}

// remind sends the reminders due at latest (each key's by its owner's
// clock): for each key pending deletion, the reminder of the smallest
// offset whose time has come, unless it (or one of a smaller offset) was
// sent. Offsets not shorter than the window itself are skipped: they fall
// before the schedule. A reminder is sent before it is marked sent, so a
// crash between the two sends it again, with the same id.
func (f *Finalizer) remind(ctx context.Context, latest time.Time) error {
	if len(f.cfg.Reminders) == 0 {
		return nil
	}
	horizon := latest.Add(f.cfg.Reminders[len(f.cfg.Reminders)-1])
	pending, err := f.store.Due(ctx, horizon, 1000)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range pending {
		now := f.cfg.Clock(k.Owner)
		if !k.Live(now) {
			continue // the final deletion's, not a reminder's
		}
		offset, ok := f.reminderDue(k, now)
		if !ok {
			continue
		}
		if err := f.cfg.Publisher.Publish(ctx, []events.Event{f.cfg.Events.Reminder(k, offset, now)}); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := f.store.MarkReminded(ctx, k, offset); err != nil && !errors.Is(err, keys.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reminderDue is the offset whose reminder k is due at now, if one is.
// The window is the one scheduled (PendingDays), not the time from the
// schedule to DeleteAt: that measures a fraction of a second more (the end
// is rounded up to a whole second), and a 7-day window would get its 7-day
// reminder at once.
func (f *Finalizer) reminderDue(k keys.Key, now time.Time) (time.Duration, bool) {
	window := time.Duration(k.PendingDays) * 24 * time.Hour
	if k.PendingDays <= 0 {
		window = k.DeleteAt.Sub(k.ScheduledAt)
	}
	left := k.DeleteAt.Sub(now)
	for _, offset := range f.cfg.Reminders { // smallest first
		if offset >= window || left > offset {
			continue
		}
		if k.Reminded != 0 && k.Reminded <= offset {
			return 0, false // sent already, or one nearer the deletion
		}
		return offset, true
	}
	return 0, false
}

// FinalizeEach finalizes ks, many at once (Config.Parallelism), and says
// how many it finalized and how many it started: none after stop (zero:
// no stop). No sweep runs meanwhile.
func (f *Finalizer) FinalizeEach(ctx context.Context, ks []keys.Key, stop time.Time) (finalized, started int, err error) {
	f.sweeping.Lock()
	defer f.sweeping.Unlock()
	var done atomic.Int64
	started, err = f.each(len(ks), stop, func(i int) error {
		if err := f.Finalize(ctx, ks[i]); err != nil {
			return err
		}
		done.Add(1)
		return nil
	})
	return int(done.Load()), started, err
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
	return f.sweepUntilDone(ctx)
}

func (f *Finalizer) sweepUntilDone(ctx context.Context) error {
	for {
		full, err := f.sweep(ctx, time.Time{})
		if err != nil || !full || ctx.Err() != nil {
			return err
		}
	}
}

// StreamDecoder reads the table's stream records.
type StreamDecoder interface {
	// ExpiredKey extracts the key a TTL removal deleted. ok is false for
	// records that are not TTL removals of keys; every TTL removal of a
	// key item is handed over, whatever it held, so that Finalize decides,
	// and one it cannot finalize is logged, not dropped.
	ExpiredKey(lambdaevents.DynamoDBEventRecord) (k keys.Key, ok bool, err error)
	// NewRecord extracts the audit record an insert wrote; ok is false for
	// every other stream record.
	NewRecord(context.Context, lambdaevents.DynamoDBEventRecord) (r keys.Record, ok bool, err error)
}

// StreamHandler returns the Lambda handler for the table's stream: it
// finalizes each TTL removal of a key, publishes the event of each new
// audit record — the records of different items at once, each item's in
// order — and reports the records it could not process
// (ReportBatchItemFailures), so that only those are retried. A TTL removal
// of something that was not a key pending deletion cannot be finalized by
// retrying: it is logged as an error with the record's identity, and not
// reported as a failure.
func (f *Finalizer) StreamHandler(decode StreamDecoder) func(context.Context, lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
	return func(ctx context.Context, ev lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
		// Records of one item in the order the stream gave them; different
		// items at once (a batch is up to 100 records).
		byItem := map[string][]int{}
		var order []string
		for i, rec := range ev.Records {
			item := recordKeys(rec)
			if _, seen := byItem[item]; !seen {
				order = append(order, item)
			}
			byItem[item] = append(byItem[item], i)
		}
		failed := make([]bool, len(ev.Records))
		f.each(len(order), time.Time{}, func(g int) error {
			for _, i := range byItem[order[g]] {
				failed[i] = f.handleRecord(ctx, decode, ev.Records[i])
			}
			return nil
		})
		var resp lambdaevents.DynamoDBEventResponse
		for i, rec := range ev.Records {
			if failed[i] {
				resp.BatchItemFailures = append(resp.BatchItemFailures,
					lambdaevents.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
			}
		}
		return resp, nil
	}
}

// handleRecord finalizes a TTL removal or publishes a new record's event,
// and says whether the record failed (and is to be retried).
func (f *Finalizer) handleRecord(ctx context.Context, decode StreamDecoder, rec lambdaevents.DynamoDBEventRecord) (failed bool) {
	k, isKey, err := decode.ExpiredKey(rec)
	if err == nil && isKey {
		err = f.Finalize(ctx, k)
	}
	if err == nil && !isKey {
		var r keys.Record
		var isRecord bool
		if r, isRecord, err = decode.NewRecord(ctx, rec); err == nil && isRecord {
			err = f.Publish(ctx, []keys.Record{r})
		}
	}
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNotPending):
		f.log.ErrorContext(ctx, "TTL removed an item that was not a key pending deletion; nothing finalized",
			"eventId", rec.EventID, "sequenceNumber", rec.Change.SequenceNumber, "keys", recordKeys(rec),
			"state", string(k.State), "error", err.Error())
		return false
	}
	f.log.ErrorContext(ctx, "stream record failed", "eventId", rec.EventID,
		"sequenceNumber", rec.Change.SequenceNumber, "keys", recordKeys(rec), "error", err.Error())
	return true
}

// recordKeys renders a stream record's table keys ("pk=T#a sk=K#b"), its
// identity in the table.
func recordKeys(rec lambdaevents.DynamoDBEventRecord) string {
	names := make([]string, 0, len(rec.Change.Keys))
	for name := range rec.Change.Keys {
		names = append(names, name)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, name := range names {
		v := rec.Change.Keys[name]
		if v.DataType() == lambdaevents.DataTypeString {
			parts[i] = name + "=" + v.String()
		} else {
			parts[i] = name + "=?"
		}
	}
	return strings.Join(parts, " ")
}
