package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/shared/keys"
)

// Apply implements keys.Store as one conditional UpdateItem whose condition
// is keys.Change.Permits in DynamoDB's words: owner, existence, legal state,
// open window, and room for the tags. ReturnValuesOnConditionCheckFailure
// returns the item as it was, so a refusal needs no second read.
//
// One case takes a second request: the tag count. The condition cannot tell
// which of the tags being set the key already has, so the first attempt
// counts them all as new; when that refuses a change Permits allows (the key
// is at the limit and some tags are overwritten), the item it returned gives
// the exact count, and the change is retried once on that item's tags.
func (st *Store) Apply(ctx context.Context, c keys.Change) (keys.Key, error) {
	k, current, err := st.update(ctx, c, nil)
	if err == nil || current == nil {
		return k, err
	}
	cur, decodeErr := decodeKey(current)
	if decodeErr != nil {
		return keys.Key{}, decodeErr
	}
	if (len(c.SetTags) > 0 || len(c.RemoveTags) > 0) && c.Permits(&cur) {
		k, current, err = st.update(ctx, c, current)
		if err == nil || current == nil {
			return k, err
		}
		if cur, decodeErr = decodeKey(current); decodeErr != nil {
			return keys.Key{}, decodeErr
		}
	}
	return keys.Key{}, &keys.ConditionFailed{Current: &cur}
}

// update runs the change as one UpdateItem. With the item as last seen
// (seen), the tag condition is exact for it. On a failed condition it
// returns the item as stored (nil if there is none) with a non-nil error.
func (st *Store) update(ctx context.Context, c keys.Change, seen map[string]types.AttributeValue) (keys.Key, map[string]types.AttributeValue, error) {
	e := newExpr()
	e.names["#owner"], e.names["#state"] = "owner", "state"
	e.values[":owner"], e.values[":now"] = s(c.Owner), n(c.Now.Unix())
	from := make([]string, len(c.From))
	for i, st := range c.From {
		from[i] = e.value(s(string(st)))
	}
	conds := []string{"attribute_exists(sk)", "#owner = :owner", "#state IN (" + strings.Join(from, ", ") + ")", "(" + liveFilter + ")"}
	var set, remove []string
	if c.ChangesState() {
		set = append(set, "#state = "+e.value(s(string(c.To))), "stateChangedAt = "+e.value(n(c.Now.UnixMilli())))
	}
	switch c.Window {
	case keys.WindowOpen:
		set = append(set, "deleteAt = "+e.value(n(c.DeleteAt.Unix())), "pendingDays = "+e.value(n(int64(c.PendingDays))),
			"scheduledAt = "+e.value(n(c.Now.UnixMilli())))
	case keys.WindowClear:
		remove = append(remove, "deleteAt", "pendingDays", "scheduledAt")
	case keys.WindowEnd:
		set = append(set, "deleteAt = "+e.value(n(c.DeleteAt.Unix())))
	}
	tagConds, tagSet, tagRemove := e.tags(c, seen)
	conds, set, remove = append(conds, tagConds...), append(set, tagSet...), append(remove, tagRemove...)

	update := ""
	if len(set) > 0 {
		update += "SET " + strings.Join(set, ", ")
	}
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	in := &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: itemKey(c.Owner, prefixKey+c.ID),
		ConditionExpression:                 str(strings.Join(conds, " AND ")),
		ExpressionAttributeNames:            e.names,
		ExpressionAttributeValues:           e.values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	update = strings.TrimSpace(update)
	in.UpdateExpression = &update
	var out *dynamodb.UpdateItemOutput
	err := retryConflicts(ctx, st.backoff, func() (err error) {
		out, err = st.db.UpdateItem(ctx, in)
		return err
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if ccf.Item == nil {
			return keys.Key{}, nil, &keys.ConditionFailed{}
		}
		return keys.Key{}, ccf.Item, &keys.ConditionFailed{}
	}
	if err != nil {
		return keys.Key{}, nil, wrap(string(c.Op), err)
	}
	k, err := decodeKey(out.Attributes)
	return k, nil, err
}

// tags is the tag part of a change: conditions, SET and REMOVE clauses.
// Without the item (seen == nil) the count condition treats every tag set
// as new. With it, the condition names the tags the item had, so that the
// count is exact, and an item written before tags were kept (no tags map)
// gets its map whole.
func (e *expr) tags(c keys.Change, seen map[string]types.AttributeValue) (conds, set, remove []string) {
	if len(c.SetTags) == 0 && len(c.RemoveTags) == 0 {
		return nil, nil, nil
	}
	current, hasMap := map[string]string{}, true
	if seen != nil {
		tm, ok := seen[attrTags].(*types.AttributeValueMemberM)
		hasMap = ok
		if ok {
			for k, v := range tm.Value {
				if sv, ok := v.(*types.AttributeValueMemberS); ok {
					current[k] = sv.Value
				}
			}
		}
	}
	if !hasMap {
		// Only a change to a key written before tags were kept comes here:
		// write the whole map, on condition that there still is none.
		all := map[string]types.AttributeValue{}
		for k, v := range c.SetTags {
			all[k] = s(v)
		}
		return []string{"attribute_not_exists(" + attrTags + ")"}, []string{attrTags + " = " + e.value(&types.AttributeValueMemberM{Value: all})}, nil
	}
	newTags := 0
	for _, k := range slices.Sorted(maps.Keys(c.SetTags)) {
		path := attrTags + "." + e.name(k)
		set = append(set, path+" = "+e.value(s(c.SetTags[k])))
		if _, had := current[k]; had && seen != nil {
			conds = append(conds, "attribute_exists("+path+")")
		} else {
			newTags++
			if seen != nil {
				conds = append(conds, "attribute_not_exists("+path+")")
			}
		}
	}
	for _, k := range c.RemoveTags {
		remove = append(remove, attrTags+"."+e.name(k))
	}
	if newTags > 0 {
		conds = append(conds, "size("+attrTags+") <= "+e.value(n(int64(keys.MaxTags-newTags))))
	} else if len(remove) > 0 {
		conds = append(conds, "attribute_exists("+attrTags+")")
	}
	return conds, set, remove
}

// expr collects an expression's attribute names and values.
type expr struct {
	names  map[string]string
	values map[string]types.AttributeValue
}

func newExpr() *expr {
	return &expr{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// value adds a value and returns its placeholder.
func (e *expr) value(v types.AttributeValue) string {
	ph := fmt.Sprintf(":v%d", len(e.values))
	e.values[ph] = v
	return ph
}

// name adds an attribute name (a tag key: any characters) and returns its
// placeholder.
func (e *expr) name(name string) string {
	ph := fmt.Sprintf("#n%d", len(e.names))
	e.names[ph] = name
	return ph
}

func str(s string) *string { return &s }
