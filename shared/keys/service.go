package keys

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Service carries out key operations for every dialect.
type Service struct {
	store Store
	clock Clock
	// reminders are the offsets a dry run reports (SetReminders).
	reminders []time.Duration
	// lastTops are the top counts each tenant's last numbered page read:
	// the guess of where its next page starts (ListNumbered).
	lastTops topsCache
}

// Clock tells a tenant's time: the time its keys' windows are measured in.
// In AWS every tenant's is the wall clock; the local server can move each
// tenant's on its own (its clock API), so that tests running side by side
// do not disturb each other.
type Clock func(tenant string) time.Time

// NewService returns a service on store whose tenants share the clock now
// (time.Now in production).
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return NewServiceWithClock(store, func(string) time.Time { return now() })
}

// NewServiceWithClock returns a service on store with a clock per tenant.
func NewServiceWithClock(store Store, clock Clock) *Service {
	return &Service{store: store, clock: clock}
}

// Now is tenant's time: what the service's answers to it are about.
func (s *Service) Now(tenant string) time.Time { return s.clock(tenant) }

// CreateRequest describes a new key. Zero values take the defaults: AES_256,
// the spec's default usage, origin KMS.
type CreateRequest struct {
	Alias              string
	Description        string
	Spec               Spec
	Usage              Usage
	Origin             Origin
	Tags               map[string]string
	AutoRotation       bool
	RotationPeriodDays int
	Protection         string
	Convergent         bool
}

// numberDraws bounds how many ids Create draws when the number each implies
// is already taken (with 31-bit numbers, a tenant of 10,000 keys sees that
// once in about 200,000 creates).
const numberDraws = 8

// Create makes a key of the caller's tenant with a fresh id and number.
func (s *Service) Create(ctx context.Context, p Principal, r CreateRequest) (Key, error) {
	k, err := s.newKey(p, r)
	if err != nil {
		return Key{}, err
	}
	for draw := 1; ; draw++ {
		k.ID = uuid.NewString()
		k.Number = NumberOf(k.ID)
		err := s.store.Create(ctx, k)
		if unknownOutcome(err) {
			// The create may have been applied: the key's stamp says.
			if stored, gerr := s.store.Get(ctx, k.Owner, k.ID); gerr == nil && stored.LastChange.Same(k.LastChange) {
				err = nil
			}
		}
		switch {
		case err == nil:
			return k, nil
		case errors.Is(err, ErrNumberTaken) && draw < numberDraws:
			continue
		default:
			return Key{}, fmt.Errorf("create key: %w", err)
		}
	}
}

// CreateWithID creates the key r describes with the id given, for p's
// tenant: the entry for keys whose id is fixed ahead (a seed file's).
// ErrKeyExists if the id is taken, or was (a deleted key's tombstone keeps
// it).
func (s *Service) CreateWithID(ctx context.Context, p Principal, id string, r CreateRequest) (Key, error) {
	k, err := s.newKey(p, r)
	if err != nil {
		return Key{}, err
	}
	k.ID, k.Number = id, NumberOf(id)
	err = s.store.Create(ctx, k)
	if unknownOutcome(err) {
		if stored, gerr := s.store.Get(ctx, k.Owner, k.ID); gerr == nil && stored.LastChange.Same(k.LastChange) {
			err = nil
		}
	}
	if err != nil {
		return Key{}, fmt.Errorf("create key %s: %w", id, err)
	}
	return k, nil
}

