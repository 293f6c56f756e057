package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/shared/keyitem"
	"github.com/keydeletion/service/shared/keys"
)

// A tenant's deletion freeze is one item of its partition:
//
//	pk = "T#<owner>"  sk = "G#freeze"  frozen (BOOL), at (ms), by (principal)
//
// Writes that must not happen while it is set (a schedule, an immediate
// deletion, a final deletion) carry a ConditionCheck of it in their
// transaction: still one request.
const freezeSK = "G#freeze"

type freezeItem struct {
	PK     string            `dynamodbav:"pk"`
	SK     string            `dynamodbav:"sk"`
	Frozen bool              `dynamodbav:"frozen"`
	At     int64             `dynamodbav:"at"`
	By     keyitem.Principal `dynamodbav:"by"`
}

// notFrozen is the ConditionCheck that owner's deletions are not frozen.
func (st *Store) notFrozen(owner string) types.TransactWriteItem {
	return st.flagOff(owner, freezeSK, "frozen")
}

// flagOff is the ConditionCheck that the flag attr of owner's item sk is
// not set.
func (st *Store) flagOff(owner, sk, attr string) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: &st.table, Key: itemKey(owner, sk),
		ConditionExpression:       aws.String("attribute_not_exists(" + attr + ") OR " + attr + " = :false"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":false": &types.AttributeValueMemberBOOL{Value: false}},
	}}
}

// setFlag writes item, whose flag attr is on or off, and the record r in
// one TransactWriteItems, on condition that the flag was not already so:
// *keys.ConditionFailed if it was.
func (st *Store) setFlag(ctx context.Context, item any, attr string, on bool, r keys.Record) error {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return fmt.Errorf("dynamostore: marshal %s: %w", attr, err)
	}
	cond := "attribute_not_exists(" + attr + ") OR " + attr + " = :was"
	if !on {
		cond = attr + " = :was"
	}
	rec, err := st.recordItem(r)
	if err != nil {
		return err
	}
	_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		ClientRequestToken: aws.String(r.ID),
		TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: &st.table, Item: av, ConditionExpression: aws.String(cond),
				ExpressionAttributeValues: map[string]types.AttributeValue{":was": &types.AttributeValueMemberBOOL{Value: !on}}}},
			{Put: rec},
		},
	})
	if failed := cancelledConditions(err); failed != nil {
		if failed[1] {
			return nil // the record exists: this very write committed before
		}
		return &keys.ConditionFailed{}
	}
	return wrap("set "+attr, err)
}

// SetFreeze implements keys.Store: one TransactWriteItems of the freeze
// item (on condition that it is not already as asked) and the record.
func (st *Store) SetFreeze(ctx context.Context, f keys.FreezeChange, r keys.Record) error {
	return st.setFlag(ctx, freezeItem{PK: partition(f.Owner), SK: freezeSK, Frozen: f.Frozen,
		At: f.Now.UnixMilli(), By: keyitem.FromPrincipal(f.By)}, "frozen", f.Frozen, r)
}

// Freeze implements keys.Store with a strongly consistent read.
func (st *Store) Freeze(ctx context.Context, owner string) (keys.Freeze, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: itemKey(owner, freezeSK), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return keys.Freeze{}, wrap("freeze", err)
	}
	if out.Item == nil {
		return keys.Freeze{}, nil
	}
	var it freezeItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return keys.Freeze{}, fmt.Errorf("dynamostore: decode freeze: %w", err)
	}
	return keys.Freeze{Frozen: it.Frozen, At: time.UnixMilli(it.At).UTC(), By: it.By.Principal(owner)}, nil
}

// Restore implements expiry.FinalStore: a key whose final deletion a freeze
// refused after TTL had removed its item is put back as it was, under the
// freeze's hold (its window's end off the TTL attribute), unless its item
// or tombstone exists.
func (st *Store) Restore(ctx context.Context, k keys.Key) error {
	if !k.HasHold(keys.HoldFreeze) {
		k.Holds = append(k.Holds, keys.HoldFreeze)
	}
	av, err := attributevalue.MarshalMap(toItem(k))
	if err != nil {
		return fmt.Errorf("dynamostore: marshal: %w", err)
	}
	notExists := aws.String("attribute_not_exists(pk)")
	_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &st.table, Item: av, ConditionExpression: notExists}},
		{ConditionCheck: &types.ConditionCheck{TableName: &st.table, Key: itemKey(k.Owner, prefixTombstone+k.ID), ConditionExpression: notExists}},
	}})
	var cancelled *types.TransactionCanceledException
	if cancelledConditions(err) != nil && errors.As(err, &cancelled) {
		return nil // the item is there, or the key is finalized: nothing to restore
	}
	return wrap("restore", err)
}

// A credential's (or the tenant's) tripped deletion guard is an item too:
//
//	pk = "T#<owner>"  sk = "G#guard#<access key id, or *>"  tripped (BOOL), at, by
const guardSK = "G#guard#"

type guardItem struct {
	PK      string            `dynamodbav:"pk"`
	SK      string            `dynamodbav:"sk"`
	Tripped bool              `dynamodbav:"tripped"`
	At      int64             `dynamodbav:"at"`
	By      keyitem.Principal `dynamodbav:"by"`
}

// notTripped is the ConditionCheck that scope's guard is not tripped.
func (st *Store) notTripped(owner, scope string) types.TransactWriteItem {
	return st.flagOff(owner, guardSK+scope, "tripped")
}

// SetGuard implements keys.Store: one TransactWriteItems of the guard's
// item (on condition that it is not already as asked) and the record.
func (st *Store) SetGuard(ctx context.Context, g keys.GuardChange, r keys.Record) error {
	return st.setFlag(ctx, guardItem{PK: partition(g.Owner), SK: guardSK + g.Scope, Tripped: g.Tripped,
		At: g.Now.UnixMilli(), By: keyitem.FromPrincipal(g.By)}, "tripped", g.Tripped, r)
}

// GuardTrips implements keys.Store: one strongly consistent Query of the
// owner's guard items.
func (st *Store) GuardTrips(ctx context.Context, owner string) ([]keys.GuardTrip, error) {
	out, err := st.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &st.table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :g)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(partition(owner)), ":g": s(guardSK),
		},
	})
	if err != nil {
		return nil, wrap("guard trips", err)
	}
	var trips []keys.GuardTrip
	for _, av := range out.Items {
		var it guardItem
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, fmt.Errorf("dynamostore: decode guard: %w", err)
		}
		if it.Tripped {
			trips = append(trips, keys.GuardTrip{Scope: it.SK[len(guardSK):], At: time.UnixMilli(it.At).UTC(), By: it.By.Principal(owner)})
		}
	}
	return trips, nil
}
