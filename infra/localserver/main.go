// Command localserver runs every route of every dialect in one process: on
// the embedded store in DATA_DIR by default, or on DynamoDB when TABLE_NAME
// is set (DYNAMODB_ENDPOINT for DynamoDB Local). A loop finalizes keys whose
// window has ended, publishes the events of the audit trail and sends
// reminders, standing in for DynamoDB TTL, the stream and the sweep.
//
// Environment:
//
//	ADDR               listen address (default 127.0.0.1:8080)
//	DATA_DIR           embedded store folder (default ./data)
//	TABLE_NAME         use this DynamoDB table instead (created if missing)
//	DYNAMODB_ENDPOINT  DynamoDB endpoint, e.g. DynamoDB Local
//	CLOCK_OFFSET       Go duration added to the wall clock, e.g. 73h, to try out windows
//	EXPIRY_INTERVAL    how often the expiry loop runs (default 1s)
//	CREDENTIALS_FILE   tenants, their credentials and deletion policies (default infra/local/credentials.json)
//	EVENTS_WEBHOOK     URL the lifecycle events are posted to (they are logged in any case)
//	REMINDER_OFFSETS   when reminders go out before a deletion date (default 7d,1d; "none")
//	AUDIT_RETENTION_DAYS how long audit records are kept (default 365; 0 for good)
//	LOG_LEVEL          debug, info, warn, error (default info)
//	PPROF_ADDR         serve Go's profiler on this address (for measuring only)
package main

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/keydeletion/service/shared/config"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/pebblestore"
	"github.com/keydeletion/service/shared/routes"
)

// gcPercent is the collector's target when GOGC does not set one. The
// server's live heap is small (about 1 MB: Pebble keeps its caches outside
// it), so at Go's default of 100 it collects many times a second under
// load; at 400 its CPU per DescribeKey fell from 30-31 to 25 µs at 16
// clients and from 51 to 47 µs at one, in the load run (README,
// Performance), for 17 MB more resident memory (peak 44 -> 61 MB).
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	// Request, key and record ids draw on a pool of random bytes (read from
	// the system's source 256 bytes at a time) instead of one system call
	// each.
	uuid.EnableRandPool()
	log, flush := config.BufferedLogger()
	defer flush()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("localserver", "error", err.Error())
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, log *slog.Logger) error {
	offset, err := time.ParseDuration(env("CLOCK_OFFSET", "0s"))
	if err != nil {
		return fmt.Errorf("CLOCK_OFFSET: %w", err)
	}
	interval, err := time.ParseDuration(env("EXPIRY_INTERVAL", "1s"))
	if err != nil || interval <= 0 {
		return fmt.Errorf("EXPIRY_INTERVAL must be a positive duration")
	}
	now := func() time.Time { return time.Now().Add(offset) }

	awsConfig := config.AWS(ctx) // loaded only if the store or the tenants need it
	tenants, err := config.Tenants(ctx, awsConfig)
	if err != nil {
		return err
	}
	store, closeStore, err := openStore(ctx, awsConfig, log)
	if err != nil {
		return err
	}
	defer closeStore()

	svc := keys.NewService(store, now)
	expiryConfig, err := config.Expiry(awsConfig, tenants, log)
	if err != nil {
		return err
	}
	expiryConfig.Now, expiryConfig.Source = now, "local"
	finalizer := expiry.New(store, expiryConfig)
	loopCtx, stopLoop := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); finalizer.Run(loopCtx, interval) }()
	defer func() { stopLoop(); <-loopDone }()

	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		// Go's profiler, on its own listener: for measuring, never for serving.
		go func() {
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			if st, ok := store.(interface{ SyncStats() pebblestore.SyncStats }); ok {
				// The log's syncs so far: make bench reads them between rounds.
				expvar.Publish("store", expvar.Func(func() any { return st.SyncStats() }))
			}
			mux.Handle("/debug/vars", expvar.Handler())
			log.Info("profiler", "addr", addr, "error", fmt.Sprint(http.ListenAndServe(addr, mux)))
		}()
	}
	ln, err := net.Listen("tcp", env("ADDR", "127.0.0.1:8080"))
	if err != nil {
		return err
	}
	// A slow or stalled client cannot hold a connection past these; bodies
	// are also bounded (validation.MaxBodyBytes).
	srv := &http.Server{
		Handler:           routes.Handler(svc, tenants, log),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	log.Info("listening", "addr", ln.Addr().String(), "pid", os.Getpid(), "clockOffset", offset.String(), "tenants", len(tenants.Tenants()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Requests in flight are served to the end; the store closes after them
	// (the deferred calls above run once Shutdown returns).
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// store is what the local server needs of a store: the service's part and
// the expiry loop's.
type store interface {
	keys.Store
	expiry.Store
}

func openStore(ctx context.Context, awsConfig config.AWSConfig, log *slog.Logger) (store, func(), error) {
	if table := os.Getenv("TABLE_NAME"); table != "" || os.Getenv("DYNAMODB_ENDPOINT") != "" {
		if table == "" {
			table = "keys"
		}
		db, err := config.DynamoDB(awsConfig)
		if err != nil {
			return nil, nil, err
		}
		if err := dynamostore.EnsureTable(ctx, db, table); err != nil {
			return nil, nil, err
		}
		retention, err := config.TrailRetention()
		if err != nil {
			return nil, nil, err
		}
		log.Info("store", "kind", "dynamodb", "table", table, "endpoint", os.Getenv("DYNAMODB_ENDPOINT"))
		st := dynamostore.New(db, table)
		st.SetRetention(retention)
		return st, func() {}, nil
	}
	dir := env("DATA_DIR", "data")
	retention, err := config.TrailRetention()
	if err != nil {
		return nil, nil, err
	}
	st, err := pebblestore.Open(dir, log)
	if err != nil {
		return nil, nil, err
	}
	st.SetRetention(retention)
	log.Info("store", "kind", "embedded", "dir", dir)
	return st, func() { st.Close() }, nil
}
