package keys

import (
	"errors"
	"fmt"
	"slices"
)

// Policy is a tenant's deletion policy as it applies to one caller (the
// tenant's rules, with those of the caller's access key over them). The
// zero Policy allows every deletion the dialects allow.
type Policy struct {
	// MinWindowDays and MaxWindowDays bound the waiting period a schedule
	// may ask for (the semantics of AWS's and Huawei's condition key
	// kms:ScheduleKeyDeletionPendingWindowInDays); 0 is no bound.
	MinWindowDays, MaxWindowDays int
	// Denied are the deletion operations (OpSchedule, OpCancel,
	// OpDeleteNow) this caller may not perform; it may still read, create,
	// enable and disable.
	Denied []Op
	// Protected are the keys no one may schedule for deletion or delete.
	Protected Protected
	// Approval holds the scheduled deletion of the keys it covers until an
	// approver other than the scheduler approves it.
	Approval ApprovalRule
	// FreezeBy are the credentials that may freeze the tenant's deletions
	// and lift the freeze.
	FreezeBy []string
	// Guard trips on a burst of deletion requests.
	Guard GuardRule
}

// Protected says which keys are protected from deletion: by a tag (AWS tags
// on the key), by id, or by alias.
type Protected struct {
	// TagKey protects every key that carries this tag; with TagValue set,
	// only those whose tag has that value.
	TagKey, TagValue string
	IDs              []string
	Aliases          []string
}

// MaxProtectedNames bounds IDs and Aliases each: DynamoDB evaluates the
// lists in the write's condition, whose IN takes at most 100 operands.
const MaxProtectedNames = 100

// IsZero reports whether nothing is protected.
func (p Protected) IsZero() bool {
	return p.TagKey == "" && len(p.IDs) == 0 && len(p.Aliases) == 0
}

// Protects reports whether k is protected, and by which rule.
func (p Protected) Protects(k Key) (rule string, ok bool) {
	switch {
	case slices.Contains(p.IDs, k.ID):
		return RuleProtectedID, true
	case k.Alias != "" && slices.Contains(p.Aliases, k.Alias):
		return RuleProtectedAlias, true
	case p.TagKey != "":
		if v, tagged := k.Tags[p.TagKey]; tagged && (p.TagValue == "" || v == p.TagValue) {
			return RuleProtectedTag, true
		}
	}
	return "", false
}

// The rules of a policy, as refusals name them.
const (
	RuleMinWindow      = "minPendingWindowDays"
	RuleMaxWindow      = "maxPendingWindowDays"
	RuleOperation      = "operations"
	RuleProtectedID    = "protectedKeyIds"
	RuleProtectedAlias = "protectedAliases"
	RuleProtectedTag   = "protectedTag"
	// RuleApprovers: the caller is not one of the approval rule's
	// approvers, or scheduled the deletion it would approve.
	RuleApprovers = "approvers"
	// RuleAwaitingApproval: the key's deletion is held for approval, so it
	// cannot end at once.
	RuleAwaitingApproval = "approval"
)

// ErrAccessDenied matches every *PolicyError.
var ErrAccessDenied = errors.New("refused by the deletion policy")

// PolicyError is an operation the deletion policy refuses. It names the
// rule and what the rule asks, never anything of another tenant.
type PolicyError struct {
	Op   Op
	Rule string
	// Days is the waiting period asked for, and Limit the bound it broke
	// (RuleMinWindow, RuleMaxWindow).
	Days, Limit int
	// Tag is the protecting tag's key (RuleProtectedTag).
	Tag string
}

func (e *PolicyError) Is(target error) bool { return target == ErrAccessDenied }

func (e *PolicyError) Error() string {
	return string(e.Op) + " refused: " + e.Reason()
}

