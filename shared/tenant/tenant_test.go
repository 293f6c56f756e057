package tenant

import (
	"strings"
	"testing"
	"time"
)

const good = `{"tenants":[
 {"id":"a","aws":{"accountId":"111122223333","region":"us-east-1","accessKeys":[{"id":"AKA","secret":"sa"}]},
  "huawei":{"projectIds":["0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f"],"domainId":"d","accessKeys":[{"id":"HA","secret":"ha"}],
            "tokens":[{"token":"tok-a","projectId":"0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f","expiresAt":"2030-01-01T00:00:00Z"}]},
  "ncp":{"accessKeys":[{"id":"NA","secret":"na"}]}},
 {"id":"b","ncp":{"accessKeys":[{"id":"NB","secret":"nb"}]}}]}`

func TestParseAndLookup(t *testing.T) {
	d, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if tn, secret, ok := d.AWSAccessKey("AKA"); !ok || tn.ID != "a" || secret != "sa" || tn.AWSRegion != "us-east-1" {
		t.Errorf("AWS key: %+v %q %v", tn, secret, ok)
	}
	if tn, _, ok := d.NCPAccessKey("NB"); !ok || tn.ID != "b" {
		t.Errorf("NCP key: %+v %v", tn, ok)
	}
	tn, project, exp, ok := d.HuaweiToken("tok-a")
	if !ok || tn.ID != "a" || project != "0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f" || !exp.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("token: %+v %s %v %v", tn, project, exp, ok)
	}
	if !tn.OwnsProject(project) || tn.OwnsProject("ffffffffffffffffffffffffffffffff") || tn.HuaweiRegion != DefaultHuaweiRegion {
		t.Errorf("projects: %+v", tn)
	}
	for _, miss := range []func() bool{
		func() bool { _, _, ok := d.AWSAccessKey("NA"); return ok },
		func() bool { _, _, ok := d.HuaweiAccessKey("AKA"); return ok },
		func() bool { _, _, _, ok := d.HuaweiToken("tok-b"); return ok },
	} {
		if miss() {
			t.Error("a key of one dialect found in another, or an unknown token found")
		}
	}
}

// A document that would make identities ambiguous or unusable is refused,
// and the error never quotes a secret.
func TestParseRefuses(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":               `{"tenants":[`,
		"no tenants":             `{"tenants":[]}`,
		"unknown field":          `{"tenants":[{"id":"a","secretz":"x"}]}`,
		"duplicate tenant":       `{"tenants":[{"id":"a"},{"id":"a"}]}`,
		"shared AWS key":         `{"tenants":[{"id":"a","aws":{"accountId":"111122223333","region":"us-east-1","accessKeys":[{"id":"K","secret":"topsecret"}]}},{"id":"b","aws":{"accountId":"444455556666","region":"us-east-1","accessKeys":[{"id":"K","secret":"topsecret"}]}}]}`,
		"empty secret":           `{"tenants":[{"id":"a","ncp":{"accessKeys":[{"id":"K","secret":""}]}}]}`,
		"bad account":            `{"tenants":[{"id":"a","aws":{"accountId":"1234","region":"us-east-1"}}]}`,
		"shared project":         `{"tenants":[{"id":"a","huawei":{"projectIds":["0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f"]}},{"id":"b","huawei":{"projectIds":["0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f"]}}]}`,
		"bad project":            `{"tenants":[{"id":"a","huawei":{"projectIds":["xyz"]}}]}`,
		"token of other project": `{"tenants":[{"id":"a","huawei":{"projectIds":["0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f"],"tokens":[{"token":"topsecret","projectId":"ffffffffffffffffffffffffffffffff","expiresAt":"2030-01-01T00:00:00Z"}]}}]}`,
		"secret as number":       `{"tenants":[{"id":"a","ncp":{"accessKeys":[{"id":"K","secret":12345}]}}]}`,
	} {
		_, err := Parse([]byte(doc))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "12345") {
			t.Errorf("%s: error reveals a secret: %v", name, err)
		}
	}
}

// The shipped development document parses: four tenants, every dialect.
func TestShippedDevelopmentTenants(t *testing.T) {
	d, err := LoadFile("../../infra/local/credentials.json")
	if err != nil {
		t.Fatal(err)
	}
	ts := d.Tenants()
	if len(ts) != 4 {
		t.Fatalf("%d tenants", len(ts))
	}
	for _, tn := range ts {
		if tn.AWSAccountID == "" || len(tn.HuaweiProjectIDs) == 0 {
			t.Errorf("tenant %s lacks a dialect: %+v", tn.ID, tn)
		}
	}
}

// A damaged document is refused with where it is wrong: the field's path,
// or the line and column of malformed JSON; never a value.
func TestParseSaysWhere(t *testing.T) {
	for doc, want := range map[string]string{
		`{"tenants":[{"id":"a",}]}`: "malformed JSON at line 1, column 22",
		"{\n \"tenants\": [\n  {\"id\": \"a\",\n   \"aws\": {\"accountId\": 111122223333}}]}":              "tenants[0].aws.accountId must be a string",
		`{"tenants":[{"id":"a","ncp":{"accessKeys":[{"id":"K","secret":"s"},{"id":"L","secret":true}]}}]}`: "tenants[0].ncp.accessKeys[1].secret must be a string",
		`{"tenants":[{"id":"a"},{"id":"b","awz":{}}]}`:                                                     "unknown field tenants[1].awz",
		`{"tenants":[{"id":"a"}]} {"tenants":[]}`:                                                          "malformed JSON at line 1, column 26",
		`{"tenants":[{"id":"a","huawei":{"tokens":[{"token":"t","expiresAt":"soon"}]}}]}`:                  "tenants[0].huawei.tokens[0].expiresAt must be an RFC 3339 time",
		`{"tenants":[{"id":"a"`:             "the JSON ends early",
		`{"tenants":[{"id":"a","id":"b"}]}`: "field tenants[0].id is given twice",
	} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n got %v\nwant %q", doc, err, want)
		}
	}
}
