package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
)

// streamDecoder reads the table's stream records (dynamostore.Stream).
type streamDecoder interface {
	// ExpiredKey extracts the key a TTL removal deleted. ok is false for
	// records that are not TTL removals of keys; every TTL removal of a
	// key item is handed over, whatever it held, so that Finalize decides,
	// and one it cannot finalize is logged, not dropped.
	ExpiredKey(lambdaevents.DynamoDBEventRecord) (k keys.Key, ok bool, err error)
	// NewRecord extracts the audit record an insert wrote; ok is false for
	// every other stream record.
	NewRecord(context.Context, lambdaevents.DynamoDBEventRecord) (r keys.Record, ok bool, err error)
}

// streamHandler is the Lambda handler for the table's stream: it finalizes
// each TTL removal of a key, publishes the event of each new audit record
// — the records of different items at once (up to parallelism), each
// item's in order — and reports the records it could not process
// (ReportBatchItemFailures), so that only those are retried. A final
// deletion refused for good (expiry.Permanent: the item was no key pending
// deletion, or the key changed) cannot succeed on a retry: it is logged as
// an error with the record's identity, and not reported as a failure.
type streamHandler struct {
	fin         *expiry.Finalizer
	decode      streamDecoder
	log         *slog.Logger
	parallelism int
}

func (h *streamHandler) handle(ctx context.Context, ev lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
	byItem := map[string][]int{}
	var order []string
	for i, rec := range ev.Records {
		item := recordKeys(rec)
		if _, seen := byItem[item]; !seen {
			order = append(order, item)
		}
		byItem[item] = append(byItem[item], i)
	}
	failed := make([]bool, len(ev.Records))
	slots := make(chan struct{}, max(h.parallelism, 1))
	var wg sync.WaitGroup
	for _, item := range order {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			for _, i := range byItem[item] {
				failed[i] = h.record(ctx, ev.Records[i])
			}
		})
	}
	wg.Wait()
	var resp lambdaevents.DynamoDBEventResponse
	for i, rec := range ev.Records {
		if failed[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				lambdaevents.DynamoDBBatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
		}
	}
	return resp, nil
}

// record finalizes a TTL removal or publishes a new record's event, and
// says whether the record failed (and is to be retried).
func (h *streamHandler) record(ctx context.Context, rec lambdaevents.DynamoDBEventRecord) (failed bool) {
	k, isKey, err := h.decode.ExpiredKey(rec)
	if err == nil && isKey {
		err = h.fin.Finalize(ctx, k)
	}
	if err == nil && !isKey {
		var r keys.Record
		var isRecord bool
		if r, isRecord, err = h.decode.NewRecord(ctx, rec); err == nil && isRecord {
			err = h.fin.Publish(ctx, []keys.Record{r})
		}
	}
	switch {
	case err == nil:
		return false
	case errors.Is(err, keys.ErrFrozen):
		h.log.WarnContext(ctx, "TTL removed a key of a frozen tenant: restored, held until the freeze is lifted",
			"eventId", rec.EventID, "keys", recordKeys(rec))
		return false
	case expiry.Permanent(err):
		h.log.ErrorContext(ctx, "TTL removed an item that was not a key pending deletion; nothing finalized",
			"eventId", rec.EventID, "sequenceNumber", rec.Change.SequenceNumber, "keys", recordKeys(rec),
			"state", string(k.State), "error", err.Error())
		return false
	}
	h.log.ErrorContext(ctx, "stream record failed", "eventId", rec.EventID,
		"sequenceNumber", rec.Change.SequenceNumber, "keys", recordKeys(rec), "error", err.Error())
	return true
}

// recordKeys renders a stream record's table keys ("pk=T#a sk=K#b"), its
// identity in the table.
func recordKeys(rec lambdaevents.DynamoDBEventRecord) string {
	names := make([]string, 0, len(rec.Change.Keys))
	for name := range rec.Change.Keys {
		names = append(names, name)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, name := range names {
		v := rec.Change.Keys[name]
		if v.DataType() == lambdaevents.DataTypeString {
			parts[i] = name + "=" + v.String()
		} else {
			parts[i] = name + "=?"
		}
	}
	return strings.Join(parts, " ")
}
