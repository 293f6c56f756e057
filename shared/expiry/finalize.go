package expiry

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// FinalStore is what the final deletion and its report need of a store.
type FinalStore interface {
	// Due returns up to limit keys pending deletion whose window ends at
	// or before before.
	Due(ctx context.Context, before time.Time, limit int) ([]keys.Key, error)
	// Finalize carries out f as one atomic write, if f.Permits the stored
	// item: it removes what remains of the key (the item, if TTL has not
	// removed it, and its alias, if it still names the key) and writes the
	// tombstone and f.Record. It returns the tombstone as stored and
	// whether this call wrote it. Idempotent: finalizing an already
	// finalized key changes nothing and returns the tombstone written
	// before. *keys.ConditionFailed, with the key as stored, when f does
	// not permit it.
	Finalize(ctx context.Context, f keys.Finalization) (stored keys.Tombstone, created bool, err error)
	// MarkReported records that the final deletion of owner's key id was
	// reported at at.
	MarkReported(ctx context.Context, owner, id string, at time.Time) error
	// Unreported returns up to limit tombstones, deleted at or before
	// before, whose deletion has not been reported.
	Unreported(ctx context.Context, before time.Time, limit int) ([]keys.Tombstone, error)
	// Restore puts k back under the freeze's hold if its item is gone (TTL
	// removed it) and it has no tombstone: a frozen tenant's key is never
	// lost to TTL.
	Restore(ctx context.Context, k keys.Key) error
}

// The refusals of a final deletion. Permanent says which a retry cannot
// change.
var (
	// ErrNotPending: the key handed over was not pending deletion, or
	// lacks an id or owner, so there is nothing to finalize.
	ErrNotPending = errors.New("key is not pending deletion")
	// ErrChanged: the stored key is no longer the pending deletion handed
	// over (its deletion was cancelled, or scheduled anew).
	ErrChanged = errors.New("key is no longer the pending deletion handed over")
	// ErrNotYetDue: the stored key's window has not ended by the store's
	// clock. A later attempt can succeed.
	ErrNotYetDue = errors.New("key's window has not ended")
)

// Permanent says whether err refuses a final deletion for good, so that
// retrying it is in vain: ErrNotPending or ErrChanged. Store failures and
// ErrNotYetDue are not.
func Permanent(err error) bool {
	return errors.Is(err, ErrNotPending) || errors.Is(err, ErrChanged)
}

// Finalize removes what remains of k, records its deletion in a tombstone
// and the trail, and reports it. Safe to repeat: each tombstone is reported
// once, when it is written, and again only if a crash came between the
// write and the report (the tombstone remembers whether it was reported); a
// repeat that finds nothing to do says so at debug level. A refusal wraps
// ErrNotPending, ErrChanged, ErrNotYetDue or keys.ErrFrozen (then the key,
// if TTL took it, is restored, held until the freeze is lifted).
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
	stored, created, err := f.final.Finalize(ctx, fin)
	if errors.Is(err, keys.ErrFrozen) {
		// Nothing is finally deleted while the tenant is frozen; a key TTL
		// took meanwhile comes back, held until the freeze is lifted.
		if err := f.final.Restore(ctx, k); err != nil {
			return fmt.Errorf("finalize %s: frozen, and the restore failed: %w", k.ID, err)
		}
		return fmt.Errorf("finalize %s: %w", k.ID, err)
	}
	if cf := (*keys.ConditionFailed)(nil); errors.As(err, &cf) {
		return fmt.Errorf("finalize %s: %w", k.ID, refusal(fin, cf.Current))
	}
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

// refusal says why fin was refused, by the key as stored (nil: unknown).
func refusal(fin keys.Finalization, cur *keys.Key) error {
	if cur != nil && cur.Owner == fin.Key.Owner && cur.State == keys.PendingDeletion &&
		cur.DeleteAt.Equal(fin.Key.DeleteAt) && cur.Live(fin.Now) {
		return ErrNotYetDue
	}
	return ErrChanged
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
	if err := f.final.MarkReported(ctx, t.Owner, t.KeyID, f.cfg.Clock(t.Owner)); err != nil {
		f.log.WarnContext(ctx, "key deleted, but recording the report failed; it may be reported again",
			"key", t.KeyID, "owner", t.Owner, "error", err.Error())
	}
}

// FinalizeEach finalizes ks, many at once (Config.Parallelism), and says
// how many it finalized and how many it started: none after stop (zero:
// no stop). No sweep runs meanwhile.
func (f *Finalizer) FinalizeEach(ctx context.Context, ks []keys.Key, stop time.Time) (finalized, started int, err error) {
	f.sweeping.Lock()
	defer f.sweeping.Unlock()
	var done atomic.Int64
	started, err = f.each(len(ks), stop, func(i int) error {
		finalized, err := f.finalizeDue(ctx, ks[i])
		if finalized {
			done.Add(1)
		}
		return err
	})
	return int(done.Load()), started, err
}

// finalizeDue finalizes k, read as due a moment ago. A refusal for good
// means it changed since (its deletion cancelled in between): not a
// failure of the sweep, only a line of the log.
func (f *Finalizer) finalizeDue(ctx context.Context, k keys.Key) (finalized bool, err error) {
	err = f.Finalize(ctx, k)
	if errors.Is(err, keys.ErrFrozen) {
		f.log.DebugContext(ctx, "due, but the tenant's deletions are frozen", "key", k.ID, "owner", k.Owner)
		return false, nil
	}
	if Permanent(err) {
		f.log.WarnContext(ctx, "key read as due changed before its final deletion; left as it is", "key", k.ID, "owner", k.Owner, "error", err.Error())
		return false, nil
	}
	return err == nil, err
}
