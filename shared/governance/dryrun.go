package governance

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/serviceapi"
	"github.com/keydeletion/service/shared/validation"
)

// dryRunAnswer is what a schedule of the key would do now; nothing is
// changed or recorded. IaC pipelines call it in their plan step.
type dryRunAnswer struct {
	KeyID    string `json:"keyId"`
	KeyState string `json:"keyState"`
	// Allowed says whether the schedule would be taken; Refusal says by
	// which rule it would not.
	Allowed bool     `json:"allowed"`
	Refusal *refusal `json:"refusal,omitempty"`
	// DeletionDate is the date it would get, and Reminders when its
	// reminders would go out.
	DeletionDate string   `json:"deletionDate"`
	Reminders    []string `json:"reminders"`
	// ApprovalRequired: the deletion would be held until one of Approvers,
	// not the scheduler, approves it.
	ApprovalRequired bool     `json:"approvalRequired"`
	Approvers        []string `json:"approvers,omitempty"`
	// Frozen: the tenant's deletions are frozen. Guard, if the policy has
	// one: whether it is tripped for the caller, and its count in the span.
	Frozen bool       `json:"frozen"`
	Guard  *planGuard `json:"guard,omitempty"`
}

type planGuard struct {
	Tripped bool `json:"tripped"`
	Count   int  `json:"count"`
	Max     int  `json:"maxDeletions"`
}

type refusal struct {
	// Code is the governance API's for the refusal (AccessDenied,
	// InvalidState); Rule the policy's rule, if the policy refused.
	Code    string `json:"code"`
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
}

func dryRun(svc *keys.Service, c *httpapi.Call) (any, error) {
	id := c.Request.PathValue("keyId")
	if err := validation.KeyID("keyId", id); err != nil {
		return nil, err
	}
	c.Info.KeyID = id
	m, err := members(c.Body, "pendingWindowInDays")
	if err != nil {
		return nil, err
	}
	raw, ok := m["pendingWindowInDays"]
	if !ok {
		return nil, serviceapi.Invalid("pendingWindowInDays is required")
	}
	var days int
	if err := json.Unmarshal(raw, &days); err != nil {
		return nil, serviceapi.Invalid("pendingWindowInDays must be a whole number of days")
	}
	// Any dialect's window: from NCP's 3 days' fixed window (or shorter,
	// as a seed can) up to Huawei's longest.
	if err := validation.IntRange("pendingWindowInDays", days, 1, validation.HuaweiMaxWindowDays); err != nil {
		return nil, err
	}
	plan, err := svc.PlanDeletion(c.Ctx, c.Principal, id, days)
	if err != nil {
		return nil, err
	}
	a := dryRunAnswer{KeyID: id, KeyState: string(plan.Key.State), Allowed: plan.Refusal == nil,
		DeletionDate: plan.DeleteAt.UTC().Format(time.RFC3339), Reminders: []string{},
		ApprovalRequired: len(plan.Approvers) > 0, Approvers: plan.Approvers, Frozen: plan.Frozen}
	if plan.GuardMax > 0 {
		a.Guard = &planGuard{Tripped: plan.GuardTripped, Count: plan.GuardCount, Max: plan.GuardMax}
	}
	for _, r := range plan.Reminders {
		a.Reminders = append(a.Reminders, r.UTC().Format(time.RFC3339))
	}
	if plan.Refusal != nil {
		a.Refusal = &refusal{Code: "InvalidState", Message: plan.Refusal.Error()}
		if r := serviceapi.Refused(plan.Refusal); r != nil {
			a.Refusal.Code, a.Refusal.Message = r.Code, r.Message
		}
		if denied := (*keys.PolicyError)(nil); errors.As(plan.Refusal, &denied) {
			a.Refusal.Rule = denied.Rule
		}
	}
	return a, nil
}
