package config

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/keydeletion/service/shared/events"
	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

// DefaultTrailRetention is how long audit records are kept unless
// AUDIT_RETENTION_DAYS says otherwise.
const DefaultTrailRetention = 365 * 24 * time.Hour

// TrailRetention is AUDIT_RETENTION_DAYS: how long audit records are kept
// (0: for good; default 365 days).
func TrailRetention() (time.Duration, error) {
	v := strings.TrimSpace(os.Getenv("AUDIT_RETENTION_DAYS"))
	if v == "" {
		return DefaultTrailRetention, nil
	}
	days, err := strconv.Atoi(v)
	if err != nil || days < 0 || days > 36500 {
		return 0, fmt.Errorf("AUDIT_RETENTION_DAYS must be a number of days, 0 (keep for good) to 36500; got %q", v)
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

// Reminders is REMINDER_OFFSETS: how long before a deletion date reminders
// go out, a comma-separated list of days ("7d") or Go durations ("36h");
// "none" for no reminders; default 7d,1d.
func Reminders() ([]time.Duration, error) {
	v := strings.TrimSpace(os.Getenv("REMINDER_OFFSETS"))
	switch v {
	case "":
		return expiry.DefaultReminders, nil
	case "none":
		return []time.Duration{}, nil
	}
	var out []time.Duration
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		d, err := validation.Duration("REMINDER_OFFSETS", part)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("REMINDER_OFFSETS: %q is not a positive number of days (7d) or a duration (36h)", part)
		}
		if slices.Contains(out, d) {
			return nil, fmt.Errorf("REMINDER_OFFSETS: %q is given twice", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// MustService is the key service on store, with the deployment's reminder
// offsets (which its dry run reports); a bad REMINDER_OFFSETS stops the
// function at its start.
func MustService(store keys.Store, log *slog.Logger) *keys.Service {
	reminders, err := Reminders()
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	svc := keys.NewService(store, time.Now)
	svc.SetReminders(reminders)
	return svc
}

// Expiry is the configuration of the work after a window, from the
// environment: where events go (EVENT_BUS_NAME: an EventBridge bus, with
// EVENTBRIDGE_ENDPOINT to point the client elsewhere; EVENTS_WEBHOOK: a
// URL; neither: the log only), their source (EVENT_SOURCE), and the
// reminders. The caller sets Now, Grace and Source.
func Expiry(awsConfig AWSConfig, dir *tenant.Directory, log *slog.Logger) (expiry.Config, error) {
	reminders, err := Reminders()
	if err != nil {
		return expiry.Config{}, err
	}
	cfg := expiry.Config{Log: log, Reminders: reminders, Events: events.Builder{
		Source: os.Getenv("EVENT_SOURCE"),
		Tenants: func(id string) (string, string, bool) {
			t, ok := dir.ByID(id)
			return t.AWSAccountID, t.AWSRegion, ok && t.AWSAccountID != ""
		},
	}}
	if strings.HasPrefix(cfg.Events.Source, "aws.") {
		return expiry.Config{}, fmt.Errorf("EVENT_SOURCE %q: EventBridge refuses sources that begin with \"aws.\"", cfg.Events.Source)
	}
	switch bus, hook := os.Getenv("EVENT_BUS_NAME"), os.Getenv("EVENTS_WEBHOOK"); {
	case bus != "":
		c, err := awsConfig()
		if err != nil {
			return expiry.Config{}, err
		}
		client := eventbridge.NewFromConfig(c, func(o *eventbridge.Options) {
			if ep := os.Getenv("EVENTBRIDGE_ENDPOINT"); ep != "" {
				o.BaseEndpoint = aws.String(ep)
			}
		})
		cfg.Publisher = events.EventBridge{Client: client, Bus: bus}
	case hook != "":
		cfg.Publisher = events.Webhook{URL: hook}
	}
	return cfg, nil
}

// MustExpiry is Expiry for a Lambda main.
func MustExpiry(awsConfig AWSConfig, dir *tenant.Directory, log *slog.Logger) expiry.Config {
	cfg, err := Expiry(awsConfig, dir, log)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	return cfg
}
