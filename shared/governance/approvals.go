package governance

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
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
// deletion held for approval.
//
//	POST /governance/v1/keys/{keyId}/approve-deletion
//	POST /governance/v1/keys/{keyId}/reject-deletion
//
// Either takes an empty body (or {}), and answers the key's state after it.
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
		serviceapi.NotFound(wire, "/governance/"),
	}
}

// noMembers accepts an empty body or an empty JSON object: the service's
// own API refuses what it does not know, rather than ignore it.
func noMembers(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return serviceapi.Invalid("the body must be empty or a JSON object: " + err.Error())
	}
	for name := range members {
		return serviceapi.Invalid("unknown member " + strconv.Quote(name) + ": the body takes none")
	}
	return nil
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
