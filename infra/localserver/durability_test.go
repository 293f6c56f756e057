package main_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/batchrepr"
	"github.com/cockroachdb/pebble/v2/record"

	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/infra/testtool"
)

// Every acknowledged write was synced before it was acknowledged: the
// compiled server runs under strace, and for each create and schedule it
// answered 200, the trace must show, in this order, a write into the data
// folder of the key's record in its new state, an fdatasync or fsync of
// that same file that began after the write returned, and that sync's
// return before the response's first byte was written to the socket.
//
// The store's writes go to its write-ahead log, in Pebble's record format
// (32 KiB blocks, chunk headers), which can split a record across writes:
// the bytes each log file received are joined in order and decoded with
// Pebble's own readers, and a record counts as written by the write that
// carried its last byte.
//
// Unlike a kill -9 (which leaves the page cache, and so unsynced writes,
// intact), this fails when syncing is off: with pebble.NoSync the trace
// holds writes and responses but no sync.
func TestAcknowledgedWritesAreSynced(t *testing.T) {
	strace := testtool.Find(t, "strace")
	data, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	s := startUnder(t, []string{strace, "-f", "-qq", "-y", "-xx", "-s", "1048576",
		"-e", "trace=write,writev,pwrite64,pwritev,pwritev2,fdatasync,fsync",
		"-o", trace, "--"}, "DATA_DIR="+data)

	type ack struct{ tag, id, state, status string }
	var mu sync.Mutex
	var acked []ack
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				tag, id, ok := createKey(t, s, fmt.Sprintf("s%d-%d", w, i))
				if !ok {
					return
				}
				k := ack{tag: tag, id: id, state: "Enabled", status: "ENABLE"}
				mu.Lock()
				acked = append(acked, k)
				mu.Unlock()
				if i%2 == 0 {
					if !requestDeletion(t, s, tag) {
						return
					}
					k.state, k.status = "PendingDeletion", "REVOKE"
					mu.Lock()
					acked = append(acked, k)
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	// End the server itself (strace ends with it), so the trace is whole.
	syscall.Kill(s.pid, syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("strace: %v", err)
	}
	calls := parseTrace(t, trace)
	logged := walEntries(t, calls, data)

	checked := 0
	for _, k := range acked {
		var written *call
		for _, e := range logged {
			if len(e.key) == 0 || e.key[0] != 'k' {
				continue // not a key record
			}
			if rec, err := pebblestore.DecodeKey(e.value); err == nil && rec.ID == k.id && string(rec.State) == k.state {
				written = e.by
				break
			}
		}
		if written == nil {
			t.Errorf("key %s: no write of its %s record into %s", k.id, k.state, data)
			continue
		}
		answered := first(calls, func(c *call) bool {
			return strings.HasPrefix(c.path, "socket:") && c.isWrite() && strings.HasPrefix(string(c.data), "HTTP/1.1 200 ") &&
				strings.Contains(string(c.data), `"keyTag":"`+k.tag+`"`) && strings.Contains(string(c.data), `"status":"`+k.status+`"`)
		})
		if answered == nil {
			t.Errorf("key %s: no response acknowledging %s in the trace", k.id, k.status)
			continue
		}
		synced := first(calls, func(c *call) bool {
			return c.isSync() && c.path == written.path && c.ret == 0 && c.start > written.end && c.end < answered.start
		})
		if synced == nil {
			t.Errorf("key %s acknowledged %s (trace line %d) with no sync of %s between its write (line %d) and the answer",
				k.id, k.status, answered.start+1, written.path, written.end+1)
			continue
		}
		checked++
	}
	if checked < 80 {
		t.Fatalf("only %d acknowledged writes checked; the test proves little", checked)
	}
	t.Logf("%d acknowledged writes, each synced before its answer (%d traced calls)", checked, len(calls))
}

// call is one system call in an strace -f -y -xx trace, with the lines (from
// 0) where it began and where it returned.
type call struct {
	name       string
	path       string // the file behind its first fd argument (strace -y)
	data       []byte // its buffers, decoded
	ret        int64
	start, end int
}

func (c *call) isWrite() bool {
	switch c.name {
	case "write", "writev", "pwrite64", "pwritev", "pwritev2":
		return true
	}
	return false
}

func (c *call) isSync() bool { return c.name == "fdatasync" || c.name == "fsync" }

func first(calls []*call, match func(*call) bool) *call {
	for _, c := range calls {
		if match(c) {
			return c
		}
	}
	return nil
}

var (
	traceLine  = regexp.MustCompile(`^(\d+) +(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$`)
	fdPath     = regexp.MustCompile(`^\d+<((?:\\x[0-9a-f]{2})*)>`)
	quoted     = regexp.MustCompile(`"((?:\\x[0-9a-f]{2})*)"`)
	returnCode = regexp.MustCompile(`\) += (-?\d+)`)
)

// parseTrace reads an strace -f -y -xx trace: a call that blocks shows as
// "<unfinished ...>" on one line and "<... name resumed>" on a later one.
func parseTrace(t *testing.T, path string) []*call {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []*call
	pending := map[string]*call{} // pid -> its unfinished call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for i := 0; sc.Scan(); i++ {
		m := traceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue // signals, exits
		}
		pid, rest := m[1], m[4]
		c := pending[pid]
		if m[2] == "" { // a call begins
			c = &call{name: m[3], start: i}
			if p := fdPath.FindStringSubmatch(rest); p != nil {
				c.path = string(unhex(p[1]))
			}
			for _, q := range quoted.FindAllStringSubmatch(rest, -1) {
				c.data = append(c.data, unhex(q[1])...)
			}
			calls = append(calls, c)
		} else if c == nil || c.name != m[2] {
			t.Fatalf("trace line %d resumes a call that never began: %s", i+1, sc.Text())
		}
		if strings.HasSuffix(rest, "<unfinished ...>") {
			pending[pid] = c
			continue
		}
		delete(pending, pid)
		c.end = i
		if r := returnCode.FindStringSubmatch(rest); r != nil {
			c.ret, _ = strconv.ParseInt(r[1], 10, 64)
		} else {
			c.ret = -1
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}

func unhex(s string) []byte {
	b, _ := hex.DecodeString(strings.ReplaceAll(s, `\x`, ""))
	return b
}

// walEntry is one key-value pair the store wrote into its write-ahead log,
// with the write call that carried its batch's last byte.
type walEntry struct {
	key, value []byte
	by         *call
}

// walEntries decodes every write-ahead log file written under data, from
// the writes in the trace, with Pebble's record and batch readers.
func walEntries(t *testing.T, calls []*call, data string) []walEntry {
	t.Helper()
	type span struct {
		end int // stream offset after this write
		c   *call
	}
	streams := map[string][]byte{}
	spans := map[string][]span{}
	for _, c := range calls {
		if !c.isWrite() || !strings.HasPrefix(c.path, data+"/") || !strings.HasSuffix(c.path, ".log") {
			continue
		}
		streams[c.path] = append(streams[c.path], c.data...)
		spans[c.path] = append(spans[c.path], span{len(streams[c.path]), c})
	}
	var out []walEntry
	for path, stream := range streams {
		num, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(path), ".log"), 10, 64)
		if err != nil {
			t.Fatalf("write-ahead log %s: %v", path, err)
		}
		r := newWALReader(bytes.NewReader(stream), num)
		for {
			rec, err := r.Next()
			if err != nil {
				break // the end of what was written (io.EOF, or the zeroed rest of a block)
			}
			repr, err := io.ReadAll(rec)
			if err != nil {
				break
			}
			end := r.Offset() // where the next record begins: this one has ended
			var by *call
			for _, s := range spans[path] {
				if int64(s.end) >= end {
					by = s.c
					break
				}
			}
			if by == nil {
				by = spans[path][len(spans[path])-1].c
			}
			br := batchrepr.Read(repr)
			for {
				_, k, v, ok, err := br.Next()
				if err != nil || !ok {
					break
				}
				out = append(out, walEntry{key: bytes.Clone(k), value: bytes.Clone(v), by: by})
			}
		}
	}
	return out
}

// newWALReader is record.NewReader for log number num. (The number's type
// is internal to Pebble, hence the conversion through reflection.)
func newWALReader(r io.Reader, num uint64) *record.Reader {
	fn := reflect.ValueOf(record.NewReader)
	out := fn.Call([]reflect.Value{reflect.ValueOf(r).Convert(fn.Type().In(0)), reflect.ValueOf(num).Convert(fn.Type().In(1))})
	return out[0].Interface().(*record.Reader)
}