// Reason says in words which rule refused, for the dialects' messages.
func (e *PolicyError) Reason() string {
	switch e.Rule {
	case RuleMinWindow:
		return fmt.Sprintf("the deletion policy requires a waiting period of at least %d days (%d asked)", e.Limit, e.Days)
	case RuleMaxWindow:
		return fmt.Sprintf("the deletion policy allows a waiting period of at most %d days (%d asked)", e.Limit, e.Days)
	case RuleOperation:
		return "the deletion policy does not allow this access key to " + opWords[e.Op]
	case RuleProtectedID:
		return "the key is protected from deletion by the deletion policy (by its id)"
	case RuleProtectedAlias:
		return "the key is protected from deletion by the deletion policy (by its alias)"
	case RuleProtectedTag:
		return "the key is protected from deletion by the deletion policy (it carries the tag " + e.Tag + ")"
	case RuleApprovers:
		return "only the deletion policy's approvers, and not the key's scheduler, may " + opWords[e.Op]
	case RuleAwaitingApproval:
		return "the key's deletion awaits approval under the deletion policy"
	case RuleGuard:
		if e.Op == OpGuardReleased {
			return "the deletion guard is released by another principal than the one that tripped it"
		}
		return "the deletion policy's guard tripped on a burst of deletion requests; another principal must release it"
	case RuleFrozen:
		if e.Op == OpFreeze || e.Op == OpUnfreeze {
			return "the deletion policy does not name this access key among those who may freeze deletions"
		}
		return "the tenant's key deletions are frozen"
	}
	return "refused by the deletion policy"
}

var opWords = map[Op]string{
	OpSchedule: "schedule key deletion", OpCancel: "cancel key deletion", OpDeleteNow: "delete keys at once",
	OpApprove: "approve key deletion", OpReject: "reject key deletion",
	OpFreeze: "freeze key deletion", OpUnfreeze: "unfreeze key deletion", OpGuardReleased: "release the deletion guard",
}

// Guarded reports whether op is one the policy governs.
func Guarded(op Op) bool { _, ok := opWords[op]; return ok }

// allows decides what the policy can decide before the write: the
// operation, and the waiting period of a schedule. (Protection depends on
// the key, so the store's write decides it: Change.Permits.)
func (p Policy) allows(op Op, days int) error {
	if slices.Contains(p.Denied, op) {
		return &PolicyError{Op: op, Rule: RuleOperation}
	}
	if op != OpSchedule {
		return nil
	}
	if p.MinWindowDays > 0 && days < p.MinWindowDays {
		return &PolicyError{Op: op, Rule: RuleMinWindow, Days: days, Limit: p.MinWindowDays}
	}
	if p.MaxWindowDays > 0 && days > p.MaxWindowDays {
		return &PolicyError{Op: op, Rule: RuleMaxWindow, Days: days, Limit: p.MaxWindowDays}
	}
	return nil
}

// Validate reports a policy that cannot be applied.
func (p Policy) Validate() error {
	switch {
	case p.MinWindowDays < 0 || p.MaxWindowDays < 0:
		return errors.New("minPendingWindowDays and maxPendingWindowDays must not be negative")
	case p.MaxWindowDays > 0 && p.MinWindowDays > p.MaxWindowDays:
		return fmt.Errorf("minPendingWindowDays %d is above maxPendingWindowDays %d", p.MinWindowDays, p.MaxWindowDays)
	case len(p.Protected.IDs) > MaxProtectedNames || len(p.Protected.Aliases) > MaxProtectedNames:
		return fmt.Errorf("at most %d protected key ids and %d protected aliases", MaxProtectedNames, MaxProtectedNames)
	case p.Protected.TagKey == "" && p.Protected.TagValue != "":
		return errors.New("a protected tag value needs its tag key")
	case len(p.Approval.Keys.IDs) > MaxProtectedNames || len(p.Approval.Keys.Aliases) > MaxProtectedNames:
		return fmt.Errorf("at most %d key ids and %d aliases under approval", MaxProtectedNames, MaxProtectedNames)
	case p.Approval.Keys.TagKey == "" && p.Approval.Keys.TagValue != "":
		return errors.New("an approval tag value needs its tag key")
	case !p.Approval.IsZero() && len(p.Approval.Approvers) == 0:
		return errors.New("an approval rule needs its approvers")
	case p.Guard.Max < 0 || p.Guard.Span < 0 || (p.Guard.Max > 0) != (p.Guard.Span > 0):
		return errors.New("a guard needs both maxDeletions and withinMinutes, above 0")
	}
	for _, op := range p.Denied {
		if !Guarded(op) {
			return fmt.Errorf("operation %s is not a deletion operation", op)
		}
	}
	return nil
}
