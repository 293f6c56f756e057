package keys

import (
	"time"

	"github.com/google/uuid"
)

// Record is one entry of the audit trail: a schedule, a cancel, an
// immediate deletion or a final deletion. It is written in the same atomic
// write as the change it records, and it outlives the key.
type Record struct {
	// ID is unique (a UUID of version 7), and the dedupe id of the event
	// published for it.
	ID    string
	Owner string
	KeyID string
	// Alias is the key's alias when the record was read; stores that do
	// not read the key when they write fill it in when the trail is read.
	Alias string
	Op    Op
	At    time.Time
	By    Principal
	// DeleteAt and PendingDays are the window: the one opened (schedule),
	// closed (cancel) or ended (immediate and final deletion; DeleteAt is
	// then when it ended).
	DeleteAt    time.Time
	PendingDays int
	// Hold is the hold a schedule started its window with ("" for none).
	Hold Hold
	// KeyIDs are the keys a tenant-wide act concerns: the deletions a
	// guard's trip held (at most MaxRecordKeys).
	KeyIDs []string
}

// MaxRecordKeys bounds a record's KeyIDs (DynamoDB items are 400 KB).
const MaxRecordKeys = 1000

// Stamp is the last change made to a key, kept on the key: who, what and
// when (it travels on the DynamoDB stream with the key's images).
type Stamp struct {
	Op Op
	By Principal
	At time.Time
}

// Same reports whether s and o are one change: the same operation of the
// same request at the same instant. A stamp without a request id (the
// service's own work, a key written before stamps named requests) is never
// the same as another.
func (s Stamp) Same(o Stamp) bool {
	return s.By.RequestID != "" && s.Op == o.Op && s.By.RequestID == o.By.RequestID && s.At.Equal(o.At)
}

// Recorded are the operations that write an audit record.
func Recorded(op Op) bool {
	return op == OpSchedule || op == OpCancel || op == OpDeleteNow || op == OpFinalize || op == OpApprove || op == OpReject ||
		op == OpFreeze || op == OpUnfreeze || op == OpGuardTripped || op == OpGuardReleased
}

// record is the audit record of c, if its operation has one.
func (c Change) record() *Record {
	if !Recorded(c.Op) {
		return nil
	}
	// A version 7 id grows with time, even within a millisecond, so that
	// records of one instant keep the order they were made in.
	return &Record{ID: uuid.Must(uuid.NewV7()).String(), Owner: c.Owner, KeyID: c.ID, Op: c.Op, At: c.Now, By: c.By,
		DeleteAt: c.DeleteAt, PendingDays: c.PendingDays, Hold: c.Hold}
}

// Transition is what a recorded change did to a key: what the dialects
// answer a schedule, a cancel or an immediate deletion with. (The write
// that records the change returns no item, so the rest of the key is not
// known; the caller asked for a change, not for the key.) A change that
// keeps the state (DeleteNow) leaves StateChangedAt and PendingDays zero:
// they are the stored key's, unread.
type Transition struct {
	KeyID          string
	State          State
	StateChangedAt time.Time
	DeleteAt       time.Time
	PendingDays    int
	Record         Record
}

// TrailQuery selects audit records of one owner: of one key or all, from
// From (inclusive) to To (exclusive; zero is no bound), oldest first.
type TrailQuery struct {
	KeyID    string
	From, To time.Time
	Limit    int
	// After is the ID of the last record of the previous page ("" for the
	// first), with its time: records are ordered by time, then by ID.
	After   string
	AfterAt time.Time
	// NoAlias spares the store filling in records' aliases (the guard
	// counts records; it needs none).
	NoAlias bool
}

// TrailPage is one page of audit records; More when others may follow.
type TrailPage struct {
	Records []Record
	More    bool
}
