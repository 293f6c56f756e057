// Package expiry carries out what follows a deletion window, one job a
// file: the final deletion of keys whose window has ended and its report
// (finalize.go), the events of the audit trail's outbox (publish.go),
// reminders before a window ends (remind.go), and the sweep that runs them
// all as the backstop (sweep.go). Each job has the store interface of its
// own; Store is all of them. In AWS the expire function feeds the
// finalizer the table's stream (TTL removals, new audit records) and the
// sweep function runs Sweep on a schedule; on a laptop the local server's
// loop runs it every second. Every path to a final deletion is
// Finalizer.Finalize.
package expiry

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/uuid"

	"github.com/keydeletion/service/shared/events"
	"github.com/keydeletion/service/shared/keys"
)

// Store is what the work after a window needs of a store: each job's part.
// Every "before" lists what was due at or before that time, oldest first.
type Store interface {
	FinalStore
	Outbox
	ReminderStore
}

// DefaultReminders are the offsets before a deletion date at which
// reminders are sent (the domain's: a dry run reports the same).
var DefaultReminders = keys.DefaultReminders

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
	final     FinalStore
	outbox    Outbox
	reminders ReminderStore
	cfg       Config
	log       *slog.Logger
	// sweeping lets one sweep or batch of final deletions run at a time,
	// so that none publishes or reports what another is handling.
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
	return &Finalizer{final: store, outbox: store, reminders: store, cfg: cfg, log: cfg.Log}
}

// requestID names one piece of work in its records: the Lambda invocation,
// or a fresh id.
func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return uuid.NewString()
}

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
