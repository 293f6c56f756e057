package governance

import (
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/serviceapi"
	"github.com/keydeletion/service/shared/validation"
)

// bulkCallTime bounds one bulk call's work, well inside the request's
// budget; the answer's nextToken says where the next call goes on.
const bulkCallTime = 4 * time.Second

// bulkRequest is POST /governance/v1/bulk-cancel-deletion's body.
type bulkRequest struct {
	Filter struct {
		ScheduledBy   string `json:"scheduledBy"`
		ScheduledFrom string `json:"scheduledFrom"`
		ScheduledTo   string `json:"scheduledTo"`
		Tag           *struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"tag"`
		Held string `json:"held"`
	} `json:"filter"`
	DryRun    bool   `json:"dryRun"`
	NextToken string `json:"nextToken"`
}

// bulkKey is a pending deletion the filter selected.
type bulkKey struct {
	KeyID        string `json:"keyId"`
	ScheduledBy  string `json:"scheduledBy,omitempty"`
	ScheduledAt  string `json:"scheduledAt,omitempty"`
	DeletionDate string `json:"deletionDate"`
	Held         bool   `json:"held,omitempty"`
}

type bulkAnswer struct {
	DryRun bool `json:"dryRun"`
	// Matched are the pending deletions the filter selected among the keys
	// this call went through; Cancelled the ids it cancelled; Gone the ids
	// that ended or changed before their cancel.
	Matched   []bulkKey `json:"matched"`
	Cancelled []string  `json:"cancelled"`
	Gone      []string  `json:"gone"`
	// NextToken is where the next call goes on; absent when every key of
	// the tenant was seen.
	NextToken string `json:"nextToken,omitempty"`
}

func bulkCancel(svc *keys.Service, c *httpapi.Call) (any, error) {
	var req bulkRequest
	m, err := members(c.Body, "filter", "dryRun", "nextToken")
	if err != nil {
		return nil, err
	}
	if raw, ok := m["filter"]; ok {
		if _, err := members(raw, "scheduledBy", "scheduledFrom", "scheduledTo", "tag", "held"); err != nil {
			return nil, serviceapi.Invalid("filter: " + err.(*serviceapi.Error).Message)
		}
	}
	if err := json.Unmarshal(c.Body, &req); err != nil {
		return nil, serviceapi.Invalid("the body does not match {filter, dryRun, nextToken}: " + err.Error())
	}
	var f keys.CancelFilter
	f.ScheduledBy = req.Filter.ScheduledBy
	for _, t := range []struct {
		name, v string
		to      *time.Time
	}{{"filter.scheduledFrom", req.Filter.ScheduledFrom, &f.ScheduledFrom}, {"filter.scheduledTo", req.Filter.ScheduledTo, &f.ScheduledTo}} {
		if t.v == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339, t.v)
		if err != nil {
			return nil, serviceapi.Invalid(t.name + " must be an RFC 3339 time")
		}
		*t.to = at
	}
	if tag := req.Filter.Tag; tag != nil {
		if tag.Key == "" {
			return nil, serviceapi.Invalid("filter.tag needs a key")
		}
		f.TagKey, f.TagValue = tag.Key, tag.Value
	}
	switch keys.Hold(req.Filter.Held) {
	case "", keys.HoldApproval, keys.HoldGuard, keys.HoldFreeze:
		f.Held = keys.Hold(req.Filter.Held)
	default:
		return nil, serviceapi.Invalid(`filter.held must be "approval", "guard" or "freeze"`)
	}
	after := ""
	if req.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(req.NextToken)
		if err != nil || validation.KeyID("nextToken", string(raw)) != nil {
			return nil, serviceapi.Invalid("nextToken is not one this API gave")
		}
		after = string(raw)
	}
	res, err := svc.BulkCancel(c.Ctx, c.Principal, f, after, req.DryRun, time.Now().Add(bulkCallTime))
	if err != nil {
		return nil, err
	}
	a := bulkAnswer{DryRun: req.DryRun, Matched: []bulkKey{}, Cancelled: []string{}, Gone: []string{}}
	for _, k := range res.Matched {
		b := bulkKey{KeyID: k.ID, ScheduledBy: k.ScheduledBy, DeletionDate: k.DeleteAt.UTC().Format(time.RFC3339), Held: k.Held()}
		if !k.ScheduledAt.IsZero() {
			b.ScheduledAt = k.ScheduledAt.UTC().Format(time.RFC3339Nano)
		}
		a.Matched = append(a.Matched, b)
	}
	for _, k := range res.Cancelled {
		a.Cancelled = append(a.Cancelled, k.ID)
	}
	for _, k := range res.Gone {
		a.Gone = append(a.Gone, k.ID)
	}
	if res.Next != "" {
		a.NextToken = base64.RawURLEncoding.EncodeToString([]byte(res.Next))
	}
	return a, nil
}
