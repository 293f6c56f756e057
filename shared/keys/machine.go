package keys

import (
	"maps"
	"slices"
	"time"
)

// Op is an operation that changes a key.
type Op string

const (
	OpCreate   Op = "Create"
	OpEnable   Op = "Enable"
	OpDisable  Op = "Disable"
	OpSchedule Op = "ScheduleDeletion"
	OpCancel   Op = "CancelDeletion"
	// OpDeleteNow ends a pending deletion's window at once (NCP's DELETE of a
	// key in REVOKE): the key is gone from that instant, and its final
	// deletion follows as for any window that has ended.
	OpDeleteNow Op = "DeleteNow"
	OpTag       Op = "TagResource"
	OpUntag     Op = "UntagResource"
	// OpFinalize is the final deletion of a key whose window has ended.
	OpFinalize Op = "FinalDeletion"
	// OpApprove and OpReject answer a deletion held for approval.
	OpApprove Op = "ApproveDeletion"
	OpReject  Op = "RejectDeletion"
)

// Window is what a change does to a key's deletion window.
type Window int

const (
	WindowKeep  Window = iota // leave it as it is
	WindowOpen                // open one: DeleteAt and PendingDays of the change
	WindowClear               // close it: the key is no longer pending deletion
	WindowEnd                 // end it now: DeleteAt becomes the change's DeleteAt
)

type rule struct {
	from   []State
	to     State // "" leaves the state as it is
	window Window
}

// machine is the key state machine: the only place that says which
// transitions are legal. Every transition also requires the key to be live
// (its deletion window, if any, still open), so cancel works only while the
// window is open and nothing revives a key whose window has ended.
var machine = map[Op]rule{
	OpSchedule:  {from: []State{Enabled, Disabled, PendingImport}, to: PendingDeletion, window: WindowOpen},
	OpCancel:    {from: []State{PendingDeletion}, to: Disabled, window: WindowClear}, // all three vendors: cancelled keys come back disabled
	OpEnable:    {from: []State{Disabled}, to: Enabled},
	OpDisable:   {from: []State{Enabled}, to: Disabled},
	OpDeleteNow: {from: []State{PendingDeletion}, window: WindowEnd},
	// AWS's key-state table: tags change on any key but one pending deletion.
	OpTag:   {from: []State{Enabled, Disabled, PendingImport}},
	OpUntag: {from: []State{Enabled, Disabled, PendingImport}},
	// The one transition that needs the window ended, not open; see Finalize.
	OpFinalize: {from: []State{PendingDeletion}},
	// An approver's answer to a held deletion: approve releases the hold
	// (the window ends at its date, or at once if the date has passed);
	// reject cancels, as a cancel does.
	OpApprove: {from: []State{PendingDeletion}},
	OpReject:  {from: []State{PendingDeletion}, to: Disabled, window: WindowClear},
}

// MaxTags is how many tags a key may carry (AWS's quota per KMS key).
const MaxTags = 50

// Change is one change of one key, ready for a store to apply as a single
// conditional write. The condition is Permits; the effect is Apply.
type Change struct {
	Op    Op
	Owner string    // the key's owner: By.Tenant
	By    Principal // who asked
	ID    string
	From  []State // states the key may be in
	To    State   // the state after; "" leaves it unchanged
	Now   time.Time
	// Window says what happens to the deletion window; DeleteAt and
	// PendingDays go with WindowOpen, DeleteAt with WindowEnd.
	Window      Window
	DeleteAt    time.Time
	PendingDays int
	// SetTags are added or overwritten, RemoveTags removed; the key may end
	// with at most MaxTags.
	SetTags    map[string]string
	RemoveTags []string
	// SucceedIfAlready makes the change a success without a write when the
	// key is already in To (AWS: EnableKey on an Enabled key).
	SucceedIfAlready bool
	// Protected are the keys the deletion policy protects from this change
	// (schedule and immediate deletion): the one rule of the policy that
	// depends on the key, so part of the write's condition.
	Protected Protected
	// Approval is the policy's approval rule, on a schedule (nil: none).
	// Whether it covers the key is part of the write's condition: Hold is
	// HoldApproval exactly when it does.
	Approval *ApprovalRule
	// Hold is the hold a schedule's window starts with ("" for none).
	Hold Hold
	// Release is the hold an approval or rejection answers: the key must
	// carry it, and must not have been scheduled by NotScheduledBy (the
	// approver). KeepHeld says the key carries other holds too, which stay
	// (else Release is its only hold, and its window is given back).
	Release        Hold
	NotScheduledBy string
	KeepHeld       bool
	// AddHold puts a pending key under a hold; WasHeld says it carries one
	// already (else its window's end moves off the TTL attribute).
	AddHold Hold
	WasHeld bool
	// CheckFreeze makes the write's condition that the owner's deletions
	// are not frozen (the store returns ErrFrozen if they are).
	CheckFreeze bool
	// GuardScopes make the write's condition that none of these guards
	// (the caller's credential, the tenant) is tripped (ErrGuardTripped).
	GuardScopes []string
}

