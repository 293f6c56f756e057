// Package tenant says who is who: a tenant is one customer, with an AWS
// account and region, Huawei projects and domain, and an NCP account, each
// with its credentials. A Directory is built from the credentials document
// (a file locally, a Secrets Manager secret in Lambda) and answers the
// verifiers' questions: whose access key is this, and what is its secret.
package tenant

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/keydeletion/service/shared/validation"
)

// Tenant is one customer, as each dialect names it. It carries no secrets.
type Tenant struct {
	ID               string
	AWSAccountID     string
	AWSRegion        string
	HuaweiDomainID   string
	HuaweiRegion     string
	HuaweiProjectIDs []string
	policy           *deletionPolicy // nil: none
}

// Caller is an authenticated caller: its tenant and the credential it used
// (an access key id, or "token:" and a digest of a Huawei token; never a
// secret).
type Caller struct {
	Tenant    Tenant
	AccessKey string
}

// OwnsProject reports whether a Huawei project id is the tenant's.
func (t Tenant) OwnsProject(projectID string) bool {
	return slices.Contains(t.HuaweiProjectIDs, projectID)
}

// DefaultHuaweiRegion is the region a tenant's Huawei keys report when the
// document names none.
const DefaultHuaweiRegion = "cn-north-4"

type secretRef struct {
	tenant int
	secret string
}

type tokenRef struct {
	tenant    int
	projectID string
	expiresAt time.Time
}

// Directory is the set of tenants and their credentials.
type Directory struct {
	tenants []Tenant
	aws     map[string]secretRef  // access key id -> secret
	huawei  map[string]secretRef  // AK -> SK
	ncp     map[string]secretRef  // access key -> secret key
	tokens  map[[32]byte]tokenRef // sha256(token) -> token; hashed so a lookup reveals nothing of the token
	byID    map[string]int
}

// The credentials document.
type document struct {
	Tenants []struct {
		ID  string `json:"id"`
		AWS *struct {
			AccountID  string      `json:"accountId"`
			Region     string      `json:"region"`
			AccessKeys []accessKey `json:"accessKeys"`
		} `json:"aws"`
		Huawei *struct {
			ProjectIDs []string    `json:"projectIds"`
			DomainID   string      `json:"domainId"`
			Region     string      `json:"region"`
			AccessKeys []accessKey `json:"accessKeys"`
			Tokens     []struct {
				Token     string    `json:"token"`
				ProjectID string    `json:"projectId"`
				ExpiresAt time.Time `json:"expiresAt"`
			} `json:"tokens"`
		} `json:"huawei"`
		NCP *struct {
			AccessKeys []accessKey `json:"accessKeys"`
		} `json:"ncp"`
		DeletionPolicy *policyDocument `json:"deletionPolicy"`
	} `json:"tenants"`
}

type accessKey struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// Parse builds a directory from the credentials document. Its errors name
// tenants and key ids, never secrets or tokens.
func Parse(raw []byte) (*Directory, error) {
	var doc document
	if err := jsonv2.Unmarshal(raw, &doc, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("credentials document: %v", describe(raw, err))
	}
	d := &Directory{aws: map[string]secretRef{}, huawei: map[string]secretRef{}, ncp: map[string]secretRef{},
		tokens: map[[32]byte]tokenRef{}, byID: map[string]int{}}
	projects := map[string]string{}
	var creds []string // the current tenant's credential ids
	addKeys := func(into map[string]secretRef, i int, dialect string, keys []accessKey) error {
		for _, k := range keys {
			creds = append(creds, k.ID)
			if !idPattern.MatchString(k.ID) || k.Secret == "" {
				return fmt.Errorf("tenant %s: %s access key %q needs an id of letters, digits, '.', '_' or '-' and a secret", d.tenants[i].ID, dialect, k.ID)
			}
			if _, dup := into[k.ID]; dup {
				return fmt.Errorf("tenant %s: %s access key %s is used twice", d.tenants[i].ID, dialect, k.ID)
			}
			into[k.ID] = secretRef{tenant: i, secret: k.Secret}
		}
		return nil
	}
	for i, dt := range doc.Tenants {
		if !idPattern.MatchString(dt.ID) {
			return nil, fmt.Errorf("tenant %d: id %q must be 1-64 letters, digits, '.', '_' or '-'", i, dt.ID)
		}
		if _, dup := d.byID[dt.ID]; dup {
			return nil, fmt.Errorf("tenant %s appears twice", dt.ID)
		}
		d.byID[dt.ID] = i
		creds = nil
		t := Tenant{ID: dt.ID, HuaweiRegion: DefaultHuaweiRegion}
		d.tenants = append(d.tenants, t)
		if a := dt.AWS; a != nil {
			if !accountPattern.MatchString(a.AccountID) || !regionPattern.MatchString(a.Region) {
				return nil, fmt.Errorf("tenant %s: aws needs a 12-digit accountId and a region", dt.ID)
			}
			t.AWSAccountID, t.AWSRegion = a.AccountID, a.Region
			if err := addKeys(d.aws, i, "aws", a.AccessKeys); err != nil {
				return nil, err
			}
		}
		if h := dt.Huawei; h != nil {
			for _, p := range h.ProjectIDs {
				if err := validation.ProjectID(p); err != nil {
					return nil, fmt.Errorf("tenant %s: huawei project %q: must be 32 lowercase hex characters", dt.ID, p)
				}
				if other, dup := projects[p]; dup {
					return nil, fmt.Errorf("tenant %s: huawei project %s already belongs to tenant %s", dt.ID, p, other)
				}
				projects[p] = dt.ID
			}
			t.HuaweiProjectIDs, t.HuaweiDomainID = h.ProjectIDs, h.DomainID
			if h.Region != "" {
				t.HuaweiRegion = h.Region
			}
			if err := addKeys(d.huawei, i, "huawei", h.AccessKeys); err != nil {
				return nil, err
			}
			for n, tok := range h.Tokens {
				if tok.Token == "" || !slices.Contains(h.ProjectIDs, tok.ProjectID) || tok.ExpiresAt.IsZero() {
					return nil, fmt.Errorf("tenant %s: huawei token %d needs a token, one of the tenant's projectIds, and expiresAt", dt.ID, n)
				}
				sum := sha256.Sum256([]byte(tok.Token))
				if _, dup := d.tokens[sum]; dup {
					return nil, fmt.Errorf("tenant %s: huawei token %d is used twice", dt.ID, n)
				}
				d.tokens[sum] = tokenRef{tenant: i, projectID: tok.ProjectID, expiresAt: tok.ExpiresAt}
				creds = append(creds, TokenID(tok.Token))
			}
		}
		if n := dt.NCP; n != nil {
			if err := addKeys(d.ncp, i, "ncp", n.AccessKeys); err != nil {
				return nil, err
			}
		}
		if dt.DeletionPolicy != nil {
			p, err := parsePolicy(dt.ID, dt.DeletionPolicy, creds)
			if err != nil {
				return nil, err
			}
			t.policy = p
		}
		d.tenants[i] = t
	}
	if len(d.tenants) == 0 {
		return nil, errors.New("credentials document: no tenants")
	}
	return d, nil
}

