package main

import (
	"strings"
	"testing"
)

// The counts cover tests and subtests; a failed test's output is shown, a
// passing one's is not, and a package that failed to build is a failure.
func TestReport(t *testing.T) {
	in := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestB/sub","Output":"    b_test.go:9: wrong answer\n"}
{"Action":"fail","Package":"p","Test":"TestB/sub"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- FAIL: TestB (0.00s)\n"}
{"Action":"fail","Package":"p","Test":"TestB"}
{"Action":"skip","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Output":"FAIL\n"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.01s\n"}
{"Action":"fail","Package":"p"}
`
	var out strings.Builder
	passed, failed, skipped, ok := report(strings.NewReader(in), &out)
	if passed != 1 || failed != 2 || skipped != 1 || ok {
		t.Errorf("counts %d %d %d %v", passed, failed, skipped, ok)
	}
	got := out.String()
	for _, want := range []string{"b_test.go:9: wrong answer", "--- FAIL: TestB", "FAIL\tp\t0.01s"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "--- PASS: TestA") {
		t.Errorf("a passing test's output is shown:\n%s", got)
	}
}
