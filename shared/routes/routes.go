// Package routes gathers the routes of every dialect, for the local server
// and for the functions that each serve a selection of them.
package routes

import (
	"log/slog"
	"slices"

	"github.com/keydeletion/service/shared/dialect/awsjson"
	"github.com/keydeletion/service/shared/dialect/huawei"
	"github.com/keydeletion/service/shared/dialect/ncp"
	"github.com/keydeletion/service/shared/governance"
	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/trailapi"
)

// The actions each API function serves. The function mains and the tests
// that replay events/ share these lists.
var (
	ScheduleFunction = []httpapi.Action{httpapi.Schedule, httpapi.Approve}
	CancelFunction   = []httpapi.Action{httpapi.Cancel, httpapi.Reject, httpapi.BulkCancel, httpapi.Freeze, httpapi.GuardRelease}
	KeysFunction     = []httpapi.Action{httpapi.Create, httpapi.Describe, httpapi.List, httpapi.Enable, httpapi.Disable, httpapi.Trail, httpapi.DryRun, httpapi.FreezeState, httpapi.GuardState}
	AWSFunction      = []httpapi.Action{httpapi.Dispatch}
)

// APIFunctions indexes those lists by the function's directory under functions/.
var APIFunctions = map[string][]httpapi.Action{
	"schedule": ScheduleFunction,
	"cancel":   CancelFunction,
	"keys":     KeysFunction,
	"aws":      AWSFunction,
}

// All returns every route of every dialect, authenticating callers against dir.
func All(svc *keys.Service, dir *tenant.Directory, log *slog.Logger) []httpapi.Route {
	return slices.Concat(huawei.Routes(svc, dir, log), ncp.Routes(svc, dir, log), trailapi.Routes(svc, dir, log),
		governance.Routes(svc, dir, log), awsjson.Routes(svc, dir, log))
}

// Handler serves the routes of every dialect that perform one of actions
// (all routes when none are given).
func Handler(svc *keys.Service, dir *tenant.Directory, log *slog.Logger, actions ...httpapi.Action) *httpapi.Server {
	rs := All(svc, dir, log)
	if len(actions) > 0 {
		rs = httpapi.Select(rs, actions...)
	}
	return httpapi.Handler(log, rs)
}
