package keys

import (
	"context"
	"errors"
	"slices"
	"time"
)

// DefaultReminders are the offsets before a deletion date at which
// reminders are sent, unless the deployment sets its own.
var DefaultReminders = []time.Duration{7 * 24 * time.Hour, 24 * time.Hour}

// ReminderOffsets are those of offsets (any order) whose reminder a window
// of days gets, smallest first: an offset not shorter than the window
// would fall before the schedule.
func ReminderOffsets(offsets []time.Duration, window time.Duration) []time.Duration {
	var out []time.Duration
	for _, o := range offsets {
		if o > 0 && o < window {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// SetReminders sets the reminder offsets a dry run reports (the
// deployment's REMINDER_OFFSETS; DefaultReminders if never set).
func (s *Service) SetReminders(offsets []time.Duration) { s.reminders = slices.Clone(offsets) }

// Plan is what a schedule of a key would do now: decided as the schedule
// is, and nothing changed or recorded.
type Plan struct {
	Key Key // as it is now
	// Refusal is why the schedule would be refused (a *PolicyError or a
	// *StateError); nil when it would be allowed.
	Refusal error
	// DeleteAt is the deletion date it would get; Reminders the times its
	// reminders would go out, earliest first.
	DeleteAt  time.Time
	Reminders []time.Time
	// Approvers, when the policy's approval rule covers the key: one of
	// them, not the scheduler, would have to approve.
	Approvers []string
	// Frozen: the tenant's deletions are frozen (the schedule would be
	// refused). GuardTripped: the caller's (or the tenant's) guard is
	// tripped; GuardCount is how many deletion requests its guard counts in
	// the span now, of GuardMax (0: no guard).
	Frozen               bool
	GuardTripped         bool
	GuardCount, GuardMax int
}

// PlanDeletion is the dry run of ScheduleDeletion(p, id, days): the same
// rules (the policy's, the state machine's, protection, approval) on the
// key as it is, with nothing written. ErrNotFound if there is no live key.
func (s *Service) PlanDeletion(ctx context.Context, p Principal, id string, days int) (Plan, error) {
	if days <= 0 {
		return Plan{}, errors.New("plan deletion: a window of days, 1 or more")
	}
	k, err := s.Get(ctx, p, id)
	if err != nil {
		return Plan{}, err
	}
	now := s.clock(p.Tenant).UTC().Truncate(time.Millisecond)
	c := newChange(OpSchedule, p, id, now)
	c.DeleteAt, c.PendingDays = CeilSecond(now.Add(time.Duration(days)*24*time.Hour)), days
	plan := Plan{Key: k, DeleteAt: c.DeleteAt}
	if c.Approval != nil && c.Approval.Covers(k) {
		c.Hold = HoldApproval
		plan.Approvers = slices.Clone(c.Approval.Approvers)
	}
	freeze, err := s.store.Freeze(ctx, p.Tenant)
	if err != nil {
		return Plan{}, err
	}
	plan.Frozen = freeze.Frozen
	if g := p.Policy.Guard; g.On() {
		plan.GuardMax = g.Max
		trips, err := s.store.GuardTrips(ctx, p.Tenant)
		if err != nil {
			return Plan{}, err
		}
		for _, t := range trips {
			plan.GuardTripped = plan.GuardTripped || t.Scope == TenantScope || t.Scope == p.AccessKey
		}
		if plan.GuardCount, err = s.guardCount(ctx, p, now); err != nil {
			return Plan{}, err
		}
	}
	switch err := p.Policy.allows(OpSchedule, days); {
	case err != nil:
		plan.Refusal = err
	case plan.Frozen && c.CheckFreeze:
		plan.Refusal = &PolicyError{Op: OpSchedule, Rule: RuleFrozen}
	case plan.GuardTripped || plan.GuardMax > 0 && plan.GuardCount >= plan.GuardMax:
		plan.Refusal = &PolicyError{Op: OpSchedule, Rule: RuleGuard}
	case !c.Permits(&k):
		plan.Refusal = refusal(c, &k)
	}
	offsets := s.reminders
	if offsets == nil {
		offsets = DefaultReminders
	}
	for _, o := range ReminderOffsets(offsets, time.Duration(days)*24*time.Hour) {
		plan.Reminders = append(plan.Reminders, c.DeleteAt.Add(-o))
	}
	slices.SortFunc(plan.Reminders, time.Time.Compare) // the first to go out first
	return plan, nil
}
