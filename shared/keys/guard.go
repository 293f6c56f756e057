package keys

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// GuardRule is the policy's anomaly guard: more than Max deletion requests
// (schedules and immediate deletions) within Span, by one credential (or,
// with PerTenant, by the tenant as a whole), trip it. Off when Max is 0.
type GuardRule struct {
	Max       int
	Span      time.Duration
	PerTenant bool
}

// On reports whether the guard is set.
func (g GuardRule) On() bool { return g.Max > 0 && g.Span > 0 }

// TenantScope is the guard's scope when it counts the tenant as a whole.
const TenantScope = "*"

// scope is the guard's scope for p: its credential, or the tenant.
func (g GuardRule) scope(p Principal) string {
	if g.PerTenant {
		return TenantScope
	}
	return p.AccessKey
}

// HoldGuard: the deletion was scheduled by a credential (or a tenant) whose
// burst tripped the guard, since the span before the trip began; it is held
// until another principal releases the guard.
const HoldGuard Hold = "guard"

// The guard's acts, recorded (without a key).
const (
	OpGuardTripped  Op = "GuardTripped"
	OpGuardReleased Op = "GuardReleased"
	opHoldGuard     Op = "HoldForGuard"
	opReleaseGuard  Op = "ReleaseFromGuard"
)

// RuleGuard: the anomaly guard refused, or its release by the principal
// that tripped it.
const RuleGuard = "guard"

// ErrGuardTripped is what a store returns when a write that needs the guard
// not tripped (for the caller's scope) finds it tripped.
var ErrGuardTripped = errors.New("the deletion guard is tripped")

// GuardTrip is a tripped guard, as stored.
type GuardTrip struct {
	Scope string
	At    time.Time
	By    Principal
}

// guardAllows counts p's deletion requests (by its scope) in the span
// before now; at the rule's maximum, this request trips the guard: the trip
// is recorded, every deletion the scope scheduled in the span is held, and
// the request is refused.
func (s *Service) guardAllows(ctx context.Context, p Principal, op Op, now time.Time) error {
	g := p.Policy.Guard
	if !g.On() {
		return nil
	}
	scope, from := g.scope(p), now.Add(-g.Span)
	count, err := s.guardCount(ctx, p, now)
	if err != nil {
		return err
	}
	if count < g.Max {
		return nil
	}
	if err := s.tripGuard(ctx, p, scope, from, now); err != nil {
		return err
	}
	return &PolicyError{Op: op, Rule: RuleGuard}
}

// guardCount counts the deletion requests p's guard scope made in the span
// before now, since the last release.
func (s *Service) guardCount(ctx context.Context, p Principal, now time.Time) (int, error) {
	g := p.Policy.Guard
	scope := g.scope(p)
	count := 0
	q := TrailQuery{From: now.Add(-g.Span), Limit: MaxTrailPage, NoAlias: true}
	for {
		page, err := s.store.Records(ctx, p.Tenant, q, now)
		if err != nil {
			return 0, fmt.Errorf("guard: %w", err)
		}
		for _, r := range page.Records { // oldest first
			switch {
			case r.Op == OpGuardReleased:
				count = 0 // a release starts the count anew
			case (r.Op == OpSchedule || r.Op == OpDeleteNow) && (scope == TenantScope || r.By.AccessKey == scope):
				count++
			}
		}
		if !page.More || len(page.Records) == 0 {
			return count, nil
		}
		last := page.Records[len(page.Records)-1]
		q.After, q.AfterAt = last.ID, last.At
	}
}

// tripGuard records the trip (once), naming the deletions scope scheduled
// since from, and holds them.
func (s *Service) tripGuard(ctx context.Context, p Principal, scope string, from, now time.Time) error {
	f := CancelFilter{ScheduledFrom: from}
	if scope != TenantScope {
		f.ScheduledBy = scope
	}
	var held []Key
	if err := s.eachPending(ctx, p.Tenant, func(k Key) error {
		if f.Matches(k) && !k.HasHold(HoldGuard) {
			held = append(held, k)
		}
		return nil
	}, time.Time{}); err != nil {
		return err
	}
	c := Change{Op: OpGuardTripped, Owner: p.Tenant, By: p, Now: now.UTC().Truncate(time.Millisecond)}
	r := c.record()
	for _, k := range held[:min(len(held), MaxRecordKeys)] {
		r.KeyIDs = append(r.KeyIDs, k.ID)
	}
	err := s.store.SetGuard(ctx, GuardChange{Owner: p.Tenant, Scope: scope, Tripped: true, By: p, Now: c.Now}, *r)
	var failed *ConditionFailed
	if err != nil && !errors.As(err, &failed) {
		return fmt.Errorf("trip guard: %w", err)
	}
	for _, k := range held {
		if err := s.changeHold(ctx, p, k, opHoldGuard, HoldGuard, false); err != nil {
			return err
		}
	}
	return nil
}

