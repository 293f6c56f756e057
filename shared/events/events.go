// Package events publishes the key lifecycle to Amazon EventBridge (in AWS)
// or to a webhook (on a laptop): a deletion scheduled, cancelled, a window
// ended at once, a key finally deleted, and reminders before a window ends.
// The final deletion follows AWS KMS's own "KMS CMK Deletion" event; the
// others are this service's. Delivery is at least once: every event carries
// a stable id in its detail ("event-id") for consumers to drop repeats.
package events

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/validation"
)

// Detail types.
const (
	// KeyDeleted is AWS KMS's own detail type for a key's final deletion.
	KeyDeleted          = "KMS CMK Deletion"
	DeletionScheduled   = "KMS Key Deletion Scheduled"
	DeletionCancelled   = "KMS Key Deletion Cancelled"
	DeletionWindowEnded = "KMS Key Deletion Window Ended"
	DeletionReminder    = "KMS Key Deletion Reminder"
	// DeletionAwaitingApproval tells the approvers that a schedule needs
	// one of them: the deletion is held until then.
	DeletionAwaitingApproval = "KMS Key Deletion Awaiting Approval"
	DeletionApproved         = "KMS Key Deletion Approved"
	// DeletionHeld tells the approvers that a deletion's date passed with
	// no approval: the key is kept until one comes.
	DeletionHeld     = "KMS Key Deletion Held"
	DeletionRejected = "KMS Key Deletion Rejected"
	// DeletionsFrozen and DeletionsUnfrozen: a tenant's deletion freeze was
	// set or lifted (no key: the event names the tenant).
	DeletionsFrozen   = "KMS Key Deletions Frozen"
	DeletionsUnfrozen = "KMS Key Deletions Unfrozen"
	// GuardTripped: a burst of deletion requests tripped the tenant's guard
	// (the principal is who tripped it); GuardReleased: another released it.
	GuardTripped  = "KMS Key Deletion Guard Tripped"
	GuardReleased = "KMS Key Deletion Guard Released"
)

// DefaultSource is the events' source. EventBridge refuses "aws.*" sources
// from callers, so the service cannot use AWS KMS's "aws.kms".
const DefaultSource = "keydeletion.kms"

// Event is one lifecycle event, as EventBridge delivers it to targets.
type Event struct {
	Version    string    `json:"version"`
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Account    string    `json:"account"`
	Time       time.Time `json:"time"`
	Region     string    `json:"region"`
	Resources  []string  `json:"resources"`
	Detail     Detail    `json:"detail"`
}

// Detail is an event's detail. "key-id" is AWS KMS's field; the others
// are this service's.
type Detail struct {
	KeyID string `json:"key-id"`
	// EventID is stable across repeats of the event: the audit record's
	// id, or for a reminder a digest of key, window and offset.
	EventID      string     `json:"event-id"`
	Tenant       string     `json:"tenant"`
	Alias        string     `json:"alias,omitempty"`
	DeletionDate *time.Time `json:"deletion-date,omitempty"`
	PendingDays  int        `json:"pending-window-in-days,omitempty"`
	// Principal is who made the change (absent on reminders).
	Principal *Principal `json:"principal,omitempty"`
	// RemindBefore is how long before the deletion date a reminder is
	// due, in seconds (reminders only).
	RemindBefore int64 `json:"reminder-before-seconds,omitempty"`
	// HeldKeys are the deletions a guard's trip held.
	HeldKeys []string `json:"held-key-ids,omitempty"`
}

// Principal is who made a change, in an event.
type Principal struct {
	Dialect   string `json:"dialect"`
	AccessKey string `json:"access-key-id,omitempty"`
	SourceIP  string `json:"source-ip,omitempty"`
	InvokedBy string `json:"invoked-by,omitempty"` // the service's own path: stream, sweep, local
	RequestID string `json:"request-id,omitempty"`
}

// Tenants names a tenant's AWS account and region, for an event's account,
// region and resources (the key's ARN); ok is false for a tenant with no
// AWS identity, whose events name the key by id.
type Tenants func(tenant string) (account, region string, ok bool)

// Builder makes events.
type Builder struct {
	Source  string
	Tenants Tenants
}

