package tenant

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// policyDocument is a tenant's "deletionPolicy". Credentials are named by
// their ids: an AWS access key id, a Huawei AK, an NCP access key, or a
// Huawei token's id ("token:" and 12 hex digits of its SHA-256, as the logs
// name it).
type policyDocument struct {
	MinPendingWindowDays int `json:"minPendingWindowDays"`
	MaxPendingWindowDays int `json:"maxPendingWindowDays"`
	// Who may schedule deletion, cancel it, and (NCP) delete at once; a
	// list that is absent allows every credential of the tenant.
	ScheduleDeletion *[]string `json:"scheduleDeletion"`
	CancelDeletion   *[]string `json:"cancelDeletion"`
	DeleteNow        *[]string `json:"deleteNow"`
	ProtectedTag     *struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"protectedTag"`
	ProtectedKeyIDs  []string `json:"protectedKeyIds"`
	ProtectedAliases []string `json:"protectedAliases"`
	// Guard trips on more than maxDeletions deletion requests within
	// withinMinutes, by one credential (or the tenant, with perTenant).
	Guard *struct {
		MaxDeletions  int  `json:"maxDeletions"`
		WithinMinutes int  `json:"withinMinutes"`
		PerTenant     bool `json:"perTenant"`
	} `json:"guard"`
	// Freeze names the credentials that may freeze the tenant's deletions
	// and lift the freeze (none if absent).
	Freeze []string `json:"freeze"`
	// Approval holds the scheduled deletion of the keys it covers (every
	// key with "allKeys", or by tag, id or alias) until one of approvers,
	// not the scheduler, approves it.
	Approval *struct {
		AllKeys bool `json:"allKeys"`
		Tag     *struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"tag"`
		KeyIDs    []string `json:"keyIds"`
		Aliases   []string `json:"aliases"`
		Approvers []string `json:"approvers"`
	} `json:"approval"`
	// AccessKeys bound the waiting period tighter for some credentials.
	AccessKeys map[string]struct {
		MinPendingWindowDays int `json:"minPendingWindowDays"`
		MaxPendingWindowDays int `json:"maxPendingWindowDays"`
	} `json:"accessKeys"`
}

// deletionPolicy is a tenant's policy, ready to apply to its callers.
type deletionPolicy struct {
	base      keys.Policy
	allowed   map[keys.Op][]string // absent op: every credential
	overrides map[string]keys.Policy
}

// maxWindowDays is the longest waiting period any dialect allows (Huawei's).
const maxWindowDays = 1096

// TokenID names a Huawei token in logs, records and policies without
// revealing it: "token:" and 12 hex digits of its SHA-256.
func TokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "token:" + hex.EncodeToString(sum[:])[:12]
}