// GuardChange trips or releases a scope's guard, as one write with its
// record: refused (ConditionFailed) if it is already as asked.
type GuardChange struct {
	Owner   string
	Scope   string
	Tripped bool
	By      Principal
	Now     time.Time
}

// ReleaseGuard releases scope's tripped guard (a credential's access key
// id, or TenantScope), as p, who must not be the credential that tripped
// it; then every deletion it held proceeds (or was cancelled in bulk
// before: BulkCancel with Held HoldGuard).
func (s *Service) ReleaseGuard(ctx context.Context, p Principal, scope string, stop time.Time) (int, bool, error) {
	trips, err := s.store.GuardTrips(ctx, p.Tenant)
	if err != nil {
		return 0, false, err
	}
	var trip *GuardTrip
	for i := range trips {
		if trips[i].Scope == scope {
			trip = &trips[i]
		}
	}
	if trip == nil {
		return 0, false, ErrNotFound
	}
	if trip.By.AccessKey == p.AccessKey || scope == p.AccessKey {
		return 0, false, &PolicyError{Op: OpGuardReleased, Rule: RuleGuard}
	}
	now := s.clock(p.Tenant).UTC().Truncate(time.Millisecond)
	c := Change{Op: OpGuardReleased, Owner: p.Tenant, By: p, Now: now}
	err = s.store.SetGuard(ctx, GuardChange{Owner: p.Tenant, Scope: scope, Tripped: false, By: p, Now: now}, *c.record())
	var failed *ConditionFailed
	if err != nil && !errors.As(err, &failed) {
		return 0, false, fmt.Errorf("release guard: %w", err)
	}
	released := 0
	complete := true
	err = s.eachPending(ctx, p.Tenant, func(k Key) error {
		if !k.HasHold(HoldGuard) || scope != TenantScope && k.ScheduledBy != scope {
			return nil
		}
		released++
		return s.changeHold(ctx, p, k, opReleaseGuard, HoldGuard, true)
	}, stop)
	if errors.Is(err, errStopped) {
		complete, err = false, nil
	}
	return released, complete, err
}

// GuardTrips are p's tenant's tripped guards.
func (s *Service) GuardTrips(ctx context.Context, p Principal) ([]GuardTrip, error) {
	return s.store.GuardTrips(ctx, p.Tenant)
}

var errStopped = errors.New("stopped at the time bound")

// eachPending calls fn for every pending deletion of owner (live or not),
// until stop (zero: no stop; then errStopped).
func (s *Service) eachPending(ctx context.Context, owner string, fn func(Key) error, stop time.Time) error {
	after := ""
	for {
		page, more, err := s.store.List(ctx, owner, ListQuery{After: after, Limit: 100}) // every key, live or not
		if err != nil {
			return err
		}
		for _, k := range page {
			if !stop.IsZero() && !time.Now().Before(stop) {
				return errStopped
			}
			if k.State != PendingDeletion {
				continue
			}
			if err := fn(k); err != nil {
				return err
			}
		}
		if !more || len(page) == 0 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// changeHold puts k under hold h (or releases it), as k was read; a key
// that changed meanwhile is left as it is.
func (s *Service) changeHold(ctx context.Context, p Principal, k Key, op Op, h Hold, release bool) error {
	c := Change{Op: op, Owner: p.Tenant, By: p, ID: k.ID, From: []State{PendingDeletion},
		Now: s.clock(p.Tenant).UTC().Truncate(time.Millisecond), WasHeld: k.Held(), KeepHeld: len(k.Holds) > 1}
	if release {
		c.Release = h
	} else {
		c.AddHold = h
	}
	_, err := s.store.Apply(ctx, c)
	var failed *ConditionFailed
	if errors.As(err, &failed) {
		return nil
	}
	return err
}
