package governance

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/serviceapi"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

// Dialect names the governance API in routes and logs.
const Dialect = "governance"

// Prefix is where the governance API lives: the service's own, outside
// every vendor's namespace, signed in any dialect's scheme.
const Prefix = "/governance/v1/"

// Routes returns the governance API's routes: the approvers' answers to a
// deletion held for approval, and the dry run of a schedule.
//
//	POST /governance/v1/keys/{keyId}/approve-deletion
//	POST /governance/v1/keys/{keyId}/reject-deletion
//	POST /governance/v1/keys/{keyId}/schedule-deletion/dry-run
//	POST /governance/v1/bulk-cancel-deletion (see bulk.go)
//	POST /governance/v1/freeze, GET /governance/v1/freeze (see freeze.go)
//	GET /governance/v1/guard, POST /governance/v1/guard/release (see guard.go)
//
// The answers take an empty body (or {}) and answer the key's state after
// them; the dry run takes {"pendingWindowInDays": n} (see dryrun.go).
func Routes(svc *keys.Service, dir *tenant.Directory, log *slog.Logger) []httpapi.Route {
	wire := serviceapi.Wire(Dialect, dir, log)
	wire.Refused = Refusals(log)
	answer := func(call func(*httpapi.Call, string) (keys.Transition, error)) httpapi.Operation {
		return func(c *httpapi.Call) (any, error) {
			id := c.Request.PathValue("keyId")
			if err := validation.KeyID("keyId", id); err != nil {
				return nil, err
			}
			c.Info.KeyID = id
			if err := noMembers(c.Body); err != nil {
				return nil, err
			}
			t, err := call(c, id)
			if err != nil {
				return nil, err
			}
			return transition(t), nil
		}
	}
	return []httpapi.Route{
		{Action: httpapi.Approve, Method: http.MethodPost, Path: Prefix + "keys/{keyId}/approve-deletion",
			Handler: wire.Handler("ApproveDeletion", answer(func(c *httpapi.Call, id string) (keys.Transition, error) {
				return svc.ApproveDeletion(c.Ctx, c.Principal, id)
			}))},
		{Action: httpapi.Reject, Method: http.MethodPost, Path: Prefix + "keys/{keyId}/reject-deletion",
			Handler: wire.Handler("RejectDeletion", answer(func(c *httpapi.Call, id string) (keys.Transition, error) {
				return svc.RejectDeletion(c.Ctx, c.Principal, id)
			}))},
		{Action: httpapi.DryRun, Method: http.MethodPost, Path: Prefix + "keys/{keyId}/schedule-deletion/dry-run",
			Handler: wire.Handler("ScheduleKeyDeletionDryRun", func(c *httpapi.Call) (any, error) { return dryRun(svc, c) })},
		{Action: httpapi.BulkCancel, Method: http.MethodPost, Path: Prefix + "bulk-cancel-deletion",
			Handler: wire.Handler("BulkCancelKeyDeletion", func(c *httpapi.Call) (any, error) { return bulkCancel(svc, c) })},
		{Action: httpapi.Freeze, Method: http.MethodPost, Path: Prefix + "freeze",
			Handler: wire.Handler("SetDeletionFreeze", func(c *httpapi.Call) (any, error) { return setFreeze(svc, c) })},
		{Action: httpapi.FreezeState, Method: http.MethodGet, Path: Prefix + "freeze",
			Handler: wire.Handler("GetDeletionFreeze", func(c *httpapi.Call) (any, error) { return freezeState(svc, c) })},
		{Action: httpapi.GuardState, Method: http.MethodGet, Path: Prefix + "guard",
			Handler: wire.Handler("GetDeletionGuard", func(c *httpapi.Call) (any, error) { return guardState(svc, c) })},
		{Action: httpapi.GuardRelease, Method: http.MethodPost, Path: Prefix + "guard/release",
			Handler: wire.Handler("ReleaseDeletionGuard", func(c *httpapi.Call) (any, error) { return releaseGuard(svc, c) })},
		serviceapi.NotFound(wire, "/governance/"),
	}
}

// noMembers accepts an empty body or an empty JSON object: the service's
// own API refuses what it does not know, rather than ignore it.
func noMembers(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	_, err := members(body)
	return err
}

// members decodes a JSON object body whose members are all among known,
// and returns them.
func members(body []byte, known ...string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, serviceapi.Invalid("the body must be a JSON object")
	}
	for name := range m {
		if !slices.Contains(known, name) {
			return nil, serviceapi.Invalid("unknown member " + strconv.Quote(name))
		}
	}
	return m, nil
}

// keyAnswer is a key's state after an approver's answer.
type keyAnswer struct {
	KeyID    string `json:"keyId"`
	KeyState string `json:"keyState"`
	// DeletionDate is when the approved deletion ends (or ended: then the
	// key is gone from this instant).
	DeletionDate string `json:"deletionDate,omitempty"`
	EventID      string `json:"eventId"`
}

func transition(t keys.Transition) keyAnswer {
	a := keyAnswer{KeyID: t.KeyID, KeyState: string(t.State), EventID: t.Record.ID}
	if t.State == keys.PendingDeletion && !t.DeleteAt.IsZero() {
		a.DeletionDate = t.DeleteAt.UTC().Format(time.RFC3339)
	}
	return a
}