// parsePolicy checks a tenant's policy against its credentials (creds:
// every credential id of the tenant) and builds it.
func parsePolicy(tenantID string, doc *policyDocument, creds []string) (*deletionPolicy, error) {
	fail := func(format string, args ...any) (*deletionPolicy, error) {
		return nil, fmt.Errorf("tenant %s: deletionPolicy: "+format, append([]any{tenantID}, args...)...)
	}
	bounds := func(min, max int) error {
		if min < 0 || max < 0 || min > maxWindowDays || max > maxWindowDays {
			return fmt.Errorf("pending window bounds must be 0 (none) to %d days", maxWindowDays)
		}
		return nil
	}
	if err := bounds(doc.MinPendingWindowDays, doc.MaxPendingWindowDays); err != nil {
		return fail("%v", err)
	}
	p := &deletionPolicy{
		base:      keys.Policy{MinWindowDays: doc.MinPendingWindowDays, MaxWindowDays: doc.MaxPendingWindowDays},
		allowed:   map[keys.Op][]string{},
		overrides: map[string]keys.Policy{},
	}
	if t := doc.ProtectedTag; t != nil {
		if t.Key == "" {
			return fail("protectedTag needs a key")
		}
		p.base.Protected.TagKey, p.base.Protected.TagValue = t.Key, t.Value
	}
	p.base.Protected.IDs, p.base.Protected.Aliases = doc.ProtectedKeyIDs, doc.ProtectedAliases
	known := func(what, id string) error {
		if !slices.Contains(creds, id) {
			return fmt.Errorf("%s names %q, which is none of the tenant's access keys or tokens", what, id)
		}
		return nil
	}
	if a := doc.Approval; a != nil {
		r := keys.ApprovalRule{All: a.AllKeys, Keys: keys.Protected{IDs: a.KeyIDs, Aliases: a.Aliases}, Approvers: a.Approvers}
		if a.Tag != nil {
			if a.Tag.Key == "" {
				return fail("approval.tag needs a key")
			}
			r.Keys.TagKey, r.Keys.TagValue = a.Tag.Key, a.Tag.Value
		}
		if r.IsZero() {
			return fail("approval covers no key: give allKeys, tag, keyIds or aliases")
		}
		for _, id := range a.Approvers {
			if err := known("approval.approvers", id); err != nil {
				return fail("%v", err)
			}
		}
		p.base.Approval = r
	}
	for _, id := range doc.Freeze {
		if err := known("freeze", id); err != nil {
			return fail("%v", err)
		}
	}
	p.base.FreezeBy = doc.Freeze
	if g := doc.Guard; g != nil {
		if g.MaxDeletions < 1 || g.WithinMinutes < 1 || g.WithinMinutes > 7*24*60 {
			return fail("guard needs maxDeletions of 1 or more and withinMinutes from 1 to %d", 7*24*60)
		}
		p.base.Guard = keys.GuardRule{Max: g.MaxDeletions, Span: time.Duration(g.WithinMinutes) * time.Minute, PerTenant: g.PerTenant}
	}
	if err := p.base.Validate(); err != nil {
		return fail("%v", err)
	}
	for op, list := range map[keys.Op]*[]string{keys.OpSchedule: doc.ScheduleDeletion, keys.OpCancel: doc.CancelDeletion, keys.OpDeleteNow: doc.DeleteNow} {
		if list == nil {
			continue
		}
		for _, id := range *list {
			if err := known(policyNames[op], id); err != nil {
				return fail("%v", err)
			}
		}
		p.allowed[op] = *list
	}
	for id, o := range doc.AccessKeys {
		if err := known("accessKeys", id); err != nil {
			return fail("%v", err)
		}
		if err := bounds(o.MinPendingWindowDays, o.MaxPendingWindowDays); err != nil {
			return fail("accessKeys %s: %v", id, err)
		}
		q := p.base
		if o.MinPendingWindowDays != 0 {
			q.MinWindowDays = o.MinPendingWindowDays
		}
		if o.MaxPendingWindowDays != 0 {
			q.MaxWindowDays = o.MaxPendingWindowDays
		}
		if err := q.Validate(); err != nil {
			return fail("accessKeys %s: %v", id, err)
		}
		p.overrides[id] = q
	}
	return p, nil
}

var policyNames = map[keys.Op]string{keys.OpSchedule: "scheduleDeletion", keys.OpCancel: "cancelDeletion", keys.OpDeleteNow: "deleteNow"}

// PolicyFor is the tenant's deletion policy as it applies to the caller
// with this credential id (the zero Policy when the tenant has none).
func (t Tenant) PolicyFor(credential string) keys.Policy {
	p := t.policy
	if p == nil {
		return keys.Policy{}
	}
	out := p.base
	if o, ok := p.overrides[credential]; ok {
		out = o
	}
	for _, op := range []keys.Op{keys.OpSchedule, keys.OpCancel, keys.OpDeleteNow} {
		if allowed, listed := p.allowed[op]; listed && !slices.Contains(allowed, credential) {
			out.Denied = append(out.Denied, op)
		}
	}
	return out
}
