// Package seed reads a seed file (SEED_FILE) and makes the keys it declares:
// per tenant, with fixed ids, aliases, specs, tags and states, as local-kms
// users know from its seed file. The file is YAML or JSON (JSON is YAML).
//
//	tenants:
//	  dev-a:
//	    keys:
//	      - id: 6f1c1e9a-2b7d-4c1e-9d3b-0a1b2c3d4e5f
//	        alias: payments          # AWS alias/payments, Huawei key_alias, NCP keyName
//	        description: card data
//	        spec: AES_256            # AES_256 (default), RSA_2048/3072/4096, EC_P256/P384
//	        usage: ENCRYPT_DECRYPT   # default: the spec's first (ENCRYPT_DECRYPT for AES)
//	        tags: {team: payments}
//	        state: PendingDeletion   # Enabled (default), Disabled, PendingDeletion, PendingImport
//	        pendingDays: 7           # PendingDeletion only: 1 to 1096 (Huawei's longest)
//
// A seed applies once per key: a key whose id exists (or was deleted) is
// left as it is, so restarting a server on the same data changes nothing.
package seed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
	"github.com/keydeletion/service/shared/validation"
)

// File is a seed file's content.
type File struct {
	Tenants map[string]Tenant `yaml:"tenants"`
}

// Tenant is one tenant's part of it.
type Tenant struct {
	Keys []Key `yaml:"keys"`
}

// Key is one declared key.
type Key struct {
	ID          string            `yaml:"id"`
	Alias       string            `yaml:"alias"`
	Description string            `yaml:"description"`
	Spec        string            `yaml:"spec"`
	Usage       string            `yaml:"usage"`
	Tags        map[string]string `yaml:"tags"`
	State       string            `yaml:"state"`
	PendingDays int               `yaml:"pendingDays"`

	line int // where it starts in the file, for messages
}

// UnmarshalYAML keeps the entry's line and refuses fields it does not know
// (the decoder's KnownFields does not reach a custom unmarshaler).
func (k *Key) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			if name := n.Content[i].Value; !slices.Contains(keyFields, name) {
				return fmt.Errorf("line %d: field %s is not one of %s", n.Content[i].Line, name, strings.Join(keyFields, ", "))
			}
		}
	}
	type plain Key
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*k = Key(p)
	k.line = n.Line
	return nil
}

// keyFields are Key's field names in the file, from its tags.
var keyFields = func() []string {
	t := reflect.TypeFor[Key]()
	var names []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" {
			names = append(names, tag)
		}
	}
	return names
}()

// Dialect is the Dialect of the principal that seeds keys: the operator's
// seed file, recorded as such in the trail.
const Dialect = "seed"

// Request is a key a seed file declares: its id is fixed, and so is the
// state it starts in.
type Request struct {
	ID string // a key id that can be issued (validation.NewKeyID)
	keys.CreateRequest
	// State is Enabled (also when empty), Disabled, PendingDeletion or
	// PendingImport (which makes the key's origin EXTERNAL).
	State keys.State
	// PendingDays is a PendingDeletion key's window, from the seeding.
	PendingDays int
}

// Check says what is wrong with r's state and window, if anything, before
// anything is written.
func (r Request) Check() error {
	switch r.State {
	case "", keys.Enabled, keys.Disabled, keys.PendingImport:
		if r.PendingDays != 0 {
			return fmt.Errorf("pendingDays is for a key in state PendingDeletion")
		}
	case keys.PendingDeletion:
		if r.PendingDays < 1 {
			return fmt.Errorf("a PendingDeletion key needs a window of a day or more")
		}
	default:
		return fmt.Errorf("state %q is not one of Enabled, Disabled, PendingDeletion, PendingImport", r.State)
	}
	return nil
}

// Seed makes the key r declares for p's tenant, in its state, unless the id
// is taken: a seed applies once, and what tests did to the key since (or
// its deletion) stands. created says whether it made the key now. A seed
// interrupted between creating a key and moving it to its state finishes
// the move the next time.
func Seed(ctx context.Context, svc *keys.Service, p keys.Principal, r Request) (k keys.Key, created bool, err error) {
	if err := r.Check(); err != nil {
		return keys.Key{}, false, err
	}
	p.Policy = keys.Policy{} // the operator's seed, not a caller under the tenant's policy
	if r.State == keys.PendingImport {
		r.Origin = keys.OriginExternal
	}
	k, err = svc.Get(ctx, p, r.ID)
	switch {
	case errors.Is(err, keys.ErrNotFound):
		switch k, err = svc.CreateWithID(ctx, p, r.ID, r.CreateRequest); {
		case errors.Is(err, keys.ErrKeyExists):
			return keys.Key{}, false, nil // deleted since it was seeded: it stays deleted
		case err != nil:
			return keys.Key{}, false, err
		}
		created = true
	case err != nil:
		return keys.Key{}, false, err
	case k.LastChange.Op != keys.OpCreate || k.LastChange.By.Dialect != Dialect:
		return k, false, nil
	}
	switch {
	case r.State == keys.Disabled && k.State == keys.Enabled:
		k, err = svc.Disable(ctx, p, r.ID)
	case r.State == keys.PendingDeletion && k.State != keys.PendingDeletion:
		_, err = svc.ScheduleDeletion(ctx, p, r.ID, r.PendingDays)
		if err == nil {
			k, err = svc.Get(ctx, p, r.ID)
		}
	}
	return k, created, err
}

