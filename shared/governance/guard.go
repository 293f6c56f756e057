package governance

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/serviceapi"
)

// trip is a tripped guard on the wire.
type trip struct {
	// Scope is the credential whose burst tripped it, or "*" for the
	// tenant as a whole.
	Scope     string `json:"scope"`
	TrippedAt string `json:"trippedAt"`
	TrippedBy string `json:"trippedBy"`
}

// guardState is GET /governance/v1/guard: the tenant's tripped guards.
func guardState(svc *keys.Service, c *httpapi.Call) (any, error) {
	if len(c.Request.URL.RawQuery) > 0 {
		return nil, serviceapi.Invalid("GET /governance/v1/guard takes no parameters")
	}
	trips, err := svc.GuardTrips(c.Ctx, c.Principal)
	if err != nil {
		return nil, err
	}
	out := []trip{}
	for _, t := range trips {
		out = append(out, trip{Scope: t.Scope, TrippedAt: t.At.UTC().Format(time.RFC3339Nano), TrippedBy: t.By.AccessKey})
	}
	return map[string]any{"trips": out}, nil
}

// releaseGuard is POST /governance/v1/guard/release {"scope": "..."}: by
// another principal than the one that tripped it; the deletions it held
// proceed (cancel them in bulk first, with the filter "held": "guard", if
// they should not).
func releaseGuard(svc *keys.Service, c *httpapi.Call) (any, error) {
	m, err := members(c.Body, "scope")
	if err != nil {
		return nil, err
	}
	var scope string
	if raw, ok := m["scope"]; !ok || json.Unmarshal(raw, &scope) != nil || scope == "" || len(scope) > 128 {
		return nil, serviceapi.Invalid(`scope (the tripped credential's access key id, or "*" for the tenant) is required`)
	}
	released, complete, err := svc.ReleaseGuard(c.Ctx, c.Principal, scope, time.Now().Add(bulkCallTime))
	if errors.Is(err, keys.ErrNotFound) {
		return nil, &serviceapi.Error{Status: http.StatusNotFound, Code: "NotTripped", Message: "No guard is tripped for scope " + strconv.Quote(scope) + "."}
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"scope": scope, "released": released, "complete": complete}, nil
}
