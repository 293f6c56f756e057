package dynamostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/shared/keys"
)

// The due index: what is due at a time (keys pending deletion, tombstones
// not yet reported, audit records whose event is not out), by kind and
// shard, oldest first. The sweep reads it; reminders are marked on the key.

// dueItems queries the shards of the due index (at once) for items due at
// or before before, and returns up to limit of them, oldest first. The index
// is eventually consistent: what it returns is a candidate, and the write
// that acts on it holds the condition.
func (st *Store) dueItems(ctx context.Context, shardNames []string, before time.Time, limit int) ([]map[string]types.AttributeValue, error) {
	type due struct {
		at   int64
		sk   string
		item map[string]types.AttributeValue
	}
	shards := make([][]due, len(shardNames))
	errs := make([]error, len(shardNames))
	var wg sync.WaitGroup
	for shard, name := range shardNames {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := &dynamodb.QueryInput{
				TableName: &st.table, IndexName: aws.String(dueIndex),
				KeyConditionExpression: aws.String("dueShard = :shard AND dueAt <= :before"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":shard": s(name), ":before": n(before.UnixMilli()),
				},
				Limit: aws.Int32(int32(min(limit, 1000))),
			}
			// Each shard's first limit items are enough: the merged first
			// limit are among them.
			for len(shards[shard]) < limit {
				out, err := st.db.Query(ctx, in)
				if err != nil {
					errs[shard] = wrap("due", err)
					return
				}
				for _, av := range out.Items {
					at, err := strconv.ParseInt(av[attrDueAt].(*types.AttributeValueMemberN).Value, 10, 64)
					if err != nil {
						errs[shard] = fmt.Errorf("dynamostore: due index: %w", err)
						return
					}
					sk, _ := av[attrSK].(*types.AttributeValueMemberS)
					if sk == nil {
						errs[shard] = fmt.Errorf("dynamostore: due index: an item without a sort key")
						return
					}
					shards[shard] = append(shards[shard], due{at, sk.Value, av})
				}
				if out.LastEvaluatedKey == nil {
					return
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	all := slices.Concat(shards...)
	// By due time, then by sort key: records of one millisecond in the
	// order of their (time-ordered) ids, whichever shards they came from.
	slices.SortFunc(all, func(a, b due) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.sk, b.sk))
	})
	out := make([]map[string]types.AttributeValue, 0, min(len(all), limit))
	for _, d := range all[:min(len(all), limit)] {
		out = append(out, d.item)
	}
	return out, nil
}

// due is dueItems of kind, decoded.
func due[T any](ctx context.Context, st *Store, kind string, before time.Time, limit int, decode func(map[string]types.AttributeValue) (T, error)) ([]T, error) {
	items, err := st.dueItems(ctx, dueShardsOf(kind), before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(items))
	for _, av := range items {
		v, err := decode(av)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Due implements expiry.Store with the due index: keys pending deletion
// whose window ends at or before before.
func (st *Store) Due(ctx context.Context, before time.Time, limit int) ([]keys.Key, error) {
	return due(ctx, st, prefixKey, before, limit, decodeKey)
}

// Unreported implements expiry.Store with the due index: tombstones not yet
// reported, deleted at or before before.
func (st *Store) Unreported(ctx context.Context, before time.Time, limit int) ([]keys.Tombstone, error) {
	return due(ctx, st, prefixTombstone, before, limit, decodeTombstone)
}

// MarkReminded implements expiry.Store: one conditional UpdateItem on the
// key still pending deletion with the same window; it keeps the smallest
// offset reminded.
func (st *Store) MarkReminded(ctx context.Context, k keys.Key, offset time.Duration) error {
	seconds := int64(offset / time.Second)
	err := retryConflicts(ctx, st.backoff, func() error {
		_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &st.table, Key: itemKey(k.Owner, prefixKey+k.ID),
			ConditionExpression:      aws.String("#state = :pending AND (deleteAt = :deleteAt OR windowEnd = :deleteAt) AND (attribute_not_exists(reminded) OR reminded > :offset)"),
			UpdateExpression:         aws.String("SET reminded = :offset"),
			ExpressionAttributeNames: map[string]string{"#state": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pending": s(string(keys.PendingDeletion)), ":deleteAt": n(k.DeleteAt.Unix()), ":offset": n(seconds),
			},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		return err
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if ccf.Item != nil {
			if cur, err := decodeKey(ccf.Item); err == nil && cur.State == keys.PendingDeletion && cur.DeleteAt.Equal(k.DeleteAt) {
				return nil // already reminded at this offset or a smaller one
			}
		}
		return fmt.Errorf("dynamostore: mark reminded %s: %w", k.ID, keys.ErrNotFound)
	}
	return wrap("mark reminded", err)
}