// maxDescription is the longest description any dialect takes (AWS's).
const maxDescription = 8192

// Parse reads a seed file and checks every entry against the tenants in
// dir; an error names the entry (tenant, index, id, line).
func Parse(data []byte, dir *tenant.Directory) (map[string][]Request, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	out := map[string][]Request{}
	ids := map[string]string{} // id -> where it was declared first
	for _, tid := range slices.Sorted(maps.Keys(f.Tenants)) {
		if _, ok := dir.ByID(tid); !ok {
			return nil, fmt.Errorf("tenants.%s: no tenant %q in the credentials (tenants: %s)", tid, tid, strings.Join(dir.IDs(), ", "))
		}
		aliases := map[string]string{}
		for i, k := range f.Tenants[tid].Keys {
			where := fmt.Sprintf("tenants.%s.keys[%d] (line %d, id %q)", tid, i, k.line, k.ID)
			r, err := k.request()
			if err == nil {
				err = r.Check()
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if first, dup := ids[r.ID]; dup {
				return nil, fmt.Errorf("%s: the id is declared already, at %s", where, first)
			}
			ids[r.ID] = where
			if r.Alias != "" {
				if first, dup := aliases[r.Alias]; dup {
					return nil, fmt.Errorf("%s: alias %q is declared already, at %s", where, r.Alias, first)
				}
				aliases[r.Alias] = where
			}
			out[tid] = append(out[tid], r)
		}
	}
	return out, nil
}

// request is k in the domain's words, with what only the file format knows
// checked; Request.Check checks the rest.
func (k Key) request() (Request, error) {
	r := Request{ID: k.ID, State: keys.State(k.State), PendingDays: k.PendingDays,
		CreateRequest: keys.CreateRequest{Alias: strings.TrimPrefix(k.Alias, "alias/"), Description: k.Description,
			Spec: keys.Spec(k.Spec), Usage: keys.Usage(k.Usage), Tags: k.Tags}}
	if k.ID == "" {
		return r, errors.New("id is required")
	}
	if validation.NewKeyID("id", k.ID) != nil {
		return r, fmt.Errorf("id %q is not a lowercase UUID such as 0b6f7c4e-3a1d-4c2b-9e8f-1a2b3c4d5e6f", k.ID)
	}
	if r.State == keys.PendingDeletion && validation.IntRange("pendingDays", k.PendingDays, 1, validation.HuaweiMaxWindowDays) != nil {
		// From a day, shorter than any dialect allows, so that a test can
		// start near a deletion date; to Huawei's 1096, the longest.
		return r, fmt.Errorf("a PendingDeletion key needs pendingDays from 1 to %d", validation.HuaweiMaxWindowDays)
	}
	if r.Alias != "" {
		if err := validation.HuaweiAlias(r.Alias); err != nil {
			return r, fmt.Errorf("alias %q: letters, digits and :/_- only, at most 255", k.Alias)
		}
	}
	if err := validation.Description("description", k.Description, maxDescription); err != nil {
		return r, fmt.Errorf("description: at most %d characters", maxDescription)
	}
	if r.Spec != "" && !slices.Contains(keys.Specs(), r.Spec) {
		return r, fmt.Errorf("spec %q is not one of %s", k.Spec, joined(keys.Specs()))
	}
	if r.Usage != "" && !slices.Contains(keys.Usages(), r.Usage) {
		return r, fmt.Errorf("usage %q is not one of %s", k.Usage, joined(keys.Usages()))
	}
	if len(k.Tags) > keys.MaxTags {
		return r, fmt.Errorf("%d tags: at most %d", len(k.Tags), keys.MaxTags)
	}
	for name := range k.Tags {
		if err := validation.AWSTagKey(name); err != nil {
			var ve *validation.Error
			if errors.As(err, &ve) {
				return r, errors.New(ve.Detail)
			}
			return r, err
		}
	}
	return r, nil
}

func joined[S ~string](vs []S) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// Result counts what Apply did.
type Result struct {
	Created, Present int
}

// Apply makes the keys of the seed file at path that do not exist yet.
// Nothing is created unless the whole file is valid.
func Apply(ctx context.Context, svc *keys.Service, dir *tenant.Directory, path string, log *slog.Logger) (Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Result{}, fmt.Errorf("seed file: %w", err)
	}
	plan, err := Parse(data, dir)
	if err != nil {
		return Result{}, fmt.Errorf("seed file %s: %w", path, err)
	}
	var res Result
	for _, tid := range slices.Sorted(maps.Keys(plan)) {
		p := keys.Principal{Tenant: tid, Dialect: Dialect, Source: path, RequestID: "seed"}
		for i, r := range plan[tid] {
			_, created, err := Seed(ctx, svc, p, r)
			if err != nil {
				return res, fmt.Errorf("seed file %s: tenants.%s.keys[%d] (id %q): %w", path, tid, i, r.ID, err)
			}
			if created {
				res.Created++
				log.Debug("seeded", "tenant", tid, "keyId", r.ID, "state", string(r.State))
			} else {
				res.Present++
			}
		}
	}
	return res, nil
}
