// Command localserver runs every route of every dialect in one process: on
// the embedded store in DATA_DIR by default, or on DynamoDB when TABLE_NAME
// is set (DYNAMODB_ENDPOINT for DynamoDB Local). A loop finalizes keys whose
// window has ended, publishes the events of the audit trail and sends
// reminders, standing in for DynamoDB TTL, the stream and the sweep.
//
// Beside the dialects it serves its own API under /_local/ (package
// localapi): each tenant's clock, read and moved at runtime, and a health
// check. Every setting is an environment variable and a flag of the same
// meaning (localserver -h lists them); a flag wins.
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
	"strconv"
	"syscall"
	"time"

	"github.com/google/uuid"

	"slices"

	"github.com/keydeletion/service/infra/localserver/catchup"
	"github.com/keydeletion/service/infra/localserver/localapi"
	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/infra/localserver/seed"
	"github.com/keydeletion/service/shared/config"
	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/validation"
)

// The collector runs at Go's default (GOGC 100; an earlier version set 400).
// In the load run, with the store's default cache, the server held 66 MiB
// resident at 400 against 52 at 100, at the same throughput within the
// run's noise (README, Performance): a CI companion runs beside the tests
// it serves. GOGC still sets it.

func main() {
	if done, err := parseFlags(os.Args[1:], os.Stdout, os.Stderr); errors.Is(err, errUnhealthy) {
		os.Exit(1)
	} else if err != nil {
		os.Exit(2)
	} else if done {
		return
	}
	memoryLimit := applyMemoryLimit()
	// Request, key and record ids draw on a pool of random bytes (read from
	// the system's source 256 bytes at a time) instead of one system call
	// each.
	uuid.EnableRandPool()
	level, levelErr := config.LogLevel()
	log, flush := config.BufferedLogger(level)
	defer flush()
	if levelErr != nil {
		log.Error("localserver", "error", levelErr.Error())
		flush()
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, memoryLimit); err != nil {
		log.Error("localserver", "error", err.Error())
		flush()
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, memoryLimit int64) error {
	offset, err := validation.Duration("CLOCK_OFFSET", setting("CLOCK_OFFSET"))
	if verr, ok := validation.As(err); ok {
		return fmt.Errorf("%s %q: %s", named("CLOCK_OFFSET"), verr.Value, verr.Detail)
	}
	moveTimeout, err := positiveDuration("CLOCK_MOVE_TIMEOUT")
	if err != nil {
		return err
	}
	clocks := newClocks(offset, moveTimeout)
	interval, err := positiveDuration("EXPIRY_INTERVAL")
	if err != nil {
		return err
	}
	readHeaderTimeout, err := positiveDuration("READ_HEADER_TIMEOUT")
	if err != nil {
		return err
	}
	readTimeout, err := positiveDuration("READ_TIMEOUT")
	if err != nil {
		return err
	}

	awsConfig := config.AWS(ctx) // loaded only if the store or the tenants need it
	tenants, err := config.Tenants(ctx, awsConfig)
	if err != nil {
		return err
	}
	store, storeInfo, closeStore, err := openStore(ctx, awsConfig, log)
	if err != nil {
		return err
	}
	defer closeStore()

	svc := keys.NewServiceWithClock(store, clocks.Now)
	expiryConfig, err := config.Expiry(awsConfig, tenants, log)
	if err != nil {
		return err
	}
	svc.SetReminders(expiryConfig.Reminders)
	expiryConfig.Now, expiryConfig.Clock, expiryConfig.Source = clocks.Latest, clocks.Now, "local"
	if os.Getenv("DYNAMODB_ENDPOINT") != "" {
		// DynamoDB Local carries out one write at a time (about 55 ms per
		// transaction item here): more at once only queue, past each
		// attempt's timeout.
		expiryConfig.Parallelism = 4
	}
	worker := &catchup.Worker{Finalizer: expiry.New(store, expiryConfig), Store: store, Clock: clocks.Now, Log: log}
	clocks.worker = worker

	var seeded *seed.Result
	if path := os.Getenv("SEED_FILE"); path != "" {
		res, err := seed.Apply(ctx, svc, tenants, path, log)
		if err != nil {
			return err
		}
		seeded = &res
	}

	loopCtx, stopLoop := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	go func() { defer close(loopDone); worker.Run(loopCtx, interval) }()
	defer func() { stopLoop(); <-loopDone }()

	if addr := os.Getenv("PPROF_ADDR"); addr != "" {
		// Go's profiler, on its own listener: for measuring, never for serving.
		go func() {
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			if st, ok := store.(*pebblestore.Store); ok {
				// The log's syncs so far, which make bench reads between
				// rounds, and what the store holds in memory (beside
				// expvar's memstats).
				expvar.Publish("store", expvar.Func(func() any { return st.SyncStats() }))
				expvar.Publish("storeMemory", expvar.Func(func() any { return st.MemoryStats() }))
			}
			mux.Handle("/debug/vars", expvar.Handler())
			log.Info("profiler", "addr", addr, "error", fmt.Sprint(http.ListenAndServe(addr, mux)))
		}()
	}
	ln, err := net.Listen("tcp", setting("ADDR"))
	if err != nil {
		return err
	}
	tenantIDs := tenants.IDs()
	build := version()
	info := map[string]any{"store": storeInfo, "tenants": tenantIDs, "version": build["version"], "commit": build["commit"]}
	api := httpapi.Handler(log, slices.Concat(routes.All(svc, tenants, log), localapi.Routes(clocks, tenants, log)))
	// Health is unsigned and not logged per request: checks poll it. Every
	// other path goes to the API as it came: a ServeMux here would answer
	// unclean paths ("//", "/./", "..") with a redirect before a dialect
	// could answer them with its own error.
	health := localapi.Health(info)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == localapi.HealthPath && r.URL.RawPath == "" {
			health.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	// A slow or stalled client cannot hold a connection past these; bodies
	// are also bounded (validation.MaxBodyBytes).
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		// A clock move may take its timeout and its route's margin.
		WriteTimeout:   max(30*time.Second, moveTimeout+15*time.Second),
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		// net/http's own complaints (a broken connection, a bad TLS hello)
		// as JSON lines like every other.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	attrs := []any{"addr", ln.Addr().String(), "pid", os.Getpid(), "store", storeInfo, "tenants", tenantIDs,
		"clock", map[string]any{"offset": offset.String(), "now": clocks.Now("").UTC().Format(time.RFC3339), "perTenant": localapi.ClockPath},
		"health", localapi.HealthPath, "version", versionLine()}
	if memoryLimit > 0 {
		attrs = append(attrs, "goMemoryLimitMiB", memoryLimit>>20) // from the container's
	}
	if seeded != nil {
		attrs = append(attrs, "seed", map[string]any{"file": os.Getenv("SEED_FILE"), "created": seeded.Created, "present": seeded.Present})
	}
	log.Info("listening", attrs...)
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

// store is what the local server needs of a store: the service's part, the
// final deletion's and the clock API's.
type store interface {
	keys.Store
	expiry.Store
	catchup.Store
}

func openStore(ctx context.Context, awsConfig config.AWSConfig, log *slog.Logger) (store, map[string]any, func(), error) {
	retention, err := config.TrailRetention()
	if err != nil {
		return nil, nil, nil, err
	}
	if table := os.Getenv("TABLE_NAME"); table != "" || os.Getenv("DYNAMODB_ENDPOINT") != "" {
		if table == "" {
			table = "keys"
		}
		db, err := config.DynamoDB(awsConfig)
		if err != nil {
			return nil, nil, nil, err
		}
		if err := dynamostore.EnsureTable(ctx, db, table); err != nil {
			return nil, nil, nil, err
		}
		st := dynamostore.New(db, table)
		st.SetRetention(retention)
		info := map[string]any{"kind": "dynamodb", "table": table}
		if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
			info["endpoint"] = ep
		}
		return st, info, func() {}, nil
	}
	dir := setting("DATA_DIR")
	cacheMiB, err := strconv.Atoi(setting("STORE_CACHE_MIB"))
	if err != nil || cacheMiB < 1 {
		return nil, nil, nil, fmt.Errorf("%s %q: must be a whole number of MiB, at least 1", named("STORE_CACHE_MIB"), setting("STORE_CACHE_MIB"))
	}
	st, err := pebblestore.Open(dir, log, pebblestore.CacheSize(int64(cacheMiB)<<20))
	if err != nil {
		return nil, nil, nil, err
	}
	st.SetRetention(retention)
	return st, map[string]any{"kind": "embedded", "dir": dir, "cacheMiB": cacheMiB}, func() { st.Close() }, nil
}
