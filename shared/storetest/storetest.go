// Package storetest is the conformance suite every keys.Store must pass. It
// drives stores through keys.Service, so it checks the pair the product runs.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keydeletion/service/shared/expiry"
	"github.com/keydeletion/service/shared/keys"
)

// Clock is a settable clock for the suite.
type Clock struct{ ns atomic.Int64 }

// RealNow is the wall clock to the millisecond, where suites start their
// clocks: DynamoDB Local enforces TTL against the real time, so a clock in
// the past would let it remove pending keys under a test.
func RealNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { c := &Clock{}; c.Set(t); return c }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// Store is what the suite holds a store to: the service's part, the final
// deletion's, DueOf, which the local server's clock API needs of both
// stores, and Tombstone, which only tests read.
type Store interface {
	keys.Store
	expiry.Store
	// Tombstone returns the record of a finalized key. ErrNotFound if none.
	Tombstone(ctx context.Context, owner, id string) (keys.Tombstone, error)
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	store Store
	clock *Clock
	svc   *keys.Service
	owner string
	p     keys.Principal // a caller of owner
}

// Run runs the suite. newStore returns a fresh, empty store (or one whose
// state the suite cannot see, e.g. a new table) for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	setup := func(t *testing.T) *fixture {
		st := newStore(t)
		clock := NewClock(RealNow())
		return &fixture{t: t, ctx: context.Background(), store: st, clock: clock,
			svc: keys.NewService(st, clock.Now), owner: "tenant-a", p: keys.Principal{Tenant: "tenant-a", Dialect: "test"}}
	}
	t.Run("CreateGetRoundTrip", func(t *testing.T) { testRoundTrip(setup(t)) })
	t.Run("SpecsAndUsages", func(t *testing.T) { testSpecsAndUsages(setup(t)) })
	t.Run("Aliases", func(t *testing.T) { testAliases(setup(t)) })
	t.Run("OwnerIsolation", func(t *testing.T) { testOwnerIsolation(setup(t)) })
	t.Run("StateMachine", func(t *testing.T) { testStateMachine(t, setup) })
	t.Run("WindowBoundary", func(t *testing.T) { testWindowBoundary(setup(t)) })
	t.Run("List", func(t *testing.T) { testList(setup(t)) })
	t.Run("NumberedPages", func(t *testing.T) { testNumberedPages(setup(t)) })
	t.Run("NumberedPageReadsAhead", func(t *testing.T) { testNumberedPageReadsAhead(setup(t)) })
	t.Run("DueAndFinalize", func(t *testing.T) { testDueAndFinalize(setup(t)) })
	t.Run("ConcurrentTransitions", func(t *testing.T) { testConcurrent(setup(t)) })
	t.Run("ConcurrentCreatesOfOneAlias", func(t *testing.T) { testConcurrentAlias(setup(t)) })
	t.Run("TransitionsRacingFinalize", func(t *testing.T) { testRacingFinalize(setup(t)) })
	t.Run("CreateRefusesAnExistingID", func(t *testing.T) { testCreateExistingID(setup(t)) })
	t.Run("NumbersAreUniqueAndKept", func(t *testing.T) { testNumbers(setup(t)) })
	t.Run("Tags", func(t *testing.T) { testTags(setup(t)) })
	t.Run("SucceedIfAlready", func(t *testing.T) { testSucceedIfAlready(setup(t)) })
	t.Run("DeleteNow", func(t *testing.T) { testDeleteNow(setup(t)) })
	t.Run("PolicyDecidesBeforeTheWrite", func(t *testing.T) { testPolicyDecidesBeforeTheWrite(setup(t)) })
	t.Run("ProtectionInTheWrite", func(t *testing.T) { testProtectionInTheWrite(setup(t)) })
	t.Run("Trail", func(t *testing.T) { testTrail(setup(t)) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(setup(t)) })
	t.Run("DueIndex", func(t *testing.T) { testDueIndex(setup(t)) })
	t.Run("DueOf", func(t *testing.T) { testDueOf(setup(t)) })
	t.Run("Reminded", func(t *testing.T) { testReminded(setup(t)) })
	t.Run("Stamp", func(t *testing.T) { testStamp(setup(t)) })
	t.Run("HeldForApproval", func(t *testing.T) { testHeldForApproval(setup(t)) })
	t.Run("ApprovalBeforeTheDate", func(t *testing.T) { testApprovalBeforeTheDate(setup(t)) })
	t.Run("BulkCancelPages", func(t *testing.T) { testBulkCancelPages(setup(t)) })
	t.Run("Freeze", func(t *testing.T) { testFreeze(setup(t)) })
	t.Run("FreezeOverApproval", func(t *testing.T) { testFreezeOverApproval(setup(t)) })
	t.Run("FreezeLeftByAnEarlierPolicy", func(t *testing.T) { testFreezeLeftByAnEarlierPolicy(setup(t)) })
	t.Run("Guard", func(t *testing.T) { testGuard(setup(t)) })
}

