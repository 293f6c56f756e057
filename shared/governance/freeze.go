package governance

import (
	"encoding/json"
	"time"

	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/serviceapi"
)

// freezeAnswer is a tenant's deletion freeze, and what the last call did.
type freezeAnswer struct {
	Frozen    bool   `json:"frozen"`
	ChangedAt string `json:"changedAt,omitempty"`
	ChangedBy string `json:"changedBy,omitempty"`
	// KeysChanged counts the pending keys this call put under the freeze's
	// hold (or took off it); Complete is false when it stopped at its time
	// bound with keys left: call again.
	KeysChanged *int  `json:"keysChanged,omitempty"`
	Complete    *bool `json:"complete,omitempty"`
}

func freezeOf(f keys.Freeze) freezeAnswer {
	a := freezeAnswer{Frozen: f.Frozen, ChangedBy: f.By.AccessKey}
	if !f.At.IsZero() {
		a.ChangedAt = f.At.UTC().Format(time.RFC3339Nano)
	}
	return a
}

// setFreeze is POST /governance/v1/freeze {"frozen": true|false}.
func setFreeze(svc *keys.Service, c *httpapi.Call) (any, error) {
	m, err := members(c.Body, "frozen")
	if err != nil {
		return nil, err
	}
	var frozen bool
	if raw, ok := m["frozen"]; !ok || json.Unmarshal(raw, &frozen) != nil {
		return nil, serviceapi.Invalid("frozen (true or false) is required")
	}
	res, err := svc.SetFreeze(c.Ctx, c.Principal, frozen, time.Now().Add(bulkCallTime))
	if err != nil {
		return nil, err
	}
	a := freezeOf(res.Freeze)
	a.KeysChanged, a.Complete = &res.Keys, &res.Complete
	return a, nil
}

// freezeState is GET /governance/v1/freeze.
func freezeState(svc *keys.Service, c *httpapi.Call) (any, error) {
	if len(c.Request.URL.RawQuery) > 0 {
		return nil, serviceapi.Invalid("GET /governance/v1/freeze takes no parameters")
	}
	f, err := svc.Frozen(c.Ctx, c.Principal)
	if err != nil {
		return nil, err
	}
	return freezeOf(f), nil
}
