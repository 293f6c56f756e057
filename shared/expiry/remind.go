package expiry

import (
	"context"
	"errors"
	"time"

	"github.com/keydeletion/service/shared/events"
	"github.com/keydeletion/service/shared/keys"
)

// ReminderStore is what reminders need of a store beyond the keys pending
// deletion (FinalStore.Due): where a reminder's sending is recorded.
type ReminderStore interface {
	// MarkReminded records that a reminder offset before k's deletion date
	// was sent, if k is still pending deletion with the same window
	// (keys.ErrNotFound otherwise).
	MarkReminded(ctx context.Context, k keys.Key, offset time.Duration) error
}

// heldNotice marks, where reminders are marked, that the approvers were
// told a held deletion's date passed: below every offset, so that no
// reminder follows it.
const heldNotice = -time.Second

// noticeHeld tells the approvers, once, that k's date passed while it waits
// for approval (sent before it is marked, as a reminder is).
func (f *Finalizer) noticeHeld(ctx context.Context, k keys.Key, now time.Time) error {
	if k.Reminded == heldNotice {
		return nil
	}
	if err := f.cfg.Publisher.Publish(ctx, []events.Event{f.cfg.Events.Held(k, now)}); err != nil {
		return err
	}
	if err := f.reminders.MarkReminded(ctx, k, heldNotice); err != nil && !errors.Is(err, keys.ErrNotFound) {
		return err
	}
	return nil
}

// reminderHorizon is how far past now a reminder can be due: the largest
// offset (none: now).
func (f *Finalizer) reminderHorizon(now time.Time) time.Time {
	if len(f.cfg.Reminders) == 0 {
		return now
	}
	return now.Add(f.cfg.Reminders[len(f.cfg.Reminders)-1])
}

// remind sends the reminders due among pending (each key's by its owner's
// clock): for each key pending deletion, the reminder of the smallest
// offset whose time has come, unless it (or one of a smaller offset) was
// sent. Offsets not shorter than the window itself are skipped: they fall
// before the schedule. A reminder is sent before it is marked sent, so a
// crash between the two sends it again, with the same id.
func (f *Finalizer) remind(ctx context.Context, pending []keys.Key) error {
	var errs []error
	for _, k := range pending {
		now := f.cfg.Clock(k.Owner)
		if k.HasHold(keys.HoldApproval) && !now.Before(k.DeleteAt) {
			errs = append(errs, f.noticeHeld(ctx, k, now))
			continue
		}
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
		if err := f.reminders.MarkReminded(ctx, k, offset); err != nil && !errors.Is(err, keys.ErrNotFound) {
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
	for _, offset := range keys.ReminderOffsets(f.cfg.Reminders, window) { // smallest first
		if left > offset {
			continue
		}
		if k.Reminded != 0 && k.Reminded <= offset {
			return 0, false // sent already, or one nearer the deletion
		}
		return offset, true
	}
	return 0, false
}