func newChange(op Op, by Principal, id string, now time.Time) Change {
	r := machine[op]
	c := Change{Op: op, Owner: by.Tenant, By: by, ID: id, From: r.from, To: r.to, Window: r.window, Now: now}
	if (op == OpSchedule || op == OpDeleteNow) && by.Policy.Guard.On() {
		c.GuardScopes = []string{by.AccessKey, TenantScope}
	}
	// Only a tenant whose policy names a freezer can be frozen, so only its
	// deletions pay for the check (2 of a schedule's 6 write units on
	// DynamoDB). A freeze left by an earlier policy still stops every final
	// deletion: Finalize checks it whatever the policy.
	mayBeFrozen := len(by.Policy.FreezeBy) > 0
	switch op {
	case OpSchedule:
		c.Protected, c.CheckFreeze = by.Policy.Protected, mayBeFrozen
		if !by.Policy.Approval.IsZero() {
			c.Approval = &by.Policy.Approval
		}
	case OpDeleteNow:
		c.Protected, c.CheckFreeze = by.Policy.Protected, mayBeFrozen
	case OpApprove, OpReject:
		c.Release, c.NotScheduledBy = HoldApproval, by.AccessKey
	}
	return c
}

// ChangesState reports whether the change sets the key's state.
func (c Change) ChangesState() bool { return c.To != "" }

// Permits reports whether the change may be applied to k (nil: no such item).
// Stores that cannot express the condition natively evaluate this.
func (c Change) Permits(k *Key) bool {
	// The freeze holds even a key whose date has passed but which is not
	// finalized yet: nothing is finally deleted while it lasts.
	live := k != nil && (k.Live(c.Now) || c.Op == OpHoldFrozen)
	if k == nil || k.Owner != c.Owner || k.ID != c.ID || !live || !slices.Contains(c.From, k.State) ||
		len(c.tagsAfter(k.Tags)) > MaxTags {
		return false
	}
	if c.AddHold != "" && (k.HasHold(c.AddHold) || k.Held() != c.WasHeld) {
		return false
	}
	if _, protected := c.Protected.Protects(*k); protected {
		return false
	}
	if c.Approval != nil && c.Approval.Covers(*k) != (c.Hold == HoldApproval) {
		return false
	}
	if c.Release != "" && (!k.HasHold(c.Release) || c.NotScheduledBy != "" && k.ScheduledBy == c.NotScheduledBy ||
		(len(k.Holds) > 1) != c.KeepHeld) {
		return false
	}
	// A held deletion ends only by its holds' release: never at once.
	return c.Op != OpDeleteNow || !k.Held()
}

// Already reports whether a refused change found the key already where it
// was going, and asked that this count as success.
func (c Change) Already(k *Key) bool {
	return c.SucceedIfAlready && k != nil && k.Owner == c.Owner && k.Live(c.Now) && c.To != "" && k.State == c.To
}

// AppliedTo reports whether k already carries this very change: its last
// change is c's own (same operation, same request, same instant). A store
// client retries a write whose answer was lost; when the first attempt was
// applied, the retry's condition fails on the key it changed, and that
// refusal is the first attempt's success. A change of the service itself
// (no request id) is never taken for another.
func (c Change) AppliedTo(k *Key) bool {
	return k != nil && k.Owner == c.Owner && k.ID == c.ID && k.LastChange.Same(Stamp{Op: c.Op, By: c.By, At: c.Now})
}

