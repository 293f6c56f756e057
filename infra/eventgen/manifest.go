// Package eventgen reads events/manifest.json (written by generate.py) and
// puts a store into the state each event expects, for every test that
// replays events/: through the api-proxy adapter, through the expire
// handler, and through the compiled function binaries.
package eventgen

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/keydeletion/service/infra/devclient"
	"github.com/keydeletion/service/shared/keys"
)

// Expectation is what one event should produce.
type Expectation struct {
	Function string `json:"function"` // functions/<Function>
	// API events.
	Seed   string `json:"seed"`   // the events' key's state beforehand: none, Enabled, Disabled, PendingDeletion
	Status int    `json:"status"` // HTTP status
	Code   string `json:"code"`   // the dialect's error code, for failures
	Auth   string `json:"auth"`   // how to sign it: a tenant id, "none", "wrong-secret" or "stale"
	// Stream events.
	Failures      []string `json:"failures"`      // sequence numbers reported as batch item failures
	Tombstones    []string `json:"tombstones"`    // keys finalized
	AliasReleased bool     `json:"aliasReleased"` // whether the key's alias is free afterwards
	After         string   `json:"after"`         // an event to deliver first (redelivery)
	// Stream and sweep events.
	Published []string `json:"published"` // detail types of the events published, in order
}

// Manifest is events/manifest.json.
type Manifest struct {
	Dir    string                 `json:"-"`
	KeyID  string                 `json:"keyId"`
	KeyTag string                 `json:"keyTag"`
	Events map[string]Expectation `json:"events"`
}

// StreamAlias is the alias the stream events' key had.
const StreamAlias = "events-demo"

// Owner is the tenant that owns the events' key: dev-a of
// infra/local/credentials.json.
const Owner = "dev-a"

// Load reads the manifest in dir (the events folder).
func Load(dir string) (Manifest, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return Manifest{}, err
	}
	m := Manifest{Dir: dir}
	if err := json.Unmarshal(raw, &m); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}

// Event returns the raw bytes of an event.
func (m Manifest) Event(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(m.Dir, name+".json"))
}

// IsStream reports whether an expectation is for the expire function.
func (e Expectation) IsStream() bool { return e.Function == "expire" }

// IsSweep reports whether an expectation is for the sweep function.
func (e Expectation) IsSweep() bool { return e.Function == "sweep" }

// createKey stores the events' key, Enabled and owned by Owner, with its
// fixed id (which is why it bypasses keys.Service.Create).
func (m Manifest) createKey(ctx context.Context, st keys.Store, alias string) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return st.Create(ctx, keys.Key{ID: m.KeyID, Owner: Owner, Alias: alias, Spec: keys.AES256,
		Usage: keys.EncryptDecrypt, Origin: keys.OriginKMS, State: keys.Enabled, CreatedAt: now, StateChangedAt: now})
}

// Seed puts the events' key, owned by Owner, into state on a store ("none"
// leaves the store empty).
func (m Manifest) Seed(ctx context.Context, st keys.Store, state string) error {
	svc := keys.NewService(st, time.Now)
	var then func() error
	switch state {
	case "none":
		return nil
	case "Enabled":
		then = func() error { return nil }
	case "Disabled":
		then = func() error { _, err := svc.Disable(ctx, keys.Principal{Tenant: Owner}, m.KeyID); return err }
	case "PendingDeletion":
		then = func() error {
			_, err := svc.ScheduleDeletion(ctx, keys.Principal{Tenant: Owner}, m.KeyID, 7)
			return err
		}
	case "PendingDeletionEnded":
		// Scheduled 8 days ago for 7: the window ended a day ago.
		past := keys.NewService(st, func() time.Time { return time.Now().Add(-8 * 24 * time.Hour) })
		then = func() error {
			_, err := past.ScheduleDeletion(ctx, keys.Principal{Tenant: Owner, Dialect: "aws"}, m.KeyID, 7)
			return err
		}
	default:
		return fmt.Errorf("unknown seed state %q", state)
	}
	if err := m.createKey(ctx, st, ""); err != nil {
		return err
	}
	return then()
}

// SeedRemovedByTTL leaves the store as DynamoDB TTL does before the stream
// events: the key's alias still claimed, the key item already gone. remove
// deletes the key item from the store's table.
func (m Manifest) SeedRemovedByTTL(ctx context.Context, st keys.Store, remove func(ctx context.Context, owner, id string) error) error {
	if err := m.createKey(ctx, st, StreamAlias); err != nil {
		return err
	}
	return remove(ctx, Owner, m.KeyID)
}

// Signed returns the API event name signed as its "auth" says, with the
// credentials in creds (devclient.Load of the credentials document).
func (m Manifest) Signed(name string, creds map[string]devclient.Creds, now time.Time) ([]byte, error) {
	raw, err := m.Event(name)
	if err != nil {
		return nil, err
	}
	e := m.Events[name]
	c, at := creds[Owner], now
	switch e.Auth {
	case "none":
		return raw, nil
	case "", Owner:
	case "wrong-secret":
		c.AWSSecret, c.NCPSecret, c.HuaweiToken = "wrong"+c.AWSSecret, "wrong"+c.NCPSecret, "wrong"+c.HuaweiToken
	case "stale":
		at = now.Add(-20 * time.Minute)
	default:
		var ok bool
		if c, ok = creds[e.Auth]; !ok {
			return nil, fmt.Errorf("event %s: no credentials for tenant %q", name, e.Auth)
		}
	}
	return devclient.SignEvent(raw, c, at)
}
