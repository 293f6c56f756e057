package tenant

import (
	"reflect"
	"strings"
	"testing"

	"github.com/keydeletion/service/shared/keys"
)

func withPolicy(policy string) string {
	return `{"tenants":[{"id":"a",
  "aws":{"accountId":"111122223333","region":"us-east-1","accessKeys":[{"id":"AKA","secret":"sa"},{"id":"AKR","secret":"sr"}]},
  "huawei":{"projectIds":["0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f"],"accessKeys":[{"id":"HA","secret":"ha"}],
            "tokens":[{"token":"tok-a","projectId":"0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f","expiresAt":"2030-01-01T00:00:00Z"}]},
  "deletionPolicy":` + policy + `}]}`
}

// A policy applies per credential: the tenant's bounds, an access key's
// own, and the operations each may perform.
func TestPolicyFor(t *testing.T) {
	d, err := Parse([]byte(withPolicy(`{"minPendingWindowDays":14,"maxPendingWindowDays":30,
		"scheduleDeletion":["AKA","` + TokenID("tok-a") + `"],"deleteNow":[],
		"protectedTag":{"key":"deletion-protection","value":"on"},"protectedKeyIds":["0d0466b0-e727-4d9c-b35d-f84bb474a37f"],
		"protectedAliases":["root"],"accessKeys":{"AKR":{"minPendingWindowDays":21}}}`)))
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := d.ByID("a")
	protected := keys.Protected{TagKey: "deletion-protection", TagValue: "on", IDs: []string{"0d0466b0-e727-4d9c-b35d-f84bb474a37f"}, Aliases: []string{"root"}}
	for cred, want := range map[string]keys.Policy{
		"AKA":            {MinWindowDays: 14, MaxWindowDays: 30, Denied: []keys.Op{keys.OpDeleteNow}, Protected: protected},
		TokenID("tok-a"): {MinWindowDays: 14, MaxWindowDays: 30, Denied: []keys.Op{keys.OpDeleteNow}, Protected: protected},
		"AKR":            {MinWindowDays: 21, MaxWindowDays: 30, Denied: []keys.Op{keys.OpSchedule, keys.OpDeleteNow}, Protected: protected},
		"HA":             {MinWindowDays: 14, MaxWindowDays: 30, Denied: []keys.Op{keys.OpSchedule, keys.OpDeleteNow}, Protected: protected},
	} {
		if got := tn.PolicyFor(cred); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want %+v", cred, got, want)
		}
	}
	plain, _ := Parse([]byte(good))
	a, _ := plain.ByID("a")
	if p := a.PolicyFor("AKA"); !reflect.DeepEqual(p, keys.Policy{}) {
		t.Errorf("no policy: %+v", p)
	}
}

// A policy that cannot be applied stops the document from loading, and says
// why.
// The approval rule applies to every credential of the tenant, with its
// approvers and the keys it covers.
func TestApprovalRule(t *testing.T) {
	d, err := Parse([]byte(withPolicy(`{"approval":{"tag":{"key":"critical"},"aliases":["root"],"approvers":["AKR","HA"]}}`)))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := d.ByID("a")
	want := keys.ApprovalRule{Keys: keys.Protected{TagKey: "critical", Aliases: []string{"root"}}, Approvers: []string{"AKR", "HA"}}
	for _, cred := range []string{"AKA", "AKR", "HA"} {
		if got := a.PolicyFor(cred).Approval; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want %+v", cred, got, want)
		}
	}
}

func TestPolicyRefusedAtLoad(t *testing.T) {
	for name, c := range map[string]struct{ policy, says string }{
		"minimum above maximum": {`{"minPendingWindowDays":31,"maxPendingWindowDays":30}`, "minPendingWindowDays 31 is above maxPendingWindowDays 30"},
		"an unknown access key": {`{"scheduleDeletion":["AKX"]}`, `scheduleDeletion names "AKX", which is none of the tenant's access keys or tokens`},
		"another's override":    {`{"accessKeys":{"NB":{"minPendingWindowDays":7}}}`, `accessKeys names "NB"`},
		"a bound too long":      {`{"maxPendingWindowDays":2000}`, "0 (none) to 1096 days"},
		"a negative bound":      {`{"minPendingWindowDays":-1}`, "0 (none) to 1096 days"},
		"an override inverted":  {`{"maxPendingWindowDays":20,"accessKeys":{"AKR":{"minPendingWindowDays":21}}}`, "accessKeys AKR: minPendingWindowDays 21 is above maxPendingWindowDays 20"},
		"a tag without its key": {`{"protectedTag":{"value":"on"}}`, "protectedTag needs a key"},
		"an unknown approver":   {`{"approval":{"allKeys":true,"approvers":["AKX"]}}`, `approval.approvers names "AKX"`},
		"approval of no key":    {`{"approval":{"approvers":["AKR"]}}`, "approval covers no key"},
		"approval, no approver": {`{"approval":{"allKeys":true}}`, "an approval rule needs its approvers"},
		"an approval tag's key": {`{"approval":{"tag":{"value":"on"},"approvers":["AKR"]}}`, "approval.tag needs a key"},
		"an unknown rule":       {`{"minimumDays":14}`, "credentials document"},
		"too many protected":    {`{"protectedAliases":[` + strings.TrimSuffix(strings.Repeat(`"x",`, 101), ",") + `]}`, "at most 100"},
	} {
		_, err := Parse([]byte(withPolicy(c.policy)))
		if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "tenant a") && name != "an unknown rule" {
			t.Errorf("%s: %v, want it to say %q", name, err, c.says)
		}
	}
}
