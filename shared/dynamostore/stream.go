package dynamostore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/shared/keys"
)

// TTL removals reach the stream with this identity; a user's delete has none.
const (
	ttlPrincipal    = "dynamodb.amazonaws.com"
	ttlIdentityType = "Service"
)

// Stream reads the keys table's stream for the expire function.
type Stream struct{ store *Store }

// Stream returns the reader of the table's stream. The audit records it
// reads get their key's alias from the table, as every reader of the trail
// does (the schedule and cancel transactions write records without it), so
// that an event has one shape whatever the store.
func (st *Store) Stream() Stream { return Stream{store: st} }

// ExpiredKey decodes a stream record of the keys table. ok is true for every
// TTL removal but those of audit records (their retention ended: nothing
// to do), with what the removed item held (a key item that was not
// pending deletion, or an item that is no key at all, decodes to a key the
// finalizer refuses and logs); every other record (inserts, updates, a
// user's delete) is ignored. A TTL removal that cannot be decoded is an
// error, so that it is retried and, failing that, reaches the on-failure
// destination.
func (Stream) ExpiredKey(rec events.DynamoDBEventRecord) (keys.Key, bool, error) {
	if rec.EventName != string(events.DynamoDBOperationTypeRemove) || rec.UserIdentity == nil ||
		rec.UserIdentity.Type != ttlIdentityType || rec.UserIdentity.PrincipalID != ttlPrincipal {
		return keys.Key{}, false, nil
	}
	if sk, ok := rec.Change.Keys[attrSK]; ok && sk.DataType() == events.DataTypeString && strings.HasPrefix(sk.String(), prefixRecord) {
		return keys.Key{}, false, nil
	}
	if rec.Change.OldImage == nil {
		return keys.Key{}, false, fmt.Errorf("TTL removal of %v without an old image: the stream view must include old images", rec.Change.Keys)
	}
	av, err := fromStreamImage(rec.Change.OldImage)
	if err != nil {
		return keys.Key{}, false, err
	}
	k, err := decodeKey(av)
	if err != nil {
		return keys.Key{}, false, err
	}
	return k, true, nil
}

// NewRecord decodes the audit record an INSERT wrote; ok is false for every
// other record.
func (s Stream) NewRecord(ctx context.Context, rec events.DynamoDBEventRecord) (keys.Record, bool, error) {
	sk, ok := rec.Change.Keys[attrSK]
	if rec.EventName != string(events.DynamoDBOperationTypeInsert) || !ok || sk.DataType() != events.DataTypeString ||
		!strings.HasPrefix(sk.String(), prefixRecord) {
		return keys.Record{}, false, nil
	}
	if rec.Change.NewImage == nil {
		return keys.Record{}, false, fmt.Errorf("insert of %v without a new image: the stream view must include new images", rec.Change.Keys)
	}
	av, err := fromStreamImage(rec.Change.NewImage)
	if err != nil {
		return keys.Record{}, false, err
	}
	r, err := decodeRecord(av)
	if err != nil {
		return keys.Record{}, false, err
	}
	out := []keys.Record{r.Record()}
	if err := s.store.fillAliases(ctx, out); err != nil {
		return keys.Record{}, false, err
	}
	return out[0], true, nil
}

func fromStreamImage(img map[string]events.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	out := make(map[string]types.AttributeValue, len(img))
	for name, v := range img {
		av, err := fromStreamValue(v)
		if err != nil {
			return nil, fmt.Errorf("stream image attribute %s: %w", name, err)
		}
		out[name] = av
	}
	return out, nil
}

// fromStreamValue converts the Lambda event's attribute value to the SDK's.
func fromStreamValue(v events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case events.DataTypeList:
		list := v.List()
		out := make([]types.AttributeValue, len(list))
		for i, e := range list {
			av, err := fromStreamValue(e)
			if err != nil {
				return nil, err
			}
			out[i] = av
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case events.DataTypeMap:
		m, err := fromStreamImage(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	}
	return nil, fmt.Errorf("unknown attribute type %v", v.DataType())
}
