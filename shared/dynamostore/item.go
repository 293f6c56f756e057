package dynamostore

import (
	"github.com/keydeletion/service/shared/keyrecord"
	"github.com/keydeletion/service/shared/keys"
)

// Item layout, one table, partitioned by owner so that every key access names
// its owner and a listing is one strongly consistent Query:
//
//	pk = "T#<owner>"  sk = "K#<id>"     a key
//	pk = "T#<owner>"  sk = "A#<alias>"  an alias (Huawei key_alias, NCP keyName) -> key id
//	pk = "T#<owner>"  sk = "D#<id>"     a tombstone: a key's final deletion
//	pk = "T#<owner>"  sk = "N#<number>" a key number, claimed for good -> key id
//
// deleteAt (Number, epoch seconds) is the table's TTL attribute; only a key
// pending deletion has it.
const (
	attrPK       = "pk"
	attrSK       = "sk"
	attrDeleteAt = "deleteAt"
	attrTags     = "tags"

	prefixTenant    = "T#"
	prefixKey       = "K#"
	prefixAlias     = "A#"
	prefixTombstone = "D#"
	prefixNumber    = "N#"
)

func partition(owner string) string { return prefixTenant + owner }

// keyItem is a key as stored: its table keys and its record.
type keyItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	keyrecord.Key
}

func toItem(k keys.Key) keyItem {
	return keyItem{PK: partition(k.Owner), SK: prefixKey + k.ID, Key: keyrecord.FromKey(k)}
}

type aliasItem struct {
	PK    string `dynamodbav:"pk"`
	SK    string `dynamodbav:"sk"`
	KeyID string `dynamodbav:"keyId"`
}

type tombstoneItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	keyrecord.Tombstone
}

func toTombstoneItem(t keys.Tombstone) tombstoneItem {
	return tombstoneItem{PK: partition(t.Owner), SK: prefixTombstone + t.KeyID, Tombstone: keyrecord.FromTombstone(t)}
}
