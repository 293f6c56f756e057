// Package capacity meters what DynamoDB charges for the store's requests:
// Meter wraps a client, asks every request for its consumed capacity
// (ReturnConsumedCapacity TOTAL, which DynamoDB Local reports as DynamoDB
// does: a transaction's items at twice a plain write's units) and sums the
// read and write units. The benchmarks that price an operation use it.
package capacity

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keydeletion/service/shared/dynamostore"
)

// Units are read and write capacity units, and the requests that used them.
// Write is what DynamoDB Local reports; RuleWrite what DynamoDB's published
// rules charge for items of up to 1 KB (every item this service writes is:
// a key with its alias, description and a schedule is about 500 bytes, its
// record 350): 1 a plain write, 2 each item of a transaction, condition
// checks included. DynamoDB Local's transactions do not follow the rules
// (a create's five items reported as 4 units, a cancel's two as 8).
type Units struct {
	Read, Write, RuleWrite float64
	Requests               int
}

// Meter is a dynamostore.API that counts the units of every request.
type Meter struct {
	api dynamostore.API
	mu  sync.Mutex
	u   Units
}

// New meters api.
func New(api dynamostore.API) *Meter { return &Meter{api: api} }

// Take returns the units counted since the last Take, and starts again.
func (m *Meter) Take() Units {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.u
	m.u = Units{}
	return u
}

// Add is u and v together.
func (u Units) Add(v Units) Units {
	return Units{Read: u.Read + v.Read, Write: u.Write + v.Write, RuleWrite: u.RuleWrite + v.RuleWrite, Requests: u.Requests + v.Requests}
}

// add counts one request's units: the total of each table and index it
// used (what ReturnConsumedCapacity TOTAL returns), as reads or writes, and
// for a write of ruleItems items (transactional or not) what DynamoDB's
// rules charge for it.
func (m *Meter) add(write bool, ruleItems int, transactional bool, ccs ...types.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.u.Requests++
	for _, cc := range ccs {
		if write {
			m.u.Write += value(cc.CapacityUnits)
		} else {
			m.u.Read += value(cc.CapacityUnits)
		}
	}
	if transactional {
		ruleItems *= 2
	}
	m.u.RuleWrite += float64(ruleItems)
}

func value(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func one(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}

const total = types.ReturnConsumedCapacityTotal

func (m *Meter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.api.GetItem(ctx, in, opts...)
	if err == nil {
		m.add(false, 0, false, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *Meter) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.api.BatchGetItem(ctx, in, opts...)
	if err == nil {
		m.add(false, 0, false, out.ConsumedCapacity...)
	}
	return out, err
}

func (m *Meter) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.api.Query(ctx, in, opts...)
	if err == nil {
		m.add(false, 0, false, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *Meter) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.api.Scan(ctx, in, opts...)
	if err == nil {
		m.add(false, 0, false, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *Meter) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.api.UpdateItem(ctx, in, opts...)
	if err == nil {
		m.add(true, 1, false, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *Meter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.api.PutItem(ctx, in, opts...)
	if err == nil {
		m.add(true, 1, false, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *Meter) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.api.DeleteItem(ctx, in, opts...)
	if err == nil {
		m.add(true, 1, false, one(out.ConsumedCapacity)...)
	}
	return out, err
}

func (m *Meter) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	in.ReturnConsumedCapacity = total
	out, err := m.api.TransactWriteItems(ctx, in, opts...)
	if err == nil {
		m.add(true, len(in.TransactItems), true, out.ConsumedCapacity...)
	}
	return out, err
}

var _ dynamostore.API = (*Meter)(nil)
