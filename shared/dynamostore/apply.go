package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/shared/keyitem"
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

// ApplyRecorded implements keys.Store as one TransactWriteItems: the
// change's UpdateItem (the same expression and condition as Apply's) and
// the Put of its audit record. A transaction returns no item on success,
// hence no key; on a failed condition its cancellation reason carries the
// item as stored. The record's id is the transaction's client token, so
// that a retry of a transaction that did commit is a success, not a
// refusal by its own change.
func (st *Store) ApplyRecorded(ctx context.Context, c keys.Change, r keys.Record) error {
	in := st.updateInput(c, nil)
	rec, err := st.recordItem(r)
	if err != nil {
		return err
	}
	tx := &dynamodb.TransactWriteItemsInput{
		ClientRequestToken: aws.String(r.ID),
		TransactItems: []types.TransactWriteItem{
			{Update: &types.Update{
				TableName: in.TableName, Key: in.Key, UpdateExpression: in.UpdateExpression,
				ConditionExpression: in.ConditionExpression, ExpressionAttributeNames: in.ExpressionAttributeNames,
				ExpressionAttributeValues:           in.ExpressionAttributeValues,
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}},
			{Put: rec},
		},
	}
	freezeAt := -1
	if c.CheckFreeze {
		freezeAt = len(tx.TransactItems)
		tx.TransactItems = append(tx.TransactItems, st.notFrozen(c.Owner))
	}
	guardFrom := len(tx.TransactItems)
	for _, scope := range c.GuardScopes {
		tx.TransactItems = append(tx.TransactItems, st.notTripped(c.Owner, scope))
	}
	err = retryConflicts(ctx, st.backoff, func() error {
		_, err := st.db.TransactWriteItems(ctx, tx)
		return err
	})
	var cancelled *types.TransactionCanceledException
	if failed := cancelledConditions(err); failed != nil {
		if freezeAt >= 0 && failed[freezeAt] {
			return fmt.Errorf("dynamostore: %s %s: %w", c.Op, c.ID, keys.ErrFrozen)
		}
		if slices.Contains(failed[guardFrom:], true) {
			return fmt.Errorf("dynamostore: %s %s: %w", c.Op, c.ID, keys.ErrGuardTripped)
		}
	}
	if failed := cancelledConditions(err); failed != nil && failed[1] {
		// The record exists: this very transaction committed, and this is a
		// retry of it (past the token's ten minutes, or any store).
		return nil
	}
	if failed := cancelledConditions(err); failed != nil && failed[0] && errors.As(err, &cancelled) {
		item := cancelled.CancellationReasons[0].Item
		if item == nil {
			return &keys.ConditionFailed{}
		}
		cur, err := decodeKey(item)
		if err != nil {
			return err
		}
		return &keys.ConditionFailed{Current: &cur}
	}
	return wrap(string(c.Op), err)
}

