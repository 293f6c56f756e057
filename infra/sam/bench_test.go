//go:build sam

package sam_test

import (
	"context"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/eventgen"
)

// BenchmarkDescribeKey: one client, DescribeKey through SAM's start-api (its
// API Gateway emulation, the function's warm container, DynamoDB Local)
// beside the local server on its embedded store, signed by the AWS SDK.
// make sam-bench runs it.
func BenchmarkDescribeKey(b *testing.B) {
	all, err := devclient.Load(os.Getenv("CREDENTIALS_FILE"))
	if err != nil {
		b.Fatal(err)
	}
	a := all["dev-a"]
	local := startLocalServer(b)
	for _, target := range []struct{ name, url string }{{"start-api", os.Getenv("SAM_API_URL")}, {"localserver", local}} {
		b.Run(target.name, func(b *testing.B) {
			ctx := context.Background()
			c := devclient.AWSKMS(target.url, a)
			out, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
			if err != nil {
				b.Fatal(err)
			}
			in := &kms.DescribeKeyInput{KeyId: out.KeyMetadata.KeyId}
			if _, err := c.DescribeKey(ctx, in); err != nil { // the container warm
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := c.DescribeKey(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkInvoke: `sam local invoke` of each function with an event of its
// own (a container each time: what a developer waits for), the first
// event of events/ that names the function.
func BenchmarkInvoke(b *testing.B) {
	m, err := eventgen.Load("../../events")
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 0, len(m.Events))
	for name := range m.Events {
		names = append(names, name)
	}
	sort.Strings(names)
	chosen := map[string]string{}
	for _, name := range names {
		f := m.Events[name].Function
		if _, ok := chosen[f]; !ok && m.Events[name].Auth != "none" {
			chosen[f] = name
		}
	}
	all, err := devclient.Load(os.Getenv("CREDENTIALS_FILE"))
	if err != nil {
		b.Fatal(err)
	}
	envFile := invokeEnv(b, nil)
	for _, f := range []string{"schedule", "cancel", "keys", "aws", "expire", "sweep"} {
		name := chosen[f]
		b.Run(logicalID(f), func(b *testing.B) {
			raw, err := m.Event(name)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if !m.Events[name].IsStream() && !m.Events[name].IsSweep() {
					if raw, err = m.Signed(name, all, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
				samInvoke(b, envFile, f, raw)
			}
		})
	}
}
