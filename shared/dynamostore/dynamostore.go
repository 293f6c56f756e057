// Package dynamostore is the production key store: one DynamoDB table with
// TTL on deleteAt and a stream that feeds the expire function.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/keydeletion/service/shared/keys"
)

// API is the part of the DynamoDB client this store uses (the SDK v2 has no
// dynamodbiface).
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store is the DynamoDB key store.
type Store struct {
	db      API
	table   string
	backoff time.Duration // the first wait before a write that lost a transaction conflict is retried
	// retention is how long audit records are kept (0: for good).
	retention time.Duration
}

// New returns a store on table.
func New(db API, table string) *Store {
	return &Store{db: db, table: table, backoff: conflictBackoff}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func itemKey(owner, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(partition(owner)), attrSK: s(sk)}
}

// Create implements keys.Store as one transaction: put the key if its id is
// free, check that no tombstone holds the id (an id is never issued twice,
// not even after its key is gone), claim its number for good, and claim the
// alias if it has one.
func (st *Store) Create(ctx context.Context, k keys.Key) error {
	av, err := attributevalue.MarshalMap(toItem(k))
	if err != nil {
		return fmt.Errorf("dynamostore: marshal: %w", err)
	}
	notExists := aws.String("attribute_not_exists(pk)")
	number := map[string]types.AttributeValue{
		attrPK: s(partition(k.Owner)), attrSK: s(prefixNumber + strconv.FormatInt(k.Number, 10)), "keyId": s(k.ID),
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &st.table, Item: av, ConditionExpression: notExists,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		{ConditionCheck: &types.ConditionCheck{TableName: &st.table, Key: itemKey(k.Owner, prefixTombstone+k.ID), ConditionExpression: notExists}},
		{Put: &types.Put{TableName: &st.table, Item: number, ConditionExpression: notExists}},
	}
	if k.Alias != "" {
		alias, err := attributevalue.MarshalMap(aliasItem{PK: partition(k.Owner), SK: prefixAlias + k.Alias, KeyID: k.ID})
		if err != nil {
			return fmt.Errorf("dynamostore: marshal: %w", err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: alias, ConditionExpression: notExists}})
	}
	items = append(items, st.tallyUpdates(keys.Created(k))...)
	// A token of this create's own: DynamoDB answers a retry of a committed
	// transaction with success for ten minutes, and the key's stamp tells
	// after that (below). (Not the key's id: a token names one request in
	// the whole account, and the local server's seeds give fixed ids.)
	token := uuid.NewString()
	err = retryConflicts(ctx, st.backoff, func() error {
		_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: &token, TransactItems: items})
		return err
	})
	var cancelled *types.TransactionCanceledException
	if failed := cancelledConditions(err); failed != nil && failed[0] && errors.As(err, &cancelled) {
		// The id is fresh: only this very create, retried after it was
		// applied, can hold it (the item it returns carries its stamp).
		if item := cancelled.CancellationReasons[0].Item; item != nil {
			if stored, err := decodeKey(item); err == nil && stored.LastChange.Same(k.LastChange) {
				return nil
			}
		}
	}
	if failed := cancelledConditions(err); failed != nil {
		switch {
		case failed[0] || failed[1]:
			return fmt.Errorf("dynamostore: key %s: %w", k.ID, keys.ErrKeyExists)
		case failed[2]:
			return fmt.Errorf("dynamostore: key number %d: %w", k.Number, keys.ErrNumberTaken)
		}
		return keys.ErrAliasExists
	}
	return wrap("create", err)
}

// cancelledConditions returns, for a transaction cancelled by failed
// conditions, which of its items failed; nil for any other outcome.
func cancelledConditions(err error) []bool {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	failed := make([]bool, len(tce.CancellationReasons))
	anyFailed := false
	for i, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" {
			failed[i], anyFailed = true, true
		}
	}
	if !anyFailed {
		return nil
	}
	return failed
}

// wrap names the operation that failed and marks the failures a caller may
// retry (see classify).
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("dynamostore: %s: %w", op, classify(err))
}