// testNumbers: every key gets a number, unique within its owner, and a
// number once used stays taken.
func testNumbers(f *fixture) {
	t := f.t
	a := f.create("", keys.OriginKMS)
	got, err := f.svc.Get(f.ctx, f.p, a.ID)
	if err != nil || a.Number < 1 || a.Number > 1<<31-1 || got.Number != a.Number || a.Number != keys.NumberOf(a.ID) {
		t.Fatalf("number %d (stored %d, %v)", a.Number, got.Number, err)
	}
	clash := keys.Key{ID: "6f2c7e3a-0d4b-4c1e-9a8f-2b3c4d5e6f70", Owner: f.owner, Number: a.Number, Spec: keys.AES256,
		Usage: keys.EncryptDecrypt, Origin: keys.OriginKMS, State: keys.Enabled, CreatedAt: a.CreatedAt, StateChangedAt: a.CreatedAt}
	if err := f.store.Create(f.ctx, clash); !errors.Is(err, keys.ErrNumberTaken) {
		t.Fatalf("a second key with number %d: %v, want ErrNumberTaken", a.Number, err)
	}
	if _, err := f.store.Get(f.ctx, f.owner, clash.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("the refused create stored a key: %v", err)
	}
	clash.Owner = "tenant-b"
	if err := f.store.Create(f.ctx, clash); err != nil {
		t.Fatalf("the same number for another owner: %v", err)
	}
}