// newKey is the key r describes, created by p now, without its id.
func (s *Service) newKey(p Principal, r CreateRequest) (Key, error) {
	now := s.clock(p.Tenant).UTC().Truncate(time.Millisecond)
	k := Key{
		Owner: p.Tenant, Alias: r.Alias, Description: r.Description,
		Spec: r.Spec, Usage: r.Usage, Origin: r.Origin, State: Enabled,
		CreatedAt: now, StateChangedAt: now, LastChange: Stamp{Op: OpCreate, By: p, At: now},
		AutoRotation: r.AutoRotation, RotationPeriodDays: r.RotationPeriodDays, Protection: r.Protection,
		Convergent: r.Convergent,
	}
	if len(r.Tags) > MaxTags {
		return Key{}, fmt.Errorf("create key: %d tags: %w", len(r.Tags), ErrTooManyTags)
	}
	if len(r.Tags) > 0 {
		k.Tags = maps.Clone(r.Tags)
	}
	if k.Spec == "" {
		k.Spec = AES256
	}
	usages, ok := specUsages[k.Spec]
	if !ok {
		return Key{}, fmt.Errorf("create key: unknown key spec %q", k.Spec)
	}
	if k.Usage == "" {
		k.Usage = usages[0]
	}
	if !slices.Contains(usages, k.Usage) {
		return Key{}, &UsageError{Spec: k.Spec, Usage: k.Usage}
	}
	if k.Origin == "" {
		k.Origin = OriginKMS
	}
	if k.Origin == OriginExternal {
		k.State = PendingImport
	}
	return k, nil
}

// Get returns a live key of the caller's tenant.
func (s *Service) Get(ctx context.Context, p Principal, id string) (Key, error) {
	k, err := s.store.Get(ctx, p.Tenant, id)
	if err != nil {
		return Key{}, err
	}
	if !k.Live(s.clock(p.Tenant)) {
		return Key{}, ErrNotFound
	}
	return k, nil
}

// GetByAlias returns the live key of the caller's tenant that holds alias.
func (s *Service) GetByAlias(ctx context.Context, p Principal, alias string) (Key, error) {
	id, err := s.store.ResolveAlias(ctx, p.Tenant, alias)
	if err != nil {
		return Key{}, err
	}
	return s.Get(ctx, p, id)
}

// Page is one page of a key listing.
type Page struct {
	Keys []Key
	// Next is the marker of the next page; "" when this is the last one.
	Next string
}

// List returns up to limit live keys of the caller's tenant after the marker `after`.
func (s *Service) List(ctx context.Context, p Principal, after string, limit int) (Page, error) {
	ks, more, err := s.store.List(ctx, p.Tenant, ListQuery{After: after, Limit: limit, Now: s.clock(p.Tenant)})
	if err != nil {
		return Page{}, fmt.Errorf("list keys: %w", err)
	}
	page := Page{Keys: ks}
	if more && len(ks) > 0 {
		page.Next = ks[len(ks)-1].ID
	}
	return page, nil
}

// MaxTrailPage is the most audit records one page holds.
const MaxTrailPage = 1000

// Trail returns a page of the caller's tenant's audit trail. Any credential
// of the tenant may read it: the trail says who did what to its keys.
func (s *Service) Trail(ctx context.Context, p Principal, q TrailQuery) (TrailPage, error) {
	if q.Limit < 1 || q.Limit > MaxTrailPage {
		return TrailPage{}, fmt.Errorf("trail: limit %d outside 1 to %d", q.Limit, MaxTrailPage)
	}
	page, err := s.store.Records(ctx, p.Tenant, q, s.clock(p.Tenant))
	if err != nil {
		return TrailPage{}, fmt.Errorf("trail: %w", err)
	}
	return page, nil
}

// Option adjusts a change for a dialect's rules.
type Option func(*Change)

// SucceedIfAlready makes Enable and Disable succeed, without a write, on a
// key already in the state they lead to (AWS's key-state table); without it
// that is a StateError (Huawei's error table).
func SucceedIfAlready(c *Change) { c.SucceedIfAlready = true }

// Enable makes a disabled key usable again.
func (s *Service) Enable(ctx context.Context, p Principal, id string, opts ...Option) (Key, error) {
	return s.apply(ctx, newChange(OpEnable, p, id, s.clock(p.Tenant)), opts...)
}

// Disable makes an enabled key unusable.
func (s *Service) Disable(ctx context.Context, p Principal, id string, opts ...Option) (Key, error) {
	return s.apply(ctx, newChange(OpDisable, p, id, s.clock(p.Tenant)), opts...)
}

