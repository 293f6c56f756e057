//go:build sam

package sam_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// Every event of events/, through `sam local invoke` in a container, with
// the outcome events/manifest.json states: API events signed as the
// manifest says, stream events (TTL removals, a redelivery, a new audit
// record) for the expire function, the sweep's scheduled event; the events
// each publishes reach a local EventBridge endpoint on the bridge.
func TestEveryEventThroughSAMLocalInvoke(t *testing.T) {
	s := newStage(t)
	invoke := func(tb testing.TB, function string, event []byte) []byte {
		return samInvoke(tb, s.envFile, function, event)
	}
	names := make([]string, 0, len(s.m.Events))
	for name := range s.m.Events {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			event := s.ready(t, name, invoke)
			s.check(t, name, invoke(t, s.m.Events[name].Function, event))
		})
	}
}

// logicalID is the template's name of functions/<dir>: ScheduleFunction.
func logicalID(dir string) string {
	r := []rune(dir)
	r[0] = unicode.ToUpper(r[0])
	return string(r) + "Function"
}

// invokeEnv writes the functions' environment for sam local invoke: the
// sandbox's (SAM_ENV_VARS), with overrides.
func invokeEnv(tb testing.TB, overrides map[string]string) string {
	tb.Helper()
	var doc map[string]map[string]string
	raw, err := os.ReadFile(os.Getenv("SAM_ENV_VARS"))
	if err != nil || json.Unmarshal(raw, &doc) != nil {
		tb.Fatalf("env vars %s: %v", os.Getenv("SAM_ENV_VARS"), err)
	}
	for k, v := range overrides {
		doc["Parameters"][k] = v
	}
	file := filepath.Join(tb.TempDir(), "env.json")
	raw, _ = json.Marshal(doc)
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		tb.Fatal(err)
	}
	return file
}

// samInvoke runs `sam local invoke` of functions/<function> with event and
// returns the function's answer (the last line SAM prints).
func samInvoke(tb testing.TB, envFile, function string, event []byte) []byte {
	tb.Helper()
	file := filepath.Join(filepath.Dir(envFile), "event.json")
	if err := os.WriteFile(file, event, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Getenv("SAM_CLI"), "local", "invoke", logicalID(function), "--template", os.Getenv("SAM_TEMPLATE"),
		"--event", file, "--env-vars", envFile, "--skip-pull-image", "--parameter-overrides", "Architecture="+os.Getenv("SAM_ARCH"),
		"--add-host", "host.docker.internal:host-gateway")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("sam local invoke %s: %v\n%s", function, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return []byte(lines[len(lines)-1])
}
