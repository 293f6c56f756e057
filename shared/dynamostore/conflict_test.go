package dynamostore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/shared/keys"
)

// conflicting answers each write with failures[i] on its i-th call, then
// succeeds. DynamoDB Local serializes transactions and never reports a
// conflict, so this unit test of the retry feeds the SDK's own error types.
type conflicting struct {
	API
	failures []error
	calls    int
}

func (c *conflicting) next() error {
	c.calls++
	if c.calls <= len(c.failures) {
		return c.failures[c.calls-1]
	}
	return nil
}

func (c *conflicting) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := c.next(); err != nil {
		return nil, err
	}
	return &dynamodb.UpdateItemOutput{Attributes: map[string]types.AttributeValue{
		"id": s("k"), "owner": s("o"), "state": s(string(keys.Disabled)), "spec": s("AES_256"), "usage": s("ENCRYPT_DECRYPT"),
		"origin": s("KMS"), "createdAt": n(1), "stateChangedAt": n(2)}}, nil
}

func (c *conflicting) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return &dynamodb.TransactWriteItemsOutput{}, c.next()
}

func cancelled(codes ...string) error {
	e := &types.TransactionCanceledException{Message: aws.String("Transaction cancelled")}
	for _, c := range codes {
		e.CancellationReasons = append(e.CancellationReasons, types.CancellationReason{Code: aws.String(c)})
	}
	return e
}

func TestConflictsAreRetried(t *testing.T) {
	itemConflict := &types.TransactionConflictException{Message: aws.String("ongoing transaction")}
	txConflict := cancelled("None", "TransactionConflict")
	disable := func(st *Store) error {
		_, err := st.Apply(context.Background(), keys.Change{Op: keys.OpDisable, Owner: "o", ID: "k",
			From: []keys.State{keys.Enabled}, To: keys.Disabled, Now: time.UnixMilli(2)})
		return err
	}
	create := func(st *Store) error {
		return st.Create(context.Background(), keys.Key{ID: "k", Owner: "o", Alias: "a", State: keys.Enabled})
	}
	for _, c := range []struct {
		name      string
		write     func(*Store) error
		failures  []error
		calls     int
		wantBusy  bool
		wantOther error
	}{
		{"update behind a transaction", disable, []error{itemConflict, itemConflict}, 3, false, nil},
		{"transaction behind a transaction", create, []error{txConflict, txConflict, txConflict}, 4, false, nil},
		{"conflicts beyond the retries", disable, repeat(itemConflict, conflictAttempts), conflictAttempts, true, nil},
		{"a failed condition is an answer", create, []error{cancelled("None", "None", "None", "ConditionalCheckFailed")}, 1, false, keys.ErrAliasExists},
	} {
		db := &conflicting{failures: c.failures}
		st := New(db, "t")
		st.backoff = time.Millisecond
		err := c.write(st)
		switch {
		case db.calls != c.calls:
			t.Errorf("%s: %d calls, want %d (%v)", c.name, db.calls, c.calls, err)
		case c.wantBusy != errors.Is(err, keys.ErrBusy):
			t.Errorf("%s: %v, busy=%v", c.name, err, c.wantBusy)
		case c.wantOther != nil && !errors.Is(err, c.wantOther):
			t.Errorf("%s: %v, want %v", c.name, err, c.wantOther)
		case !c.wantBusy && c.wantOther == nil && err != nil:
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}
