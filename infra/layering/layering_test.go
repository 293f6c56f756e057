package layering

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/keydeletion/service/"

type pkg struct {
	ImportPath string
	Deps       []string
}

// deps returns every package of the module with its transitive imports.
func deps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json=ImportPath,Deps", module+"...")
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("go list: %v\n%s", err, exit.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	all := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		all[strings.TrimPrefix(p.ImportPath, module)] = p.Deps
	}
	if len(all) < 20 {
		t.Fatalf("go list found %d packages of the module; the module path changed?", len(all))
	}
	return all
}

// The rules: packages matching From may not depend, even indirectly, on
// any package matching one of Never (module packages are named without the
// module path; others in full).
var rules = []struct {
	why   string
	from  []string
	never []string
}{
	{"the domain depends on nothing of the module", []string{"shared/keys"}, []string{"*"}},
	{"the id formats and limits depend on nothing of the module", []string{"shared/validation"}, []string{"*"}},
	{"a dialect never talks to a store or to DynamoDB",
		[]string{"shared/dialect/*", "shared/httpapi", "shared/auth", "shared/auth/*", "shared/routes", "shared/tenant"},
		[]string{"shared/dynamostore", "infra/localserver/pebblestore", "shared/keyitem", "shared/expiry", "shared/config",
			"github.com/aws/aws-sdk-go-v2/service/dynamodb", "go.etcd.io/bbolt", "github.com/cockroachdb/pebble/v2"}},
	{"a store never knows a dialect exists",
		[]string{"shared/dynamostore", "infra/localserver/pebblestore", "shared/keyitem"},
		[]string{"shared/dialect/*", "shared/httpapi", "shared/auth", "shared/auth/*", "shared/routes", "shared/tenant", "shared/expiry"}},
	{"what runs in AWS (shared/, functions/) never links the local runtime or the tools of infra/",
		[]string{"shared/...", "functions/..."},
		[]string{"infra/..."}},
	{"a dialect and the local API never talk to a store or to DynamoDB",
		[]string{"infra/localserver/localapi", "shared/serviceapi", "infra/localserver/seed"},
		[]string{"shared/dynamostore", "infra/localserver/pebblestore", "shared/keyitem", "shared/config",
			"github.com/aws/aws-sdk-go-v2/service/dynamodb", "github.com/cockroachdb/pebble/v2"}},
	{"the HTTP plumbing knows no governance, dialect or store",
		[]string{"shared/httpapi"},
		[]string{"shared/governance", "shared/dialect/*", "shared/trailapi", "shared/dynamostore", "shared/expiry"}},
	{"the final deletion works on any store",
		[]string{"shared/expiry"},
		[]string{"shared/dynamostore", "infra/localserver/pebblestore", "shared/dialect/*", "shared/httpapi", "shared/routes"}},
}

// matches says whether name matches one of patterns: path.Match's, "*"
// (any package of the module) or "dir/..." (dir and everything under it).
func matches(patterns []string, name string) bool {
	for _, p := range patterns {
		if dir, ok := strings.CutSuffix(p, "/..."); ok {
			if name == dir || strings.HasPrefix(name, dir+"/") {
				return true
			}
			continue
		}
		if p == "*" {
			if isModule(name) {
				return true
			}
			continue
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

var moduleRoots = []string{"shared", "infra", "functions"}

func isModule(name string) bool {
	root, _, _ := strings.Cut(name, "/")
	return slices.Contains(moduleRoots, root)
}

func TestImportsRunOneWay(t *testing.T) {
	all := deps(t)
	for _, r := range rules {
		checked := 0
		for name, ds := range all {
			if !matches(r.from, name) {
				continue
			}
			checked++
			for _, d := range ds {
				d = strings.TrimPrefix(d, module)
				if matches(r.never, d) {
					t.Errorf("%s imports %s: %s", name, d, r.why)
				}
			}
		}
		if checked == 0 {
			t.Errorf("rule %q matches no package: a package was renamed?", r.why)
		}
	}
}

// shared/ holds what the functions link, and the conformance suite the
// stores are held to: a package there that no function links belongs to
// the local runtime or the tools (infra/).
func TestSharedIsWhatTheFunctionsLink(t *testing.T) {
	all := deps(t)
	linked := map[string]bool{}
	functions := 0
	for name, ds := range all {
		if !matches([]string{"functions/..."}, name) {
			continue
		}
		functions++
		for _, d := range ds {
			linked[strings.TrimPrefix(d, module)] = true
		}
	}
	if functions < 6 {
		t.Fatalf("%d functions found; functions/ moved?", functions)
	}
	shared := 0
	for name := range all {
		if !matches([]string{"shared/..."}, name) || name == "shared/storetest" {
			continue
		}
		shared++
		if !linked[name] {
			t.Errorf("%s is in shared/ but no function links it: it belongs under infra/", name)
		}
	}
	if shared == 0 {
		t.Fatal("no package in shared/")
	}
}