// Tag adds tags to a key, or changes their values.
func (s *Service) Tag(ctx context.Context, p Principal, id string, tags map[string]string) (Key, error) {
	c := newChange(OpTag, p, id, s.clock(p.Tenant))
	c.SetTags = tags
	return s.apply(ctx, c)
}

// Untag removes tags from a key; a tag the key does not have is no error.
func (s *Service) Untag(ctx context.Context, p Principal, id string, tagKeys []string) (Key, error) {
	c := newChange(OpUntag, p, id, s.clock(p.Tenant))
	c.RemoveTags = tagKeys
	return s.apply(ctx, c)
}

// DeleteNow deletes a key pending deletion at once (NCP's DELETE): its
// window ends now and its final deletion -- the key removed, its name
// released, the tombstone and both audit records written -- is carried out
// in the same atomic write, on the caller's behalf. Only its report (the
// "key deleted" log line) is left to the sweep, as for a crash between a
// final deletion and its report.
func (s *Service) DeleteNow(ctx context.Context, p Principal, id string) (Transition, error) {
	if err := p.Policy.allows(OpDeleteNow, 0); err != nil {
		return Transition{}, err
	}
	now := s.clock(p.Tenant).UTC().Truncate(time.Millisecond)
	if err := s.guardAllows(ctx, p, OpDeleteNow, now); err != nil {
		return Transition{}, err
	}
	c := newChange(OpDeleteNow, p, id, now)
	c.DeleteAt = now.Truncate(time.Second) // whole seconds, as TTL counts; not after now
	// The tombstone is made of the key as it is: read it, and write only if
	// it is still so. A key that changed in between (cancelled and
	// scheduled again) is read again.
	k, err := s.store.Get(ctx, p.Tenant, id)
	for attempt := 1; ; attempt++ {
		if errors.Is(err, ErrNotFound) {
			return Transition{}, refusal(c, nil)
		}
		if err != nil {
			return Transition{}, fmt.Errorf("%s: %w", c.Op, err)
		}
		if !c.Permits(&k) {
			return Transition{}, refusal(c, &k)
		}
		r := c.record() // before the final deletion's: records of one instant keep their order
		r.Alias = k.Alias
		fin, err := Finalize(c.Apply(k), now, p) // the tombstone of the window ended now
		if err != nil {
			return Transition{}, err
		}
		fin.Key = k // the key as read, which the write holds the stored item to
		err = s.store.DeleteNow(ctx, c, *r, fin)
		var failed *ConditionFailed
		switch {
		case errors.Is(err, ErrFrozen):
			return Transition{}, &PolicyError{Op: c.Op, Rule: RuleFrozen}
		case errors.Is(err, ErrGuardTripped):
			return Transition{}, &PolicyError{Op: c.Op, Rule: RuleGuard}
		case err == nil:
			return Transition{KeyID: id, State: PendingDeletion, DeleteAt: c.DeleteAt, Record: *r}, nil
		case !errors.As(err, &failed):
			return Transition{}, fmt.Errorf("%s: %w", c.Op, err)
		case failed.Current == nil || !c.Permits(failed.Current):
			return Transition{}, refusal(c, failed.Current)
		case attempt == 3:
			return Transition{}, fmt.Errorf("%s: the key kept changing: %w", c.Op, ErrBusy)
		}
		k = *failed.Current
	}
}

// ScheduleDeletion puts a key into PendingDeletion for days days; the window
// ends on the whole second at or after now + days, so that the stored TTL
// (epoch seconds) never ends it early. The dialect's own range is checked
// by the dialect (package validation); the tenant's policy here.
func (s *Service) ScheduleDeletion(ctx context.Context, p Principal, id string, days int) (Transition, error) {
	if days <= 0 {
		return Transition{}, fmt.Errorf("schedule deletion: window of %d days", days)
	}
	if err := p.Policy.allows(OpSchedule, days); err != nil {
		return Transition{}, err
	}
	now := s.clock(p.Tenant)
	if err := s.guardAllows(ctx, p, OpSchedule, now); err != nil {
		return Transition{}, err
	}
	c := newChange(OpSchedule, p, id, now)
	c.DeleteAt = CeilSecond(now.Add(time.Duration(days) * 24 * time.Hour))
	c.PendingDays = days
	if c.Approval == nil {
		return s.record(ctx, c)
	}
	// Whether the approval rule covers the key is part of the write's
	// condition: one write when the guess is right (always, for a rule
	// that covers every key), a second when the refusal shows the key the
	// other way.
	if c.Approval.All {
		c.Hold = HoldApproval
	}
	t, err := s.record(ctx, c)
	var covered *approvalCoverage
	if errors.As(err, &covered) {
		c.Hold = ""
		if covered.covered {
			c.Hold = HoldApproval
		}
		t, err = s.record(ctx, c)
	}
	return t, err
}

