package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// PutEventsAPI is the part of the EventBridge client the publisher uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge publishes to a bus with PutEvents, ten entries a call (its
// limit). EventBridge sets each event's id, account and region itself; the
// stable id travels in the detail.
type EventBridge struct {
	Client PutEventsAPI
	Bus    string
}

// maxEntries is PutEvents' limit of entries per call.
const maxEntries = 10

// Publish implements Publisher. An entry EventBridge refuses fails the call
// (the caller publishes the batch again later; the others repeat).
func (p EventBridge) Publish(ctx context.Context, evs []Event) error {
	for start := 0; start < len(evs); start += maxEntries {
		batch := evs[start:min(start+maxEntries, len(evs))]
		entries := make([]types.PutEventsRequestEntry, len(batch))
		for i, e := range batch {
			detail, err := json.Marshal(e.Detail)
			if err != nil {
				return fmt.Errorf("events: marshal detail: %w", err)
			}
			entries[i] = types.PutEventsRequestEntry{
				EventBusName: aws.String(p.Bus), Source: aws.String(e.Source), DetailType: aws.String(e.DetailType),
				Detail: aws.String(string(detail)), Resources: e.Resources, Time: aws.Time(e.Time),
			}
		}
		out, err := p.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return fmt.Errorf("events: put events: %w", err)
		}
		if out.FailedEntryCount > 0 {
			for _, r := range out.Entries {
				if r.ErrorCode != nil {
					return fmt.Errorf("events: put events: %d of %d entries refused, first: %s: %s",
						out.FailedEntryCount, len(entries), aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
				}
			}
			return fmt.Errorf("events: put events: %d of %d entries refused", out.FailedEntryCount, len(entries))
		}
	}
	return nil
}
