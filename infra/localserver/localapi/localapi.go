// Package localapi is the local server's own API, which the Lambda
// functions never serve. It lives under /_local/, a path no dialect uses:
//
//	GET  /_local/v1/clock   the caller's tenant's clock
//	POST /_local/v1/clock   move it: {"advance":"7d"} (forward, onto a whole
//	                        second), {"offset":"36h"},
//	                        {"time":"2027-01-01T00:00:00Z"} or {"reset":true};
//	                        200 when what came due is carried out, 202
//	                        with what remains after CLOCK_MOVE_TIMEOUT
//	GET  /_local/health     200 while the server serves (unsigned)
//
// Each tenant has its own clock, so that test runs sharing one server do not
// disturb each other. A move returns only after everything that came due by
// the tenant's new time has been carried out: keys whose window ended are
// finalized (tombstone, name released, audit record, events), so a test can
// assert right after the call. The clock is signed with any of the
// tenant's credentials in any dialect's scheme, as the audit trail is.
package localapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/serviceapi"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

// Dialect names this API in routes and logs.
const Dialect = "local"

// Paths.
const (
	Prefix     = "/_local/"
	ClockPath  = "/_local/v1/clock"
	HealthPath = "/_local/health"
)

// Clocks keeps each tenant's clock as an offset from the wall clock.
type Clocks interface {
	// Offset is tenant's clock's distance from the wall clock.
	Offset(tenant string) time.Duration
	// Start is the offset every clock starts at (CLOCK_OFFSET).
	Start() time.Duration
	// Move sets tenant's offset and carries out what came due by the
	// tenant's new time, for at most MoveTimeout.
	Move(ctx context.Context, tenant string, offset time.Duration) (Moved, error)
	// MoveTimeout bounds how long a move carries out what it brought due
	// before it answers (CLOCK_MOVE_TIMEOUT).
	MoveTimeout() time.Duration
}

// Moved is what a move carried out.
type Moved struct {
	Finalized int
	// Remaining counts the keys still due when the move stopped at its
	// timeout (the local loop carries them out in the background).
	Remaining int
	// Complete: everything due was carried out (keys, events, reminders).
	Complete bool
}

// Clock is a tenant's clock on the wire.
type Clock struct {
	Tenant        string `json:"tenant"`
	Now           string `json:"now"`    // RFC 3339, milliseconds, UTC
	Offset        string `json:"offset"` // from the wall clock, a Go duration
	OffsetSeconds int64  `json:"offsetSeconds"`
	// Finalized counts the keys a move finalized (moves only).
	Finalized *int `json:"finalized,omitempty"`
	// Complete says whether a move carried out everything it brought due
	// (moves only); when not, Remaining counts the keys still due.
	Complete  *bool `json:"complete,omitempty"`
	Remaining *int  `json:"remaining,omitempty"`
}

// Move is a POST's body: exactly one of its fields.
type Move struct {
	Advance string `json:"advance,omitempty"` // forward by this much: "7d", "36h"
	Offset  string `json:"offset,omitempty"`  // this far from the wall clock ("0s": real time)
	Time    string `json:"time,omitempty"`    // to this instant (RFC 3339)
	Reset   bool   `json:"reset,omitempty"`   // back to where every clock starts
}

// Routes returns the clock's routes and the fallback under Prefix.
// Health is served apart (Health): unsigned, and not logged per request.
func Routes(clocks Clocks, dir *tenant.Directory, log *slog.Logger) []httpapi.Route {
	wire := serviceapi.Wire(Dialect, dir, log)
	a := &api{clocks: clocks}
	return []httpapi.Route{
		{Action: httpapi.Local, Method: http.MethodGet, Path: ClockPath, Handler: wire.Handler("GetClock", a.get)},
		// A move answers within its own timeout, and its route's budget
		// leaves it time to count what remains.
		{Action: httpapi.Local, Method: http.MethodPost, Path: ClockPath, Handler: wire.Handler("MoveClock", a.move),
			Budget: clocks.MoveTimeout() + 10*time.Second},
		serviceapi.NotFound(wire, Prefix),
	}
}

type api struct{ clocks Clocks }

func state(tenantID string, offset time.Duration) Clock {
	return Clock{Tenant: tenantID, Now: time.Now().Add(offset).UTC().Format("2006-01-02T15:04:05.000Z"),
		Offset: offset.String(), OffsetSeconds: int64(offset / time.Second)}
}

func (a *api) get(c *httpapi.Call) (any, error) {
	if len(c.Request.URL.RawQuery) > 0 {
		return nil, serviceapi.Invalid("GET " + ClockPath + " takes no parameters")
	}
	return state(c.Tenant.ID, a.clocks.Offset(c.Tenant.ID)), nil
}

func (a *api) move(c *httpapi.Call) (any, error) {
	var m Move
	if err := httpapi.DecodeJSONStrict(c.Body, &m); err != nil {
		return nil, err
	}
	given := 0
	for _, set := range []bool{m.Advance != "", m.Offset != "", m.Time != "", m.Reset} {
		if set {
			given++
		}
	}
	if given != 1 {
		return nil, serviceapi.Invalid(`give exactly one of "advance" ("7d", "36h"), "offset", "time" (RFC 3339) or "reset": true`)
	}
	current := a.clocks.Offset(c.Tenant.ID)
	var offset time.Duration
	switch {
	case m.Advance != "":
		d, err := validation.Duration("advance", m.Advance)
		if err != nil {
			return nil, err
		}
		if d <= 0 {
			return nil, serviceapi.Invalid(`advance moves a clock forward: give a positive length ("7d"); "offset", "time" or "reset" set it anywhere`)
		}
		// Onto a whole second, as windows end (keys.CeilSecond), so a key
		// scheduled for 7 days is gone after advancing 7 days, however soon
		// after the schedule.
		wall := time.Now()
		offset = keys.CeilSecond(wall.Add(current + d)).Sub(wall)
	case m.Offset != "":
		d, err := validation.Duration("offset", m.Offset)
		if err != nil {
			return nil, err
		}
		offset = d
	case m.Time != "":
		t, err := time.Parse(time.RFC3339Nano, m.Time)
		if err != nil {
			return nil, serviceapi.Invalid("time must be an RFC 3339 time, such as 2027-01-01T00:00:00Z")
		}
		offset = time.Until(t)
	default:
		offset = a.clocks.Start()
	}
	moved, err := a.clocks.Move(c.Ctx, c.Tenant.ID, offset)
	if err != nil {
		return nil, err
	}
	st := state(c.Tenant.ID, offset)
	st.Finalized, st.Complete = &moved.Finalized, &moved.Complete
	if !moved.Complete {
		// 202: the clock moved, and what it brought due is still being
		// carried out; the same move again waits for the rest.
		st.Remaining = &moved.Remaining
		return serviceapi.Accepted(st), nil
	}
	return st, nil
}

// Health answers GET /_local/health with 200 and what the server is:
// unsigned, for scripts and container checks.
func Health(info map[string]any) http.Handler {
	body, err := json.Marshal(map[string]any{"status": "ok", "server": info})
	if err != nil {
		panic(err) // the caller's own map of strings and numbers
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "GET "+HealthPath, http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}
