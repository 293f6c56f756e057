// Package trailapi serves the audit trail: GET /audit/v1/records, the
// service's own small API. It is no vendor's, so it lives under a path of
// its own, outside every vendor's namespace (no future vendor operation can
// collide with it), and it answers in one shape whichever dialect's
// credentials the caller signs with: AWS SigV4 (service "kms", as for KMS
// calls), Huawei SDK-HMAC-SHA256 or X-Auth-Token (with X-Project-Id naming
// one of the tenant's projects), or NCP's API gateway signature v2. A team
// reads its trail with the credentials it already has.
//
// Query: keyId (one key's records), from and to (RFC 3339; from inclusive,
// to exclusive), operation (one operation's records, e.g. FreezeDeletion,
// ApproveDeletion), limit (1-1000, default 100), nextToken (from the last
// page). Records come oldest first.
package trailapi

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/serviceapi"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

// Dialect names this API in routes and logs.
const Dialect = "trail"

// Path is where the records are.
const Path = "/audit/v1/records"

const defaultLimit = 100

// Routes returns the trail's route, served by svc, authenticated against dir.
func Routes(svc *keys.Service, dir *tenant.Directory, log *slog.Logger) []httpapi.Route {
	a := &api{svc: svc}
	wire := serviceapi.Wire(Dialect, dir, log)
	return []httpapi.Route{
		{Action: httpapi.Trail, Method: http.MethodGet, Path: Path, Handler: wire.Handler("ListRecords", a.records)},
		serviceapi.NotFound(wire, "/audit/"),
	}
}

type api struct {
	svc *keys.Service
}

// record is one audit record on the wire.
type record struct {
	EventID      string  `json:"eventId"`
	EventTime    string  `json:"eventTime"`
	Operation    string  `json:"operation"`
	KeyID        string  `json:"keyId,omitempty"` // none on a freeze's records
	Alias        string  `json:"alias,omitempty"`
	Tenant       string  `json:"tenant"`
	Dialect      string  `json:"dialect"`
	AccessKeyID  string  `json:"accessKeyId,omitempty"`
	SourceIP     string  `json:"sourceIPAddress,omitempty"`
	InvokedBy    string  `json:"invokedBy,omitempty"` // the service's own path: stream, sweep, local
	RequestID    string  `json:"requestId,omitempty"`
	DeletionDate *string `json:"deletionDate,omitempty"`
	PendingDays  int     `json:"pendingWindowInDays,omitempty"`
	// Hold is the hold a schedule started with ("approval").
	Hold string `json:"hold,omitempty"`
}

func wireTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (a *api) records(c *httpapi.Call) (any, error) {
	q := c.Request.URL.Query()
	tq := keys.TrailQuery{Limit: defaultLimit}
	for name := range q {
		switch name {
		case "keyId", "from", "to", "limit", "nextToken", "operation":
		default:
			return nil, serviceapi.Invalid("unknown parameter " + name)
		}
		if len(q[name]) > 1 {
			return nil, serviceapi.Invalid(name + " is given more than once")
		}
	}
	if v := q.Get("keyId"); v != "" {
		if validation.KeyID("keyId", v) != nil {
			return nil, serviceapi.Invalid("keyId must be a key id (a UUID)")
		}
		tq.KeyID = v
		c.Info.KeyID = v
	}
	var err error
	for name, dst := range map[string]*time.Time{"from": &tq.From, "to": &tq.To} {
		if v := q.Get(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return nil, serviceapi.Invalid(name + " must be an RFC 3339 time, such as 2026-11-23T00:00:00Z")
			}
		}
	}
	if !tq.To.IsZero() && !tq.From.Before(tq.To) {
		return nil, serviceapi.Invalid("from must be before to")
	}
	if v := q.Get("limit"); v != "" {
		if tq.Limit, err = strconv.Atoi(v); err != nil || tq.Limit < 1 || tq.Limit > keys.MaxTrailPage {
			return nil, serviceapi.Invalid("limit must be a number from 1 to " + strconv.Itoa(keys.MaxTrailPage))
		}
	}
	if v := q.Get("nextToken"); v != "" {
		if tq.AfterAt, tq.After, err = decodeToken(v); err != nil {
			return nil, serviceapi.Invalid("nextToken is not one this API issued")
		}
	}
	op := keys.Op(q.Get("operation"))
	if op != "" && !keys.Recorded(op) {
		return nil, serviceapi.Invalid("operation " + strconv.Quote(string(op)) + " is none the trail records")
	}
	page, err := a.svc.Trail(c.Ctx, c.Principal, tq)
	if err != nil {
		return nil, err
	}
	out := make([]record, 0, len(page.Records))
	for _, r := range page.Records {
		// Filtered within the page: a page may hold fewer than limit
		// records; nextToken goes on after the last one read.
		if op != "" && r.Op != op {
			continue
		}
		out = append(out, record{EventID: r.ID, EventTime: wireTime(r.At), Operation: string(r.Op), KeyID: r.KeyID, Alias: r.Alias,
			Tenant: r.Owner, Dialect: r.By.Dialect, AccessKeyID: r.By.AccessKey, SourceIP: r.By.Source,
			RequestID: r.By.RequestID, PendingDays: r.PendingDays, Hold: string(r.Hold)})
		last := &out[len(out)-1]
		if r.By.Dialect == keys.SystemDialect {
			last.SourceIP, last.InvokedBy = "", r.By.Source
		}
		if !r.DeleteAt.IsZero() {
			d := wireTime(r.DeleteAt)
			last.DeletionDate = &d
		}
	}
	resp := map[string]any{"records": out}
	if page.More && len(page.Records) > 0 {
		last := page.Records[len(page.Records)-1]
		resp["nextToken"] = encodeToken(last.At, last.ID)
	}
	return resp, nil
}

// A nextToken is the last record's time and id, base64url-encoded.
func encodeToken(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMilli(), 10) + ":" + id))
}

func decodeToken(s string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", err
	}
	ms, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || n < 0 || validation.KeyID("nextToken", id) != nil {
		return time.Time{}, "", errors.New("malformed token")
	}
	return time.UnixMilli(n).UTC(), id, nil
}