// testTags: tags are set, overwritten and removed by one change each; a key
// keeps at most keys.MaxTags, counted exactly (overwrites are not new); a
// key pending deletion keeps its tags and refuses changes to them.
func testTags(f *fixture) {
	t := f.t
	k, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{Tags: map[string]string{"team": "a", "dots.and spaces": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.svc.Get(f.ctx, f.p, k.ID); !reflect.DeepEqual(got.Tags, map[string]string{"team": "a", "dots.and spaces": "x"}) {
		t.Fatalf("tags at creation: %v", got.Tags)
	}
	after, err := f.svc.Tag(f.ctx, f.p, k.ID, map[string]string{"team": "b", "env": ""})
	if err != nil || !reflect.DeepEqual(after.Tags, map[string]string{"team": "b", "dots.and spaces": "x", "env": ""}) {
		t.Fatalf("tag: %v %v", after.Tags, err)
	}
	after, err = f.svc.Untag(f.ctx, f.p, k.ID, []string{"dots.and spaces", "absent"})
	if err != nil || !reflect.DeepEqual(after.Tags, map[string]string{"team": "b", "env": ""}) {
		t.Fatalf("untag: %v %v", after.Tags, err)
	}
	more := map[string]string{}
	for i := 0; len(more) < keys.MaxTags-2; i++ {
		more[fmt.Sprintf("t%02d", i)] = "v"
	}
	if _, err := f.svc.Tag(f.ctx, f.p, k.ID, more); err != nil {
		t.Fatalf("up to the limit: %v", err)
	}
	if _, err := f.svc.Tag(f.ctx, f.p, k.ID, map[string]string{"team": "c", "t00": "w"}); err != nil {
		t.Fatalf("overwrites at the limit: %v", err)
	}
	before, _ := f.svc.Get(f.ctx, f.p, k.ID)
	if _, err := f.svc.Tag(f.ctx, f.p, k.ID, map[string]string{"team": "d", "new": "v"}); !errors.Is(err, keys.ErrTooManyTags) {
		t.Fatalf("one past the limit: %v, want ErrTooManyTags", err)
	}
	if got, _ := f.svc.Get(f.ctx, f.p, k.ID); !reflect.DeepEqual(got, before) || got.Tags["team"] != "c" {
		t.Fatalf("the refused tagging changed the key: %v", got.Tags)
	}
	if _, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{Tags: more}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.scheduleKey(f.p, k.ID, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Tag(f.ctx, f.p, k.ID, map[string]string{"x": "y"}); !errors.Is(err, keys.ErrInvalidState) {
		t.Fatalf("tag a key pending deletion: %v", err)
	}
	if _, err := f.svc.Untag(f.ctx, f.p, k.ID, []string{"team"}); !errors.Is(err, keys.ErrInvalidState) {
		t.Fatalf("untag a key pending deletion: %v", err)
	}
	if got, _ := f.svc.Get(f.ctx, f.p, k.ID); len(got.Tags) != keys.MaxTags {
		t.Fatalf("a key pending deletion has %d tags", len(got.Tags))
	}
}

// testSucceedIfAlready: with the option, enabling an enabled key (disabling
// a disabled one) succeeds and changes nothing; other refusals stand.
func testSucceedIfAlready(f *fixture) {
	t := f.t
	k := f.create("", keys.OriginKMS)
	got, err := f.svc.Enable(f.ctx, f.p, k.ID, keys.SucceedIfAlready)
	if err != nil || !reflect.DeepEqual(got, k) {
		t.Fatalf("enable an enabled key: %+v %v", got, err)
	}
	if _, err := f.svc.Enable(f.ctx, f.p, k.ID); !errors.Is(err, keys.ErrInvalidState) {
		t.Fatalf("without the option: %v", err)
	}
	d, _ := f.svc.Disable(f.ctx, f.p, k.ID)
	if got, err := f.svc.Disable(f.ctx, f.p, k.ID, keys.SucceedIfAlready); err != nil || !reflect.DeepEqual(got, d) {
		t.Fatalf("disable a disabled key: %+v %v", got, err)
	}
	p, _ := f.scheduleKey(f.p, k.ID, 7)
	if _, err := f.svc.Enable(f.ctx, f.p, p.ID, keys.SucceedIfAlready); !errors.Is(err, keys.ErrInvalidState) {
		t.Fatalf("enable a key pending deletion, with the option: %v", err)
	}
	if _, err := f.svc.Enable(f.ctx, keys.Principal{Tenant: "tenant-b"}, k.ID, keys.SucceedIfAlready); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("another owner's key, with the option: %v", err)
	}
}

// testDeleteNow: an immediate deletion is allowed only while a key is
// pending deletion, and it is the final deletion, in one write: the key is
// gone, its name free, its tombstone (the window as scheduled, ended now)
// and both records written; nothing is left due.
func testDeleteNow(f *fixture) {
	t := f.t
	live := f.create("", keys.OriginKMS)
	if _, err := f.svc.DeleteNow(f.ctx, f.p, live.ID); !errors.Is(err, keys.ErrInvalidState) {
		t.Fatalf("delete now an enabled key: %v", err)
	}
	k, err := f.scheduleKey(f.p, f.create("deleted-now", keys.OriginKMS).ID, 7)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	ended, err := f.svc.DeleteNow(f.ctx, f.p, k.ID)
	if err != nil || ended.KeyID != k.ID || ended.DeleteAt.After(f.clock.Now()) || ended.Record.Op != keys.OpDeleteNow {
		t.Fatalf("delete now: %+v %v", ended, err)
	}
	if _, err := f.store.Get(f.ctx, f.owner, k.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("the key item after delete now: %v", err)
	}
	tomb, err := f.store.Tombstone(f.ctx, f.owner, k.ID)
	if err != nil || tomb.Alias != "deleted-now" || tomb.PendingDays != 7 || !tomb.ScheduledAt.Equal(k.ScheduledAt) ||
		!tomb.DeleteAt.Equal(ended.DeleteAt) || !tomb.DeletedAt.Equal(f.clock.Now().Truncate(time.Millisecond)) || !tomb.Immediate() {
		t.Fatalf("tombstone %+v %v (key %+v)", tomb, err, k)
	}
	if got := ops(f.trail(keys.TrailQuery{KeyID: k.ID})); !slices.Equal(got, []keys.Op{keys.OpSchedule, keys.OpDeleteNow, keys.OpFinalize}) {
		t.Fatalf("trail %v", got)
	}
	for name, op := range map[string]func() error{
		"again":  func() error { _, err := f.svc.DeleteNow(f.ctx, f.p, k.ID); return err },
		"cancel": func() error { _, err := f.cancelKey(f.p, k.ID); return err },
	} {
		if err := op(); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("%s after delete now: %v", name, err)
		}
	}
	if due, err := f.store.Due(f.ctx, f.clock.Now().Add(30*24*time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("due after delete now: %+v %v", due, err)
	}
	if un, err := f.store.Unreported(f.ctx, f.clock.Now(), 10); err != nil || len(un) != 1 || un[0].KeyID != k.ID {
		t.Fatalf("unreported after delete now: %+v %v (the sweep reports it)", un, err)
	}
	if _, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{Alias: "deleted-now"}); err != nil {
		t.Fatalf("the name after delete now: %v", err)
	}
}

// scheduleKey and cancelKey make the change through the
// service and return the key as stored after it (the service answers a
// recorded change with its transition only).
func (f *fixture) scheduleKey(p keys.Principal, id string, days int) (keys.Key, error) {
	t, err := f.svc.ScheduleDeletion(f.ctx, p, id, days)
	return f.stored(p, t, err)
}

func (f *fixture) cancelKey(p keys.Principal, id string) (keys.Key, error) {
	t, err := f.svc.CancelDeletion(f.ctx, p, id)
	return f.stored(p, t, err)
}

// stored is the key t changed, as stored, checked against t: a transition
// says what the stored key now is.
func (f *fixture) stored(p keys.Principal, t keys.Transition, err error) (keys.Key, error) {
	f.t.Helper()
	if err != nil {
		return keys.Key{}, err
	}
	k, err := f.store.Get(f.ctx, p.Tenant, t.KeyID)
	if err != nil {
		f.t.Fatalf("the key of a transition: %v", err)
	}
	if k.State != t.State || !t.StateChangedAt.IsZero() && !k.StateChangedAt.Equal(t.StateChangedAt) ||
		!k.DeleteAt.Equal(t.DeleteAt) || t.PendingDays != 0 && k.PendingDays != t.PendingDays {
		f.t.Fatalf("transition %+v, but the stored key is %+v", t, k)
	}
	return k, nil
}

// asKey is what a transition says of its key, for checks of the state alone.
func asKey(t keys.Transition, err error) (keys.Key, error) {
	return keys.Key{ID: t.KeyID, State: t.State, StateChangedAt: t.StateChangedAt, DeleteAt: t.DeleteAt, PendingDays: t.PendingDays}, err
}

// finalization is keys.Finalize of k at now, which must succeed.
func (f *fixture) finalization(k keys.Key, now time.Time) keys.Finalization {
	f.t.Helper()
	fin, err := keys.Finalize(k, now, keys.System(k.Owner, "test"))
	if err != nil {
		f.t.Fatalf("keys.Finalize: %v", err)
	}
	return fin
}

func (f *fixture) create(alias string, origin keys.Origin) keys.Key {
	f.t.Helper()
	k, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{Alias: alias, Description: "d", Origin: origin})
	if err != nil {
		f.t.Fatalf("create: %v", err)
	}
	return k
}