// update runs the change as one UpdateItem. With the item as last seen
// (seen), the tag condition is exact for it. On a failed condition it
// returns the item as stored (nil if there is none) with a non-nil error.
func (st *Store) update(ctx context.Context, c keys.Change, seen map[string]types.AttributeValue) (keys.Key, map[string]types.AttributeValue, error) {
	in := st.updateInput(c, seen)
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

// updateInput is the change as an UpdateItem: its condition is
// keys.Change.Permits, its effect keys.Change.Apply.
func (st *Store) updateInput(c keys.Change, seen map[string]types.AttributeValue) *dynamodb.UpdateItemInput {
	e := newExpr()
	conds := e.permits(c)
	stamp, err := attributevalue.Marshal(keyitem.FromStamp(keys.Stamp{Op: c.Op, By: c.By, At: c.Now}))
	if err != nil {
		panic(fmt.Sprintf("dynamostore: marshal stamp: %v", err)) // strings and numbers only: cannot fail
	}
	set := []string{attrLastChange + " = " + e.value(stamp)}
	var remove []string
	if c.ChangesState() {
		set = append(set, "#state = "+e.value(s(string(c.To))), "stateChangedAt = "+e.value(n(c.Now.UnixMilli())))
	}
	switch c.Window {
	case keys.WindowOpen:
		// A held window's end goes to windowEnd, never to the TTL
		// attribute: TTL must not remove a held key.
		end := attrTTL
		if c.Hold != "" {
			end = attrWindowEnd
			set = append(set, attrHolds+" = "+e.value(&types.AttributeValueMemberSS{Value: []string{string(c.Hold)}}))
		} else {
			remove = append(remove, attrHolds)
		}
		remove = append(remove, other(end))
		set = append(set, end+" = "+e.value(n(c.DeleteAt.Unix())), "pendingDays = "+e.value(n(int64(c.PendingDays))),
			"scheduledAt = "+e.value(n(c.Now.UnixMilli())), attrScheduledBy+" = "+e.value(s(c.By.AccessKey)),
			attrDueShard+" = "+e.value(s(dueShard(prefixKey, c.Owner, c.ID))), attrDueAt+" = "+e.value(n(c.DeleteAt.UnixMilli())))
		remove = append(remove, attrReminded)
	case keys.WindowClear:
		remove = append(remove, attrTTL, attrWindowEnd, attrHolds, attrScheduledBy, "pendingDays", "scheduledAt", attrDueShard, attrDueAt, attrReminded)
	case keys.WindowEnd:
		set = append(set, attrTTL+" = "+e.value(n(c.DeleteAt.Unix())), attrDueAt+" = "+e.value(n(c.DeleteAt.UnixMilli())))
	}
	var add, del []string
	switch {
	case c.Release != "" && c.Window == keys.WindowKeep && c.KeepHeld:
		del = append(del, attrHolds+" "+e.value(&types.AttributeValueMemberSS{Value: []string{string(c.Release)}}))
	case c.Release != "" && c.Window == keys.WindowKeep:
		// The last hold released (the condition says it is the only one):
		// the window's end becomes the TTL attribute again.
		set = append(set, attrTTL+" = "+attrWindowEnd)
		remove = append(remove, attrWindowEnd, attrHolds)
	case c.AddHold != "" && c.WasHeld:
		add = append(add, attrHolds+" "+e.value(&types.AttributeValueMemberSS{Value: []string{string(c.AddHold)}}))
	case c.AddHold != "":
		// The first hold: the window's end moves off the TTL attribute.
		set = append(set, attrWindowEnd+" = "+attrTTL, attrHolds+" = "+e.value(&types.AttributeValueMemberSS{Value: []string{string(c.AddHold)}}))
		remove = append(remove, attrTTL)
	}
	tagConds, tagSet, tagRemove := e.tags(c, seen)
	conds, set, remove = append(conds, tagConds...), append(set, tagSet...), append(remove, tagRemove...)

	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	if len(add) > 0 {
		update += " ADD " + strings.Join(add, ", ")
	}
	if len(del) > 0 {
		update += " DELETE " + strings.Join(del, ", ")
	}
	return &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: itemKey(c.Owner, prefixKey+c.ID),
		UpdateExpression:                    &update,
		ConditionExpression:                 str(strings.Join(conds, " AND ")),
		ExpressionAttributeNames:            e.names,
		ExpressionAttributeValues:           e.values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
}

// permits is keys.Change.Permits in DynamoDB's words, but for the tag
// count (see tags): the item exists, has the change's owner, is in a state
// the change allows, is live and is not protected from the change.
func (e *expr) permits(c keys.Change) []string {
	e.names["#owner"], e.names["#state"] = "owner", "state"
	e.values[":owner"] = s(c.Owner)
	from := make([]string, len(c.From))
	for i, st := range c.From {
		from[i] = e.value(s(string(st)))
	}
	conds := []string{"attribute_exists(sk)", "#owner = :owner", "#state IN (" + strings.Join(from, ", ") + ")"}
	if c.Op != keys.OpHoldFrozen { // keys.Change.Permits: the freeze holds even a key past its date
		e.values[":now"] = n(c.Now.Unix())
		conds = append(conds, "("+liveFilter+")")
	}
	conds = append(conds, e.protection(c.Protected)...)
	if c.Approval != nil {
		covered := e.covers(*c.Approval)
		if c.Hold == "" {
			covered = "NOT " + covered
		}
		conds = append(conds, covered)
	}
	if c.Release != "" {
		if c.KeepHeld {
			conds = append(conds, "contains("+attrHolds+", "+e.value(s(string(c.Release)))+")", "size("+attrHolds+") > "+e.value(n(1)))
		} else {
			conds = append(conds, attrHolds+" = "+e.value(&types.AttributeValueMemberSS{Value: []string{string(c.Release)}}))
		}
		if c.NotScheduledBy != "" {
			conds = append(conds, "(attribute_not_exists("+attrScheduledBy+") OR "+attrScheduledBy+" <> "+e.value(s(c.NotScheduledBy))+")")
		}
	}
	if c.AddHold != "" {
		if c.WasHeld {
			conds = append(conds, "attribute_exists("+attrHolds+")", "NOT contains("+attrHolds+", "+e.value(s(string(c.AddHold)))+")")
		} else {
			conds = append(conds, "attribute_not_exists("+attrHolds+")", "attribute_exists("+attrTTL+")")
		}
	}
	if c.Op == keys.OpDeleteNow {
		conds = append(conds, "attribute_not_exists("+attrHolds+")")
	}
	return conds
}

// covers is keys.ApprovalRule.Covers in DynamoDB's words: the item is one
// of the rule's ids or aliases, or carries its tag.
func (e *expr) covers(r keys.ApprovalRule) string {
	if r.All {
		return "(attribute_exists(sk))"
	}
	in := func(names []string) string {
		phs := make([]string, len(names))
		for i, v := range names {
			phs[i] = e.value(s(v))
		}
		return strings.Join(phs, ", ")
	}
	var parts []string
	if len(r.Keys.IDs) > 0 {
		parts = append(parts, e.name("id")+" IN ("+in(r.Keys.IDs)+")")
	}
	if len(r.Keys.Aliases) > 0 {
		parts = append(parts, e.name("alias")+" IN ("+in(r.Keys.Aliases)+")")
	}
	if r.Keys.TagKey != "" {
		path := attrTags + "." + e.name(r.Keys.TagKey)
		if r.Keys.TagValue == "" {
			parts = append(parts, "attribute_exists("+path+")")
		} else {
			parts = append(parts, path+" = "+e.value(s(r.Keys.TagValue)))
		}
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// other is the window-end attribute that end is not.
func other(end string) string {
	if end == attrTTL {
		return attrWindowEnd
	}
	return attrTTL
}

// protection is keys.Protected.Protects in DynamoDB's words: the item is
// none of the protected ids or aliases, and does not carry the protecting tag.
func (e *expr) protection(p keys.Protected) []string {
	var conds []string
	in := func(names []string) string {
		phs := make([]string, len(names))
		for i, v := range names {
			phs[i] = e.value(s(v))
		}
		return strings.Join(phs, ", ")
	}
	if len(p.IDs) > 0 {
		conds = append(conds, "NOT ("+e.name("id")+" IN ("+in(p.IDs)+"))")
	}
	if len(p.Aliases) > 0 {
		alias := e.name("alias")
		conds = append(conds, "(attribute_not_exists("+alias+") OR NOT ("+alias+" IN ("+in(p.Aliases)+")))")
	}
	if p.TagKey != "" {
		path := attrTags + "." + e.name(p.TagKey)
		if p.TagValue == "" {
			conds = append(conds, "attribute_not_exists("+path+")")
		} else {
			conds = append(conds, "(attribute_not_exists("+path+") OR "+path+" <> "+e.value(s(p.TagValue))+")")
		}
	}
	return conds
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

// DeleteNow implements keys.Store as one TransactWriteItems: delete the key
// item on c's condition and on its being the pending deletion f.Key was
// read as (the same window, the same last change of state), write the
// tombstone, release the alias if it still names the key, and put both
// audit records. The immediate deletion's record id is the token, and its
// record the witness of a commit, as for ApplyRecorded.
func (st *Store) DeleteNow(ctx context.Context, c keys.Change, r keys.Record, f keys.Finalization) error {
	e := newExpr()
	conds := e.permits(c)
	conds = append(conds, attrTTL+" = "+e.value(n(f.Key.DeleteAt.Unix())),
		"stateChangedAt = "+e.value(n(f.Key.StateChangedAt.UnixMilli())))
	tomb, err := attributevalue.MarshalMap(toTombstoneItem(f.Tombstone))
	if err != nil {
		return fmt.Errorf("dynamostore: marshal: %w", err)
	}
	deleteRecord, err := st.recordItem(r)
	if err != nil {
		return err
	}
	finalRecord, err := st.recordItem(f.Record)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &st.table, Key: itemKey(c.Owner, prefixKey+c.ID),
			ConditionExpression: str(strings.Join(conds, " AND ")), ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		{Put: deleteRecord},
		{Put: finalRecord},
		{Put: &types.Put{TableName: &st.table, Item: tomb, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		st.notFrozen(c.Owner),
	}
	for _, scope := range c.GuardScopes { // at 5 and after
		items = append(items, st.notTripped(c.Owner, scope))
	}
	if a := f.Key.Alias; a != "" {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &st.table, Key: itemKey(c.Owner, prefixAlias+a),
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR keyId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": s(c.ID)},
		}})
	}
	items = append(items, st.tallyUpdates(keys.Deleted(f.Key))...)
	err = retryConflicts(ctx, st.backoff, func() error {
		_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String(r.ID), TransactItems: items})
		return err
	})
	var cancelled *types.TransactionCanceledException
	failed := cancelledConditions(err)
	switch {
	case failed != nil && failed[1]:
		return nil // this very transaction committed: a retry of it
	case failed != nil && failed[4]:
		return fmt.Errorf("dynamostore: delete %s now: %w", c.ID, keys.ErrFrozen)
	case failed != nil && slices.Contains(failed[5:5+len(c.GuardScopes)], true):
		return fmt.Errorf("dynamostore: delete %s now: %w", c.ID, keys.ErrGuardTripped)
	case failed != nil && failed[0] && errors.As(err, &cancelled):
		if item := cancelled.CancellationReasons[0].Item; item != nil {
			cur, err := decodeKey(item)
			if err != nil {
				return err
			}
			return &keys.ConditionFailed{Current: &cur}
		}
		return &keys.ConditionFailed{}
	case failed != nil:
		return fmt.Errorf("dynamostore: delete %s now: a tombstone or its alias stands in the way: %w", c.ID, err)
	}
	return wrap(string(c.Op), err)
}