// approvalCoverage is a schedule refused because the approval rule's
// coverage of the key was guessed wrong.
type approvalCoverage struct{ covered bool }

func (e *approvalCoverage) Error() string { return "approval coverage guessed wrong" }

// ApproveDeletion approves the held deletion of a key: p must be one of the
// approval rule's approvers, and not the key's scheduler. The key's window
// then ends at its date, or at once if the date has passed (it is gone to
// every caller from then, and finalized as any ended window is).
func (s *Service) ApproveDeletion(ctx context.Context, p Principal, id string) (Transition, error) {
	if !p.Policy.Approval.MayApprove(p.AccessKey) {
		return Transition{}, &PolicyError{Op: OpApprove, Rule: RuleApprovers}
	}
	return s.answer(ctx, newChange(OpApprove, p, id, s.clock(p.Tenant)))
}

// answer records an approver's answer: first as the key's only hold, then,
// if the refusal shows it held by others too (a freeze), as one of them.
func (s *Service) answer(ctx context.Context, c Change) (Transition, error) {
	t, err := s.record(ctx, c)
	var others *otherHolds
	if errors.As(err, &others) {
		c.KeepHeld = true
		t, err = s.record(ctx, c)
	}
	return t, err
}

// otherHolds is an answer refused because the key carries other holds
// than the one it answers.
type otherHolds struct{}

func (*otherHolds) Error() string { return "the key carries other holds" }

// RejectDeletion rejects the held deletion of a key, as an approver (not
// its scheduler): the deletion is cancelled, and the key comes back
// Disabled.
func (s *Service) RejectDeletion(ctx context.Context, p Principal, id string) (Transition, error) {
	if !p.Policy.Approval.MayApprove(p.AccessKey) {
		return Transition{}, &PolicyError{Op: OpReject, Rule: RuleApprovers}
	}
	return s.answer(ctx, newChange(OpReject, p, id, s.clock(p.Tenant)))
}

// CancelDeletion takes a key out of PendingDeletion while its window is open;
// it comes back Disabled.
func (s *Service) CancelDeletion(ctx context.Context, p Principal, id string) (Transition, error) {
	if err := p.Policy.allows(OpCancel, 0); err != nil {
		return Transition{}, err
	}
	return s.record(ctx, newChange(OpCancel, p, id, s.clock(p.Tenant)))
}

func (s *Service) apply(ctx context.Context, c Change, opts ...Option) (Key, error) {
	c.Now = c.Now.UTC().Truncate(time.Millisecond)
	for _, o := range opts {
		o(&c)
	}
	k, err := s.store.Apply(ctx, c)
	if stored, ok := s.settle(ctx, c, err); ok {
		k, err = stored, nil
	}
	var failed *ConditionFailed
	switch {
	case err == nil:
		return k, nil
	case errors.As(err, &failed):
		if c.AppliedTo(failed.Current) || c.Already(failed.Current) {
			return *failed.Current, nil
		}
		return Key{}, refusal(c, failed.Current)
	default:
		return Key{}, fmt.Errorf("%s: %w", c.Op, err)
	}
}

