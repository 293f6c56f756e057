package routes_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/keydeletion/service/infra/testtool"
)

// Clients nobody here wrote sign X-Amz-Target, so requiring it signed
// refuses none of them: curl's --aws-sigv4 and the AWS CLI (botocore's
// signer) drive a key through its deletion.
func TestOtherAWSClientsSignTheTarget(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		a := creds["dev-a"]
		curl := func(op, body string) map[string]any {
			t.Helper()
			out, err := exec.Command(testtool.Find(t, "curl"), "-s", "--fail-with-body", e.url+"/",
				"--aws-sigv4", "aws:amz:"+a.AWSRegion+":kms", "--user", a.AWSKey+":"+a.AWSSecret,
				"-H", "X-Amz-Target: TrentService."+op, "-H", "Content-Type: application/x-amz-json-1.1", "-d", body).CombinedOutput()
			if err != nil {
				t.Fatalf("curl %s: %v\n%s", op, err, out)
			}
			var m map[string]any
			json.Unmarshal(out, &m)
			return m
		}
		id := curl("CreateKey", `{"Description":"curl"}`)["KeyMetadata"].(map[string]any)["KeyId"].(string)

		cli := func(args ...string) map[string]any {
			t.Helper()
			cmd := exec.Command(testtool.Find(t, "aws", "../../.cache/clients/bin/aws"), append([]string{"kms", "--endpoint-url", e.url, "--region", a.AWSRegion, "--output", "json"}, args...)...)
			// Only the dev tenant's credentials: nothing of the machine's AWS setup.
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "AWS_") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY_ID="+a.AWSKey, "AWS_SECRET_ACCESS_KEY="+a.AWSSecret,
				"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("aws kms %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
			}
			var m map[string]any
			json.Unmarshal(out, &m)
			return m
		}
		sched := cli("schedule-key-deletion", "--key-id", id, "--pending-window-in-days", "7")
		if sched["KeyState"] != "PendingDeletion" {
			t.Fatalf("aws kms schedule-key-deletion: %v", sched)
		}
		if m := cli("describe-key", "--key-id", id)["KeyMetadata"].(map[string]any); m["KeyState"] != "PendingDeletion" || m["Description"] != "curl" {
			t.Fatalf("aws kms describe-key: %v", m)
		}
		cli("cancel-key-deletion", "--key-id", id)
		if m := curl("DescribeKey", `{"KeyId":"`+id+`"}`)["KeyMetadata"].(map[string]any); m["KeyState"] != "Disabled" {
			t.Fatalf("after cancel, through curl: %v", m)
		}
	})
}

// The official clients of a second language, which nobody here wrote --
// boto3, the AWS CLI and the Huawei Cloud Python SDK -- drive the lifecycle
// and the error cases against both stores: infra/pyclients, run by pytest
// from the clients environment (infra/clients.sh).
func TestPythonClients(t *testing.T) {
	python := testtool.Find(t, "python", "../../.cache/clients/bin/python")
	eachStore(t, func(t *testing.T, e *env) {
		cmd := exec.Command(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "../../infra/pyclients")
		cmd.Env = append(os.Environ(), "KMS_ENDPOINT="+e.url)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pytest: %v\n%s", err, out)
		}
		t.Logf("%s", lastLine(out))
	})
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