func testRoundTrip(f *fixture) {
	t := f.t
	k, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{
		Alias: "app/one", Description: "payments", Spec: keys.RSA2048, Usage: keys.SignVerify,
		AutoRotation: true, RotationPeriodDays: 90, Protection: "BASIC",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Get(f.ctx, f.p, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, k) {
		t.Fatalf("stored key differs:\n got %+v\nwant %+v", got, k)
	}
	if k.State != keys.Enabled || k.Origin != keys.OriginKMS {
		t.Fatalf("new key: state %s origin %s", k.State, k.Origin)
	}
	ext := f.create("", keys.OriginExternal)
	if ext.State != keys.PendingImport {
		t.Fatalf("external key state %s, want PendingImport", ext.State)
	}
	if _, err := f.svc.Get(f.ctx, f.p, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

// Every spec takes the usages it supports, defaults to its first, and
// refuses the others without storing anything.
func testSpecsAndUsages(f *fixture) {
	t := f.t
	supports := map[keys.Spec][]keys.Usage{
		keys.AES256: {keys.EncryptDecrypt}, keys.RSA2048: {keys.SignVerify, keys.EncryptDecrypt},
		keys.RSA3072: {keys.SignVerify, keys.EncryptDecrypt}, keys.RSA4096: {keys.SignVerify, keys.EncryptDecrypt},
		keys.ECP256: {keys.SignVerify}, keys.ECP384: {keys.SignVerify},
	}
	if len(keys.Specs()) != len(supports) {
		t.Fatalf("specs %v; the test knows %d", keys.Specs(), len(supports))
	}
	stored := 0
	for _, spec := range keys.Specs() {
		k, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{Spec: spec})
		if err != nil || k.Usage != supports[spec][0] {
			t.Fatalf("%s with no usage: %v %v, want default %s", spec, k.Usage, err, supports[spec][0])
		}
		stored++
		for _, usage := range keys.Usages() {
			_, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{Spec: spec, Usage: usage})
			want := slices.Contains(supports[spec], usage)
			if want != (err == nil) || (!want && !errors.Is(err, keys.ErrIncompatibleUsage)) {
				t.Fatalf("%s with %s: %v, want supported=%v", spec, usage, err, want)
			}
			if want {
				stored++
			}
		}
	}
	if all, err := f.numbered(); err != nil || len(all) != stored {
		t.Fatalf("%d keys stored (%v), want %d: a refused create stored something", len(all), err, stored)
	}
}

func testAliases(f *fixture) {
	t := f.t
	k := f.create("shared-name", keys.OriginKMS)
	if _, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{Alias: "shared-name"}); !errors.Is(err, keys.ErrAliasExists) {
		t.Fatalf("duplicate alias: %v", err)
	}
	all, err := f.numbered()
	if err != nil || len(all) != 1 {
		t.Fatalf("after refused create: %d keys, %v; want 1", len(all), err)
	}
	got, err := f.svc.GetByAlias(f.ctx, f.p, "shared-name")
	if err != nil || got.ID != k.ID {
		t.Fatalf("by alias: %v %v", got.ID, err)
	}
	if _, err := f.svc.Create(f.ctx, keys.Principal{Tenant: "tenant-b"}, keys.CreateRequest{Alias: "shared-name"}); err != nil {
		t.Fatalf("same alias, other owner: %v", err)
	}
	if _, err := f.svc.GetByAlias(f.ctx, f.p, "nope"); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("unknown alias: %v", err)
	}
}

func testOwnerIsolation(f *fixture) {
	t := f.t
	k := f.create("mine", keys.OriginKMS)
	other := "tenant-b"
	if _, err := f.svc.Get(f.ctx, keys.Principal{Tenant: other}, k.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("get across owners: %v", err)
	}
	if _, err := f.svc.GetByAlias(f.ctx, keys.Principal{Tenant: other}, "mine"); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("alias across owners: %v", err)
	}
	for name, op := range map[string]func(string, string) (keys.Key, error){
		"enable":  func(o, id string) (keys.Key, error) { return f.svc.Enable(f.ctx, keys.Principal{Tenant: o}, id) },
		"disable": func(o, id string) (keys.Key, error) { return f.svc.Disable(f.ctx, keys.Principal{Tenant: o}, id) },
		"schedule": func(o, id string) (keys.Key, error) {
			return asKey(f.svc.ScheduleDeletion(f.ctx, keys.Principal{Tenant: o}, id, 7))
		},
		"cancel": func(o, id string) (keys.Key, error) {
			return asKey(f.svc.CancelDeletion(f.ctx, keys.Principal{Tenant: o}, id))
		},
	} {
		if _, err := op(other, k.ID); !errors.Is(err, keys.ErrNotFound) {
			t.Fatalf("%s across owners: %v, want not found", name, err)
		}
	}
	p, err := f.svc.List(f.ctx, keys.Principal{Tenant: other}, "", 100)
	if err != nil || len(p.Keys) != 0 {
		t.Fatalf("list across owners: %d keys, %v", len(p.Keys), err)
	}
	got, _ := f.svc.Get(f.ctx, f.p, k.ID)
	if !reflect.DeepEqual(got, k) {
		t.Fatalf("key changed by another owner's calls: %+v", got)
	}
}

