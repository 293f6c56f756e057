package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/infra/dynamodblocal"
	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/infra/testtool"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/validation"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "localserver")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "localserver")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type server struct {
	cmd  *exec.Cmd
	url  string
	logs chan map[string]any

	pid int // the server's own, when it runs under another program

	mu      sync.Mutex
	lines   []map[string]any // every JSON line the server wrote
	drained chan struct{}    // closed once every line is read (the server has exited)
}

// line returns the first line the server logged with this message (nil if none).
func (s *server) line(msg string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

// saw reports whether the server has logged a line with this message.
func (s *server) saw(msg string) bool { return s.line(msg) != nil }

// start runs the compiled server on a free port and waits for it to listen.
func start(t *testing.T, env ...string) *server {
	t.Helper()
	testtool.Slow(t, "the compiled local server")
	return startUnder(t, nil, env...)
}

// startUnder runs the compiled server under a program that runs it (strace,
// say: wrapper is its command line up to the server's path).
func startUnder(t *testing.T, wrapper []string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(binary)
	if len(wrapper) > 0 {
		cmd = exec.Command(wrapper[0], append(wrapper[1:], binary)...)
	}
	cmd.Env = append(baseEnv(), append([]string{"ADDR=127.0.0.1:0", "CREDENTIALS_FILE=../local/credentials.json"}, env...)...)
	return startCmd(t, cmd)
}

// baseEnv is the test process's environment without the store's settings:
// the store is the test's choice, not the environment's.
func baseEnv() []string {
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DYNAMODB_ENDPOINT=") && !strings.HasPrefix(kv, "TABLE_NAME=") {
			base = append(base, kv)
		}
	}
	return base
}

// startCmd starts cmd, a command line that runs the compiled server, and
// waits for it to listen.
func startCmd(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	// A pipe of our own, not StdoutPipe: Wait closes that one, and lines a
	// killed server wrote but nobody had read yet would be lost with it.
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the server holds the only writer: its exit ends the reading
	s := &server{cmd: cmd, logs: make(chan map[string]any, 1000), drained: make(chan struct{})}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	listening := make(chan string, 1)
	go func() {
		defer close(s.drained)
		defer out.Close()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			s.mu.Lock()
			s.lines = append(s.lines, line)
			s.mu.Unlock()
			if line["msg"] == "listening" {
				s.pid = int(line["pid"].(float64))
				listening <- line["addr"].(string)
			}
			select {
			case s.logs <- line:
			default:
			}
		}
	}()
	select {
	case addr := <-listening:
		s.url = "http://" + addr
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	return s
}

// createKey creates an NCP key named name and returns its tag and id; ok is
// false (and the test marked failed) if the server did not answer 200.
func createKey(t *testing.T, s *server, name string) (tag, id string, ok bool) {
	code, body, err := post(s.url+"/kms/v1/keys",
		`{"keyName":"`+name+`","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`)
	if err != nil || code != 200 {
		t.Errorf("create %s: %d %v", name, code, err)
		return "", "", false
	}
	tag = body["data"].(map[string]any)["keyTag"].(string)
	id, err = validation.KeyTag(tag)
	if err != nil {
		t.Errorf("create %s: keyTag %q: %v", name, tag, err)
		return "", "", false
	}
	return tag, id, true
}

// requestDeletion schedules the key's deletion; false (and the test marked
// failed) if the server did not answer 200.
func requestDeletion(t *testing.T, s *server, tag string) bool {
	if code, _, err := post(s.url+"/kms/v1/keys/"+tag+"/request-deletion", ""); err != nil || code != 200 {
		t.Errorf("request-deletion: %d %v", code, err)
		return false
	}
	return true
}

// dev is the development tenant the requests act for; the server reads the
// same file by default.
var dev = func() devclient.Creds {
	c, err := devclient.Load("../local/credentials.json")
	if err != nil {
		panic(err)
	}
	return c["dev-a"]
}()

func post(url, body string) (int, map[string]any, error) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	devclient.SignNCP(req, dev, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m, nil
}

// trailRecord is an audit record as the trail API gives it.
type trailRecord struct {
	EventID   string `json:"eventId"`
	Operation string `json:"operation"`
	Alias     string `json:"alias"`
}

// trailOf is key id's audit trail, read through the trail API as dev-a.
func trailOf(t *testing.T, s *server, id string) []trailRecord {
	t.Helper()
	return trailOfAs(t, s, dev, id)
}

