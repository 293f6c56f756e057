package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Webhook posts each event, as EventBridge would deliver it to a target,
// to URL as JSON. Any 2xx answer is delivery.
type Webhook struct {
	URL    string
	Client *http.Client // nil: a client with a 10-second timeout
}

// Publish implements Publisher.
func (p Webhook) Publish(ctx context.Context, evs []Event) error {
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	for _, e := range evs {
		body, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("events: marshal: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("events: webhook: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("events: webhook: %w", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("events: webhook answered %s", resp.Status)
		}
	}
	return nil
}