// start states the matrix covers; "Expired" is a pending deletion whose window has ended.
var startStates = []string{"Enabled", "Disabled", "PendingDeletion", "PendingImport", "Expired"}

func (f *fixture) keyIn(state string) keys.Key {
	f.t.Helper()
	var k keys.Key
	var err error
	switch state {
	case "Enabled":
		k = f.create("", keys.OriginKMS)
	case "Disabled":
		k, err = f.svc.Disable(f.ctx, f.p, f.create("", keys.OriginKMS).ID)
	case "PendingDeletion":
		k, err = f.scheduleKey(f.p, f.create("", keys.OriginKMS).ID, 7)
	case "PendingImport":
		k = f.create("", keys.OriginExternal)
	case "Expired":
		k, err = f.scheduleKey(f.p, f.create("", keys.OriginKMS).ID, 7)
		f.clock.Advance(7*24*time.Hour + time.Second)
	}
	if err != nil {
		f.t.Fatalf("put key in %s: %v", state, err)
	}
	return k
}

func testStateMachine(t *testing.T, setup func(*testing.T) *fixture) {
	type outcome struct {
		state keys.State // resulting state on success
		err   error      // or the error
	}
	ok := func(s keys.State) outcome { return outcome{state: s} }
	bad := outcome{err: keys.ErrInvalidState}
	gone := outcome{err: keys.ErrNotFound}
	want := map[string]map[keys.Op]outcome{
		"Enabled":         {keys.OpEnable: bad, keys.OpDisable: ok(keys.Disabled), keys.OpSchedule: ok(keys.PendingDeletion), keys.OpCancel: bad},
		"Disabled":        {keys.OpEnable: ok(keys.Enabled), keys.OpDisable: bad, keys.OpSchedule: ok(keys.PendingDeletion), keys.OpCancel: bad},
		"PendingDeletion": {keys.OpEnable: bad, keys.OpDisable: bad, keys.OpSchedule: bad, keys.OpCancel: ok(keys.Disabled)},
		"PendingImport":   {keys.OpEnable: bad, keys.OpDisable: bad, keys.OpSchedule: ok(keys.PendingDeletion), keys.OpCancel: bad},
		"Expired":         {keys.OpEnable: gone, keys.OpDisable: gone, keys.OpSchedule: gone, keys.OpCancel: gone},
	}
	for _, start := range startStates {
		for _, op := range []keys.Op{keys.OpEnable, keys.OpDisable, keys.OpSchedule, keys.OpCancel} {
			t.Run(start+"/"+string(op), func(t *testing.T) {
				f := setup(t)
				k := f.keyIn(start)
				before, _ := f.store.Get(f.ctx, f.owner, k.ID)
				var got keys.Key
				var err error
				switch op {
				case keys.OpEnable:
					got, err = f.svc.Enable(f.ctx, f.p, k.ID)
				case keys.OpDisable:
					got, err = f.svc.Disable(f.ctx, f.p, k.ID)
				case keys.OpSchedule:
					got, err = f.scheduleKey(f.p, k.ID, 10)
				case keys.OpCancel:
					got, err = f.cancelKey(f.p, k.ID)
				}
				w := want[start][op]
				if w.err != nil {
					if !errors.Is(err, w.err) {
						t.Fatalf("got %v, want %v", err, w.err)
					}
					var se *keys.StateError
					if errors.As(err, &se) && (se.State != before.State || se.Op != op) {
						t.Fatalf("state error %+v, stored state %s", se, before.State)
					}
					after, _ := f.store.Get(f.ctx, f.owner, k.ID)
					if !reflect.DeepEqual(after, before) {
						t.Fatalf("refused %s changed the key:\nbefore %+v\n after %+v", op, before, after)
					}
					return
				}
				if err != nil {
					t.Fatalf("got %v, want state %s", err, w.state)
				}
				if got.State != w.state {
					t.Fatalf("state %s, want %s", got.State, w.state)
				}
				stored, _ := f.svc.Get(f.ctx, f.p, k.ID)
				if !reflect.DeepEqual(stored, got) {
					t.Fatalf("returned key differs from stored:\n%+v\n%+v", got, stored)
				}
				if pending := got.State == keys.PendingDeletion; pending != !got.DeleteAt.IsZero() || pending != (got.PendingDays != 0) {
					t.Fatalf("deletion fields inconsistent with state: %+v", got)
				}
				if op == keys.OpSchedule {
					wantAt := f.clock.Now().Add(10 * 24 * time.Hour).Truncate(time.Second).Add(time.Second)
					if !got.DeleteAt.Equal(wantAt) || got.PendingDays != 10 {
						t.Fatalf("deleteAt %v days %d, want %v and 10", got.DeleteAt, got.PendingDays, wantAt)
					}
				}
			})
		}
	}
}

