package expiry

import (
	"context"
	"time"

	"github.com/keydeletion/service/shared/events"
	"github.com/keydeletion/service/shared/keys"
)

// Outbox is what publishing the audit trail's events needs of a store: the
// records whose event is not out yet.
type Outbox interface {
	// Unpublished returns up to limit audit records, written at or before
	// before, whose event has not been published.
	Unpublished(ctx context.Context, before time.Time, limit int) ([]keys.Record, error)
	// MarkPublished records that the events of rs were published.
	MarkPublished(ctx context.Context, rs []keys.Record) error
}

// publishChunk is how many events a sweep publishes and marks at a time.
const publishChunk = 50

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
	return f.outbox.MarkPublished(ctx, records)
}
