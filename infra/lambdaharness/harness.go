// Package lambdaharness runs a compiled Lambda bootstrap as Lambda does: it
// serves the Lambda Runtime API (/2018-06-01/runtime/...) on loopback, starts
// the binary with AWS_LAMBDA_RUNTIME_API pointing at it, and hands it events
// one at a time. This is what `sam local invoke` does inside its container.
package lambdaharness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
)

const base = "/2018-06-01/runtime/"

// Result is what the function answered to one invocation: a response
// payload, or the error it reported through invocation/{id}/error.
type Result struct {
	RequestID string
	Payload   []byte
	Error     []byte
}

type invocation struct {
	id    string
	event []byte
	done  chan Result
}

// Process is one running function binary and its Runtime API.
type Process struct {
	// ColdStart is the time from starting the process to its first
	// invocation/next: the runtime's own initialization (configuration,
	// clients) included.
	ColdStart time.Duration

	cmd      *exec.Cmd
	srv      *http.Server
	pending  chan *invocation
	mu       sync.Mutex
	inflight map[string]*invocation
	first    chan struct{}
	once     sync.Once
	exited   chan struct{}
	waitErr  error
	initErr  []byte
	out      *SyncBuffer // the binary's stdout and stderr
}

// Logs returns what the binary has written to stdout and stderr.
func (p *Process) Logs() string { return p.out.String() }

// Start runs binary with env (plus AWS_LAMBDA_RUNTIME_API) and waits until
// it asks for its first invocation.
func Start(ctx context.Context, binary string, env []string) (*Process, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Process{
		pending: make(chan *invocation), inflight: map[string]*invocation{},
		first: make(chan struct{}), exited: make(chan struct{}), out: &SyncBuffer{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"invocation/next", p.next)
	mux.HandleFunc("POST "+base+"invocation/{id}/response", p.reply(false))
	mux.HandleFunc("POST "+base+"invocation/{id}/error", p.reply(true))
	mux.HandleFunc("POST "+base+"init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.initErr = body
		p.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)

	p.cmd = exec.Command(binary)
	p.cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	started := time.Now()
	if err := p.cmd.Start(); err != nil {
		p.srv.Close()
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-p.first:
		p.ColdStart = time.Since(started)
		return p, nil
	case <-p.exited:
		p.srv.Close()
		return nil, fmt.Errorf("%s exited before its first invocation (%v; init error %s): %s", binary, p.waitErr, p.initErr, p.Logs())
	case <-ctx.Done():
		p.Stop()
		return nil, ctx.Err()
	}
}

func (p *Process) next(w http.ResponseWriter, r *http.Request) {
	p.once.Do(func() { close(p.first) })
	select {
	case inv := <-p.pending:
		p.mu.Lock()
		p.inflight[inv.id] = inv
		p.mu.Unlock()
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111122223333:function:harness")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(inv.event)
	case <-r.Context().Done():
	}
}

func (p *Process) reply(isError bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		inv, ok := p.inflight[id]
		delete(p.inflight, id)
		p.mu.Unlock()
		if !ok {
			http.Error(w, "unknown request id", http.StatusBadRequest)
			return
		}
		res := Result{RequestID: id}
		if isError {
			res.Error = body
		} else {
			res.Payload = body
		}
		inv.done <- res
		w.WriteHeader(http.StatusAccepted)
	}
}

// ErrExited is returned when the binary exits while an invocation waits.
var ErrExited = errors.New("function process exited")

// Invoke hands event to the function and waits for its answer.
func (p *Process) Invoke(ctx context.Context, event []byte) (Result, error) {
	inv := &invocation{id: uuid.NewString(), event: event, done: make(chan Result, 1)}
	select {
	case p.pending <- inv:
	case <-p.exited:
		return Result{}, fmt.Errorf("%w: %v", ErrExited, p.waitErr)
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	select {
	case res := <-inv.done:
		return res, nil
	case <-p.exited:
		return Result{}, fmt.Errorf("%w during the invocation: %v", ErrExited, p.waitErr)
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Stop kills the binary and closes the Runtime API.
func (p *Process) Stop() {
	p.cmd.Process.Kill()
	<-p.exited
	p.srv.Close()
}

// SyncBuffer collects a process's output, which may be read while the
// process still writes.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *SyncBuffer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *SyncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