func testWindowBoundary(f *fixture) {
	t := f.t
	k, err := f.scheduleKey(f.p, f.create("edge", keys.OriginKMS).ID, 7)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(k.DeleteAt.Add(-time.Millisecond))
	if _, err := f.svc.Get(f.ctx, f.p, k.ID); err != nil {
		t.Fatalf("1ms before the window ends: %v", err)
	}
	if p, _ := f.svc.List(f.ctx, f.p, "", 10); len(p.Keys) != 1 {
		t.Fatalf("1ms before: list has %d keys", len(p.Keys))
	}
	if _, err := f.cancelKey(f.p, k.ID); err != nil {
		t.Fatalf("cancel 1ms before the end: %v", err)
	}
	k, err = f.scheduleKey(f.p, k.ID, 7)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Set(k.DeleteAt)
	if _, err := f.svc.Get(f.ctx, f.p, k.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("at the instant the window ends: %v, want not found", err)
	}
	if _, err := f.svc.GetByAlias(f.ctx, f.p, "edge"); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("by alias at the end: %v, want not found", err)
	}
	if p, _ := f.svc.List(f.ctx, f.p, "", 10); len(p.Keys) != 0 {
		t.Fatalf("at the end: list has %d keys", len(p.Keys))
	}
	if _, err := f.cancelKey(f.p, k.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("cancel at the end: %v, want not found", err)
	}
}