func (b Builder) event(detailType, owner, keyID string, at time.Time, d Detail) Event {
	// The envelope's id is the event's own stable id (EventBridge sets
	// its own when it delivers; a webhook gets this one).
	e := Event{Version: "0", ID: d.EventID, DetailType: detailType, Source: b.Source, Time: at.UTC().Truncate(time.Millisecond),
		Resources: []string{}, Detail: d}
	if b.Tenants != nil {
		if account, region, ok := b.Tenants(owner); ok {
			e.Account, e.Region = account, region
			e.Resources = []string{validation.KeyARN(region, account, keyID)}
		}
	}
	if len(e.Resources) == 0 {
		e.Resources = []string{keyID}
	}
	return e
}

var recordTypes = map[keys.Op]string{
	keys.OpSchedule: DeletionScheduled, keys.OpCancel: DeletionCancelled,
	keys.OpDeleteNow: DeletionWindowEnded, keys.OpFinalize: KeyDeleted,
	keys.OpApprove: DeletionApproved, keys.OpReject: DeletionRejected,
	keys.OpFreeze: DeletionsFrozen, keys.OpUnfreeze: DeletionsUnfrozen,
	keys.OpGuardTripped: GuardTripped, keys.OpGuardReleased: GuardReleased,
}

// ForRecord is the event of an audit record.
func (b Builder) ForRecord(r keys.Record) (Event, error) {
	dt, ok := recordTypes[r.Op]
	if !ok {
		return Event{}, fmt.Errorf("events: no event for operation %s", r.Op)
	}
	if r.Op == keys.OpSchedule && r.Hold == keys.HoldApproval {
		dt = DeletionAwaitingApproval
	}
	d := Detail{KeyID: r.KeyID, EventID: r.ID, Tenant: r.Owner, Alias: r.Alias, PendingDays: r.PendingDays, HeldKeys: r.KeyIDs,
		Principal: &Principal{Dialect: r.By.Dialect, AccessKey: r.By.AccessKey, SourceIP: r.By.Source, RequestID: r.By.RequestID}}
	if r.By.Dialect == keys.SystemDialect {
		d.Principal.SourceIP, d.Principal.InvokedBy = "", r.By.Source
	}
	if !r.DeleteAt.IsZero() {
		t := r.DeleteAt.UTC()
		d.DeletionDate = &t
	}
	return b.event(dt, r.Owner, r.KeyID, r.At, d), nil
}

// Reminder is the event that k's deletion date is offset away (sent at now).
func (b Builder) Reminder(k keys.Key, offset time.Duration, now time.Time) Event {
	deletion := k.DeleteAt.UTC()
	return b.event(DeletionReminder, k.Owner, k.ID, now, Detail{
		KeyID: k.ID, EventID: ReminderID(k, offset), Tenant: k.Owner, Alias: k.Alias,
		DeletionDate: &deletion, PendingDays: k.PendingDays, RemindBefore: int64(offset / time.Second),
	})
}

// Held is the event that k's deletion date passed (at now) while it waits
// for approval; its id is stable for the key's window.
func (b Builder) Held(k keys.Key, now time.Time) Event {
	deletion := k.DeleteAt.UTC()
	return b.event(DeletionHeld, k.Owner, k.ID, now, Detail{
		KeyID: k.ID, EventID: ReminderID(k, -time.Second), Tenant: k.Owner, Alias: k.Alias,
		DeletionDate: &deletion, PendingDays: k.PendingDays,
	})
}

// ReminderID is the stable id of the reminder at offset before k's
// deletion date: the same key, window and offset give the same id.
func ReminderID(k keys.Key, offset time.Duration) string {
	sum := sha256.Sum256([]byte(k.Owner + "\x00" + k.ID + "\x00" + strconv.FormatInt(k.DeleteAt.Unix(), 10) +
		"\x00" + strconv.FormatInt(int64(offset/time.Second), 10)))
	u, _ := uuid.FromBytes(sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8: custom
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u.String()
}

// Publisher delivers events: all of them, or an error (the caller keeps
// them and tries again later; a partial success repeats some).
type Publisher interface {
	Publish(ctx context.Context, events []Event) error
}

// Logged publishes through next and logs each event published; with next
// nil, logging is the publication.
type Logged struct {
	Next Publisher
	Log  *slog.Logger
}

// Publish implements Publisher.
func (p Logged) Publish(ctx context.Context, evs []Event) error {
	if p.Next != nil {
		if err := p.Next.Publish(ctx, evs); err != nil {
			return err
		}
	}
	for _, e := range evs {
		p.Log.InfoContext(ctx, "event published", "detailType", e.DetailType, "eventId", e.Detail.EventID,
			"key", e.Detail.KeyID, "tenant", e.Detail.Tenant, "source", e.Source)
	}
	return nil
}
