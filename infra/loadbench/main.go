// Command loadbench is the HTTP load run of `make bench`: the compiled local
// server on its embedded store, next to a fixed-answer server (the ceiling of
// any server here) in the same run, in interleaved rounds, with every request
// SigV4-signed by the client as an SDK signs it. It also measures this
// disk's fdatasync latency, the final deletion of due keys, and prints
// ops/s, p50, p99, the server's CPU per operation and the ratios.
//
//	go run ./infra/loadbench [-round 2s] [-rounds 5] [-expire 20000] [-cpuprofile dir]
//
// Loopback only; bounded in time (about a minute with the defaults).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	accessKey = "AKIADEVA0000000000AA"
	secretKey = "dev-a-aws-secret-do-not-use-in-production"
	region    = "us-east-1"
)

func main() {
	fixed := flag.String("serve-fixed", "", "internal: serve a fixed answer on this address")
	round := flag.Duration("round", 2*time.Second, "length of one measured round")
	rounds := flag.Int("rounds", 5, "rounds per server and workload (interleaved)")
	expireKeys := flag.Int("expire", 20000, "keys whose final deletion is timed")
	server := flag.String("server", "", "the compiled local server (default: built from ./infra/localserver)")
	clientsFlag := flag.String("clients", "1,16", "client counts to measure")
	only := flag.String("only", "", "measure only the workloads whose name contains this")
	cpuProfile := flag.String("cpuprofile", "", "write the server's CPU profile of each workload's measured rounds to this folder")
	peer := flag.String("peer", localKMS, `a peer to measure beside the server: a Go module to build at a version (module@version), a binary, or "" for none`)
	flag.Parse()
	for _, c := range strings.Split(*clientsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "loadbench: -clients: a comma-separated list of positive numbers")
			os.Exit(2)
		}
		clientCounts = append(clientCounts, n)
	}
	onlyWork = *only
	profileDir = *cpuProfile
	if *fixed != "" {
		serveFixed(*fixed)
		return
	}
	if err := run(*server, *peer, *round, *rounds, *expireKeys); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

// serveFixed answers every request with the same small JSON body, after
// reading the request: the ceiling of any HTTP server on this machine.
func serveFixed(addr string) {
	body := []byte(`{}`)
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Write(body)
	})}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

var (
	clientCounts []int
	onlyWork     string
	profileDir   string
	profileRound int
)

// short names a workload in a file name: "cycle", "DescribeKey".
func (w workload) short() string {
	if f := strings.Fields(w.name); len(f) > 1 {
		return f[1]
	}
	return w.name
}

// profile starts the server's CPU profile for about one round, if -cpuprofile
// asked for it; the function it returns waits for the profile and writes it as
// <dir>/<name>-<round>.pprof (go tool pprof merges the rounds' files).
func (p *proc) profile() func(name string) {
	if profileDir == "" || p.statsURL == "" {
		return func(string) {}
	}
	url := strings.TrimSuffix(p.statsURL, "/debug/vars") + "/debug/pprof/profile?seconds=2"
	done := make(chan []byte, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadbench: profile:", err)
			done <- nil
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- b
	}()
	return func(name string) {
		b := <-done
		if len(b) == 0 {
			return
		}
		profileRound++
		path := filepath.Join(profileDir, fmt.Sprintf("%s-%d.pprof", name, profileRound))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadbench: profile:", err)
		}
	}
}

// proc is a server process under measurement.
type proc struct {
	name     string
	url      string
	cmd      *exec.Cmd
	statsURL string // the store's log syncs (expvar), if it has a store
}

// syncStats is the store's write-ahead log work so far, as the local server
// publishes it (pebblestore.SyncStats).
type syncStats struct {
	Syncs, Writes int64
	SyncTime      time.Duration
}

func (p *proc) syncStats() (syncStats, error) {
	if p.statsURL == "" {
		return syncStats{}, nil
	}
	var vars struct{ Store syncStats }
	err := p.vars(&vars)
	return vars.Store, err
}

// vars decodes the server's expvar page into v.
func (p *proc) vars(v any) error {
	resp, err := http.Get(p.statsURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", p.statsURL, err)
	}
	return nil
}