// Get implements keys.Store with a strongly consistent read.
func (st *Store) Get(ctx context.Context, owner, id string) (keys.Key, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &st.table, Key: itemKey(owner, prefixKey+id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return keys.Key{}, wrap("get", err)
	}
	if out.Item == nil {
		return keys.Key{}, keys.ErrNotFound
	}
	return decodeKey(out.Item)
}

func decodeKey(av map[string]types.AttributeValue) (keys.Key, error) {
	var it keyItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return keys.Key{}, fmt.Errorf("dynamostore: decode key: %w", err)
	}
	return it.Key.Key(), nil
}

// ResolveAlias implements keys.Store.
func (st *Store) ResolveAlias(ctx context.Context, owner, alias string) (string, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &st.table, Key: itemKey(owner, prefixAlias+alias), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", wrap("resolve alias", err)
	}
	var it aliasItem
	if out.Item == nil {
		return "", keys.ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return "", fmt.Errorf("dynamostore: decode alias: %w", err)
	}
	return it.KeyID, nil
}

// liveFilter is keys.Key.Live in DynamoDB's words: deleteAt is whole
// seconds, so now < deleteAt*1000ms exactly when floor(now) < deleteAt.
const liveFilter = "attribute_not_exists(deleteAt) OR deleteAt > :now"

// List implements keys.Store with a strongly consistent Query of the owner's
// partition, filtered to live keys (and to a spec).
func (st *Store) List(ctx context.Context, owner string, q keys.ListQuery) ([]keys.Key, bool, error) {
	from := q.From
	if q.After != "" {
		// The range starts at the marker too (ExclusiveStartKey leaves
		// it out): DynamoDB Local otherwise reads the partition from the
		// start of the range to the marker, 29 ms at the 100,000th key.
		from = q.After
	}
	lo, hi := sortKeyRange(prefixKey, from)
	in := &dynamodb.QueryInput{
		TableName:              &st.table,
		ConsistentRead:         aws.Bool(true),
		KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": s(partition(owner)), ":lo": lo, ":hi": hi,
		},
	}
	var filters []string
	if !q.Now.IsZero() {
		filters = append(filters, "("+liveFilter+")")
		in.ExpressionAttributeValues[":now"] = n(q.Now.Unix())
	}
	if q.Spec != "" {
		filters = append(filters, "spec = :spec")
		in.ExpressionAttributeValues[":spec"] = s(string(q.Spec))
	}
	if len(filters) > 0 {
		in.FilterExpression = aws.String(strings.Join(filters, " AND "))
	}
	if q.After != "" {
		in.ExclusiveStartKey = itemKey(owner, prefixKey+q.After)
	}
	var out []keys.Key
	for {
		// Ask for one more than still needed, to learn whether more follow.
		in.Limit = aws.Int32(int32(min(q.Limit-len(out)+1, 1000)))
		page, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, false, wrap("list", err)
		}
		for _, av := range page.Items {
			k, err := decodeKey(av)
			if err != nil {
				return nil, false, err
			}
			if len(out) == q.Limit {
				return out, true, nil
			}
			out = append(out, k)
		}
		if page.LastEvaluatedKey == nil {
			return out, false, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Finalize implements expiry.Store as one transaction: write the tombstone
// (only if there is none: that makes redelivery a no-op, and the failed
// condition returns the tombstone written before), delete the key item if
// TTL has not yet, on f.Permits in DynamoDB's words, and release the alias
// if it still names this key.
func (st *Store) Finalize(ctx context.Context, f keys.Finalization) (keys.Tombstone, bool, error) {
	k := f.Key
	tomb, err := attributevalue.MarshalMap(toTombstoneItem(f.Tombstone))
	if err != nil {
		return keys.Tombstone{}, false, fmt.Errorf("dynamostore: marshal: %w", err)
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &st.table, Item: tomb, ConditionExpression: aws.String("attribute_not_exists(pk)"),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		{Delete: &types.Delete{
			TableName: &st.table, Key: itemKey(k.Owner, prefixKey+k.ID),
			ConditionExpression:                 aws.String("attribute_not_exists(pk) OR (#owner = :owner AND #state = :pending AND deleteAt = :deleteAt AND deleteAt <= :now)"),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			ExpressionAttributeNames:            map[string]string{"#owner": "owner", "#state": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":owner": s(k.Owner), ":pending": s(string(keys.PendingDeletion)),
				":deleteAt": n(k.DeleteAt.Unix()), ":now": n(f.Now.Unix()),
			},
		}},
	}
	if k.Alias != "" {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &st.table, Key: itemKey(k.Owner, prefixAlias+k.Alias),
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR keyId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": s(k.ID)},
		}})
	}
	rec, err := st.recordItem(f.Record)
	if err != nil {
		return keys.Tombstone{}, false, err
	}
	// The freeze's check, then the record, last: its failure is the witness.
	items = append(items, st.tallyUpdates(keys.Deleted(k))...)
	items = append(items, st.notFrozen(k.Owner), types.TransactWriteItem{Put: rec})
	err = retryConflicts(ctx, st.backoff, func() error {
		_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			ClientRequestToken: aws.String(f.Record.ID), TransactItems: items})
		return err
	})
	var cancelled *types.TransactionCanceledException
	if failed := cancelledConditions(err); failed != nil && errors.As(err, &cancelled) {
		if failed[len(failed)-2] {
			return keys.Tombstone{}, false, fmt.Errorf("dynamostore: finalize %s: %w", k.ID, keys.ErrFrozen)
		}
		if failed[len(failed)-1] {
			// The record exists: this very finalization committed, and
			// this is the SDK's retry of it.
			return f.Tombstone, true, nil
		}
		if failed[0] {
			// Already finalized: a redelivery. The condition's failure
			// carries the tombstone as it was written.
			stored, err := decodeTombstone(cancelled.CancellationReasons[0].Item)
			return stored, false, err
		}
		refused := &keys.ConditionFailed{}
		if failed[1] {
			if cur, err := decodeKey(cancelled.CancellationReasons[1].Item); err == nil {
				refused.Current = &cur
			}
		}
		return keys.Tombstone{}, false, fmt.Errorf("dynamostore: finalize %s: the key is no longer the pending deletion to finalize: %w", k.ID, refused)
	}
	if err != nil {
		return keys.Tombstone{}, false, wrap("finalize", err)
	}
	return f.Tombstone, true, nil
}

