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

// functionDirs are the functions of functions/, in the README's order.
var functionDirs = []string{"schedule", "cancel", "keys", "aws", "expire", "sweep"}

// benchEvents picks for each function the first event of events/ that
// names it and is signed (a request that reaches the function's work).
func benchEvents(m eventgen.Manifest) map[string]string {
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
	return chosen
}

// BenchmarkInvoke: `sam local invoke` of each function (a container each
// time: what a developer waits for), with the first signed event of
// events/ that names it, readied before each invocation (outside the
// timer) and its outcome checked against the manifest.
func BenchmarkInvoke(b *testing.B) {
	s := newStage(b)
	invoke := func(tb testing.TB, function string, event []byte) []byte {
		return samInvoke(tb, s.envFile, function, event)
	}
	chosen := benchEvents(s.m)
	for _, f := range functionDirs {
		name := chosen[f]
		b.Run(logicalID(f), func(b *testing.B) {
			timeInvocations(b, s, f, name, invoke)
		})
	}
}

// BenchmarkStartLambda: each function through `sam local start-lambda` with
// warm containers, the same event as BenchmarkInvoke readied before each
// invocation (outside the timer) and its outcome checked against the
// manifest: "cold-ms" is the first invocation (the container made, the
// process started), ns/op the warm ones after it, "function-ms" the median
// of the function's own time in those (the emulator's REPORT lines): the
// rest is SAM's.
func BenchmarkStartLambda(b *testing.B) {
	s := newStage(b)
	invoke, durations := startLambda(b, s.envFile)
	chosen := benchEvents(s.m)
	for _, f := range functionDirs {
		name := chosen[f]
		b.Run(logicalID(f), func(b *testing.B) {
			start := time.Now()
			s.check(b, name, invoke(b, f, s.ready(b, name, invoke))) // cold
			cold := time.Since(start)
			before := len(durations())
			timeInvocations(b, s, f, name, invoke)
			b.ReportMetric(float64(cold.Milliseconds()), "cold-ms")
			if own := durations()[before:]; len(own) > 0 {
				sort.Float64s(own)
				b.ReportMetric(own[len(own)/2], "function-ms")
			}
		})
	}
}

// timeInvocations times invocations of function with event name, each
// readied and checked outside the timer.
func timeInvocations(b *testing.B, s *stage, function, name string, invoke invoker) {
	for b.Loop() {
		b.StopTimer()
		event := s.ready(b, name, invoke)
		b.StartTimer()
		out := invoke(b, function, event)
		b.StopTimer()
		s.check(b, name, out)
		b.StartTimer()
	}
}