// heldMemory says what holds the server's memory, from its own counts
// (expvar): Go's heap in use, heap Go holds but does not use, stacks, the
// runtime's own, and the store's memtables and block cache.
func (p *proc) heldMemory() (string, error) {
	if p.statsURL == "" {
		return "", errors.New("no stats")
	}
	var vars struct {
		Memstats struct {
			HeapInuse, HeapIdle, HeapReleased, StackInuse, Sys    uint64
			MSpanInuse, MCacheInuse, GCSys, OtherSys, BuckHashSys uint64
		}
		StoreMemory struct {
			MemTableBytes   uint64
			BlockCacheBytes int64
		}
	}
	if err := p.vars(&vars); err != nil {
		return "", err
	}
	m, st := vars.Memstats, vars.StoreMemory
	mib := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	return fmt.Sprintf("Go's heap in use %s, heap kept but unused %s, stacks %s, the runtime's own %s; "+
		"Pebble's memtables %s and block cache %s (apart from Go's heap when built with cgo)",
		mib(m.HeapInuse), mib(m.HeapIdle-m.HeapReleased), mib(m.StackInuse),
		mib(m.MSpanInuse+m.MCacheInuse+m.GCSys+m.OtherSys+m.BuckHashSys), mib(st.MemTableBytes), mib(uint64(max(st.BlockCacheBytes, 0)))), nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitListening(url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/health-probe"); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not start", url)
}

func startProc(name string, cmd *exec.Cmd, addr string) (*proc, error) {
	cmd.Stdout = io.Discard
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, url: "http://" + addr, cmd: cmd}
	if err := waitListening(p.url); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *proc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// memory is the process's resident size now and at its peak (VmRSS,
// VmHWM), in MiB.
func (p *proc) memory() string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return "unknown"
	}
	kib := map[string]int{}
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok && (name == "VmRSS" || name == "VmHWM" || name == "RssAnon" || name == "RssFile") {
			kib[name], _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(value), " kB"))
		}
	}
	// Anonymous memory is the heap, the stacks and the caches; file-backed
	// is the program's own code and data, as far as it was touched.
	return fmt.Sprintf("%.0f MiB (peak %.0f MiB; %.0f MiB anonymous, %.0f MiB of files)", float64(kib["VmRSS"])/1024,
		float64(kib["VmHWM"])/1024, float64(kib["RssAnon"])/1024, float64(kib["RssFile"])/1024)
}

// cpu is the process's user and system time so far.
func (p *proc) cpu() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// client signs and sends AWS KMS requests, as an SDK would.
type client struct {
	http   *http.Client
	signer *v4.Signer
}

func newClient(conns int) *client {
	return &client{
		http:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 30 * time.Second},
		signer: v4.NewSigner(),
	}
}

func (c *client) call(url, op, body string) (map[string]any, error) {
	raw, err := c.send(url, "/", body, "application/x-amz-json-1.1", "TrentService."+op)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if op != "CreateKey" {
		// The measured calls' answers are read, not parsed: the fixed
		// answer has nothing to parse, so parsing would weigh on one side.
		return nil, nil
	}
	var out map[string]any
	json.Unmarshal(raw, &out)
	return out, nil
}

// workload is one unit of work a client repeats, on its own key.
type workload struct {
	name string
	do   func(c *client, url, key string) error
}

var workloads = []workload{
	{"deletion cycle (ScheduleKeyDeletion, CancelKeyDeletion, EnableKey)", func(c *client, url, key string) error {
		if _, err := c.call(url, "ScheduleKeyDeletion", `{"KeyId":"`+key+`","PendingWindowInDays":7}`); err != nil {
			return err
		}
		if _, err := c.call(url, "CancelKeyDeletion", `{"KeyId":"`+key+`"}`); err != nil {
			return err
		}
		_, err := c.call(url, "EnableKey", `{"KeyId":"`+key+`"}`)
		return err
	}},
	describeKey,
}

var describeKey = workload{"DescribeKey", func(c *client, url, key string) error {
	_, err := c.call(url, "DescribeKey", `{"KeyId":"`+key+`"}`)
	return err
}}

// result is one round.
type result struct {
	ops       int
	elapsed   time.Duration
	latencies []time.Duration
	cpu       time.Duration // the server's
	clientCPU time.Duration // this process's: signing, sending, reading
	syncs     syncStats     // the store's log syncs during the round
}