// record applies a change that the audit trail records, with its record,
// in one atomic write.
func (s *Service) record(ctx context.Context, c Change) (Transition, error) {
	c.Now = c.Now.UTC().Truncate(time.Millisecond)
	r := c.record()
	err := s.store.ApplyRecorded(ctx, c, *r)
	var failed *ConditionFailed
	if errors.As(err, &failed) && c.AppliedTo(failed.Current) {
		err = nil // a retry of this very write, after it was applied
	}
	if _, ok := s.settle(ctx, c, err); ok {
		err = nil
	}
	switch {
	case errors.Is(err, ErrFrozen):
		return Transition{}, &PolicyError{Op: c.Op, Rule: RuleFrozen}
	case errors.Is(err, ErrGuardTripped):
		return Transition{}, &PolicyError{Op: c.Op, Rule: RuleGuard}
	case err == nil:
		k := c.Apply(Key{ID: c.ID, Owner: c.Owner})
		if k.State == "" && len(c.From) == 1 {
			k.State = c.From[0] // a change that keeps the state, from the only one it allows
		}
		return Transition{KeyID: c.ID, State: k.State, StateChangedAt: k.StateChangedAt,
			DeleteAt: k.DeleteAt, PendingDays: k.PendingDays, Record: *r}, nil
	case errors.As(err, &failed):
		return Transition{}, refusal(c, failed.Current)
	default:
		return Transition{}, fmt.Errorf("%s: %w", c.Op, err)
	}
}

// unknownOutcome reports whether err leaves unknown whether a write was
// applied: the store failed or timed out after the request may have
// reached it.
func unknownOutcome(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrStoreTimeout)
}

// settle learns the outcome of a write that ended in unknownOutcome: one
// read of the key, which carries c if c was applied (Change.AppliedTo).
// The store's client retries a write whose answer was lost, but its last
// attempt can be lost too; the read spares the caller a retry that would
// be refused by its own change. ok is false when the read fails or finds
// the change not applied: the error stands.
func (s *Service) settle(ctx context.Context, c Change, err error) (Key, bool) {
	if !unknownOutcome(err) {
		return Key{}, false
	}
	k, gerr := s.store.Get(ctx, c.Owner, c.ID)
	if gerr != nil || !c.AppliedTo(&k) {
		return Key{}, false
	}
	return k, true
}

// refusal says why the stored key cur (nil: none) refused c.
func refusal(c Change, cur *Key) error {
	if cur == nil || cur.Owner != c.Owner || !cur.Live(c.Now) {
		return ErrNotFound
	}
	if rule, protected := c.Protected.Protects(*cur); protected {
		return &PolicyError{Op: c.Op, Rule: rule, Tag: c.Protected.TagKey}
	}
	if c.Approval != nil && slices.Contains(c.From, cur.State) && c.Approval.Covers(*cur) != (c.Hold == HoldApproval) {
		return &approvalCoverage{covered: c.Approval.Covers(*cur)}
	}
	if c.Op == OpDeleteNow && cur.HasHold(HoldFreeze) {
		return &PolicyError{Op: c.Op, Rule: RuleFrozen}
	}
	if c.Op == OpDeleteNow && cur.HasHold(HoldGuard) {
		return &PolicyError{Op: c.Op, Rule: RuleGuard}
	}
	if c.Op == OpDeleteNow && cur.Held() {
		return &PolicyError{Op: c.Op, Rule: RuleAwaitingApproval}
	}
	if c.Release != "" && cur.State == PendingDeletion {
		if !cur.HasHold(c.Release) {
			return &StateError{Op: c.Op, State: cur.State, NotHeld: true}
		}
		if c.NotScheduledBy != "" && cur.ScheduledBy == c.NotScheduledBy {
			return &PolicyError{Op: c.Op, Rule: RuleApprovers}
		}
		if (len(cur.Holds) > 1) != c.KeepHeld {
			return &otherHolds{}
		}
	}
	if slices.Contains(c.From, cur.State) {
		// The state allowed it: the tags did not fit.
		return fmt.Errorf("%s: %w", c.Op, ErrTooManyTags)
	}
	return &StateError{Op: c.Op, State: cur.State}
}

// CeilSecond is t rounded up to a whole second (UTC): where a deletion
// window ends, since the stored TTL counts whole seconds.
func CeilSecond(t time.Time) time.Time {
	t = t.UTC()
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}
