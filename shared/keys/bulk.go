package keys

import (
	"context"
	"errors"
	"time"
)

// CancelFilter selects pending deletions for a bulk cancel; an empty field
// selects every one.
type CancelFilter struct {
	// ScheduledBy is the access key id that scheduled them.
	ScheduledBy string
	// ScheduledFrom (inclusive) and ScheduledTo (exclusive) bound when.
	ScheduledFrom, ScheduledTo time.Time
	// TagKey, with TagValue if set, selects keys carrying that tag.
	TagKey, TagValue string
	// Held selects the deletions held by that hold.
	Held Hold
}

// Matches reports whether k's pending deletion is one f selects.
func (f CancelFilter) Matches(k Key) bool {
	if k.State != PendingDeletion {
		return false
	}
	if f.ScheduledBy != "" && k.ScheduledBy != f.ScheduledBy {
		return false
	}
	if !f.ScheduledFrom.IsZero() && k.ScheduledAt.Before(f.ScheduledFrom) ||
		!f.ScheduledTo.IsZero() && !k.ScheduledAt.Before(f.ScheduledTo) {
		return false
	}
	if f.TagKey != "" {
		v, ok := k.Tags[f.TagKey]
		if !ok || f.TagValue != "" && v != f.TagValue {
			return false
		}
	}
	return f.Held == "" || k.HasHold(f.Held)
}

// BulkResult is one call's part of a bulk cancel.
type BulkResult struct {
	// Matched are the pending deletions the filter selected in the keys
	// this call went through; Cancelled those it cancelled (none in a dry
	// run); Gone those that ended or changed before their cancel.
	Matched, Cancelled, Gone []Key
	// Next is where the next call starts ("" when every key was seen).
	Next string
}

// BulkCancel cancels every pending deletion of p's tenant that f selects,
// each an ordinary cancel recorded with p (whose request id names the bulk
// call), in pages of the tenant's keys from after; with dryRun it only
// lists them. It handles no key after stop (zero: no stop), but at least
// one, and says where to go on. Safe to repeat: a deletion cancelled already is no longer
// pending, and the filter no longer selects it.
func (s *Service) BulkCancel(ctx context.Context, p Principal, f CancelFilter, after string, dryRun bool, stop time.Time) (BulkResult, error) {
	if !dryRun {
		if err := p.Policy.allows(OpCancel, 0); err != nil {
			return BulkResult{}, err
		}
	}
	const page = 100
	res := BulkResult{Next: after}
	for {
		ks, err := s.List(ctx, p, res.Next, page)
		if err != nil {
			return res, err
		}
		for i, k := range ks.Keys {
			if i > 0 && !stop.IsZero() && !time.Now().Before(stop) {
				res.Next = ks.Keys[i-1].ID // the last key handled: the next call goes on after it
				return res, nil
			}
			if !f.Matches(k) {
				continue
			}
			res.Matched = append(res.Matched, k)
			if dryRun {
				continue
			}
			_, err := s.CancelDeletion(ctx, p, k.ID)
			var stateErr *StateError
			switch {
			case err == nil:
				res.Cancelled = append(res.Cancelled, k)
			case errors.Is(err, ErrNotFound), errors.As(err, &stateErr):
				res.Gone = append(res.Gone, k) // ended, or changed, since it was listed
			default:
				return res, err
			}
		}
		res.Next = ks.Next
		if res.Next == "" || !stop.IsZero() && !time.Now().Before(stop) {
			return res, nil
		}
	}
}
