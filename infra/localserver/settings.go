package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keydeletion/service/shared/config"
)

// An option is one setting: an environment variable and the flag that sets it.
type option struct {
	flag, env, def, usage string
}

// settings lists every setting the local server reads, in -h's order.
var settings = []option{
	{"addr", "ADDR", "127.0.0.1:8080", "listen address (0.0.0.0:8080 in the container image)"},
	{"data-dir", "DATA_DIR", "data", "embedded store folder"},
	{"table", "TABLE_NAME", "", "use this DynamoDB table instead of the embedded store (created if missing)"},
	{"dynamodb-endpoint", "DYNAMODB_ENDPOINT", "", "DynamoDB endpoint, e.g. DynamoDB Local's http://127.0.0.1:8000"},
	{"credentials", "CREDENTIALS_FILE", config.DefaultCredentialsFile, "tenants, their credentials and deletion policies"},
	{"seed", "SEED_FILE", "", "keys to create at start, per tenant (YAML or JSON; see infra/local/seed.yaml)"},
	{"clock-offset", "CLOCK_OFFSET", "0s", "where every tenant's clock starts, from the wall clock: 73h, 7d, -1h"},
	{"expiry-interval", "EXPIRY_INTERVAL", "1s", "how often the expiry loop runs"},
	{"clock-move-timeout", "CLOCK_MOVE_TIMEOUT", "20s", "how long a clock move carries out what it brought due before it answers (202 with what remains)"},
	{"events-webhook", "EVENTS_WEBHOOK", "", "URL the lifecycle events are posted to (they are logged in any case)"},
	{"reminder-offsets", "REMINDER_OFFSETS", "7d,1d", `when reminders go out before a deletion date ("none": never)`},
	{"audit-retention-days", "AUDIT_RETENTION_DAYS", "365", "how long audit records are kept (0: for good)"},
	{"read-header-timeout", "READ_HEADER_TIMEOUT", "5s", "how long a client may take to send a request's headers"},
	{"read-timeout", "READ_TIMEOUT", "10s", "how long a client may take to send a whole request"},
	{"store-cache", "STORE_CACHE_MIB", "64", "the most the embedded store's block cache holds, in MiB (it holds only what was read; its memtables take 4 MiB more)"},
	{"log-level", "LOG_LEVEL", "info", "debug, info, warn or error"},
	{"pprof-addr", "PPROF_ADDR", "", "serve Go's profiler and store counters here (for measuring only)"},
}

// setting is the value of the setting read from the environment variable
// env, or its default: every default is in settings, and only there.
func setting(env string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return defaultOf(env)
}

func defaultOf(env string) string {
	for _, s := range settings {
		if s.env == env {
			return s.def
		}
	}
	panic("localserver: no setting " + env)
}

// positiveDuration reads a setting that is a positive Go duration.
func positiveDuration(env string) (time.Duration, error) {
	v := setting(env)
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: must be a positive duration such as %s", named(env), v, defaultOf(env))
	}
	return d, nil
}

// named is a setting as a message names it: its variable and its flag.
func named(env string) string {
	for _, s := range settings {
		if s.env == env {
			return env + " (-" + s.flag + ")"
		}
	}
	return env
}

// errUsage is a command line that could not be read; the message is out.
var errUsage = errors.New("usage")

// errUnhealthy is a -healthcheck that found no healthy server.
var errUnhealthy = errors.New("unhealthy")

// checkHealth asks the server at ADDR for /_local/health, as a container's
// HEALTHCHECK does (an image FROM scratch has no curl).
func checkHealth() error {
	host, port, err := net.SplitHostPort(setting("ADDR"))
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1" // listening on every interface: ask over loopback
	}
	client := http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/_local/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// parseFlags reads the command line: each flag given sets its environment
// variable, so the rest of the server reads one source. It returns true if
// the command only asked for its usage or version (printed to out).
func parseFlags(args []string, out, errOut io.Writer) (done bool, err error) {
	fs := flag.NewFlagSet("localserver", flag.ContinueOnError)
	fs.SetOutput(errOut)
	values := make([]*string, len(settings))
	for i, s := range settings {
		values[i] = fs.String(s.flag, "", s.usage)
	}
	version := fs.Bool("version", false, "print the version and exit")
	healthcheck := fs.Bool("healthcheck", false, "ask the server at ADDR for its health and exit 0 if it serves (the container's HEALTHCHECK)")
	fs.Usage = func() {} // -h prints the whole usage to out; a mistake, one line to errOut
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			usage(out)
			return true, nil
		}
		fmt.Fprintln(errOut, "localserver -h lists the flags")
		return false, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "localserver takes flags only, not %q (localserver -h lists them)\n", fs.Arg(0))
		return false, errUsage
	}
	if *version {
		fmt.Fprintln(out, versionLine())
		return true, nil
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for i, s := range settings {
		if given[s.flag] {
			os.Setenv(s.env, *values[i])
		}
	}
	if *healthcheck {
		if err := checkHealth(); err != nil {
			fmt.Fprintln(errOut, "unhealthy:", err)
			return true, errUnhealthy
		}
		return true, nil
	}
	return false, nil
}

func usage(out io.Writer) {
	fmt.Fprintf(out, `localserver: the key-deletion service of three KMS dialects, on a laptop or in CI.

Usage: localserver [flags]

Each flag sets the environment variable beside it (a flag wins over the
environment; unset, the default applies):

`)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, s := range settings {
		def := s.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "  -%s\t%s\t%s\t%s\n", s.flag, s.env, def, s.usage)
	}
	fmt.Fprintf(tw, "  -version\t\t\tprint the version and exit\n")
	fmt.Fprintf(tw, "  -healthcheck\t\t\task the server at ADDR whether it serves; exit 0 if it does\n")
	tw.Flush()
	fmt.Fprintf(out, `
Its own API (never served by the Lambda functions):
  GET  /_local/health    200 while it serves (unsigned)
  GET  /_local/v1/clock  the caller's tenant's clock
  POST /_local/v1/clock  move it: {"advance":"7d"}, {"offset":"36h"}, {"time":"..."}, {"reset":true}
Both clock calls are signed with any of the tenant's credentials, in any dialect's scheme.
`)
}

// version describes the build: module version, commit and Go version.
func version() map[string]string {
	v := map[string]string{"version": "(unknown)"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v["version"], v["go"] = bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v["commit"] = s.Value
		case "vcs.time":
			v["commitTime"] = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v["modified"] = "true"
			}
		}
	}
	return v
}

func versionLine() string {
	v := version()
	var b strings.Builder
	fmt.Fprintf(&b, "localserver %s", v["version"])
	if c := v["commit"]; c != "" {
		fmt.Fprintf(&b, " commit %s", c)
		if v["modified"] != "" {
			b.WriteString(" (modified)")
		}
		if t := v["commitTime"]; t != "" {
			fmt.Fprintf(&b, " of %s", t)
		}
	}
	fmt.Fprintf(&b, " %s", v["go"])
	return b.String()
}