// trailOfAs is key id's audit trail, read through the trail API as c.
func trailOfAs(t *testing.T, s *server, c devclient.Creds, id string) []trailRecord {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/audit/v1/records?keyId="+id, nil)
	devclient.SignNCP(req, c, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Records []trailRecord `json:"records"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&page) != nil {
		t.Fatalf("trail of %s: %d", id, resp.StatusCode)
	}
	return page.Records
}

func get(url string) int {
	req, _ := http.NewRequest("GET", url, nil)
	devclient.SignNCP(req, dev, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Writers run flat out; the process is killed with SIGKILL in the middle.
// The store must open again and hold every create and schedule the server
// acknowledged: a kill at any moment leaves nothing torn or lost. (A killed
// process leaves the page cache intact, so this cannot show that writes are
// synced; TestAcknowledgedWritesAreSynced does.)
func TestAcknowledgedWritesSurviveKill(t *testing.T) {
	data := t.TempDir()
	s := start(t, "DATA_DIR="+data)
	var mu sync.Mutex
	acked := map[string]string{} // keyTag -> the status the server last acknowledged
	sent := map[string]bool{}    // keyTag -> a deletion request went out (acknowledged or not)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				code, body, err := post(s.url+"/kms/v1/keys", fmt.Sprintf(
					`{"keyName":"k%d-%d","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`, w, i))
				if err != nil || code != 200 {
					return
				}
				tag := body["data"].(map[string]any)["keyTag"].(string)
				mu.Lock()
				acked[tag] = "ENABLE"
				mu.Unlock()
				if i%2 == 0 {
					mu.Lock()
					sent[tag] = true
					mu.Unlock()
					if code, _, err := post(s.url+"/kms/v1/keys/"+tag+"/request-deletion", ""); err == nil && code == 200 {
						mu.Lock()
						acked[tag] = "REVOKE"
						mu.Unlock()
					}
				}
			}
		}(w)
	}
	// Kill once enough writes were acknowledged to make the check mean
	// something, however slow the machine: a condition, not a fixed sleep.
	const enough = 1000
	testtool.WaitFor(t, 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= enough
	}, "acknowledged writes")
	// SIGKILL: no shutdown, no deferred close; only what was fsynced remains.
	s.cmd.Process.Signal(syscall.SIGKILL)
	cancel()
	wg.Wait()
	s.cmd.Wait()
	mu.Lock()
	defer mu.Unlock()

	s2 := start(t, "DATA_DIR="+data)
	for tag, status := range acked {
		req, _ := http.NewRequest("GET", s2.url+"/kms/v1/keys/"+tag, nil)
		devclient.SignNCP(req, dev, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Data struct{ Status string } `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		// A request the server made durable but could not acknowledge before
		// the kill may show too; an acknowledged one must.
		if resp.StatusCode != 200 || (body.Data.Status != status && !(sent[tag] && body.Data.Status == "REVOKE")) {
			t.Fatalf("acknowledged key %s: status %d %q after the crash, want %s", tag, resp.StatusCode, body.Data.Status, status)
		}
	}
	t.Logf("%d acknowledged keys all survived SIGKILL", len(acked))
}

// With CLOCK_OFFSET past the 72-hour window, the key is gone and the local
// expiry loop finalizes it through the same path the Lambda uses: on the
// embedded store and on DynamoDB Local.
func TestExpiryLoopWithClockOffset(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { testExpiryLoop(t, "DATA_DIR="+t.TempDir()) })
	t.Run("dynamodb", func(t *testing.T) {
		table := "localserver-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
		testExpiryLoop(t, "DYNAMODB_ENDPOINT="+dynamodblocal.Endpoint(t), "TABLE_NAME="+table)
	})
}

func testExpiryLoop(t *testing.T, store ...string) {
	s := start(t, store...)
	_, body, err := post(s.url+"/kms/v1/keys", `{"keyName":"soon-gone","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`)
	if err != nil {
		t.Fatal(err)
	}
	tag := body["data"].(map[string]any)["keyTag"].(string)
	id, err := validation.KeyTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := post(s.url+"/kms/v1/keys/"+tag+"/request-deletion", ""); code != 200 {
		t.Fatalf("request-deletion: %d", code)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()

	s = start(t, append(store, "CLOCK_OFFSET=71h", "EXPIRY_INTERVAL=100ms")...)
	if code := get(s.url + "/kms/v1/keys/" + tag); code != 200 {
		t.Fatalf("71h in: %d, want the key still there", code)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.cmd.Wait()

	s = start(t, append(store, "CLOCK_OFFSET=73h", "EXPIRY_INTERVAL=100ms")...)
	if code := get(s.url + "/kms/v1/keys/" + tag); code != 404 {
		t.Fatalf("73h in: %d, want 404", code)
	}
	// Finalized: the name is free again, and the key's trail ends with its
	// final deletion.
	testtool.WaitFor(t, 10*time.Second, func() bool {
		code, _, _ := post(s.url+"/kms/v1/keys", `{"keyName":"soon-gone","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`)
		return code == 200
	}, "the expiry loop to finalize the key and free its name")
	if trail := trailOf(t, s, id); len(trail) == 0 || trail[len(trail)-1].Operation != "FinalDeletion" {
		t.Fatalf("the key's trail %+v does not end with its final deletion", trail)
	}
}

// A client that stalls in its headers or its body is cut off by the read
// timeouts, and other clients are served meanwhile. A stalled body gets its
// dialect's request-timeout answer, with nothing of the server's internals
// (addresses, Go's error text) in it.
func TestSlowClientsAreCutOff(t *testing.T) {
	// Timeouts shorter than the defaults (5 s, 10 s) keep the test short;
	// what is tested is that they hold.
	const header, whole = 500 * time.Millisecond, time.Second
	s := start(t, "DATA_DIR="+t.TempDir(), "READ_HEADER_TIMEOUT="+header.String(), "READ_TIMEOUT="+whole.String())
	addr := strings.TrimPrefix(s.url, "http://")
	stalledBody := func(path, extra string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra + "Content-Length: 100\r\n\r\n{"
	}
	for name, c := range map[string]struct {
		partial string
		within  time.Duration
		answer  string // a substring the answer must hold; "" when none is due
	}{
		"stalled headers":     {"POST /kms/v1/keys HTTP/1.1\r\nHost: x\r\n", header + 2*time.Second, ""},
		"stalled body ncp":    {stalledBody("/kms/v1/keys", ""), whole + 2*time.Second, `"errorCode":"100"`},
		"stalled body aws":    {stalledBody("/", "X-Amz-Target: TrentService.ListKeys\r\n"), whole + 2*time.Second, `"__type":"RequestTimeoutException"`},
		"stalled body huawei": {stalledBody("/v1.0/"+dev.HuaweiProjID+"/kms/list-keys", ""), whole + 2*time.Second, `"error_code":"APIG.0201"`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(c.partial)); err != nil {
				t.Fatal(err)
			}
			started := time.Now()
			if code := get(s.url + "/kms/v1/keys"); code != 200 {
				t.Fatalf("another client while one stalls: %d", code)
			}
			conn.SetReadDeadline(time.Now().Add(c.within))
			answer, _ := io.ReadAll(conn) // returns when the server closes the connection
			if waited := time.Since(started); waited >= c.within {
				t.Fatalf("connection still open after %v", waited)
			}
			if c.answer == "" {
				return
			}
			if !strings.HasPrefix(string(answer), "HTTP/1.1 408 ") || !strings.Contains(string(answer), c.answer) {
				t.Errorf("answer to a stalled body:\n%s\nwant 408 with %s", answer, c.answer)
			}
			for _, internal := range []string{"127.0.0.1", "i/o timeout", "read tcp"} {
				if strings.Contains(string(answer), internal) {
					t.Errorf("the answer reveals %q:\n%s", internal, answer)
				}
			}
		})
	}
}

// SIGTERM stops the server gracefully: a request in flight when the signal
// arrives is served to the end and its write made durable before the store
// closes; the process then exits 0.
func TestShutdownDrainsInFlightRequests(t *testing.T) {
	data := t.TempDir()
	s := start(t, "DATA_DIR="+data)
	body := `{"keyName":"drained","keyType":"AES256","isAutoRotation":false,"protectionType":"BASIC"}`
	req, _ := http.NewRequest("POST", s.url+"/kms/v1/keys", nil)
	devclient.SignNCP(req, dev, time.Now())
	// Expect: 100-continue: the server says "100 Continue" when the handler
	// first reads the body, so the test knows the request is in the handler
	// (a request whose headers the server had not read when shutdown began
	// would be dropped, by design).
	var head strings.Builder
	fmt.Fprintf(&head, "POST /kms/v1/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n", len(body))
	for k := range req.Header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, req.Header.Get(k))
	}
	head.WriteString("\r\n")
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(head.String())); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("no 100 Continue: %q %v", line, err)
	}
	if line, _ := br.ReadString('\n'); line != "\r\n" {
		t.Fatalf("100 Continue not followed by an empty line: %q", line)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	testtool.WaitFor(t, 10*time.Second, func() bool { return s.saw("shutting down") }, "the server to begin shutting down")
	if _, err := conn.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("in-flight create during shutdown: %d %s", resp.StatusCode, raw)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("the server did not exit cleanly: %v", err)
	}
	var created struct {
		Data struct{ KeyTag string } `json:"data"`
	}
	json.Unmarshal(raw, &created)
	s2 := start(t, "DATA_DIR="+data)
	if code := get(s2.url + "/kms/v1/keys/" + created.Data.KeyTag); code != 200 {
		t.Fatalf("the key created during shutdown: %d after a restart", code)
	}
}

