package boltstore

import (
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// record is a key as stored: times in epoch milliseconds, deleteAt in seconds
// as in DynamoDB, so both stores keep the same precision.
type record struct {
	ID                 string `json:"id"`
	Owner              string `json:"owner"`
	Alias              string `json:"alias,omitempty"`
	Description        string `json:"description,omitempty"`
	Spec               string `json:"spec"`
	Usage              string `json:"usage"`
	Origin             string `json:"origin"`
	State              string `json:"state"`
	CreatedAt          int64  `json:"createdAt"`
	StateChangedAt     int64  `json:"stateChangedAt"`
	DeleteAt           int64  `json:"deleteAt,omitempty"`
	PendingDays        int    `json:"pendingDays,omitempty"`
	AutoRotation       bool   `json:"autoRotation,omitempty"`
	RotationPeriodDays int    `json:"rotationPeriodDays,omitempty"`
	Protection         string `json:"protection,omitempty"`
}

func toRecord(k keys.Key) record {
	r := record{
		ID: k.ID, Owner: k.Owner, Alias: k.Alias, Description: k.Description,
		Spec: string(k.Spec), Usage: string(k.Usage), Origin: string(k.Origin), State: string(k.State),
		CreatedAt: k.CreatedAt.UnixMilli(), StateChangedAt: k.StateChangedAt.UnixMilli(),
		PendingDays: k.PendingDays, AutoRotation: k.AutoRotation,
		RotationPeriodDays: k.RotationPeriodDays, Protection: k.Protection,
	}
	if !k.DeleteAt.IsZero() {
		r.DeleteAt = k.DeleteAt.Unix()
	}
	return r
}

func (r record) key() keys.Key {
	k := keys.Key{
		ID: r.ID, Owner: r.Owner, Alias: r.Alias, Description: r.Description,
		Spec: keys.Spec(r.Spec), Usage: keys.Usage(r.Usage), Origin: keys.Origin(r.Origin), State: keys.State(r.State),
		CreatedAt: time.UnixMilli(r.CreatedAt).UTC(), StateChangedAt: time.UnixMilli(r.StateChangedAt).UTC(),
		PendingDays: r.PendingDays, AutoRotation: r.AutoRotation,
		RotationPeriodDays: r.RotationPeriodDays, Protection: r.Protection,
	}
	if r.DeleteAt != 0 {
		k.DeleteAt = time.Unix(r.DeleteAt, 0).UTC()
	}
	return k
}

type tombstoneRecord struct {
	KeyID       string `json:"keyId"`
	Owner       string `json:"owner"`
	Alias       string `json:"alias,omitempty"`
	ScheduledAt int64  `json:"scheduledAt"`
	DeleteAt    int64  `json:"deleteAt"`
	PendingDays int    `json:"pendingDays"`
	DeletedAt   int64  `json:"deletedAt"`
}

func toTombstoneRecord(t keys.Tombstone) tombstoneRecord {
	return tombstoneRecord{
		KeyID: t.KeyID, Owner: t.Owner, Alias: t.Alias, ScheduledAt: t.ScheduledAt.UnixMilli(),
		DeleteAt: t.DeleteAt.Unix(), PendingDays: t.PendingDays, DeletedAt: t.DeletedAt.UnixMilli(),
	}
}

func (r tombstoneRecord) tombstone() keys.Tombstone {
	return keys.Tombstone{
		KeyID: r.KeyID, Owner: r.Owner, Alias: r.Alias, ScheduledAt: time.UnixMilli(r.ScheduledAt).UTC(),
		DeleteAt: time.Unix(r.DeleteAt, 0).UTC(), PendingDays: r.PendingDays, DeletedAt: time.UnixMilli(r.DeletedAt).UTC(),
	}
}
