//go:build sam

package sam_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/testtool"
)

// startLocalServer runs the compiled local server on its embedded store, on
// a free loopback port, for the length of the test.
func startLocalServer(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("SAM_LOCALSERVER") // built by the sandbox before its namespace
	if bin == "" {
		t.Fatal("SAM_LOCALSERVER is not set: run make sam-test (infra/sam/sandbox.sh)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "-addr", addr, "-data-dir", t.TempDir(), "-credentials", os.Getenv("CREDENTIALS_FILE"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	testtool.WaitFor(t, 30*time.Second, func() bool {
		resp, err := http.Get(url + "/_local/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, "the local server to listen")
	return url
}

// shape is what an answer says, without what differs by run (ids, times):
// its status, its error code if any, and the sorted paths of its JSON.
func shape(status int, raw []byte) string {
	var v any
	if len(strings.TrimSpace(string(raw))) > 0 && json.Unmarshal(raw, &v) != nil {
		return fmt.Sprintf("%d non-JSON %q", status, raw)
	}
	var paths []string
	var code string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(prefix+"."+k, e)
			}
		case []any:
			for _, e := range v {
				walk(prefix+"[]", e)
			}
		default:
			if s, ok := v.(string); ok && (strings.HasSuffix(prefix, "__type") || strings.HasSuffix(prefix, "error_code") ||
				strings.HasSuffix(prefix, "errorCode") || strings.HasSuffix(prefix, ".code")) {
				code = s
			}
			paths = append(paths, prefix)
		}
	}
	walk("", v)
	sort.Strings(paths)
	paths = slices.Compact(paths)
	return fmt.Sprintf("%d %s %s", status, code, strings.Join(paths, " "))
}

// Every operation of every dialect, and their refusals, answer through SAM's
// API Gateway and containers as the local server answers the same request:
// the same status, error code and JSON shape, step by step.
func TestStartAPIAnswersAsTheLocalServer(t *testing.T) {
	samURL, a := setup(t)
	local := startLocalServer(t)
	project := a.HuaweiProjID
	type step struct {
		name, method, path, body string
		headers                  map[string]string
	}
	aws := func(op, body string) step {
		return step{"aws " + op, "POST", "/", body, map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService." + op}}
	}
	hw := func(op, body string) step {
		return step{"huawei " + op, "POST", "/v1.0/" + project + "/kms/" + op, body, map[string]string{"Content-Type": "application/json"}}
	}
	ncp := func(method, path, body string) step {
		h := map[string]string{}
		if body != "" {
			h["Content-Type"] = "application/json"
		}
		return step{"ncp " + method + " " + path, method, "/kms/v1/keys" + path, body, h}
	}
	// Each server's own key ids and tags fill the placeholders.
	run := func(base string) []string {
		vars := map[string]string{}
		fill := func(s string) string {
			for k, v := range vars {
				s = strings.ReplaceAll(s, "{"+k+"}", v)
			}
			return s
		}
		do := func(s step) (int, []byte) {
			req, err := http.NewRequest(s.method, base+fill(s.path), strings.NewReader(fill(s.body)))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range s.headers {
				req.Header.Set(k, v)
			}
			if err := devclient.Sign(req, []byte(fill(s.body)), a, time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, raw
		}
		var out []string
		name := fmt.Sprintf("k%d", time.Now().UnixNano()%1e9)
		steps := []step{
			aws("CreateKey", `{"Description":"compare"}`),
			aws("DescribeKey", `{"KeyId":"{aws}"}`), aws("ListKeys", `{"Limit":1000}`),
			aws("DisableKey", `{"KeyId":"{aws}"}`), aws("EnableKey", `{"KeyId":"{aws}"}`),
			aws("TagResource", `{"KeyId":"{aws}","Tags":[{"TagKey":"team","TagValue":"a"}]}`),
			aws("ListResourceTags", `{"KeyId":"{aws}"}`), aws("UntagResource", `{"KeyId":"{aws}","TagKeys":["team"]}`),
			aws("ScheduleKeyDeletion", `{"KeyId":"{aws}","PendingWindowInDays":6}`),
			aws("ScheduleKeyDeletion", `{"KeyId":"{aws}","PendingWindowInDays":7}`),
			aws("EnableKey", `{"KeyId":"{aws}"}`), aws("CancelKeyDeletion", `{"KeyId":"{aws}"}`),
			aws("DescribeKey", `{"KeyId":"7e57b0b0-0000-4000-8000-000000000000"}`), aws("NoSuchOperation", `{}`),
			hw("create-key", `{"key_alias":"`+name+`"}`), hw("describe-key", `{"key_id":"{hw}"}`),
			hw("list-keys", `{"limit":"100"}`), hw("disable-key", `{"key_id":"{hw}"}`), hw("disable-key", `{"key_id":"{hw}"}`),
			hw("enable-key", `{"key_id":"{hw}"}`), hw("schedule-key-deletion", `{"key_id":"{hw}","pending_days":"6"}`),
			hw("schedule-key-deletion", `{"key_id":"{hw}","pending_days":"7"}`), hw("cancel-key-deletion", `{"key_id":"{hw}"}`),
			hw("describe-key", `{"key_id":"not-a-key"}`),
			ncp("POST", "", `{"keyName":"`+name+`","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`),
			ncp("GET", "/{tag}", ""), ncp("GET", "?pageNo=1&pageSize=100", ""), ncp("POST", "/{tag}/disable", ""),
			ncp("POST", "/{tag}/enable", ""), ncp("POST", "/{tag}/request-deletion", ""), ncp("POST", "/{tag}/cancel-deletion", ""),
			ncp("POST", "/{tag}/request-deletion", ""), ncp("DELETE", "/{tag}", ""), ncp("GET", "/{tag}", ""),
			{"trail", "GET", "/audit/v1/records?keyId={aws}", "", nil},
		}
		for _, s := range steps {
			status, raw := do(s)
			out = append(out, s.name+": "+shape(status, raw))
			var m map[string]any
			json.Unmarshal(raw, &m)
			if md, ok := m["KeyMetadata"].(map[string]any); ok && vars["aws"] == "" {
				vars["aws"] = md["KeyId"].(string)
			}
			if ki, ok := m["key_info"].(map[string]any); ok && vars["hw"] == "" {
				vars["hw"] = ki["key_id"].(string)
			}
			if d, ok := m["data"].(map[string]any); ok && vars["tag"] == "" && d["keyTag"] != nil {
				vars["tag"] = d["keyTag"].(string)
			}
		}
		return out
	}
	got, want := run(samURL), run(local)
	if len(got) != len(want) {
		t.Fatalf("%d answers through SAM, %d from the local server", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("through SAM:      %s\nthe local server: %s", got[i], want[i])
		}
	}
	t.Logf("%d requests answered alike", len(want))
}
