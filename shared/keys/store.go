package keys

import (
	"context"
	"time"
)

// Store persists keys: what the service needs of a store, and no more (the
// final deletion's needs are expiry.Store's). Implementations: dynamostore
// (production) and pebblestore (embedded). The conformance suite in storetest
// holds both to this contract.
type Store interface {
	// Create stores a new key and, if it has one, claims its alias, in one
	// atomic write. ErrAliasExists if the owner's alias is taken.
	Create(ctx context.Context, k Key) error
	// Get returns the stored key (even one whose window has ended; the
	// service decides). ErrNotFound if there is no item for this owner.
	Get(ctx context.Context, owner, id string) (Key, error)
	// ResolveAlias returns the id of the key that holds alias. ErrNotFound if none.
	ResolveAlias(ctx context.Context, owner, alias string) (string, error)
	// List returns keys of owner as q selects them. more is true when
	// further keys may follow the last one returned.
	List(ctx context.Context, owner string, q ListQuery) (ks []Key, more bool, err error)
	// Tally returns how many of owner's stored keys of spec ("" for every
	// spec) each bucket directly under `under` holds (TallyBuckets), in
	// ascending bucket order: the top buckets for "", a top bucket's leaf
	// buckets for it. Create, DeleteNow and the final deletion keep it, each
	// in the same atomic write.
	Tally(ctx context.Context, owner, under string, spec Spec) ([]BucketCount, error)
	// DueOf returns up to limit of owner's stored keys that are not live
	// at before (their window ended and no hold keeps them: their final
	// deletion has not yet run), oldest first. The tally still counts them.
	DueOf(ctx context.Context, owner string, before time.Time, limit int) ([]Key, error)
	// Apply performs c as one conditional write and returns the key after it.
	// If c.Permits does not hold for the stored item it changes nothing and
	// returns *ConditionFailed carrying the item as stored.
	Apply(ctx context.Context, c Change) (Key, error)
	// ApplyRecorded performs c and writes its audit record r in one atomic
	// write (on DynamoDB, still one request). It returns what Apply
	// returns, without the key: *ConditionFailed with the item as stored
	// when c.Permits does not hold, and nothing written.
	ApplyRecorded(ctx context.Context, c Change, r Record) error
	// DeleteNow performs c, an immediate deletion, and the key's final
	// deletion f in one atomic write: the key f.Key was read as (it must
	// still be that pending deletion) is removed with its alias, and f's
	// tombstone, r and f.Record are written. *ConditionFailed with the item
	// as stored (nil if none) when c.Permits does not hold or the key
	// changed since it was read, and nothing written.
	DeleteNow(ctx context.Context, c Change, r Record, f Finalization) error
	// Records returns a page of owner's audit trail as q selects it, with
	// every record's alias (the key's, if the record was written without
	// it); records whose retention ended by now are left out.
	Records(ctx context.Context, owner string, q TrailQuery, now time.Time) (TrailPage, error)
	// SetFreeze sets or lifts owner's deletion freeze and writes its record
	// r, in one atomic write; *ConditionFailed if the freeze is already as
	// f asks, and nothing written. Changes with CheckFreeze, and every
	// final deletion, are refused with ErrFrozen while it is set.
	SetFreeze(ctx context.Context, f FreezeChange, r Record) error
	// Freeze is owner's deletion freeze (the zero Freeze if never set).
	Freeze(ctx context.Context, owner string) (Freeze, error)
	// SetGuard trips or releases the guard of g.Scope and writes its
	// record r, in one atomic write; *ConditionFailed if it is already as
	// g asks. Changes with GuardScopes are refused with ErrGuardTripped
	// while one of their scopes is tripped.
	SetGuard(ctx context.Context, g GuardChange, r Record) error
	// GuardTrips are owner's tripped guards.
	GuardTrips(ctx context.Context, owner string) ([]GuardTrip, error)
}
