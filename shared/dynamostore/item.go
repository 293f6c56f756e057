package dynamostore

import (
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// Item layout, one table, partitioned by owner so that every key access names
// its owner and a listing is one strongly consistent Query:
//
//	pk = "T#<owner>"  sk = "K#<id>"     a key
//	pk = "T#<owner>"  sk = "A#<alias>"  an alias (Huawei key_alias, NCP keyName) -> key id
//	pk = "T#<owner>"  sk = "D#<id>"     a tombstone: a key's final deletion
//
// deleteAt (Number, epoch seconds) is the table's TTL attribute; only a key
// pending deletion has it.
const (
	attrPK       = "pk"
	attrSK       = "sk"
	attrDeleteAt = "deleteAt"

	prefixTenant    = "T#"
	prefixKey       = "K#"
	prefixAlias     = "A#"
	prefixTombstone = "D#"
)

func partition(owner string) string { return prefixTenant + owner }

type keyItem struct {
	PK                 string `dynamodbav:"pk"`
	SK                 string `dynamodbav:"sk"`
	ID                 string `dynamodbav:"id"`
	Owner              string `dynamodbav:"owner"`
	Alias              string `dynamodbav:"alias,omitempty"`
	Description        string `dynamodbav:"description,omitempty"`
	Spec               string `dynamodbav:"spec"`
	Usage              string `dynamodbav:"usage"`
	Origin             string `dynamodbav:"origin"`
	State              string `dynamodbav:"state"`
	CreatedAt          int64  `dynamodbav:"createdAt"`
	StateChangedAt     int64  `dynamodbav:"stateChangedAt"`
	DeleteAt           int64  `dynamodbav:"deleteAt,omitempty"`
	PendingDays        int    `dynamodbav:"pendingDays,omitempty"`
	AutoRotation       bool   `dynamodbav:"autoRotation,omitempty"`
	RotationPeriodDays int    `dynamodbav:"rotationPeriodDays,omitempty"`
	Protection         string `dynamodbav:"protection,omitempty"`
}

func toItem(k keys.Key) keyItem {
	it := keyItem{
		PK: partition(k.Owner), SK: prefixKey + k.ID,
		ID: k.ID, Owner: k.Owner, Alias: k.Alias, Description: k.Description,
		Spec: string(k.Spec), Usage: string(k.Usage), Origin: string(k.Origin), State: string(k.State),
		CreatedAt: k.CreatedAt.UnixMilli(), StateChangedAt: k.StateChangedAt.UnixMilli(),
		PendingDays: k.PendingDays, AutoRotation: k.AutoRotation,
		RotationPeriodDays: k.RotationPeriodDays, Protection: k.Protection,
	}
	if !k.DeleteAt.IsZero() {
		it.DeleteAt = k.DeleteAt.Unix()
	}
	return it
}

func (it keyItem) key() keys.Key {
	k := keys.Key{
		ID: it.ID, Owner: it.Owner, Alias: it.Alias, Description: it.Description,
		Spec: keys.Spec(it.Spec), Usage: keys.Usage(it.Usage), Origin: keys.Origin(it.Origin), State: keys.State(it.State),
		CreatedAt: time.UnixMilli(it.CreatedAt).UTC(), StateChangedAt: time.UnixMilli(it.StateChangedAt).UTC(),
		PendingDays: it.PendingDays, AutoRotation: it.AutoRotation,
		RotationPeriodDays: it.RotationPeriodDays, Protection: it.Protection,
	}
	if it.DeleteAt != 0 {
		k.DeleteAt = time.Unix(it.DeleteAt, 0).UTC()
	}
	return k
}

type aliasItem struct {
	PK    string `dynamodbav:"pk"`
	SK    string `dynamodbav:"sk"`
	KeyID string `dynamodbav:"keyId"`
}

type tombstoneItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	KeyID       string `dynamodbav:"keyId"`
	Owner       string `dynamodbav:"owner"`
	Alias       string `dynamodbav:"alias,omitempty"`
	ScheduledAt int64  `dynamodbav:"scheduledAt"`
	DeleteAtSec int64  `dynamodbav:"deletionDate"` // not deleteAt: a tombstone must never expire
	PendingDays int    `dynamodbav:"pendingDays"`
	DeletedAt   int64  `dynamodbav:"deletedAt"`
}

func toTombstoneItem(t keys.Tombstone) tombstoneItem {
	return tombstoneItem{
		PK: partition(t.Owner), SK: prefixTombstone + t.KeyID, KeyID: t.KeyID, Owner: t.Owner, Alias: t.Alias,
		ScheduledAt: t.ScheduledAt.UnixMilli(), DeleteAtSec: t.DeleteAt.Unix(),
		PendingDays: t.PendingDays, DeletedAt: t.DeletedAt.UnixMilli(),
	}
}

func (it tombstoneItem) tombstone() keys.Tombstone {
	return keys.Tombstone{
		KeyID: it.KeyID, Owner: it.Owner, Alias: it.Alias, ScheduledAt: time.UnixMilli(it.ScheduledAt).UTC(),
		DeleteAt: time.Unix(it.DeleteAtSec, 0).UTC(), PendingDays: it.PendingDays, DeletedAt: time.UnixMilli(it.DeletedAt).UTC(),
	}
}
