// Command testreport reads `go test -json` on stdin and prints what plain
// `go test` prints (each package's result, and the whole output of every
// test that failed), then one summary line across everything make test
// ran: "N passed, M failed, K skipped". The checks before the tests (gofmt,
// vet, staticcheck, the template's) are counted with -checks-passed and
// -checks-failed. It exits 1 if anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	checksPassed := flag.Int("checks-passed", 0, "checks before the tests that passed")
	checksFailed := flag.Int("checks-failed", 0, "checks before the tests that failed")
	flag.Parse()
	passed, failed, skipped, ok := report(os.Stdin, os.Stdout)
	passed += *checksPassed
	failed += *checksFailed
	fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || !ok {
		os.Exit(1)
	}
}

// report copies the results and failures from r to w and counts the tests
// and subtests; ok is false when a package failed outside any test (a
// build error, a panic in TestMain).
func report(r io.Reader, w io.Writer) (passed, failed, skipped int, ok bool) {
	ok = true
	outputs := map[string][]string{} // package + test -> its lines so far
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(w, sc.Text()) // go test's own message (a build failure)
			continue
		}
		id := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			if e.Test == "" {
				// The package's own lines: its result, or what broke it.
				if !strings.HasPrefix(e.Output, "PASS") && !strings.HasPrefix(e.Output, "FAIL\n") &&
					!strings.HasPrefix(e.Output, "testing: warning: no tests") {
					fmt.Fprint(w, e.Output)
				}
				continue
			}
			outputs[id] = append(outputs[id], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			}
			delete(outputs, id)
		case "skip":
			if e.Test != "" {
				skipped++
			}
			delete(outputs, id)
		case "fail":
			if e.Test == "" {
				ok = false
				continue
			}
			failed++
			fmt.Fprint(w, strings.Join(outputs[id], ""))
			delete(outputs, id)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(w, "testreport:", err)
		ok = false
	}
	return passed, failed, skipped, ok
}
