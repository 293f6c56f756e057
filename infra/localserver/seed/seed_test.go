package seed_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keydeletion/service/infra/localserver/pebblestore"
	"github.com/keydeletion/service/infra/localserver/seed"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/tenant"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

func directory(t *testing.T) *tenant.Directory {
	t.Helper()
	d, err := tenant.LoadFile("../../local/credentials.json")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// service is a key service on a fresh embedded store, on the real clock.
func service(t *testing.T) *keys.Service {
	t.Helper()
	st, err := pebblestore.Open(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return keys.NewService(st, nil)
}

// The repository's example seeds every state it documents, and applying it
// again (a restart) changes nothing: not the keys tests changed since, not
// the ones deleted since.
func TestExampleSeedAppliesOnce(t *testing.T) {
	ctx := context.Background()
	dir := directory(t)
	data := t.TempDir()
	st, err := pebblestore.Open(data, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	svc := keys.NewService(st, func() time.Time { return now })
	const path = "../../local/seed.yaml"
	res, err := seed.Apply(ctx, svc, dir, path, quiet)
	if err != nil || res.Created != 6 || res.Present != 0 {
		t.Fatalf("first apply: %+v %v", res, err)
	}
	a := keys.Principal{Tenant: "dev-a"}
	want := map[string]keys.State{
		"11111111-1111-4111-8111-111111111111": keys.Enabled,
		"22222222-2222-4222-8222-222222222222": keys.Disabled,
		"33333333-3333-4333-8333-333333333333": keys.PendingDeletion,
		"44444444-4444-4444-8444-444444444444": keys.PendingImport,
		"55555555-5555-4555-8555-555555555555": keys.Enabled,
	}
	for id, state := range want {
		k, err := svc.Get(ctx, a, id)
		if err != nil || k.State != state {
			t.Errorf("%s: %v %v, want %s", id, k.State, err, state)
		}
	}
	if k, _ := svc.Get(ctx, a, "33333333-3333-4333-8333-333333333333"); !k.DeleteAt.Equal(now.Add(7*24*time.Hour)) || k.PendingDays != 7 {
		t.Errorf("pending key: deleteAt %v, %d days", k.DeleteAt, k.PendingDays)
	}
	if k, _ := svc.GetByAlias(ctx, a, "payments"); k.ID != "11111111-1111-4111-8111-111111111111" || k.Tags["team"] != "payments" || k.Description != "card data" {
		t.Errorf("alias payments: %+v", k)
	}
	if k, _ := svc.Get(ctx, a, "55555555-5555-4555-8555-555555555555"); k.Spec != keys.ECP256 || k.Usage != keys.SignVerify {
		t.Errorf("signing key: %s %s", k.Spec, k.Usage)
	}
	if k, err := svc.GetByAlias(ctx, keys.Principal{Tenant: "dev-b"}, "payments"); err != nil || k.ID != "66666666-6666-4666-8666-666666666666" {
		t.Errorf("dev-b's payments: %+v %v", k, err)
	}
	// The trail says who moved the pending key there.
	page, err := svc.Trail(ctx, a, keys.TrailQuery{Limit: 100})
	if err != nil || len(page.Records) != 1 || page.Records[0].By.Dialect != seed.Dialect {
		t.Errorf("trail: %+v %v", page.Records, err)
	}

	// Tests change one key and delete another; a restart seeds again.
	if _, err := svc.Enable(ctx, a, "22222222-2222-4222-8222-222222222222"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ScheduleDeletion(ctx, a, "11111111-1111-4111-8111-111111111111", 7); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeleteNow(ctx, a, "11111111-1111-4111-8111-111111111111"); err != nil {
		t.Fatal(err)
	}
	res, err = seed.Apply(ctx, svc, dir, path, quiet)
	if err != nil || res.Created != 0 || res.Present != 6 {
		t.Fatalf("second apply: %+v %v", res, err)
	}
	if k, _ := svc.Get(ctx, a, "22222222-2222-4222-8222-222222222222"); k.State != keys.Enabled {
		t.Errorf("the enabled key went back to %s", k.State)
	}
	if _, err := svc.Get(ctx, a, "11111111-1111-4111-8111-111111111111"); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("the deleted key came back: %v", err)
	}
}

// An invalid seed file is refused whole, with a message naming the entry.
func TestInvalidSeedNamesTheEntry(t *testing.T) {
	const id = "0b6f7c4e-3a1d-4c2b-9e8f-1a2b3c4d5e6f"
	entry := func(fields string) string {
		return "tenants:\n  dev-a:\n    keys:\n      - id: 7b6f7c4e-3a1d-4c2b-9e8f-1a2b3c4d5e6f\n      - id: " + id + "\n" + fields
	}
	for name, c := range map[string]struct{ file, want string }{
		"unknown tenant":   {"tenants:\n  dev-z:\n    keys: []\n", `no tenant "dev-z"`},
		"unknown field":    {entry("        stat: Disabled\n"), "line 6: field stat is not one of id, alias"},
		"bad id":           {"tenants:\n  dev-a:\n    keys:\n      - id: 0B6F\n", `tenants.dev-a.keys[0] (line 4, id "0B6F"): id "0B6F" is not a lowercase UUID`},
		"not hex":          {"tenants:\n  dev-a:\n    keys:\n      - id: zzzzzzzz-1111-4111-8111-111111111111\n", "is not a lowercase UUID"},
		"no id":            {"tenants:\n  dev-a:\n    keys:\n      - alias: x\n", "tenants.dev-a.keys[0] (line 4"},
		"bad state":        {entry("        state: Gone\n"), `tenants.dev-a.keys[1] (line 5, id "` + id + `"): state "Gone" is not one of`},
		"no window":        {entry("        state: PendingDeletion\n"), "needs pendingDays from 1 to 1096"},
		"long window":      {entry("        state: PendingDeletion\n        pendingDays: 1097\n"), "needs pendingDays from 1 to 1096"},
		"stray window":     {entry("        pendingDays: 7\n"), "pendingDays is for a key in state PendingDeletion"},
		"bad spec":         {entry("        spec: AES_128\n"), `spec "AES_128" is not one of AES_256`},
		"bad usage":        {entry("        usage: WRAP\n"), `usage "WRAP" is not one of`},
		"reserved tag":     {entry("        tags: {\"aws:x\": y}\n"), "reserved"},
		"bad alias":        {entry("        alias: has space\n"), `alias "has space"`},
		"same id twice":    {entry("      - id: " + id + "\n"), "keys[2]"},
		"same alias":       {"tenants:\n  dev-a:\n    keys:\n      - {id: " + id + ", alias: a}\n      - {id: 7b6f7c4e-3a1d-4c2b-9e8f-1a2b3c4d5e6f, alias: a}\n", `alias "a" is declared already`},
		"not YAML":         {"tenants: [\n", "line"},
		"JSON, wrong type": {`{"tenants":{"dev-a":{"keys":[{"id":"` + id + `","pendingDays":"7"}]}}}`, "line 1: cannot unmarshal"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := seed.Parse([]byte(c.file), directory(t))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}

	// The usage a spec lacks is found when the key is made, and nothing of
	// the file is applied.
	ctx := context.Background()
	svc := service(t)
	path := filepath.Join(t.TempDir(), "seed.json")
	os.WriteFile(path, []byte(`{"tenants":{"dev-a":{"keys":[{"id":"`+id+`","spec":"EC_P256","usage":"ENCRYPT_DECRYPT"}]}}}`), 0o600)
	if _, err := seed.Apply(ctx, svc, directory(t), path, quiet); err == nil || !strings.Contains(err.Error(), "tenants.dev-a.keys[0]") || !strings.Contains(err.Error(), path) {
		t.Errorf("apply: %v", err)
	}
	if _, err := svc.Get(ctx, keys.Principal{Tenant: "dev-a"}, id); !errors.Is(err, keys.ErrNotFound) {
		t.Errorf("the refused key exists: %v", err)
	}
}

// A seed interrupted after creating a key, before moving it to its state,
// finishes the move the next time; a key anyone changed since is left.
func TestInterruptedSeedFinishes(t *testing.T) {
	ctx := context.Background()
	svc := service(t)
	p := keys.Principal{Tenant: "dev-a", Dialect: seed.Dialect}
	const id = "0b6f7c4e-3a1d-4c2b-9e8f-1a2b3c4d5e6f"
	// What the first attempt left: the key created, still Enabled.
	if _, created, err := seed.Seed(ctx, svc, p, seed.Request{ID: id}); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	k, created, err := seed.Seed(ctx, svc, p, seed.Request{ID: id, State: keys.PendingDeletion, PendingDays: 3})
	if err != nil || created || k.State != keys.PendingDeletion || k.PendingDays != 3 {
		t.Fatalf("resumed: %+v %v %v", k, created, err)
	}
	// Cancelled by a test: the seed leaves it.
	if _, err := svc.CancelDeletion(ctx, keys.Principal{Tenant: "dev-a"}, id); err != nil {
		t.Fatal(err)
	}
	if k, _, err := seed.Seed(ctx, svc, p, seed.Request{ID: id, State: keys.PendingDeletion, PendingDays: 3}); err != nil || k.State != keys.Disabled {
		t.Fatalf("after the cancel: %+v %v", k.State, err)
	}
}
