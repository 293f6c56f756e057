package keys

import (
	"context"
	"time"
)

// Store persists keys. Implementations: dynamostore (production) and
// boltstore (embedded). The conformance suite in storetest holds both to
// this contract.
type Store interface {
	// Create stores a new key and, if it has one, claims its alias, in one
	// atomic write. ErrAliasExists if the owner's alias is taken.
	Create(ctx context.Context, k Key) error
	// Get returns the stored key (even one whose window has ended; the
	// service decides). ErrNotFound if there is no item for this owner.
	Get(ctx context.Context, owner, id string) (Key, error)
	// ResolveAlias returns the id of the key that holds alias. ErrNotFound if none.
	ResolveAlias(ctx context.Context, owner, alias string) (string, error)
	// List returns up to limit keys of owner that are live at now, in
	// ascending id order, starting after the id `after` ("" for the start).
	// more is true when further keys may follow the last one returned.
	List(ctx context.Context, owner, after string, limit int, now time.Time) (ks []Key, more bool, err error)
	// Apply performs c as one conditional write and returns the key after it.
	// If c.Permits does not hold for the stored item it changes nothing and
	// returns *ConditionFailed carrying the item as stored.
	Apply(ctx context.Context, c Change) (Key, error)
	// Due returns up to limit pending-deletion keys whose window ended at or
	// before now, for the local expiry loop that stands in for TTL.
	Due(ctx context.Context, now time.Time, limit int) ([]Key, error)
	// Finalize carries out f as one atomic write, if f.Permits the stored
	// item: it removes what remains of the key (the item, if TTL has not
	// removed it, and its alias, if it still names the key) and writes the
	// tombstone. It returns the tombstone as stored and whether this call
	// wrote it. Idempotent: finalizing an already finalized key changes
	// nothing and returns the tombstone written before.
	Finalize(ctx context.Context, f Finalization) (stored Tombstone, created bool, err error)
	// MarkReported records that the final deletion of owner's key id was
	// reported at at.
	MarkReported(ctx context.Context, owner, id string, at time.Time) error
	// Unreported returns up to limit tombstones whose deletion has not been
	// reported, for the local expiry loop to report after a crash.
	Unreported(ctx context.Context, limit int) ([]Tombstone, error)
	// Tombstone returns the record of a finalized key. ErrNotFound if none.
	Tombstone(ctx context.Context, owner, id string) (Tombstone, error)
}