func decodeTombstone(av map[string]types.AttributeValue) (keys.Tombstone, error) {
	if av == nil {
		return keys.Tombstone{}, errors.New("dynamostore: no tombstone item returned")
	}
	var it tombstoneItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return keys.Tombstone{}, fmt.Errorf("dynamostore: decode tombstone: %w", err)
	}
	return it.Tombstone.Tombstone(), nil
}

// MarkReported implements expiry.Store: one UpdateItem of the tombstone,
// keeping the first report's time.
func (st *Store) MarkReported(ctx context.Context, owner, id string, at time.Time) error {
	err := retryConflicts(ctx, st.backoff, func() error {
		_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &st.table, Key: itemKey(owner, prefixTombstone+id),
			ConditionExpression:       aws.String("attribute_exists(pk)"),
			UpdateExpression:          aws.String("SET reportedAt = if_not_exists(reportedAt, :at) REMOVE dueShard, dueAt"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": n(at.UnixMilli())},
		})
		return err
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("dynamostore: mark reported %s: %w", id, keys.ErrNotFound)
	}
	return wrap("mark reported", err)
}

// Tombstone returns the record of owner's finalized key id (keys.ErrNotFound if
// none): what tests and tools read; no interface of the service asks for it.
func (st *Store) Tombstone(ctx context.Context, owner, id string) (keys.Tombstone, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &st.table, Key: itemKey(owner, prefixTombstone+id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return keys.Tombstone{}, wrap("tombstone", err)
	}
	if out.Item == nil {
		return keys.Tombstone{}, keys.ErrNotFound
	}
	return decodeTombstone(out.Item)
}

var _ keys.Store = (*Store)(nil) // and expiry.Store: storetest.Run holds it to both
