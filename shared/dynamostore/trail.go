package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/shared/keyitem"
	"github.com/keydeletion/service/shared/keys"
)

// SetRetention keeps audit records written from now on for d (0: for
// good); TTL removes them after it.
func (st *Store) SetRetention(d time.Duration) { st.retention = d }

// recordItem is the Put of r: never over an existing record, and into the
// outbox (the due index) until its event is published.
func (st *Store) recordItem(r keys.Record) (*types.Put, error) {
	av, err := attributevalue.MarshalMap(recordItem{
		tableKeys: indexed(prefixRecord, r.Owner, recordID(r), r.At), Record: keyitem.FromRecord(r, st.retention),
	})
	if err != nil {
		return nil, fmt.Errorf("dynamostore: marshal record: %w", err)
	}
	return &types.Put{TableName: &st.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(pk)")}, nil
}

func decodeRecord(av map[string]types.AttributeValue) (keyitem.Record, error) {
	var it recordItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return keyitem.Record{}, fmt.Errorf("dynamostore: decode record: %w", err)
	}
	return it.Record, nil
}

// Records returns a page of owner's audit trail: one strongly consistent
// Query of the owner's records in the time range (a key's records are
// filtered from them: deletions are rare, and the range bounds the read).
// A record written without the key's alias gets it here, from the key or
// its tombstone (aliases never change).
func (st *Store) Records(ctx context.Context, owner string, q keys.TrailQuery, now time.Time) (keys.TrailPage, error) {
	lo := prefixRecord + fmt.Sprintf("%013d", max(q.From.UnixMilli(), 0))
	hi := prefixRecord + "~"
	if !q.To.IsZero() {
		hi = prefixRecord + fmt.Sprintf("%013d", q.To.UnixMilli())
	}
	in := &dynamodb.QueryInput{
		TableName: &st.table, ConsistentRead: aws.Bool(true),
		KeyConditionExpression:    aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
		FilterExpression:          aws.String("attribute_not_exists(" + attrTTL + ") OR " + attrTTL + " > :now"), // retention not ended
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(partition(owner)), ":lo": s(lo), ":hi": s(hi), ":now": n(now.Unix())},
	}
	if q.KeyID != "" {
		in.FilterExpression = aws.String("(" + *in.FilterExpression + ") AND keyId = :key")
		in.ExpressionAttributeValues[":key"] = s(q.KeyID)
	}
	if q.After != "" {
		in.ExclusiveStartKey = itemKey(owner, recordSK(keys.Record{At: q.AfterAt, ID: q.After}))
	}
	var page keys.TrailPage
	for {
		out, err := st.db.Query(ctx, in)
		if err != nil {
			return keys.TrailPage{}, wrap("records", err)
		}
		for _, av := range out.Items {
			r, err := decodeRecord(av)
			if err != nil {
				return keys.TrailPage{}, err
			}
			if !q.To.IsZero() && r.At >= q.To.UnixMilli() {
				continue // BETWEEN is inclusive; To is not
			}
			if len(page.Records) == q.Limit {
				page.More = true
				return page, st.aliases(ctx, q, page.Records)
			}
			page.Records = append(page.Records, r.Record())
		}
		if out.LastEvaluatedKey == nil {
			return page, st.aliases(ctx, q, page.Records)
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// withoutAlias reports whether r was written without its key's alias:
// the schedule and cancel transactions do not read the key (and
// immediate deletions did not, before they finalized at once); the final
// deletion knows it. Readers fill it in (fillAliases).
func withoutAlias(r keys.Record) bool {
	return r.Alias == "" && (r.Op == keys.OpSchedule || r.Op == keys.OpCancel || r.Op == keys.OpDeleteNow)
}

// aliases fills in recs' aliases unless q says it needs none.
func (st *Store) aliases(ctx context.Context, q keys.TrailQuery, recs []keys.Record) error {
	if q.NoAlias {
		return nil
	}
	return st.fillAliases(ctx, recs)
}

// fillAliases gives every record written without its key's alias
// (withoutAlias) the alias of its key, live or finally deleted: strongly
// consistent reads of those keys and their tombstones (aliases never
// change, so either item says it; "" if the key has none).
func (st *Store) fillAliases(ctx context.Context, recs []keys.Record) error {
	type ref struct{ owner, id string }
	var reads []map[string]types.AttributeValue
	seen := map[ref]bool{}
	for _, r := range recs {
		if k := (ref{r.Owner, r.KeyID}); withoutAlias(r) && !seen[k] {
			seen[k] = true
			reads = append(reads, itemKey(r.Owner, prefixKey+r.KeyID), itemKey(r.Owner, prefixTombstone+r.KeyID))
		}
	}
	items, err := st.batchGet(ctx, "aliases", reads, &types.KeysAndAttributes{
		ProjectionExpression: aws.String("pk, sk, #alias"), ExpressionAttributeNames: map[string]string{"#alias": "alias"},
	})
	if err != nil {
		return err
	}
	aliases := map[ref]string{}
	for _, item := range items {
		pk, _ := item[attrPK].(*types.AttributeValueMemberS)
		sk, _ := item[attrSK].(*types.AttributeValueMemberS)
		alias, _ := item["alias"].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil || alias == nil {
			continue
		}
		id := strings.TrimPrefix(strings.TrimPrefix(sk.Value, prefixKey), prefixTombstone)
		aliases[ref{strings.TrimPrefix(pk.Value, prefixTenant), id}] = alias.Value
	}
	for i, r := range recs {
		if withoutAlias(r) {
			recs[i].Alias = aliases[ref{r.Owner, r.KeyID}]
		}
	}
	return nil
}

// batchGet reads the items of keys strongly consistently, 100 a
// BatchGetItem, with attrs' projection (nil: whole items), reading again
// after a doubling wait what DynamoDB left unread (throttling, size). It
// returns the items found, in no order.
func (st *Store) batchGet(ctx context.Context, op string, keys []map[string]types.AttributeValue, attrs *types.KeysAndAttributes) ([]map[string]types.AttributeValue, error) {
	var found []map[string]types.AttributeValue
	for chunk := range slices.Chunk(keys, 100) {
		read := types.KeysAndAttributes{Keys: chunk, ConsistentRead: aws.Bool(true)}
		if attrs != nil {
			read.ProjectionExpression, read.ExpressionAttributeNames = attrs.ProjectionExpression, attrs.ExpressionAttributeNames
		}
		pending := map[string]types.KeysAndAttributes{st.table: read}
		for wait := 10 * time.Millisecond; len(pending) > 0; wait = min(2*wait, time.Second) {
			out, err := st.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, wrap(op, err)
			}
			found = append(found, out.Responses[st.table]...)
			if pending = out.UnprocessedKeys; len(pending) > 0 {
				select {
				case <-ctx.Done():
					return nil, wrap(op, ctx.Err())
				case <-time.After(wait):
				}
			}
		}
	}
	return found, nil
}

// Unpublished implements expiry.Store with the due index: audit records
// written at or before before whose event is not yet published.
// Each gets its key's alias, as Records gives it.
func (st *Store) Unpublished(ctx context.Context, before time.Time, limit int) ([]keys.Record, error) {
	recs, err := due(ctx, st, prefixRecord, before, limit, func(av map[string]types.AttributeValue) (keys.Record, error) {
		r, err := decodeRecord(av)
		return r.Record(), err
	})
	if err != nil {
		return nil, err
	}
	return recs, st.fillAliases(ctx, recs)
}

// MarkPublished implements expiry.Store: each record leaves the due index
// (one UpdateItem each, a few at a time). A record already gone (its
// retention ended) is no error.
func (st *Store) MarkPublished(ctx context.Context, rs []keys.Record) error {
	errs := make([]error, len(rs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, r := range rs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = st.markPublished(ctx, r)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (st *Store) markPublished(ctx context.Context, r keys.Record) error {
	err := retryConflicts(ctx, st.backoff, func() error {
		_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &st.table, Key: itemKey(r.Owner, recordSK(r)),
			ConditionExpression: aws.String("attribute_exists(pk)"),
			UpdateExpression:    aws.String("REMOVE dueShard, dueAt"),
		})
		return err
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	return wrap("mark published", err)
}
