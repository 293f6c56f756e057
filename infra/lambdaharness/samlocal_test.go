package lambdaharness_test

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/lambdaharness"
	"github.com/keydeletion/service/infra/testtool"
)

// The README's sam local invoke procedure, as far as it runs without Docker:
// prepareevent readies the table and the event and writes the --env-vars
// file; the function's bootstrap runs under the Runtime Interface Emulator
// that the SAM CLI ships (what its container runs), with the environment
// SAM gives a function (its own AWS_ACCESS_KEY_ID "defaultkey", region,
// function name) and the env file's values. With DynamoDB Local started
// with -sharedDb (as make dynamodb-local and make test start it) the
// function finds the key; without, it found an empty database (500).
func TestSAMLocalInvokeProcedure(t *testing.T) {
	endpoint := dynamodblocal.Endpoint(t)
	arch := map[string]string{"amd64": "x86_64", "arm64": "arm64"}[runtime.GOARCH]
	rieGlob, _ := filepath.Glob(filepath.Join(root, ".cache/venv/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-"+arch))
	rie := testtool.Find(t, "aws-lambda-rie (from the SAM CLI, installed by make test)", rieGlob...)

	dir := t.TempDir()
	table := "sam-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	prepare := exec.Command("go", "run", "./infra/prepareevent", "-endpoint", endpoint, "-table", table,
		"-event", "huawei-schedule-key-deletion", "-out", filepath.Join(dir, "event.json"),
		"-env-out", filepath.Join(dir, "env.json"), "-container-endpoint", endpoint)
	prepare.Dir = root
	if out, err := prepare.CombinedOutput(); err != nil {
		t.Fatalf("prepareevent: %v\n%s", err, out)
	}
	var envFile struct{ Parameters map[string]string }
	raw, err := os.ReadFile(filepath.Join(dir, "env.json"))
	if err != nil || json.Unmarshal(raw, &envFile) != nil {
		t.Fatalf("env.json: %v %s", err, raw)
	}

	addr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr,
		binary(t, "ScheduleFunction"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		// What sam local sets (samcli/local/lambdafn/env_vars.py) when no
		// AWS credentials are configured.
		"AWS_ACCESS_KEY_ID=defaultkey", "AWS_SECRET_ACCESS_KEY=defaultsecret",
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_LAMBDA_FUNCTION_NAME=ScheduleFunction", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=10", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST"}
	for k, v := range envFile.Parameters {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &lambdaharness.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	// The emulator says nothing when it listens: wait until it accepts a
	// connection, or has exited.
	testtool.WaitFor(t, time.Minute, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, "the emulator to listen on "+addr)
	select {
	case <-exited:
		t.Fatalf("the emulator exited:\n%s", logs)
	default:
	}

	event, err := os.ReadFile(filepath.Join(dir, "event.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+"/2015-03-31/functions/function/invocations", "application/json", strings.NewReader(string(event)))
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, logs)
	}
	defer resp.Body.Close()
	var answer struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || answer.StatusCode != 200 {
		t.Fatalf("invoke: %v, status %d, body %s\n%s", err, answer.StatusCode, answer.Body, logs)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
