// Package governance records the deletion calls that the deletion policy
// or the key's state refused: each as a CloudTrail-like JSON log line with
// the error code the caller got, which is also a CloudWatch embedded-metric
// record (namespace KeyDeletion, metric RefusedDeletionCalls by Operation
// and Refusal), so Lambda's logs become the metric without an API call.
// The dialects hand it every error of their pipeline (httpapi.Wire.Refused).
package governance

import (
	"errors"
	"log/slog"
	"time"

	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
)

// Refusals returns the hook that records, in log, each refused deletion
// call (schedule, cancel, immediate deletion) among an operation's errors;
// other errors pass unrecorded.
func Refusals(log *slog.Logger) func(c *httpapi.Call, err error) {
	return func(c *httpapi.Call, err error) { record(log, c, err) }
}

func record(log *slog.Logger, c *httpapi.Call, err error) {
	var (
		denied   *keys.PolicyError
		stateErr *keys.StateError
		op       keys.Op
		refusal  string
		rule     string
	)
	switch {
	case errors.As(err, &denied):
		op, refusal, rule = denied.Op, "policy", denied.Rule
	case errors.As(err, &stateErr):
		op, refusal = stateErr.Op, "state"
	default:
		return
	}
	if !keys.Guarded(op) || log == nil {
		return
	}
	now := time.Now().UTC()
	log.LogAttrs(c.Ctx, slog.LevelWarn, "deletion call refused",
		slog.String("eventVersion", "1.08"),
		slog.String("eventTime", now.Format(time.RFC3339)),
		slog.String("eventSource", "keydeletion"),
		slog.String("eventName", c.Info.Operation),
		slog.String("eventType", "ApiCall"),
		slog.Bool("readOnly", false),
		slog.Group("userIdentity", slog.String("type", "AccessKey"), slog.String("tenant", c.Principal.Tenant),
			slog.String("accessKeyId", c.Principal.AccessKey), slog.String("dialect", c.Principal.Dialect)),
		slog.String("sourceIPAddress", c.Principal.Source),
		slog.String("requestID", c.Principal.RequestID),
		slog.Group("requestParameters", slog.String("keyId", c.Info.KeyID)),
		slog.String("errorCode", c.Info.ErrorCode),
		slog.String("errorMessage", err.Error()),
		slog.String("rule", rule),
		// The embedded metric: its dimensions and value are top-level keys.
		slog.String("Operation", string(op)),
		slog.String("Refusal", refusal),
		slog.Int("RefusedDeletionCalls", 1),
		slog.Group("_aws", slog.Int64("Timestamp", now.UnixMilli()), slog.Any("CloudWatchMetrics", []map[string]any{{
			"Namespace":  "KeyDeletion",
			"Dimensions": [][]string{{"Operation", "Refusal"}},
			"Metrics":    []map[string]string{{"Name": "RefusedDeletionCalls", "Unit": "Count"}},
		}})),
	)
}
