package keys

import (
	"slices"
	"time"
)

// Op is an operation that changes a key's state.
type Op string

const (
	OpEnable   Op = "Enable"
	OpDisable  Op = "Disable"
	OpSchedule Op = "ScheduleDeletion"
	OpCancel   Op = "CancelDeletion"
)

type rule struct {
	from []State
	to   State
}

// machine is the key state machine: the only place that says which
// transitions are legal. Every transition also requires the key to be live
// (its deletion window, if any, still open), so cancel works only while the
// window is open and nothing revives a key whose window has ended.
var machine = map[Op]rule{
	OpSchedule: {from: []State{Enabled, Disabled, PendingImport}, to: PendingDeletion},
	OpCancel:   {from: []State{PendingDeletion}, to: Disabled}, // all three vendors: cancelled keys come back disabled
	OpEnable:   {from: []State{Disabled}, to: Enabled},
	OpDisable:  {from: []State{Enabled}, to: Disabled},
}

// Change is one state transition of one key, ready for a store to apply as a
// single conditional write. The condition is Permits; the effect is Apply.
type Change struct {
	Op    Op
	Owner string
	ID    string
	From  []State // states the key may be in
	To    State
	Now   time.Time // the key must be live at Now
	// DeleteAt and PendingDays are set when To is PendingDeletion and
	// cleared otherwise.
	DeleteAt    time.Time
	PendingDays int
}

func newChange(op Op, owner, id string, now time.Time) Change {
	r := machine[op]
	return Change{Op: op, Owner: owner, ID: id, From: r.from, To: r.to, Now: now}
}

// Permits reports whether the change may be applied to k (nil: no such item).
// Stores that cannot express the condition natively evaluate this.
func (c Change) Permits(k *Key) bool {
	return k != nil && k.Owner == c.Owner && k.ID == c.ID && k.Live(c.Now) && slices.Contains(c.From, k.State)
}

// Apply returns k after the change.
func (c Change) Apply(k Key) Key {
	k.State = c.To
	k.StateChangedAt = c.Now
	k.DeleteAt = c.DeleteAt
	k.PendingDays = c.PendingDays
	return k
}
