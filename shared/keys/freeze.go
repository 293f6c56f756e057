package keys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// HoldFreeze: the tenant's deletions are frozen. While it is, no deletion
// is scheduled, none ends at once, and none is finally carried out: its
// pending keys are held past their dates until the freeze is lifted.
const HoldFreeze Hold = "freeze"

// The freeze's acts, recorded in the trail (records without a key).
const (
	OpFreeze   Op = "FreezeDeletion"
	OpUnfreeze Op = "UnfreezeDeletion"
	// OpHoldFrozen puts a frozen tenant's pending key under the freeze's
	// hold, and OpReleaseFrozen takes it off once the freeze is lifted (the
	// freeze's record covers them: they are not recorded one by one).
	OpHoldFrozen    Op = "HoldForFreeze"
	OpReleaseFrozen Op = "ReleaseFromFreeze"
)

// RuleFrozen: the tenant's deletions are frozen.
const RuleFrozen = "freeze"

// ErrFrozen is what a store returns when a write that needs the tenant not
// frozen finds it frozen.
var ErrFrozen = errors.New("the tenant's deletions are frozen")

// Freeze is a tenant's deletion freeze, as stored.
type Freeze struct {
	Frozen bool
	// At and By are the last change of the freeze (zero: never set).
	At time.Time
	By Principal
}

// FreezeChange sets or lifts owner's freeze, as one write with its record:
// refused (ConditionFailed) if the freeze is already as asked.
type FreezeChange struct {
	Owner  string
	Frozen bool
	By     Principal
	Now    time.Time
}

// MayFreeze reports whether p's credential may set or lift the freeze.
func (p Principal) MayFreeze() bool {
	return p.AccessKey != "" && slices.Contains(p.Policy.FreezeBy, p.AccessKey)
}

// FreezeResult is what a freeze or its lifting did in one call.
type FreezeResult struct {
	Freeze Freeze
	// Keys are the pending keys it put under (or took off) the freeze's
	// hold in this call; Complete is false when it stopped at its time
	// bound with keys left (call again: the sweep finishes a lifting too).
	Keys     int
	Complete bool
}

// SetFreeze freezes (or, with frozen false, unfreezes) p's tenant's
// deletions, as p (a principal the policy names), then puts every pending
// key under the freeze's hold (or takes them off it), until stop. Calling
// it again when the freeze is already as asked finishes that work.
func (s *Service) SetFreeze(ctx context.Context, p Principal, frozen bool, stop time.Time) (FreezeResult, error) {
	op := OpFreeze
	if !frozen {
		op = OpUnfreeze
	}
	if !p.MayFreeze() {
		return FreezeResult{}, &PolicyError{Op: op, Rule: RuleFrozen}
	}
	now := s.clock(p.Tenant).UTC().Truncate(time.Millisecond)
	c := Change{Op: op, Owner: p.Tenant, By: p, Now: now}
	err := s.store.SetFreeze(ctx, FreezeChange{Owner: p.Tenant, Frozen: frozen, By: p, Now: now}, *c.record())
	var failed *ConditionFailed
	if err != nil && !errors.As(err, &failed) { // already as asked: go on with the keys
		return FreezeResult{}, fmt.Errorf("%s: %w", op, err)
	}
	res := FreezeResult{Complete: true}
	if res.Freeze, err = s.store.Freeze(ctx, p.Tenant); err != nil {
		return res, err
	}
	op, release := OpHoldFrozen, !frozen
	if release {
		op = OpReleaseFrozen
	}
	err = s.eachPending(ctx, p.Tenant, func(k Key) error {
		if k.HasHold(HoldFreeze) == frozen {
			return nil
		}
		res.Keys++
		return s.changeHold(ctx, p, k, op, HoldFreeze, release)
	}, stop)
	if errors.Is(err, errStopped) {
		res.Complete, err = false, nil
	}
	return res, err
}

// Frozen is p's tenant's freeze.
func (s *Service) Frozen(ctx context.Context, p Principal) (Freeze, error) {
	return s.store.Freeze(ctx, p.Tenant)
}