func testList(f *fixture) {
	t := f.t
	made := map[string]bool{}
	for i := 0; i < 7; i++ {
		made[f.create(fmt.Sprintf("k%d", i), keys.OriginKMS).ID] = true
	}
	gone, _ := f.scheduleKey(f.p, f.create("", keys.OriginKMS).ID, 7)
	f.clock.Advance(8 * 24 * time.Hour)
	pending, _ := f.scheduleKey(f.p, f.create("", keys.OriginKMS).ID, 7)
	made[pending.ID] = true
	f.create("", keys.OriginKMS) // another owner's key must not show
	if _, err := f.svc.Create(f.ctx, keys.Principal{Tenant: "tenant-b"}, keys.CreateRequest{}); err != nil {
		t.Fatal(err)
	}
	delete(made, "")
	seen := map[string]bool{}
	after, prev := "", ""
	pages := 0
	for {
		p, err := f.svc.List(f.ctx, f.p, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(p.Keys) > 3 {
			t.Fatalf("page of %d keys, limit 3", len(p.Keys))
		}
		for _, k := range p.Keys {
			if k.ID <= prev {
				t.Fatalf("ids out of order: %s after %s", k.ID, prev)
			}
			prev = k.ID
			seen[k.ID] = true
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if seen[gone.ID] {
		t.Fatal("expired key listed")
	}
	if len(seen) != 9 || pages != 3 {
		t.Fatalf("listed %d keys in %d pages, want 9 in 3", len(seen), pages)
	}
	all, err := f.numbered()
	if err != nil || len(all) != 9 {
		t.Fatalf("numbered: %d keys, %v", len(all), err)
	}
}

func testDueAndFinalize(f *fixture) {
	t := f.t
	k, _ := f.scheduleKey(f.p, f.create("doomed", keys.OriginKMS).ID, 7)
	later, _ := f.scheduleKey(f.p, f.create("", keys.OriginKMS).ID, 30)
	f.create("", keys.OriginKMS)
	if due, _ := f.store.Due(f.ctx, f.clock.Now(), 10); len(due) != 0 {
		t.Fatalf("due before any window ended: %d", len(due))
	}
	f.clock.Set(k.DeleteAt)
	due, err := f.store.Due(f.ctx, f.clock.Now(), 10)
	if err != nil || len(due) != 1 || due[0].ID != k.ID {
		t.Fatalf("due: %+v %v", due, err)
	}
	// Before the window ends, the store refuses the final deletion of the
	// item, whatever the caller says.
	early := f.finalization(k, k.DeleteAt.Add(-time.Second))
	if _, created, err := f.store.Finalize(f.ctx, early); err == nil || created {
		t.Fatalf("finalize before the window ended: created=%v %v", created, err)
	}
	fin := f.finalization(due[0], f.clock.Now())
	tomb := fin.Tombstone
	if !tomb.ScheduledAt.Equal(k.ScheduledAt) || k.ScheduledAt.IsZero() || !tomb.DeletedAt.Equal(f.clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("tombstone times %+v, key scheduled at %v", tomb, k.ScheduledAt)
	}
	if stored, created, err := f.store.Finalize(f.ctx, fin); err != nil || !created || stored != tomb {
		t.Fatalf("finalize: %+v created=%v %v", stored, created, err)
	}
	// A redelivery, at a later time: nothing changes, and the tombstone
	// written first comes back.
	redelivered := f.finalization(due[0], f.clock.Now().Add(time.Hour))
	if stored, created, err := f.store.Finalize(f.ctx, redelivered); err != nil || created || stored != tomb {
		t.Fatalf("second finalize (redelivery): %+v created=%v %v", stored, created, err)
	}
	if _, err := f.store.Get(f.ctx, f.owner, k.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("item after finalize: %v", err)
	}
	got, err := f.store.Tombstone(f.ctx, f.owner, k.ID)
	if err != nil || got != tomb {
		t.Fatalf("tombstone %+v %v, want %+v", got, err, tomb)
	}
	// Unreported until marked; marked once, it keeps the first report's time.
	if un, err := f.store.Unreported(f.ctx, f.clock.Now(), 10); err != nil || len(un) != 1 || un[0] != tomb {
		t.Fatalf("unreported: %+v %v", un, err)
	}
	reportedAt := f.clock.Now().Truncate(time.Millisecond)
	if err := f.store.MarkReported(f.ctx, f.owner, k.ID, reportedAt); err != nil {
		t.Fatal(err)
	}
	if err := f.store.MarkReported(f.ctx, f.owner, k.ID, reportedAt.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if un, err := f.store.Unreported(f.ctx, f.clock.Now(), 10); err != nil || len(un) != 0 {
		t.Fatalf("unreported after the report: %+v %v", un, err)
	}
	tomb.ReportedAt = reportedAt
	if stored, created, err := f.store.Finalize(f.ctx, redelivered); err != nil || created || stored != tomb {
		t.Fatalf("finalize after the report: %+v created=%v %v", stored, created, err)
	}
	if err := f.store.MarkReported(f.ctx, f.owner, "0d0466b0-e727-4d9c-b35d-f84bb474a37f", reportedAt); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("mark reported without a tombstone: %v", err)
	}
	if due, _ := f.store.Due(f.ctx, f.clock.Now(), 10); len(due) != 0 {
		t.Fatalf("due after finalize: %d", len(due))
	}
	// The alias is free again, and a later finalize of the old key must not take it back.
	reuse := f.create("doomed", keys.OriginKMS)
	if _, _, err := f.store.Finalize(f.ctx, f.finalization(k, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if got, err := f.svc.GetByAlias(f.ctx, f.p, "doomed"); err != nil || got.ID != reuse.ID {
		t.Fatalf("reused alias: %v %v", got.ID, err)
	}
	if _, err := f.svc.Get(f.ctx, f.p, later.ID); err != nil {
		t.Fatalf("other pending key: %v", err)
	}
}

// testConcurrent runs many goroutines against the same keys and checks that
// the successful transitions of each key form one path through the state
// machine from its first state to its last: some serial order of the calls
// that succeeded explains the outcome, and no update was lost.
func testConcurrent(f *fixture) {
	t := f.t
	const nKeys, workers, perWorker = 3, 8, 25
	ks := make([]keys.Key, nKeys)
	for i := range ks {
		ks[i] = f.create("", keys.OriginKMS)
	}
	var mu sync.Mutex
	edges := make([][]edge, nKeys)
	ops := []keys.Op{keys.OpEnable, keys.OpDisable, keys.OpSchedule, keys.OpCancel}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				ki := (w + i) % nKeys
				op := ops[(w*7+i*3)%len(ops)]
				var err error
				var after keys.Key
				switch op {
				case keys.OpEnable:
					after, err = f.svc.Enable(f.ctx, f.p, ks[ki].ID)
				case keys.OpDisable:
					after, err = f.svc.Disable(f.ctx, f.p, ks[ki].ID)
				case keys.OpSchedule:
					after, err = asKey(f.svc.ScheduleDeletion(f.ctx, f.p, ks[ki].ID, 7))
				case keys.OpCancel:
					after, err = asKey(f.svc.CancelDeletion(f.ctx, f.p, ks[ki].ID))
				}
				if err == nil {
					mu.Lock()
					edges[ki] = append(edges[ki], edge{fromOf(op), after.State})
					mu.Unlock()
				} else if !errors.Is(err, keys.ErrInvalidState) {
					t.Errorf("%s: %v", op, err)
				}
			}
		}(w)
	}
	wg.Wait()
	for i, k := range ks {
		final, err := f.svc.Get(f.ctx, f.p, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(edges[i]) == 0 {
			t.Fatalf("key %d: no call succeeded; the test exercised nothing", i)
		}
		if err := serialOrderExists(keys.Enabled, final.State, edges[i]); err != nil {
			t.Fatalf("key %d: %d successful transitions, final %s: %v", i, len(edges[i]), final.State, err)
		}
	}
}

// testConcurrentAlias: many clients create a key with the same alias at once
// (an idempotent create retried in parallel). Exactly one wins; every other
// is told the alias exists, never an internal error, whatever the store's
// concurrency control does underneath (DynamoDB cancels one of two
// overlapping transactions with TransactionConflict).
func testConcurrentAlias(f *fixture) {
	t := f.t
	const rounds, clients = 5, 8
	for r := 0; r < rounds; r++ {
		alias := fmt.Sprintf("race-%d", r)
		var wg sync.WaitGroup
		var won atomic.Int32
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.svc.Create(f.ctx, f.p, keys.CreateRequest{Alias: alias})
				switch {
				case err == nil:
					won.Add(1)
				case !errors.Is(err, keys.ErrAliasExists):
					t.Errorf("create %s: %v, want success or ErrAliasExists", alias, err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("alias %s: %d creates succeeded, want 1", alias, won.Load())
		}
	}
}

// testRacingFinalize: clients change keys while their final deletion runs.
// Each call either acts before the deletion or is told the key is gone (not
// found, or its state); none fails otherwise, and every key ends finalized.
func testRacingFinalize(f *fixture) {
	t := f.t
	const n = 12
	pending := make([]keys.Key, n)
	for i := range pending {
		k, err := f.scheduleKey(f.p, f.create(fmt.Sprintf("racing-%d", i), keys.OriginKMS).ID, 7)
		if err != nil {
			t.Fatal(err)
		}
		pending[i] = k
	}
	// The windows have ended: the finalize and the clients race. (The
	// service refuses calls on an ended window without writing, so the
	// clients' clock stays just before the end.)
	clientNow := pending[0].DeleteAt.Add(-time.Millisecond)
	svc := keys.NewService(f.store, func() time.Time { return clientNow })
	var wg sync.WaitGroup
	for i, k := range pending {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, _, err := f.store.Finalize(f.ctx, f.finalization(k, k.DeleteAt)); err != nil {
				// The cancel won: the key is no longer this pending deletion.
				if _, getErr := f.store.Get(f.ctx, k.Owner, k.ID); getErr != nil {
					t.Errorf("finalize %d: %v", i, err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			enable := func(ctx context.Context, p keys.Principal, id string) (keys.Key, error) {
				return svc.Enable(ctx, p, id)
			}
			cancel := func(ctx context.Context, p keys.Principal, id string) (keys.Key, error) {
				return asKey(svc.CancelDeletion(ctx, p, id))
			}
			for _, op := range []func(context.Context, keys.Principal, string) (keys.Key, error){cancel, enable} {
				if _, err := op(f.ctx, f.p, k.ID); err != nil && !errors.Is(err, keys.ErrNotFound) && !errors.Is(err, keys.ErrInvalidState) {
					t.Errorf("key %d while it is finalized: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
}

// testCreateExistingID: an id is never issued twice, not even after its key
// was finally deleted (its tombstone stays the proof that it is gone).
func testCreateExistingID(f *fixture) {
	t := f.t
	live := f.create("", keys.OriginKMS)
	if err := f.store.Create(f.ctx, live); !errors.Is(err, keys.ErrKeyExists) {
		t.Fatalf("create over a live key: %v, want ErrKeyExists", err)
	}
	k, err := f.scheduleKey(f.p, f.create("gone", keys.OriginKMS).ID, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.Finalize(f.ctx, f.finalization(k, k.DeleteAt)); err != nil {
		t.Fatal(err)
	}
	again := k
	again.State, again.DeleteAt, again.PendingDays, again.Alias = keys.Enabled, time.Time{}, 0, ""
	if err := f.store.Create(f.ctx, again); !errors.Is(err, keys.ErrKeyExists) {
		t.Fatalf("create over a tombstone: %v, want ErrKeyExists", err)
	}
	if _, err := f.store.Get(f.ctx, f.owner, k.ID); !errors.Is(err, keys.ErrNotFound) {
		t.Fatalf("the refused create left a key: %v", err)
	}
}

// serialOrderExists reports whether the transitions can be ordered into one
// walk from start to end: an Eulerian path. Schedule edges carry no known
// origin (Enabled or Disabled); the degree balance fixes how many came from
// each, and the check fails if no split works.
func serialOrderExists(start, end keys.State, es []edge) error {
	bal := map[keys.State]int{start: -1, end: 1} // out - in, plus the path's ends
	if start == end {
		bal = map[keys.State]int{}
	}
	schedules := 0
	adj := map[keys.State][]keys.State{}
	for _, e := range es {
		bal[e.to]--
		if e.from == "" {
			schedules++
			continue
		}
		bal[e.from]++
		adj[e.from] = append(adj[e.from], e.to)
	}
	// x schedules left Enabled, the rest Disabled: balance at Enabled
	// must come to zero.
	x := -bal[keys.Enabled]
	if x < 0 || x > schedules {
		return fmt.Errorf("no serial order: Enabled unbalanced by %d with %d schedules", bal[keys.Enabled], schedules)
	}
	bal[keys.Enabled] += x
	bal[keys.Disabled] += schedules - x
	for st, b := range bal {
		if b != 0 {
			return fmt.Errorf("no serial order: state %s unbalanced by %d", st, b)
		}
	}
	if x > 0 {
		adj[keys.Enabled] = append(adj[keys.Enabled], keys.PendingDeletion)
	}
	if schedules-x > 0 {
		adj[keys.Disabled] = append(adj[keys.Disabled], keys.PendingDeletion)
	}
	// Every transition must be reachable from the start.
	seen := map[keys.State]bool{start: true}
	queue := []keys.State{start}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, n := range adj[s] {
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	for from := range adj {
		if !seen[from] {
			return fmt.Errorf("no serial order: transitions from %s unreachable from %s", from, start)
		}
	}
	return nil
}

type edge struct{ from, to keys.State }

// fromOf returns the state a successful op must have started from; "" for
// schedule, which may start from Enabled or Disabled.
func fromOf(op keys.Op) keys.State {
	switch op {
	case keys.OpEnable:
		return keys.Disabled
	case keys.OpDisable:
		return keys.Enabled
	case keys.OpCancel:
		return keys.PendingDeletion
	}
	return ""
}
