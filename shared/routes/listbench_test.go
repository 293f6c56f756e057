package routes_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/keydeletion/service/infra/capacity"
	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/keyitem"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
)

// BenchmarkListPage measures a page of 100 keys of a tenant that holds
// LIST_BENCH_KEYS keys (100,000 by default, AWS's default quota per account
// and Region) through each dialect, on the embedded store and on DynamoDB
// Local: the first page and a deep one (the 99,901st key on). The calls are
// timed interleaved, round after round, and each sub-benchmark reports its
// median and its ratio to AWS's first page (×aws); on DynamoDB, also the
// read units the page consumed (RCU/op, DynamoDB's own accounting).
func BenchmarkListPage(b *testing.B) {
	n := 100_000
	if s := os.Getenv("LIST_BENCH_KEYS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	deep := n - 100 - n%100
	hw := "/v1.0/" + projectID + "/kms/list-keys"
	type seedFunc func(b *testing.B, svc *keys.Service, n int) []string
	stores := []struct {
		name string
		open func(b *testing.B) (keys.Store, *capacity.Meter, seedFunc)
	}{
		{"pebble", func(b *testing.B) (keys.Store, *capacity.Meter, seedFunc) {
			st, err := pebblestore.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return st, nil, seedTenant
		}},
		{"dynamodb", func(b *testing.B) (keys.Store, *capacity.Meter, seedFunc) {
			db, table := dynamodblocal.NewTable(b)
			m := capacity.New(db)
			st := dynamostore.New(m, table)
			return st, m, func(b *testing.B, svc *keys.Service, n int) []string { return seedTable(b, svc, st, db, table, n) }
		}},
	}
	for _, store := range stores {
		b.Run(store.name, func(b *testing.B) {
			st, meter, seed := store.open(b)
			svc := keys.NewService(st, time.Now)
			started := time.Now()
			ids := seed(b, svc, n)
			b.Logf("%d keys created in %v", n, time.Since(started).Round(time.Millisecond))
			h := routes.Handler(svc, directory, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			calls := []struct {
				name string
				req  presigned
			}{
				{"aws/first", presign(b, "POST", "/", `{"Limit":100}`, awsHeaders("ListKeys"))},
				{"aws/deep", presign(b, "POST", "/", `{"Limit":100,"Marker":"`+ids[deep-1]+`"}`, awsHeaders("ListKeys"))},
				{"huawei/first", presign(b, "POST", hw, `{"limit":"100"}`, hwHeaders)},
				{"huawei/deep", presign(b, "POST", hw, `{"limit":"100","marker":"`+strconv.Itoa(deep)+`"}`, hwHeaders)},
				{"ncp/first", presign(b, "GET", "/kms/v1/keys?pageNo=1&pageSize=100", "", nil)},
				{"ncp/deep", presign(b, "GET", fmt.Sprintf("/kms/v1/keys?pageNo=%d&pageSize=100", deep/100+1), "", nil)},
			}
			const rounds = 60
			times := make([][]time.Duration, len(calls))
			units := make([]capacity.Units, len(calls))
			for range rounds {
				for i, c := range calls {
					if meter != nil {
						meter.Take()
					}
					t0 := time.Now()
					c.req.serve(b, h)
					times[i] = append(times[i], time.Since(t0))
					if meter != nil {
						units[i] = meter.Take()
					}
				}
			}
			base := median(times[0])
			for i, c := range calls {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						c.req.serve(b, h)
					}
					b.ReportMetric(float64(median(times[i]).Microseconds())/1000, "ms-median")
					b.ReportMetric(float64(median(times[i]))/float64(base), "×aws")
					if meter != nil {
						b.ReportMetric(units[i].Read, "RCU/op")
						b.ReportMetric(float64(units[i].Requests), "requests/op")
					}
				})
			}
		})
	}
}

// seedTenant creates n keys of the default tenant, 32 at once, and returns
// their ids in ascending order.
func seedTenant(b *testing.B, svc *keys.Service, n int) []string {
	ids := make([]string, n)
	var wg sync.WaitGroup
	var failed sync.Once
	const workers = 32
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				k, err := svc.Create(b.Context(), keys.Principal{Tenant: def.ID}, keys.CreateRequest{})
				if err != nil {
					failed.Do(func() { b.Error(err) })
					return
				}
				ids[i] = k.ID
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	slices.Sort(ids)
	return ids
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// seedTable fills a DynamoDB Local table faster than its creates could
// (DynamoDB Local commits about 250 a second here): a thousand keys are
// created through the service, the rest written as their items are, 25 to
// a BatchWriteItem, and the tally is then recounted from every key
// (dynamostore.Store.Recount, as an upgrade does).
func seedTable(b *testing.B, svc *keys.Service, st *dynamostore.Store, db *dynamodb.Client, table string, n int) []string {
	ids := seedTenant(b, svc, min(n, 1000))
	now := time.Now().UTC().Truncate(time.Millisecond)
	var batch []types.WriteRequest
	flush := func() {
		for len(batch) > 0 {
			out, err := db.BatchWriteItem(b.Context(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: batch}})
			if err != nil {
				b.Fatal(err)
			}
			batch = out.UnprocessedItems[table]
		}
	}
	for len(ids) < n {
		id := uuid.NewString()
		k := keys.Key{ID: id, Owner: def.ID, Number: keys.NumberOf(id), Spec: keys.AES256, Usage: keys.EncryptDecrypt,
			Origin: keys.OriginKMS, State: keys.Enabled, CreatedAt: now, StateChangedAt: now,
			LastChange: keys.Stamp{Op: keys.OpCreate, At: now}}
		item, err := attributevalue.MarshalMap(keyitem.FromKey(k))
		if err != nil {
			b.Fatal(err)
		}
		item["pk"] = &types.AttributeValueMemberS{Value: "T#" + def.ID}
		item["sk"] = &types.AttributeValueMemberS{Value: "K#" + id}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
		if len(batch) == 25 {
			flush()
		}
		ids = append(ids, id)
	}
	flush()
	if counted, err := st.Recount(b.Context()); err != nil || counted != n {
		b.Fatalf("recount: %d keys, %v; want %d", counted, err, n)
	}
	slices.Sort(ids)
	return ids
}