// The expiry loop is killed with SIGKILL while it finalizes: after a
// restart every key is finalized and every final deletion reported, though
// the kill came between some tombstone's write and its report; no run
// reports a deletion twice.
func TestKilledExpiryReportsEveryDeletion(t *testing.T) {
	data := t.TempDir()
	// The keys go into the server's folder through the service, before the
	// server starts: what is under test is the loop, not 4,000 signed
	// requests. Their 3-day windows have ended by the 73h clock.
	const n = 2000
	st, err := pebblestore.Open(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := keys.NewService(st, time.Now)
	p := keys.Principal{Tenant: dev.Tenant, Dialect: "ncp", RequestID: "kill-test"}
	ids := make(chan string, n)
	for range n {
		k, err := svc.Create(t.Context(), p, keys.CreateRequest{})
		if err == nil {
			_, err = svc.ScheduleDeletion(t.Context(), p, k.ID, 3)
		}
		if err != nil {
			t.Fatal(err)
		}
		ids <- k.ID
	}
	close(ids)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	reported := func(s *server) map[string]int {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := map[string]int{}
		for _, l := range s.lines {
			if l["msg"] == "key deleted" {
				out[l["key"].(string)]++
			}
		}
		return out
	}
	after := []string{"DATA_DIR=" + data, "CLOCK_OFFSET=73h", "EXPIRY_INTERVAL=10ms"}
	killed := start(t, after...)
	// Killed at its first report: the loop finalizes many keys at once, so
	// the kill lands among writes and reports in flight.
	testtool.WaitFor(t, 60*time.Second, func() bool { return len(reported(killed)) >= 1 }, "the first deletion")
	killed.cmd.Process.Signal(syscall.SIGKILL)
	killed.cmd.Wait()
	<-killed.drained // every line it wrote before it died

	restarted := start(t, after...)
	all := map[string]bool{}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// What the restarted server said besides its reports and events.
		restarted.mu.Lock()
		defer restarted.mu.Unlock()
		for _, l := range restarted.lines {
			if l["msg"] != "key deleted" && l["msg"] != "event published" {
				t.Logf("restarted: %v", l)
			}
		}
	})
	testtool.WaitFor(t, 60*time.Second, func() bool {
		for id := range reported(killed) {
			all[id] = true
		}
		for id := range reported(restarted) {
			all[id] = true
		}
		return len(all) == n
	}, "every deletion to be reported")

	restarted.cmd.Process.Signal(syscall.SIGTERM)
	restarted.cmd.Wait()
	for _, run := range []*server{killed, restarted} {
		for id, count := range reported(run) {
			if count > 1 {
				t.Errorf("key %s reported %d times in one run", id, count)
			}
		}
	}
	st, err = pebblestore.Open(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for id := range ids {
		if _, err := st.Tombstone(context.Background(), dev.Tenant, id); err != nil || !all[id] {
			t.Errorf("key %s: tombstone %v, reported %v", id, err, all[id])
		}
	}
	if un, err := st.Unreported(context.Background(), time.Now().Add(time.Hour), n); err != nil || len(un) != 0 {
		t.Errorf("%d deletions left unreported (%v)", len(un), err)
	}
	t.Logf("%d keys: %d reported before the kill, the rest after the restart", n, len(reported(killed)))
}
