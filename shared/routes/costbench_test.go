package routes_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keydeletion/service/infra/capacity"
	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/validation"
)

// Published on-demand prices, us-east-1, in dollars per million (DynamoDB
// since November 2024; the rest as of this writing): what BenchmarkCost
// prices its units at.
const (
	dollarsPerMillionWRU   = 0.625
	dollarsPerMillionRRU   = 0.125
	dollarsPerMillionHTTP  = 1.00 // API Gateway HTTP API, the first 300 million a month
	dollarsPerMillionCalls = 0.20 // Lambda requests
	dollarsPerMillionKMS   = 3.00 // AWS KMS API requests ($0.03 per 10,000)
)

// BenchmarkCost measures what each call of each dialect, a final deletion
// and a sweep with nothing to do cost in DynamoDB's own accounting
// (ConsumedCapacity, which DynamoDB Local reports as DynamoDB does:
// infra/capacity), on a tenant of 100 keys. Each sub-benchmark reports the
// write and read units and the requests of one call (WRU/op, RRU/op,
// requests/op), and $/M: a million such calls in DynamoDB at on-demand
// prices, plus, for an API call, API Gateway's and Lambda's request prices
// (Lambda's duration is apart: README, What a call costs).
func BenchmarkCost(b *testing.B) {
	db, table := dynamodblocal.NewTable(b)
	meter := capacity.New(db)
	st := dynamostore.New(meter, table)
	start := time.Now()
	var offset time.Duration // how far the tenant's clock has moved
	clock := func() time.Time { return start.Add(offset + time.Since(start)) }
	svc := keys.NewService(st, clock)
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h := routes.Handler(svc, directory, quiet)
	seedTenant(b, svc, 100)

	// metered runs call and returns its units; setup runs unmetered.
	metered := func(call func()) capacity.Units {
		meter.Take()
		call()
		return meter.Take()
	}
	report := func(b *testing.B, total capacity.Units, api bool) { reportUnits(b, "", total, b.N, api) }
	newKey := func(b *testing.B) string {
		k, err := svc.Create(b.Context(), keys.Principal{Tenant: def.ID}, keys.CreateRequest{})
		if err != nil {
			b.Fatal(err)
		}
		return k.ID
	}
	hw := "/v1.0/" + projectID + "/kms/"
	type dialect struct {
		create, list              func() presigned
		describe, disable, enable func(id string) presigned
		schedule, cancel          func(id string) presigned
	}
	dialects := map[string]dialect{
		"aws": {
			create: func() presigned { return presign(b, "POST", "/", `{}`, awsHeaders("CreateKey")) },
			describe: func(id string) presigned {
				return presign(b, "POST", "/", `{"KeyId":"`+id+`"}`, awsHeaders("DescribeKey"))
			},
			list: func() presigned { return presign(b, "POST", "/", `{"Limit":100}`, awsHeaders("ListKeys")) },
			disable: func(id string) presigned {
				return presign(b, "POST", "/", `{"KeyId":"`+id+`"}`, awsHeaders("DisableKey"))
			},
			enable: func(id string) presigned {
				return presign(b, "POST", "/", `{"KeyId":"`+id+`"}`, awsHeaders("EnableKey"))
			},
			schedule: func(id string) presigned {
				return presign(b, "POST", "/", `{"KeyId":"`+id+`","PendingWindowInDays":7}`, awsHeaders("ScheduleKeyDeletion"))
			},
			cancel: func(id string) presigned {
				return presign(b, "POST", "/", `{"KeyId":"`+id+`"}`, awsHeaders("CancelKeyDeletion"))
			},
		},
		"huawei": {
			create: func() presigned {
				return presign(b, "POST", hw+"create-key", `{"key_alias":"cost-`+uuid.NewString()+`"}`, hwHeaders)
			},
			describe: func(id string) presigned {
				return presign(b, "POST", hw+"describe-key", `{"key_id":"`+id+`"}`, hwHeaders)
			},
			list: func() presigned { return presign(b, "POST", hw+"list-keys", `{"limit":"100"}`, hwHeaders) },
			disable: func(id string) presigned {
				return presign(b, "POST", hw+"disable-key", `{"key_id":"`+id+`"}`, hwHeaders)
			},
			enable: func(id string) presigned {
				return presign(b, "POST", hw+"enable-key", `{"key_id":"`+id+`"}`, hwHeaders)
			},
			schedule: func(id string) presigned {
				return presign(b, "POST", hw+"schedule-key-deletion", `{"key_id":"`+id+`","pending_days":"7"}`, hwHeaders)
			},
			cancel: func(id string) presigned {
				return presign(b, "POST", hw+"cancel-key-deletion", `{"key_id":"`+id+`"}`, hwHeaders)
			},
		},
		"ncp": {
			create: func() presigned {
				// NCP's names: 3 to 15 letters or digits, from a letter.
				name := "k" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
				body := `{"keyName":"` + name + `","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`
				return presign(b, "POST", "/kms/v1/keys", body, map[string]string{"Content-Type": "application/json"})
			},
			describe: func(id string) presigned { return presign(b, "GET", "/kms/v1/keys/"+validation.KeyTagFor(id), "", nil) },
			list:     func() presigned { return presign(b, "GET", "/kms/v1/keys?pageNo=1&pageSize=100", "", nil) },
			disable: func(id string) presigned {
				return presign(b, "POST", "/kms/v1/keys/"+validation.KeyTagFor(id)+"/disable", "", nil)
			},
			enable: func(id string) presigned {
				return presign(b, "POST", "/kms/v1/keys/"+validation.KeyTagFor(id)+"/enable", "", nil)
			},
			schedule: func(id string) presigned {
				return presign(b, "POST", "/kms/v1/keys/"+validation.KeyTagFor(id)+"/request-deletion", "", nil)
			},
			cancel: func(id string) presigned {
				return presign(b, "POST", "/kms/v1/keys/"+validation.KeyTagFor(id)+"/cancel-deletion", "", nil)
			},
		},
	}
	for _, name := range []string{"aws", "huawei", "ncp"} {
		d := dialects[name]
		single := func(call string, req func() presigned) {
			b.Run(name+"/"+call, func(b *testing.B) {
				var total capacity.Units
				for b.Loop() {
					r := req()
					total = total.Add(metered(func() { r.serve(b, h) }))
				}
				report(b, total, true)
			})
		}
		single("create", d.create)
		id := newKey(b)
		single("describe", func() presigned { return d.describe(id) })
		single("list", d.list)
		// cycle measures a call on a key that other, unmetered, returns to
		// where it was: after the measured call, or before it with
		// otherFirst.
		cycle := func(call string, measure, other func(id string) presigned, otherFirst bool) {
			b.Run(name+"/"+call, func(b *testing.B) {
				k := newKey(b)
				m, o := measure(k), other(k)
				var total capacity.Units
				for b.Loop() {
					if otherFirst {
						o.serve(b, h)
					}
					total = total.Add(metered(func() { m.serve(b, h) }))
					if !otherFirst {
						o.serve(b, h)
					}
				}
				report(b, total, true)
			})
		}
		cycle("disable", d.disable, d.enable, false)
		cycle("enable", d.enable, d.disable, true)
		cycle("schedule", d.schedule, d.cancel, false)
		cycle("cancel", d.cancel, d.schedule, true)
	}

	// The final deletion as the expire function carries it out after TTL
	// removed the key: the stream's record of the removal finalizes it
	// (Finalize), and the record the finalization wrote is then published
	// (Publish, as the stream's record of that write has it published).
	removeKey := dynamodblocal.KeyRemover(db, table)
	fin := expiry.New(st, expiry.Config{Log: quiet, Source: "stream", Clock: func(string) time.Time { return clock() }, Now: clock})
	b.Run("final-deletion", func(b *testing.B) {
		var finalize, publish capacity.Units
		p := keys.Principal{Tenant: def.ID}
		for b.Loop() {
			id := newKey(b)
			if _, err := svc.ScheduleDeletion(b.Context(), p, id, 7); err != nil {
				b.Fatal(err)
			}
			k, err := st.Get(b.Context(), def.ID, id)
			if err != nil {
				b.Fatal(err)
			}
			offset += 8 * 24 * time.Hour
			if err := removeKey(b.Context(), def.ID, id); err != nil {
				b.Fatal(err)
			}
			u := metered(func() {
				if err := fin.Finalize(b.Context(), k); err != nil {
					b.Fatal(err)
				}
			})
			finalize = finalize.Add(u)
			records, err := st.Unpublished(b.Context(), clock(), 1000)
			if err != nil {
				b.Fatal(err)
			}
			var last []keys.Record
			for _, r := range records {
				if r.KeyID == id && r.Op == keys.OpFinalize {
					last = append(last, r)
				}
			}
			u = metered(func() {
				if err := fin.Publish(b.Context(), last); err != nil {
					b.Fatal(err)
				}
			})
			publish = publish.Add(u)
		}
		reportUnits(b, "finalize-", finalize, b.N, false)
		reportUnits(b, "publish-", publish, b.N, false)
	})
	b.Run("sweep-idle", func(b *testing.B) {
		// Publish what the runs above left, then time sweeps that find
		// nothing: what the sweep costs every few minutes.
		if err := fin.SweepUntilDone(b.Context()); err != nil {
			b.Fatal(err)
		}
		var total capacity.Units
		for b.Loop() {
			u := metered(func() {
				if _, err := fin.Sweep(b.Context()); err != nil {
					b.Fatal(err)
				}
			})
			total = total.Add(u)
		}
		report(b, total, false)
	})
}

// reportUnits reports units measured over n calls as metrics of b, named
// with prefix: units and requests per call, and $/M, a million such calls in
// DynamoDB (plus API Gateway's and Lambda's request prices for an API call).
// Write units are DynamoDB's rules' (capacity.Units.RuleWrite), beside what
// DynamoDB Local reports.
func reportUnits(b *testing.B, prefix string, total capacity.Units, n int, api bool) {
	w, r := total.RuleWrite/float64(n), total.Read/float64(n)
	b.ReportMetric(w, prefix+"WRU/op")
	b.ReportMetric(total.Write/float64(n), prefix+"WRU-reported/op")
	b.ReportMetric(r, prefix+"RRU/op")
	b.ReportMetric(float64(total.Requests)/float64(n), prefix+"requests/op")
	dollars := w*dollarsPerMillionWRU + r*dollarsPerMillionRRU
	if api {
		dollars += dollarsPerMillionHTTP + dollarsPerMillionCalls
	}
	b.ReportMetric(dollars, prefix+"$/M")
}