// describe says where the document is wrong and how, naming the field by
// its path (tenants[0].aws.accessKeys[1].secret) or the line and column of
// malformed JSON, and never a value: values are secrets.
func describe(raw []byte, err error) error {
	var syn *jsontext.SyntacticError
	var sem *jsonv2.SemanticError
	switch {
	case errors.As(err, &syn):
		line, col := position(raw, syn.ByteOffset)
		if errors.Is(syn.Err, jsontext.ErrDuplicateName) {
			return fmt.Errorf("field %s is given twice (line %d, column %d)", path(syn.JSONPointer), line, col)
		}
		if errors.Is(syn.Err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("the JSON ends early (line %d, column %d)", line, col)
		}
		return fmt.Errorf("malformed JSON at line %d, column %d%s", line, col, within(syn.JSONPointer))
	case errors.As(err, &sem) && errors.Is(sem.Err, jsonv2.ErrUnknownName):
		return fmt.Errorf("unknown field %s", path(sem.JSONPointer))
	case errors.As(err, &sem) && sem.GoType != nil:
		return fmt.Errorf("%s must be %s", path(sem.JSONPointer), kindOf(sem.GoType))
	case errors.As(err, &sem):
		return fmt.Errorf("%s is not valid", path(sem.JSONPointer))
	}
	return errors.New("not a credentials document")
}

// position is the 1-based line and column of byte offset in raw.
func position(raw []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(raw)))
	before := raw[:offset]
	line = 1 + bytes.Count(before, []byte("\n"))
	return line, 1 + len(before) - (bytes.LastIndexByte(before, '\n') + 1)
}

func within(p jsontext.Pointer) string {
	if p == "" {
		return ""
	}
	return " (in " + path(p) + ")"
}

// path writes a JSON pointer as a field path: /tenants/0/id -> tenants[0].id.
func path(p jsontext.Pointer) string {
	if p == "" {
		return "the document"
	}
	var b strings.Builder
	for _, tok := range strings.Split(strings.TrimPrefix(string(p), "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

// kindOf names what a Go type takes in JSON.
func kindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[time.Time]():
		return "an RFC 3339 time, such as 2027-01-01T00:00:00Z"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "a list"
	}
	return "an object"
}

// LoadFile reads the credentials document at path.
func LoadFile(path string) (*Directory, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// Tenants returns every tenant.
func (d *Directory) Tenants() []Tenant { return slices.Clone(d.tenants) }

// IDs returns every tenant's id, in the document's order.
func (d *Directory) IDs() []string {
	ids := make([]string, len(d.tenants))
	for i, t := range d.tenants {
		ids[i] = t.ID
	}
	return ids
}

// ByID returns a tenant by id.
func (d *Directory) ByID(id string) (Tenant, bool) {
	i, ok := d.byID[id]
	if !ok {
		return Tenant{}, false
	}
	return d.tenants[i], true
}

func (d *Directory) lookup(m map[string]secretRef, id string) (Tenant, string, bool) {
	ref, ok := m[id]
	if !ok {
		return Tenant{}, "", false
	}
	return d.tenants[ref.tenant], ref.secret, true
}

// AWSAccessKey returns the tenant and secret of an AWS access key id.
func (d *Directory) AWSAccessKey(id string) (Tenant, string, bool) { return d.lookup(d.aws, id) }

// HuaweiAccessKey returns the tenant and SK of a Huawei AK.
func (d *Directory) HuaweiAccessKey(ak string) (Tenant, string, bool) { return d.lookup(d.huawei, ak) }

// NCPAccessKey returns the tenant and secret of an NCP access key.
func (d *Directory) NCPAccessKey(id string) (Tenant, string, bool) { return d.lookup(d.ncp, id) }

// HuaweiToken returns the tenant, project and expiry of an X-Auth-Token.
func (d *Directory) HuaweiToken(token string) (t Tenant, projectID string, expiresAt time.Time, ok bool) {
	ref, ok := d.tokens[sha256.Sum256([]byte(token))]
	if !ok {
		return Tenant{}, "", time.Time{}, false
	}
	return d.tenants[ref.tenant], ref.projectID, ref.expiresAt, true
}
