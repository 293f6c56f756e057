// Package keyitem is a key, a tombstone and an audit record as DynamoDB
// stores them (package dynamostore): times in epoch milliseconds, deleteAt
// (the table's TTL attribute) in epoch seconds. The json tags are the
// embedded store's first format, which stored the same items as JSON;
// package pebblestore reads them only to migrate a folder of that format to
// its own codec.
package keyitem

import (
	"maps"
	"slices"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// Key is a stored key.
type Key struct {
	ID             string `json:"id" dynamodbav:"id"`
	Owner          string `json:"owner" dynamodbav:"owner"`
	Alias          string `json:"alias,omitempty" dynamodbav:"alias,omitempty"`
	Description    string `json:"description,omitempty" dynamodbav:"description,omitempty"`
	Spec           string `json:"spec" dynamodbav:"spec"`
	Usage          string `json:"usage" dynamodbav:"usage"`
	Origin         string `json:"origin" dynamodbav:"origin"`
	State          string `json:"state" dynamodbav:"state"`
	CreatedAt      int64  `json:"createdAt" dynamodbav:"createdAt"`
	StateChangedAt int64  `json:"stateChangedAt" dynamodbav:"stateChangedAt"`
	DeleteAt       int64  `json:"deleteAt,omitempty" dynamodbav:"deleteAt,omitempty"`
	ScheduledAt    int64  `json:"scheduledAt,omitempty" dynamodbav:"scheduledAt,omitempty"`
	PendingDays    int    `json:"pendingDays,omitempty" dynamodbav:"pendingDays,omitempty"`
	// WindowEnd is a held key's window end (epoch seconds), kept out of
	// deleteAt so that TTL cannot remove the key; DeleteAt is then absent.
	WindowEnd          int64    `json:"windowEnd,omitempty" dynamodbav:"windowEnd,omitempty"`
	Holds              []string `json:"holds,omitempty" dynamodbav:"holds,stringset,omitempty"`
	ScheduledBy        string   `json:"scheduledBy,omitempty" dynamodbav:"scheduledBy,omitempty"`
	Reminded           int64    `json:"reminded,omitempty" dynamodbav:"reminded,omitempty"` // seconds
	AutoRotation       bool     `json:"autoRotation,omitempty" dynamodbav:"autoRotation,omitempty"`
	RotationPeriodDays int      `json:"rotationPeriodDays,omitempty" dynamodbav:"rotationPeriodDays,omitempty"`
	Protection         string   `json:"protection,omitempty" dynamodbav:"protection,omitempty"`
	Convergent         bool     `json:"convergent,omitempty" dynamodbav:"convergent,omitempty"`
	// Number is 0 in records written before keys had numbers: such a key
	// has the number its id implies (keys.NumberOf), unreserved.
	Number int64 `json:"number,omitempty" dynamodbav:"number,omitempty"`
	// Tags is always a map on DynamoDB (empty rather than absent), so that
	// one tag can be set by its path (tags.#k) in an UpdateItem.
	Tags map[string]string `json:"tags,omitempty" dynamodbav:"tags"`
	// LastChange is absent from keys written before it was kept.
	LastChange *Stamp `json:"lastChange,omitempty" dynamodbav:"lastChange,omitempty"`
}

// Principal is who made a change, as stored (never the policy).
type Principal struct {
	Dialect   string `json:"dialect,omitempty" dynamodbav:"dialect,omitempty"`
	AccessKey string `json:"accessKey,omitempty" dynamodbav:"accessKey,omitempty"`
	Source    string `json:"source,omitempty" dynamodbav:"source,omitempty"`
	RequestID string `json:"requestId,omitempty" dynamodbav:"requestId,omitempty"`
}

// FromPrincipal returns the record of p; its tenant is the owner of what it changed.
func FromPrincipal(p keys.Principal) Principal {
	return Principal{Dialect: p.Dialect, AccessKey: p.AccessKey, Source: p.Source, RequestID: p.RequestID}
}

// Principal returns the principal of owner the record holds.
func (r Principal) Principal(owner string) keys.Principal {
	return keys.Principal{Tenant: owner, Dialect: r.Dialect, AccessKey: r.AccessKey, Source: r.Source, RequestID: r.RequestID}
}

// Stamp is a key's last change, as stored.
type Stamp struct {
	Op string    `json:"op" dynamodbav:"op"`
	By Principal `json:"by" dynamodbav:"by"`
	At int64     `json:"at" dynamodbav:"at"`
}

// FromStamp returns the record of s.
func FromStamp(s keys.Stamp) *Stamp {
	if s.Op == "" {
		return nil
	}
	return &Stamp{Op: string(s.Op), By: FromPrincipal(s.By), At: s.At.UnixMilli()}
}

// Record is a stored audit record. Its window end is deletionDate; its
// deleteAt, the TTL attribute, is when its retention ends (absent: kept).
type Record struct {
	ID           string    `json:"id" dynamodbav:"id"`
	Owner        string    `json:"owner" dynamodbav:"owner"`
	KeyID        string    `json:"keyId" dynamodbav:"keyId"`
	Alias        string    `json:"alias,omitempty" dynamodbav:"alias,omitempty"`
	Op           string    `json:"op" dynamodbav:"op"`
	At           int64     `json:"at" dynamodbav:"at"`
	By           Principal `json:"by" dynamodbav:"by"`
	DeletionDate int64     `json:"deletionDate,omitempty" dynamodbav:"deletionDate,omitempty"`
	PendingDays  int       `json:"pendingDays,omitempty" dynamodbav:"pendingDays,omitempty"`
	Hold         string    `json:"hold,omitempty" dynamodbav:"hold,omitempty"`
	KeyIDs       []string  `json:"keyIds,omitempty" dynamodbav:"keyIds,omitempty"`
	ExpiresAt    int64     `json:"expiresAt,omitempty" dynamodbav:"deleteAt,omitempty"`
}

// FromRecord returns the stored form of r, kept for retention (0: for good).
func FromRecord(r keys.Record, retention time.Duration) Record {
	out := Record{ID: r.ID, Owner: r.Owner, KeyID: r.KeyID, Alias: r.Alias, Op: string(r.Op), At: r.At.UnixMilli(),
		By: FromPrincipal(r.By), PendingDays: r.PendingDays, Hold: string(r.Hold), KeyIDs: r.KeyIDs}
	if !r.DeleteAt.IsZero() {
		out.DeletionDate = r.DeleteAt.Unix()
	}
	if retention > 0 {
		out.ExpiresAt = r.At.Add(retention).Unix()
	}
	return out
}

// Record returns the audit record r holds.
func (r Record) Record() keys.Record {
	out := keys.Record{ID: r.ID, Owner: r.Owner, KeyID: r.KeyID, Alias: r.Alias, Op: keys.Op(r.Op),
		At: time.UnixMilli(r.At).UTC(), By: r.By.Principal(r.Owner), PendingDays: r.PendingDays, Hold: keys.Hold(r.Hold),
		KeyIDs: r.KeyIDs}
	if r.DeletionDate != 0 {
		out.DeleteAt = time.Unix(r.DeletionDate, 0).UTC()
	}
	return out
}

// FromKey returns the record of k.
func FromKey(k keys.Key) Key {
	r := Key{
		ID: k.ID, Owner: k.Owner, Alias: k.Alias, Description: k.Description,
		Spec: string(k.Spec), Usage: string(k.Usage), Origin: string(k.Origin), State: string(k.State),
		CreatedAt: k.CreatedAt.UnixMilli(), StateChangedAt: k.StateChangedAt.UnixMilli(),
		PendingDays: k.PendingDays, AutoRotation: k.AutoRotation, Reminded: int64(k.Reminded / time.Second),
		RotationPeriodDays: k.RotationPeriodDays, Protection: k.Protection, Convergent: k.Convergent,
		Number: k.Number, Tags: maps.Clone(k.Tags), LastChange: FromStamp(k.LastChange),
	}
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	switch {
	case k.DeleteAt.IsZero():
	case k.Held():
		r.WindowEnd = k.DeleteAt.Unix() // never the TTL attribute: see WindowEnd
	default:
		r.DeleteAt = k.DeleteAt.Unix()
	}
	for _, h := range k.Holds {
		r.Holds = append(r.Holds, string(h))
	}
	r.ScheduledBy = k.ScheduledBy
	if !k.ScheduledAt.IsZero() {
		r.ScheduledAt = k.ScheduledAt.UnixMilli()
	}
	return r
}

// Key returns the key the record holds.
func (r Key) Key() keys.Key {
	k := keys.Key{
		ID: r.ID, Owner: r.Owner, Alias: r.Alias, Description: r.Description,
		Spec: keys.Spec(r.Spec), Usage: keys.Usage(r.Usage), Origin: keys.Origin(r.Origin), State: keys.State(r.State),
		CreatedAt: time.UnixMilli(r.CreatedAt).UTC(), StateChangedAt: time.UnixMilli(r.StateChangedAt).UTC(),
		PendingDays: r.PendingDays, AutoRotation: r.AutoRotation, Reminded: time.Duration(r.Reminded) * time.Second,
		RotationPeriodDays: r.RotationPeriodDays, Protection: r.Protection, Convergent: r.Convergent,
		Number: r.Number,
	}
	if k.Number == 0 {
		k.Number = keys.NumberOf(r.ID)
	}
	if c := r.LastChange; c != nil {
		k.LastChange = keys.Stamp{Op: keys.Op(c.Op), By: c.By.Principal(r.Owner), At: time.UnixMilli(c.At).UTC()}
	}
	if len(r.Tags) > 0 {
		k.Tags = maps.Clone(r.Tags)
	}
	if end := max(r.DeleteAt, r.WindowEnd); end != 0 {
		k.DeleteAt = time.Unix(end, 0).UTC()
	}
	for _, h := range slices.Sorted(slices.Values(r.Holds)) {
		k.Holds = append(k.Holds, keys.Hold(h))
	}
	k.ScheduledBy = r.ScheduledBy
	if r.ScheduledAt != 0 {
		k.ScheduledAt = time.UnixMilli(r.ScheduledAt).UTC()
	}
	return k
}

// Tombstone is a stored tombstone. Its window end is deletionDate, never
// deleteAt: a tombstone must not carry the TTL attribute.
type Tombstone struct {
	KeyID        string `json:"keyId" dynamodbav:"keyId"`
	Owner        string `json:"owner" dynamodbav:"owner"`
	Alias        string `json:"alias,omitempty" dynamodbav:"alias,omitempty"`
	ScheduledAt  int64  `json:"scheduledAt" dynamodbav:"scheduledAt"`
	DeletionDate int64  `json:"deletionDate" dynamodbav:"deletionDate"`
	PendingDays  int    `json:"pendingDays" dynamodbav:"pendingDays"`
	DeletedAt    int64  `json:"deletedAt" dynamodbav:"deletedAt"`
	ReportedAt   int64  `json:"reportedAt,omitempty" dynamodbav:"reportedAt,omitempty"`
}

// FromTombstone returns the record of t.
func FromTombstone(t keys.Tombstone) Tombstone {
	r := Tombstone{
		KeyID: t.KeyID, Owner: t.Owner, Alias: t.Alias, ScheduledAt: t.ScheduledAt.UnixMilli(),
		DeletionDate: t.DeleteAt.Unix(), PendingDays: t.PendingDays, DeletedAt: t.DeletedAt.UnixMilli(),
	}
	if !t.ReportedAt.IsZero() {
		r.ReportedAt = t.ReportedAt.UnixMilli()
	}
	return r
}

// Tombstone returns the tombstone the record holds.
func (r Tombstone) Tombstone() keys.Tombstone {
	t := keys.Tombstone{
		KeyID: r.KeyID, Owner: r.Owner, Alias: r.Alias, ScheduledAt: time.UnixMilli(r.ScheduledAt).UTC(),
		DeleteAt: time.Unix(r.DeletionDate, 0).UTC(), PendingDays: r.PendingDays, DeletedAt: time.UnixMilli(r.DeletedAt).UTC(),
	}
	if r.ReportedAt != 0 {
		t.ReportedAt = time.UnixMilli(r.ReportedAt).UTC()
	}
	return t
}
