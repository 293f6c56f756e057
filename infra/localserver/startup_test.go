package main_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// exits runs the compiled server, which must end within 10 s; it returns
// the exit code and everything it wrote.
func exits(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(baseEnv(), append([]string{"ADDR=127.0.0.1:0", "CREDENTIALS_FILE=../local/credentials.json"}, env...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%v did not exit: %s", args, out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	case err != nil:
		t.Fatal(err)
	}
	return 0, string(out)
}

// The command line and the environment are read strictly: a mistake ends
// the server at once with a message that says what is wrong.
func TestCommandLine(t *testing.T) {
	data := "DATA_DIR=" + t.TempDir()
	for _, c := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"help", nil, []string{"-h"}, 0, "-clock-offset          CLOCK_OFFSET"},
		{"version", nil, []string{"-version"}, 0, "localserver "},
		{"unknown flag", nil, []string{"-adr", ":1"}, 2, "flag provided but not defined: -adr"},
		{"argument", nil, []string{"serve"}, 2, `takes flags only, not "serve"`},
		{"log level", []string{"LOG_LEVEL=loud"}, nil, 1, `LOG_LEVEL: \"loud\" is not one of debug, info, warn, error`},
		{"log level flag", nil, []string{"-log-level", "verbose"}, 1, `\"verbose\" is not one of`},
		{"clock offset", []string{data}, []string{"-clock-offset", "3 days"}, 1, `CLOCK_OFFSET (-clock-offset) \"3 days\": must be days`},
		{"move timeout", []string{data}, []string{"-clock-move-timeout", "soon"}, 1, `CLOCK_MOVE_TIMEOUT (-clock-move-timeout) \"soon\": must be a positive duration`},
		{"store cache", []string{data}, []string{"-store-cache", "0"}, 1, `STORE_CACHE_MIB (-store-cache) \"0\": must be a whole number of MiB, at least 1`},
		{"credentials", []string{data}, []string{"-credentials", "no/such.json"}, 1, "no/such.json"},
		{"seed", []string{data}, []string{"-seed", "no/such.yaml"}, 1, "seed file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := exits(t, c.env, c.args...)
			if code != c.code || !strings.Contains(out, c.want) {
				t.Errorf("exit %d, want %d, with %q in:\n%s", code, c.code, c.want, out)
			}
		})
	}
	// A damaged credentials document names the field.
	bad := filepath.Join(t.TempDir(), "credentials.json")
	os.WriteFile(bad, []byte(`{"tenants":[{"id":"a","aws":{"accountId":"111122223333","region":"us-east-1","accessKeys":[{"id":"K","secret":7}]}}]}`), 0o600)
	if code, out := exits(t, []string{data, "CREDENTIALS_FILE=" + bad}); code != 1 || !strings.Contains(out, "tenants[0].aws.accessKeys[0].secret") {
		t.Errorf("damaged credentials: exit %d:\n%s", code, out)
	}
}

// Flags win over the environment, and the startup line says where the
// server listens, on which store, for which tenants, on which clock.
func TestFlagsAndStartupLine(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(binary, "-data-dir", data, "-clock-offset", "2d", "-addr", "127.0.0.1:0")
	cmd.Env = append(baseEnv(), "DATA_DIR=/nonexistent/never-used", "CREDENTIALS_FILE=../local/credentials.json")
	line := startCmd(t, cmd).line("listening")
	store, _ := line["store"].(map[string]any)
	clock, _ := line["clock"].(map[string]any)
	tenants, _ := line["tenants"].([]any)
	if store["dir"] != data || store["kind"] != "embedded" || clock["offset"] != "48h0m0s" || len(tenants) != 4 ||
		!strings.HasPrefix(line["version"].(string), "localserver ") {
		t.Errorf("startup line: %v", line)
	}
}

// A second server on the same data folder stops at once and says why.
func TestSecondServerOnTheSameFolder(t *testing.T) {
	data := t.TempDir()
	start(t, "DATA_DIR="+data)
	began := time.Now()
	code, out := exits(t, []string{"DATA_DIR=" + data})
	if code != 1 || !strings.Contains(out, data+"/pebble is in use by another process") || time.Since(began) > 2*time.Second {
		t.Errorf("exit %d after %v:\n%s", code, time.Since(began), out)
	}
}

// SEED_FILE's keys are there when the server listens, and a restart on the
// same data leaves what the tests did to them.
func TestSeedFile(t *testing.T) {
	data := t.TempDir()
	s := start(t, "DATA_DIR="+data, "SEED_FILE=../local/seed.yaml")
	seedLine := s.line("listening")["seed"].(map[string]any)
	if seedLine["created"] != 6.0 || seedLine["present"] != 0.0 {
		t.Errorf("first start: %v", seedLine)
	}
	ctx := context.Background()
	c := awsClient(s.url, tenants["dev-a"])
	out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: ptr("alias/retiring")})
	if err != nil || *out.KeyMetadata.KeyId != "33333333-3333-4333-8333-333333333333" || out.KeyMetadata.KeyState != "PendingDeletion" {
		t.Fatalf("seeded key: %+v %v", out, err)
	}
	if _, err := c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: ptr("33333333-3333-4333-8333-333333333333")}); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()

	s = start(t, "DATA_DIR="+data, "SEED_FILE=../local/seed.yaml")
	if l := s.line("listening")["seed"].(map[string]any); l["created"] != 0.0 || l["present"] != 6.0 {
		t.Errorf("restart: %v", l)
	}
	out, err = awsClient(s.url, tenants["dev-a"]).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: ptr("33333333-3333-4333-8333-333333333333")})
	if err != nil || out.KeyMetadata.KeyState != "Disabled" {
		t.Errorf("after the restart: %+v %v, want the cancelled key Disabled", out, err)
	}
}

func ptr(s string) *string { return &s }

// -healthcheck (the image's HEALTHCHECK) exits 0 while a server serves at
// ADDR and 1 when none does.
func TestHealthcheckFlag(t *testing.T) {
	s := start(t, "DATA_DIR="+t.TempDir())
	addr := strings.TrimPrefix(s.url, "http://")
	if code, out := exits(t, nil, "-healthcheck", "-addr", addr); code != 0 {
		t.Errorf("serving: exit %d: %s", code, out)
	}
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
	if code, out := exits(t, nil, "-healthcheck", "-addr", addr); code != 1 || !strings.Contains(out, "unhealthy") {
		t.Errorf("stopped: exit %d: %s", code, out)
	}
}
