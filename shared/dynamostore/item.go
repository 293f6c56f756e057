package dynamostore

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/keydeletion/service/shared/keyitem"
	"github.com/keydeletion/service/shared/keys"
)

// Item layout, one table, partitioned by owner so that every key access names
// its owner and a listing is one strongly consistent Query:
//
//	pk = "T#<owner>"  sk = "K#<id>"     a key
//	pk = "T#<owner>"  sk = "A#<alias>"  an alias (Huawei key_alias, NCP keyName) -> key id
//	pk = "T#<owner>"  sk = "D#<id>"     a tombstone: a key's final deletion
//	pk = "T#<owner>"  sk = "N#<number>" a key number, claimed for good -> key id
//	pk = "T#<owner>"  sk = "L#<ms, 13 digits>#<record id>" an audit record
//
// deleteAt (Number, epoch seconds) is the table's TTL attribute: a key
// pending deletion has it (its window's end), and an audit record (its
// retention's end); nothing else.
//
// The sparse index "due" (dueShard, dueAt in epoch ms) finds what the sweep
// has to do without a Scan: keys pending deletion (shard "K#<n>", dueAt the
// window's end), tombstones whose deletion is not yet reported ("D#<n>",
// the deletion time) and audit records whose event is not yet published
// ("L#<n>", the record's time). Each leaves the index when its work is
// done. Each kind is spread over dueShards partitions (dueShard).
const (
	attrPK  = "pk"
	attrSK  = "sk"
	attrTTL = "deleteAt" // a key's deletion time, or a record's retention end (above)
	// A held key's window end: never the TTL attribute (keys.Hold).
	attrWindowEnd   = "windowEnd"
	attrHolds       = "holds"
	attrScheduledBy = "scheduledBy"
	attrTags        = "tags"
	attrLastChange  = "lastChange"
	attrReminded    = "reminded"
	attrDueShard    = "dueShard"
	attrDueAt       = "dueAt"

	dueIndex  = "due"
	dueShards = 8

	prefixTenant    = "T#"
	prefixKey       = "K#"
	prefixAlias     = "A#"
	prefixTombstone = "D#"
	prefixNumber    = "N#"
	prefixRecord    = "L#"
)

// dueShard is the index partition of an item of kind (prefixKey,
// prefixTombstone, prefixRecord). A tombstone's and a record's are fixed by
// their owner and id, spread over the shards. A key's is fixed by its owner
// alone, so that one Query finds an owner's keys past their window (DueOf,
// which every numbered page reads): an owner's schedules and cancels then
// share one index partition, whose 1,000 writes a second are far above any
// tenant's deletion rate, while owners still spread over the shards.
func dueShard(kind, owner, id string) string {
	h := fnv.New32a()
	h.Write([]byte(owner))
	if kind != prefixKey {
		h.Write([]byte("/" + id))
	}
	return kind + strconv.Itoa(int(h.Sum32()%dueShards))
}

// dueShardsOf are every shard of kind, the sweep's to read.
func dueShardsOf(kind string) []string {
	shards := make([]string, dueShards)
	for i := range shards {
		shards[i] = kind + strconv.Itoa(i)
	}
	return shards
}

func partition(owner string) string { return prefixTenant + owner }

// tableKeys are an item's keys in the table and, while it is due for the
// sweep, in the due index.
type tableKeys struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	DueShard string `dynamodbav:"dueShard,omitempty"`
	DueAt    int64  `dynamodbav:"dueAt,omitempty"`
}

// indexed returns keys of an item of kind (the sort key's prefix) and id,
// due at due (zero: not in the index).
func indexed(kind, owner, id string, due time.Time) tableKeys {
	k := tableKeys{PK: partition(owner), SK: kind + id}
	if !due.IsZero() {
		k.DueShard, k.DueAt = dueShard(kind, owner, id), due.UnixMilli()
	}
	return k
}

// keyItem is a key as stored: its table keys and its record.
type keyItem struct {
	tableKeys
	keyitem.Key
}

func toItem(k keys.Key) keyItem {
	return keyItem{tableKeys: indexed(prefixKey, k.Owner, k.ID, k.DeleteAt), Key: keyitem.FromKey(k)}
}

type aliasItem struct {
	PK    string `dynamodbav:"pk"`
	SK    string `dynamodbav:"sk"`
	KeyID string `dynamodbav:"keyId"`
}

// tombstoneItem is a tombstone; until its deletion is reported it is in
// the due index.
type tombstoneItem struct {
	tableKeys
	keyitem.Tombstone
}

func toTombstoneItem(t keys.Tombstone) tombstoneItem {
	due := t.DeletedAt
	if !t.ReportedAt.IsZero() {
		due = time.Time{}
	}
	return tombstoneItem{tableKeys: indexed(prefixTombstone, t.Owner, t.KeyID, due), Tombstone: keyitem.FromTombstone(t)}
}

// recordItem is an audit record; until its event is published it is in
// the due index.
type recordItem struct {
	tableKeys
	keyitem.Record
}

// recordSK orders an owner's records by time, then id.
func recordSK(r keys.Record) string {
	return prefixRecord + recordID(r)
}

// recordID is a record's sort key without its prefix.
func recordID(r keys.Record) string {
	return fmt.Sprintf("%013d", r.At.UnixMilli()) + "#" + r.ID
}