func (r result) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// runRound runs w with one goroutine per key for d.
func runRound(p *proc, c *client, w workload, keyIDs []string, d time.Duration) (result, error) {
	var (
		ops   atomic.Int64
		mu    sync.Mutex
		lat   []time.Duration
		first error
		wg    sync.WaitGroup
	)
	sync0, err := p.syncStats()
	if err != nil {
		return result{}, err
	}
	cpu0, client0 := p.cpu(), selfCPU()
	start := time.Now()
	stop := start.Add(d)
	for _, key := range keyIDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(stop) {
				t := time.Now()
				if err := w.do(c, p.url, key); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t))
				ops.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := result{ops: int(ops.Load()), elapsed: time.Since(start), latencies: lat, cpu: p.cpu() - cpu0, clientCPU: selfCPU() - client0}
	sync1, err := p.syncStats()
	if err != nil {
		return result{}, err
	}
	r.syncs = syncStats{sync1.Syncs - sync0.Syncs, sync1.Writes - sync0.Writes, sync1.SyncTime - sync0.SyncTime}
	return r, first
}

// fsyncLatency measures writing 4 KiB and fdatasync in dir, n times.
func fsyncLatency(dir string, n int) (syncTimes, error) {
	f, err := os.Create(filepath.Join(dir, "fsync-probe"))
	if err != nil {
		return syncTimes{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var ds []time.Duration
	var sum time.Duration
	for i := range n {
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(i%16)*4096); err != nil {
			return syncTimes{}, err
		}
		if err := fdatasync(f); err != nil {
			return syncTimes{}, err
		}
		ds = append(ds, time.Since(t))
		sum += ds[i]
	}
	return syncTimes{percentile(ds, 0.5), percentile(ds, 0.99), sum / time.Duration(n)}, nil
}

// syncTimes is what the fdatasync probe measured.
type syncTimes struct{ p50, p99, avg time.Duration }

func (s syncTimes) String() string {
	return fmt.Sprintf("p50 %v, p99 %v, average %v", s.p50.Round(time.Microsecond), s.p99.Round(time.Microsecond), s.avg.Round(time.Microsecond))
}

// fsyncUnderLoad is the probe again while the fixed-answer server answers
// 16 clients: the disk's sync with the CPUs as busy as in the measured rounds
// but no store in the process.
func fsyncUnderLoad(dir string, fixed *proc) (syncTimes, error) {
	c := newClient(16)
	ids := make([]string, 16)
	for i := range ids {
		ids[i] = fmt.Sprintf("probe-%d", i)
	}
	stop := make(chan struct{})
	loadDone := make(chan error, 1)
	underWay := make(chan struct{})
	go func() {
		for first := true; ; first = false {
			select {
			case <-stop:
				loadDone <- nil
				return
			default:
			}
			_, err := runRound(fixed, c, describeKey, ids, 200*time.Millisecond)
			if first {
				close(underWay) // a whole round done: the load is under way
			}
			if err != nil {
				loadDone <- err
				return
			}
		}
	}()
	<-underWay
	st, err := fsyncLatency(dir, 1000)
	close(stop)
	return st, errors.Join(err, <-loadDone)
}

// localKMS is the peer the load run measures by default: nsmithuk/local-kms,
// the KMS emulator CI pipelines run beside their tests (it syncs nothing to
// disk and writes no audit record), built from the Go module proxy.
const localKMS = "github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6"

// startPeer builds (if it is a module@version) and starts the peer on a
// free loopback port, its data in a folder of work.
func startPeer(peer, work string) (*proc, error) {
	bin := peer
	if strings.Contains(peer, "@") {
		gobin := filepath.Join(work, "peer-bin")
		cmd := exec.Command("go", "install", peer)
		cmd.Env = append(os.Environ(), "GOBIN="+gobin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", peer, err, out)
		}
		module, _, _ := strings.Cut(peer, "@")
		bin = filepath.Join(gobin, filepath.Base(module))
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	data := filepath.Join(work, "peer-data")
	cmd := exec.Command(bin)
	// local-kms's settings; it listens on every interface, and is called
	// on loopback only.
	cmd.Env = append(os.Environ(), "PORT="+port, "KMS_DATA_PATH="+data, "KMS_REGION=eu-west-1", "KMS_ACCOUNT_ID=111122223333")
	cmd.Stderr = io.Discard // its log of every request
	return startProc(filepath.Base(bin), cmd, addr)
}

func run(serverBin, peerSpec string, roundLen time.Duration, rounds, expireKeys int) error {
	work, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if serverBin == "" {
		serverBin = filepath.Join(work, "localserver")
		if out, err := exec.Command("go", "build", "-o", serverBin, "./infra/localserver").CombinedOutput(); err != nil {
			return fmt.Errorf("build the local server: %v\n%s", err, out)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dataDir := filepath.Join(work, "data")
	os.MkdirAll(dataDir, 0o700)

	idleSync, err := fsyncLatency(dataDir, 300)
	if err != nil {
		return err
	}
	fsP50 := idleSync.p50

	fixedAddr, err := freeAddr()
	if err != nil {
		return err
	}
	fixed, err := startProc("fixed answer", exec.Command(self, "-serve-fixed", fixedAddr), fixedAddr)
	if err != nil {
		return err
	}
	defer fixed.stop()
	srvAddr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd := exec.Command(serverBin)
	cmd.Env = serverEnv(srvAddr, dataDir)
	debugAddr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd.Env = append(cmd.Env, "PPROF_ADDR="+debugAddr)
	server, err := startProc("local server", cmd, srvAddr)
	if err != nil {
		return err
	}
	defer server.stop()
	server.statsURL = "http://" + debugAddr + "/debug/vars"
	if _, err := server.syncStats(); err != nil {
		// A server of an earlier version, measured for comparison.
		fmt.Printf("(this server publishes no store stats: %v)\n", err)
		server.statsURL = ""
	}

	var peer *proc
	if peerSpec != "" {
		if peer, err = startPeer(peerSpec, work); err != nil {
			return err
		}
		defer peer.stop()
	}

	fmt.Printf("machine: %d CPUs (%s); fdatasync of 4 KiB on the data folder's disk: %v\n",
		numCPU(), cpuModel(), idleSync)
	fmt.Printf("rounds: %d per server and workload, %v each, interleaved; every request SigV4-signed by the client\n\n", rounds, roundLen)
	fmt.Printf("| work | clients | server ops/s | p50 | p99 | server CPU/op | client CPU/op | fixed-answer ops/s | its CPU/op | client CPU/op | ratio | peer ops/s | its CPU/op | server/peer |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")

	var logLines []string
	for _, clients := range clientCounts {
		c := newClient(clients)
		keyIDs, err := createKeys(c, server, clients)
		if err != nil {
			return err
		}
		var peerIDs []string
		if peer != nil {
			if peerIDs, err = createKeys(c, peer, clients); err != nil {
				return err
			}
		}
		for _, w := range workloads {
			if !strings.Contains(w.name, onlyWork) {
				continue
			}
			var srv, fix, peers []result
			for range rounds {
				f, err := runRound(fixed, c, w, keyIDs, roundLen)
				if err != nil {
					return fmt.Errorf("fixed answer, %s: %w", w.name, err)
				}
				stopProfile := server.profile()
				s, err := runRound(server, c, w, keyIDs, roundLen)
				stopProfile(fmt.Sprintf("%s-%d", w.short(), clients))
				if err != nil {
					return fmt.Errorf("local server, %s: %w", w.name, err)
				}
				fix, srv = append(fix, f), append(srv, s)
				if peer != nil {
					pr, err := runRound(peer, c, w, peerIDs, roundLen)
					if err != nil {
						return fmt.Errorf("%s, %s: %w", peer.name, w.name, err)
					}
					peers = append(peers, pr)
				}
			}
			s, f := median(srv), median(fix)
			var lat []time.Duration
			perOp := func(rs []result, cpu func(result) time.Duration) time.Duration {
				var total time.Duration
				n := 0
				for _, r := range rs {
					total += cpu(r)
					n += r.ops
				}
				return (total / time.Duration(max(n, 1))).Round(time.Microsecond)
			}
			for _, r := range srv {
				lat = append(lat, r.latencies...)
			}
			server := func(r result) time.Duration { return r.cpu }
			client := func(r result) time.Duration { return r.clientCPU }
			peerCols := "| | |"
			if len(peers) > 0 {
				pm := median(peers)
				peerCols = fmt.Sprintf("%.0f | %v | %.2f× |", pm.rate(), perOp(peers, server), s.rate()/pm.rate())
			}
			fmt.Printf("| %s | %d | %.0f | %v | %v | %v | %v | %.0f | %v | %v | %.2f× | %s\n", w.name, clients, s.rate(),
				percentile(lat, 0.5).Round(time.Microsecond), percentile(lat, 0.99).Round(time.Microsecond),
				perOp(srv, server), perOp(srv, client), f.rate(), perOp(fix, server), perOp(fix, client), s.rate()/f.rate(), peerCols)
			if clients == 1 && strings.HasPrefix(w.name, "deletion cycle") {
				var fixLat []time.Duration
				for _, r := range fix {
					fixLat = append(fixLat, r.latencies...)
				}
				rtt := percentile(fixLat, 0.5) / 3 // three requests a cycle
				limit := 3 * (fsP50 + rtt)
				fmt.Printf("|   sync limit at 1 client: 3 × (fdatasync %v + round trip %v) = %v a cycle | | %.0f | | | | | | | | %.2f× of the limit |\n",
					fsP50.Round(time.Microsecond), rtt.Round(time.Microsecond), limit.Round(time.Microsecond),
					float64(time.Second)/float64(limit), s.rate()*float64(limit)/float64(time.Second))
				if st := sumSyncs(srv); st.Syncs > 0 {
					loaded := st.SyncTime / time.Duration(st.Syncs)
					limit := 3 * (loaded + rtt)
					fmt.Printf("|   the same with fdatasync as the store's log took it in these rounds: 3 × (%v + %v) = %v a cycle | | %.0f | | | | | | | | %.2f× of that limit |\n",
						loaded.Round(time.Microsecond), rtt.Round(time.Microsecond), limit.Round(time.Microsecond),
						float64(time.Second)/float64(limit), s.rate()*float64(limit)/float64(time.Second))
				}
			}
			if st := sumSyncs(srv); st.Syncs > 0 {
				logLines = append(logLines, fmt.Sprintf("- %s, %d client(s): %d writes in %d syncs (%.1f writes a sync); fdatasync %v on average (idle probe: p50 %v)",
					w.name, clients, st.Writes, st.Syncs, float64(st.Writes)/float64(st.Syncs),
					(st.SyncTime/time.Duration(st.Syncs)).Round(time.Microsecond), fsP50.Round(time.Microsecond)))
			}
		}
	}
	peerMemory := ""
	if peer != nil {
		peerMemory = "; " + peer.name + " " + peer.memory()
	}
	fmt.Printf("\nresident memory after the rounds: local server %s; fixed-answer server %s%s\n", server.memory(), fixed.memory(), peerMemory)
	if held, err := server.heldMemory(); err == nil {
		fmt.Printf("what holds the local server's memory (its own counts): %s\n", held)
	}
	server.stop()
	if len(logLines) > 0 {
		fmt.Printf("\nthe store's write-ahead log in the measured rounds (Pebble's own counts):\n%s\n", strings.Join(logLines, "\n"))
	}
	loaded, err := fsyncUnderLoad(dataDir, fixed)
	if err != nil {
		return err
	}
	fmt.Printf("- the fdatasync probe alone: idle %v; while the fixed-answer server answers 16 clients %v\n", idleSync, loaded)
	if expireKeys == 0 {
		return nil
	}

	fromStart, fromListening, err := expiryRate(serverBin, work, expireKeys)
	if err != nil {
		return err
	}
	fmt.Printf("\nfinal deletion of %d keys a restart with CLOCK_OFFSET=169h brought due: %.0f keys/s from the restart, %.0f keys/s from listening\n",
		expireKeys, fromStart, fromListening)
	moved, err := clockMoveRate(serverBin, work, expireKeys)
	if err != nil {
		return err
	}
	fmt.Printf("final deletion of %d keys one clock move (POST /_local/v1/clock, advance 169h) brought due: %.0f keys/s, the move's whole answer\n",
		expireKeys, moved)
	return nil
}

func sumSyncs(rs []result) syncStats {
	var t syncStats
	for _, r := range rs {
		t.Syncs += r.syncs.Syncs
		t.Writes += r.syncs.Writes
		t.SyncTime += r.syncs.SyncTime
	}
	return t
}

// median is the round with the median rate.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int {
		switch {
		case a.rate() < b.rate():
			return -1
		case a.rate() > b.rate():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

// expiryRate creates and schedules n keys on a fresh data folder, restarts
// the server with the clock past their windows, and times the expiry loop
// from its start until the last "key deleted" line.
// expiryRate returns how fast the server finalizes n keys whose windows a
// restart with CLOCK_OFFSET=169h ended: counted from the restart (as a
// user waits for it: the store's open and check included) and from the
// moment it listens.
func expiryRate(serverBin, work string, n int) (fromStart, fromListening float64, err error) {
	dataDir := filepath.Join(work, "expire")
	os.MkdirAll(dataDir, 0o700)
	addr, err := freeAddr()
	if err != nil {
		return 0, 0, err
	}
	env := serverEnv(addr, dataDir, "REMINDER_OFFSETS=none")
	cmd := exec.Command(serverBin)
	cmd.Env = env
	p, err := startProc("local server", cmd, addr)
	if err != nil {
		return 0, 0, err
	}
	if err := scheduleKeys(p, n); err != nil {
		p.stop()
		return 0, 0, err
	}
	p.stop()

	cmd = exec.Command(serverBin)
	cmd.Env = append(env, "CLOCK_OFFSET=169h", "EXPIRY_INTERVAL=10ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	// Bounded: a server that stops finalizing is stopped, ending the scan.
	timer := time.AfterFunc(5*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	sc := bufio.NewScanner(out)
	defer func() {
		// Read on while it stops: a server blocked writing its log cannot exit.
		go io.Copy(io.Discard, out)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	deleted := 0
	var began, last time.Time
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Contains(line, []byte(`"msg":"listening"`)) {
			began = time.Now()
		}
		if bytes.Contains(line, []byte(`"msg":"key deleted"`)) {
			deleted++
			last = time.Now()
			if deleted == n {
				break
			}
		}
	}
	if time.Since(start) > 5*time.Minute {
		return 0, 0, fmt.Errorf("only %d of %d keys finalized in 5 minutes", deleted, n)
	}
	if deleted < n {
		return 0, 0, fmt.Errorf("the server stopped after %d of %d final deletions", deleted, n)
	}
	return float64(n) / last.Sub(start).Seconds(), float64(n) / last.Sub(began).Seconds(), nil
}

// createKeys creates n keys on p, one per client.
func createKeys(c *client, p *proc, n int) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		out, err := c.call(p.url, "CreateKey", `{}`)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		ids[i] = out["KeyMetadata"].(map[string]any)["KeyId"].(string)
	}
	return ids, nil
}

// scheduleKeys creates n keys on p and schedules each with a 7-day window,
// 32 clients at once.
func scheduleKeys(p *proc, n int) error {
	c := newClient(32)
	jobs := make(chan int)
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				out, err := c.call(p.url, "CreateKey", `{}`)
				if err == nil {
					id := out["KeyMetadata"].(map[string]any)["KeyId"].(string)
					_, err = c.call(p.url, "ScheduleKeyDeletion", `{"KeyId":"`+id+`","PendingWindowInDays":7}`)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	defer func() { close(jobs); wg.Wait() }()
	for i := range n {
		select {
		case jobs <- i:
		case err := <-errs:
			return err
		}
	}
	return nil
}

// clockMoveRate returns how fast a running server finalizes n keys that
// one move of the tenant's clock brings due (the clock API answers once
// everything it brought due is done).
func clockMoveRate(serverBin, work string, n int) (float64, error) {
	dataDir := filepath.Join(work, "clock")
	os.MkdirAll(dataDir, 0o700)
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(serverBin)
	cmd.Env = serverEnv(addr, dataDir, "REMINDER_OFFSETS=none", "CLOCK_MOVE_TIMEOUT=5m", "EXPIRY_INTERVAL=1h")
	p, err := startProc("local server", cmd, addr)
	if err != nil {
		return 0, err
	}
	defer p.stop()
	if err := scheduleKeys(p, n); err != nil {
		return 0, err
	}
	start := time.Now()
	out, err := newClient(1).post(p.url, "/_local/v1/clock", `{"advance":"169h"}`)
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if done, _ := out["finalized"].(float64); int(done) != n || out["complete"] != true {
		return 0, fmt.Errorf("the clock move finalized %v of %d keys (complete: %v)", out["finalized"], n, out["complete"])
	}
	return float64(n) / elapsed.Seconds(), nil
}

// post sends a signed JSON POST to path and returns its parsed answer.
func (c *client) post(url, path, body string) (map[string]any, error) {
	raw, err := c.send(url, path, body, "application/json", "")
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(raw, &out)
}

// send POSTs body to url+path, SigV4-signed as an SDK signs it (service
// kms; target, if any, as X-Amz-Target), and returns the answer's body,
// which must come with a 200.
func (c *client) send(url, path, body, contentType, target string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	sum := sha256.Sum256([]byte(body))
	if err := c.signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey},
		req, hex.EncodeToString(sum[:]), "kms", region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	return raw, nil
}

// serverEnv is the local server's environment for a measurement: on the
// embedded store in dataDir, the development tenants, listening on addr,
// with extra settings.
func serverEnv(addr, dataDir string, extra ...string) []string {
	return append(append(os.Environ(), "ADDR="+addr, "DATA_DIR="+dataDir, "CREDENTIALS_FILE=infra/local/credentials.json",
		"TABLE_NAME=", "DYNAMODB_ENDPOINT="), extra...)
}
