//go:build sam

package sam_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/testtool"
)

// startLambda runs `sam local start-lambda` (the Lambda Invoke API that SAM
// serves, as the AWS SDKs and CLI call it) with warm containers: each
// function's container and process, made on its first invocation, serve
// every later one, as a warm Lambda execution environment does. It returns
// an invoker that posts to it, and the functions' own durations so far.
func startLambda(tb testing.TB, envFile string) (invoker, func() []float64) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	log, err := os.Create(filepath.Join(tb.TempDir(), "start-lambda.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Getenv("SAM_CLI"), "local", "start-lambda", "--template", os.Getenv("SAM_TEMPLATE"),
		"--env-vars", envFile, "--skip-pull-image", "--parameter-overrides", "Architecture="+os.Getenv("SAM_ARCH"),
		"--add-host", "host.docker.internal:host-gateway", "--warm-containers", "LAZY",
		"--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// SAM stops its warm containers on SIGINT (Ctrl-C), not on a kill.
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
	base := "http://" + ln.Addr().String()
	testtool.WaitFor(tb, 60*time.Second, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "sam local start-lambda to listen")
	invoke := func(tb testing.TB, function string, event []byte) []byte {
		tb.Helper()
		resp, err := http.Post(base+"/2015-03-31/functions/"+logicalID(function)+"/invocations", "application/json", bytes.NewReader(event))
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
			raw, _ := os.ReadFile(log.Name())
			tb.Fatalf("invoke %s: %d %s\n%s", function, resp.StatusCode, out, tail(raw, 3000))
		}
		return out
	}
	durations := func() []float64 {
		raw, _ := os.ReadFile(log.Name())
		var ms []float64
		for _, m := range reportDuration.FindAllSubmatch(raw, -1) {
			if d, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
				ms = append(ms, d)
			}
		}
		return ms
	}
	return invoke, durations
}

// reportDuration is the function's own time in the emulator's REPORT line,
// which SAM copies to its log.
var reportDuration = regexp.MustCompile(`REPORT RequestId: \S+\s+(?:Init Duration: \S+ ms\s+)?Duration: ([0-9.]+) ms`)

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// Every event of events/ again, through `sam local start-lambda` and warm
// containers: each function's process answers event after event, as a
// warm Lambda does (clients and configuration made once, at init), with
// the outcome the manifest states each time.
func TestEveryEventThroughWarmContainers(t *testing.T) {
	s := newStage(t)
	invoke, _ := startLambda(t, s.envFile)
	names := make([]string, 0, len(s.m.Events))
	for name := range s.m.Events {
		names = append(names, name)
	}
	sort.Strings(names)
	for round := range 2 {
		for _, name := range names {
			t.Run(name+"/"+"round"+strconv.Itoa(round+1), func(t *testing.T) {
				event := s.ready(t, name, invoke)
				s.check(t, name, invoke(t, s.m.Events[name].Function, event))
			})
		}
	}
}