// Apply returns k after the change.
func (c Change) Apply(k Key) Key {
	k.LastChange = Stamp{Op: c.Op, By: c.By, At: c.Now}
	if c.To != "" {
		k.State = c.To
		k.StateChangedAt = c.Now
	}
	switch c.Window {
	case WindowOpen:
		k.DeleteAt, k.PendingDays, k.ScheduledAt, k.Reminded = c.DeleteAt, c.PendingDays, c.Now, 0
		k.ScheduledBy, k.Holds = c.By.AccessKey, nil
		if c.Hold != "" {
			k.Holds = []Hold{c.Hold}
		}
	case WindowClear:
		k.DeleteAt, k.PendingDays, k.ScheduledAt, k.Reminded = time.Time{}, 0, time.Time{}, 0
		k.ScheduledBy, k.Holds = "", nil
	case WindowEnd:
		k.DeleteAt = c.DeleteAt
	}
	if c.Release != "" {
		k.Holds = slices.DeleteFunc(slices.Clone(k.Holds), func(h Hold) bool { return h == c.Release })
		if len(k.Holds) == 0 {
			k.Holds = nil
		}
	}
	if c.AddHold != "" {
		k.Holds = append(slices.Clone(k.Holds), c.AddHold)
		slices.Sort(k.Holds)
	}
	if len(c.SetTags) > 0 || len(c.RemoveTags) > 0 {
		k.Tags = c.tagsAfter(k.Tags)
	}
	return k
}

func (c Change) tagsAfter(tags map[string]string) map[string]string {
	if len(c.SetTags) == 0 && len(c.RemoveTags) == 0 {
		return tags
	}
	out := maps.Clone(tags)
	if out == nil {
		out = map[string]string{}
	}
	for _, t := range c.RemoveTags {
		delete(out, t)
	}
	maps.Copy(out, c.SetTags)
	if len(out) == 0 {
		return nil
	}
	return out
}

// Finalization is the final deletion of one key, ready for a store to carry
// out as one atomic write: remove what remains of the key (its item, if TTL
// has not, and its alias, if it still names the key) and write Tombstone.
type Finalization struct {
	Key       Key // the key as last seen: a stream's old image, or the stored item
	Tombstone Tombstone
	Now       time.Time
	// Record is the final deletion's audit record, written with the
	// tombstone (and only with it: a repeated finalization writes neither).
	Record Record
}

// Finalize is the machine's rule for the final deletion of k at now: k must
// be a key (id and owner) pending deletion. Every path to the final
// deletion -- the stream after TTL, the local loop, the sweep, NCP's DELETE
// through the window it ends -- comes through here. (A window that has not
// ended by now is still finalized if the key came from the stream: TTL, on
// DynamoDB's clock, has already removed it; the store's condition,
// Permits, holds the key item itself to the rule.)
//
// by is who carries it out: the service itself (System), named by the path.
func Finalize(k Key, now time.Time, by Principal) (Finalization, error) {
	r := machine[OpFinalize]
	if k.ID == "" || k.Owner == "" || !slices.Contains(r.from, k.State) || k.DeleteAt.IsZero() || k.Held() {
		return Finalization{}, &StateError{Op: OpFinalize, State: k.State}
	}
	now = now.UTC().Truncate(time.Millisecond)
	scheduled := k.ScheduledAt
	if scheduled.IsZero() {
		// Keys scheduled before the schedule time was kept: their last
		// change of state was the schedule.
		scheduled = k.StateChangedAt
	}
	c := Change{Op: OpFinalize, Owner: k.Owner, By: by, ID: k.ID, Now: now, DeleteAt: k.DeleteAt, PendingDays: k.PendingDays}
	rec := c.record()
	rec.Alias = k.Alias
	return Finalization{Key: k, Now: now, Record: *rec, Tombstone: Tombstone{
		KeyID: k.ID, Owner: k.Owner, Alias: k.Alias, ScheduledAt: scheduled,
		DeleteAt: k.DeleteAt, PendingDays: k.PendingDays, DeletedAt: now,
	}}, nil
}

// Permits reports whether the stored item (nil: there is none, TTL or an
// earlier finalization removed it) may be finally deleted: it must still be
// the pending deletion handed over, of the same owner, and its window must
// have ended. Stores evaluate it, or its equivalent, in the same write.
func (f Finalization) Permits(cur *Key) bool {
	return cur == nil || cur.Owner == f.Key.Owner && cur.State == PendingDeletion &&
		cur.DeleteAt.Equal(f.Key.DeleteAt) && !cur.Live(f.Now) // a held key is live
}
