package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// SeedDialect is the Dialect of the principal that seeds keys: the
// operator's seed file, recorded as such in the trail.
const SeedDialect = "seed"

// MaxSeedWindowDays bounds a seeded key's deletion window (the longest any
// dialect allows, Huawei's 1096 days); the shortest is a day, shorter than
// any dialect's, so that a test can start near a deletion date.
const MaxSeedWindowDays = 1096

// SeedRequest is a key a seed file declares: its id is fixed, and so is the
// state it starts in.
type SeedRequest struct {
	ID string // a lowercase UUID
	CreateRequest
	// State is Enabled (also when empty), Disabled, PendingDeletion or
	// PendingImport (which makes the key's origin EXTERNAL).
	State State
	// PendingDays is a PendingDeletion key's window, from the seeding.
	PendingDays int
}

// Check says what is wrong with r, if anything.
func (r SeedRequest) Check() error {
	if u, err := uuid.Parse(r.ID); err != nil || u.String() != r.ID {
		return fmt.Errorf("id %q is not a lowercase UUID such as 0b6f7c4e-3a1d-4c2b-9e8f-1a2b3c4d5e6f", r.ID)
	}
	switch r.State {
	case "", Enabled, Disabled, PendingImport:
		if r.PendingDays != 0 {
			return fmt.Errorf("pendingDays is for a key in state PendingDeletion")
		}
	case PendingDeletion:
		if r.PendingDays < 1 || r.PendingDays > MaxSeedWindowDays {
			return fmt.Errorf("a PendingDeletion key needs pendingDays from 1 to %d", MaxSeedWindowDays)
		}
	default:
		return fmt.Errorf("state %q is not one of Enabled, Disabled, PendingDeletion, PendingImport", r.State)
	}
	if r.State == PendingImport && r.Origin != "" && r.Origin != OriginExternal {
		return fmt.Errorf("a PendingImport key's origin is EXTERNAL")
	}
	if r.Origin == OriginExternal && r.State != PendingImport && r.State != PendingDeletion {
		return fmt.Errorf("a key of origin EXTERNAL without key material is in state PendingImport")
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
