package keys

import (
	"slices"
)

// Hold is why a key pending deletion is kept past the end of its window:
// while it has one, the window's end does not delete it (it stays pending
// deletion, and cancellable), no path finalizes it, and no store lets a
// TTL remove it (DynamoDB's item carries no TTL attribute). Releasing its
// last hold gives the key back its window: it ends then, or at once if its
// date has passed.
type Hold string

// HoldApproval: the deletion of a key the policy's approval rule covers
// waits for an approver who is not its scheduler.
const HoldApproval Hold = "approval"

// Held reports whether k is kept past its window by a hold.
func (k Key) Held() bool { return len(k.Holds) > 0 }

// HasHold reports whether k carries hold h.
func (k Key) HasHold(h Hold) bool { return slices.Contains(k.Holds, h) }

// ApprovalRule is the policy's dual approval: the scheduled deletion of a
// covered key is carried out only once a principal of Approvers other than
// its scheduler approves it.
type ApprovalRule struct {
	// All covers every key of the tenant; otherwise Keys selects them, as
	// Protected does (by tag, id or alias).
	All  bool
	Keys Protected
	// Approvers are the access key ids (and Huawei token ids) who may
	// approve or reject.
	Approvers []string
}

// IsZero reports whether the rule covers nothing.
func (r ApprovalRule) IsZero() bool { return !r.All && r.Keys.IsZero() }

// Covers reports whether the rule covers k.
func (r ApprovalRule) Covers(k Key) bool {
	if r.All {
		return true
	}
	_, covered := r.Keys.Protects(k)
	return covered
}

// MayApprove reports whether accessKey is one of the rule's approvers.
func (r ApprovalRule) MayApprove(accessKey string) bool {
	return accessKey != "" && slices.Contains(r.Approvers, accessKey)
}
