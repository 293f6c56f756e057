package keys

import (
	"context"
	"errors"
	"fmt"
)

// SeedDialect is the Dialect of the principal that seeds keys: the
// operator's seed file, recorded as such in the trail.
const SeedDialect = "seed"

// SeedRequest is a key a seed file declares: its id is fixed, and so is the
// state it starts in. Its id's format and the window's range are the seed
// file's to check (package validation); Check holds what the domain needs.
type SeedRequest struct {
	ID string // a key id that can be issued (validation.NewKeyID)
	CreateRequest
	// State is Enabled (also when empty), Disabled, PendingDeletion or
	// PendingImport (which makes the key's origin EXTERNAL).
	State State
	// PendingDays is a PendingDeletion key's window, from the seeding.
	PendingDays int
}

// Check says what is wrong with r, if anything, before anything is written.
func (r SeedRequest) Check() error {
	switch r.State {
	case "", Enabled, Disabled, PendingImport:
		if r.PendingDays != 0 {
			return fmt.Errorf("pendingDays is for a key in state PendingDeletion")
		}
	case PendingDeletion:
		if r.PendingDays < 1 {
			return fmt.Errorf("a PendingDeletion key needs a window of a day or more")
		}
	default:
		return fmt.Errorf("state %q is not one of Enabled, Disabled, PendingDeletion, PendingImport", r.State)
	}
	return nil
}

// Seed makes the key r declares for p's tenant, in its state, unless the id
// is taken: a seed applies once, and what tests did to the key since (or
// its deletion) stands. created says whether it made the key now. A seed
// interrupted between creating a key and moving it to its state finishes
// the move the next time.
func (s *Service) Seed(ctx context.Context, p Principal, r SeedRequest) (k Key, created bool, err error) {
	if err := r.Check(); err != nil {
		return Key{}, false, err
	}
	p.Policy = Policy{} // the operator's seed, not a caller under the tenant's policy
	if r.State == PendingImport {
		r.Origin = OriginExternal
	}
	k, err = s.store.Get(ctx, p.Tenant, r.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		k, err = s.newKey(p, r.CreateRequest)
		if err != nil {
			return Key{}, false, err
		}
		k.ID, k.Number = r.ID, NumberOf(r.ID)
		switch err := s.store.Create(ctx, k); {
		case errors.Is(err, ErrKeyExists):
			return Key{}, false, nil // deleted since it was seeded: it stays deleted
		case err != nil:
			return Key{}, false, err
		}
		created = true
	case err != nil:
		return Key{}, false, err
	case k.LastChange.Op != OpCreate || k.LastChange.By.Dialect != SeedDialect:
		return k, false, nil
	}
	switch {
	case r.State == Disabled && k.State == Enabled:
		k, err = s.Disable(ctx, p, r.ID)
	case r.State == PendingDeletion && k.State != PendingDeletion:
		_, err = s.ScheduleDeletion(ctx, p, r.ID, r.PendingDays)
		if err == nil {
			k, err = s.store.Get(ctx, p.Tenant, r.ID)
		}
	}
	return k, created, err
}
