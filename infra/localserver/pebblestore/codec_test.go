package pebblestore

import (
	"reflect"
	"testing"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

var (
	ms   = func(v int64) time.Time { return time.UnixMilli(v).UTC() }
	full = keys.Key{ID: "0d0466b0-e727-4d9c-b35d-f84bb474a37f", Owner: "dev-a", Alias: "payments", Description: "ünïcode",
		Spec: keys.RSA2048, Usage: keys.SignVerify, Origin: keys.OriginExternal, State: keys.PendingDeletion,
		CreatedAt: ms(1795000000123), StateChangedAt: ms(1795000001456), DeleteAt: time.Unix(1795604801, 0).UTC(),
		ScheduledAt: ms(1795000001456), PendingDays: 7, Reminded: 24 * time.Hour, Number: 123456789,
		Tags: map[string]string{"team": "a", "deletion-protection": ""}, AutoRotation: true, RotationPeriodDays: 90,
		Protection: "HSM", Convergent: true,
		LastChange: keys.Stamp{Op: keys.OpSchedule, At: ms(1795000001456),
			By: keys.Principal{Tenant: "dev-a", Dialect: "aws", AccessKey: "AKIA", Source: "10.0.0.1:5", RequestID: "r"}}}
	tomb = keys.Tombstone{KeyID: full.ID, Owner: "dev-a", Alias: "payments", ScheduledAt: ms(1795000001456),
		DeleteAt: time.Unix(1795604801, 0).UTC(), PendingDays: 7, DeletedAt: ms(1795604802001), ReportedAt: ms(1795604802010)}
	rec = keys.Record{ID: "01a207a7-da26-7e32-81e0-536dd5b96994", Owner: "dev-a", KeyID: full.ID, Alias: "payments",
		Op: keys.OpCancel, At: ms(1795000001456), By: full.LastChange.By, DeleteAt: time.Unix(1795604801, 0).UTC(), PendingDays: 7}
)

// Every field survives the encoding; so do the zero values.
func TestCodecRoundTrips(t *testing.T) {
	for _, k := range []keys.Key{full, {ID: "x", Owner: "o", State: keys.Enabled, Number: 5}} {
		got, err := decodeKey(encodeKey(nil, k))
		if err != nil || !reflect.DeepEqual(*got, k) {
			t.Errorf("key:\n got %+v %v\nwant %+v", got, err, k)
		}
	}
	if got, err := decodeTombstone(encodeTombstone(nil, tomb)); err != nil || got != tomb {
		t.Errorf("tombstone: %+v %v", got, err)
	}
	got, err := decodeRecord(encodeRecord(nil, rec, 1826536001))
	if err != nil || !reflect.DeepEqual(got.Record, rec) || got.expiresAt != 1826536001 {
		t.Errorf("record: %+v %v", got, err)
	}
	// A key written without a number has the one its id implies.
	k, _ := decodeKey(encodeKey(nil, keys.Key{ID: full.ID}))
	if k.Number != keys.NumberOf(full.ID) {
		t.Errorf("implied number %d", k.Number)
	}
}

// Every prefix of a value, and every value with a byte more, is refused
// with an error: never a panic, never a key made of half a record.
func TestCodecRefusesDamagedValues(t *testing.T) {
	for name, v := range map[string][]byte{
		"key": encodeKey(nil, full), "tombstone": encodeTombstone(nil, tomb), "record": encodeRecord(nil, rec, 1),
	} {
		decode := map[string]func([]byte) error{
			"key":       func(b []byte) error { _, err := decodeKey(b); return err },
			"tombstone": func(b []byte) error { _, err := decodeTombstone(b); return err },
			"record":    func(b []byte) error { _, err := decodeRecord(b); return err },
		}[name]
		for i := range len(v) {
			if err := decode(v[:i]); err == nil {
				t.Errorf("%s cut at %d of %d bytes: decoded", name, i, len(v))
			}
		}
		if err := decode(append(append([]byte{}, v...), 0)); err == nil {
			t.Errorf("%s with a byte more: decoded", name)
		}
		bad := append([]byte{}, v...)
		bad[0] = 9
		if err := decode(bad); err == nil {
			t.Errorf("%s in an unknown format: decoded", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeKey(nil, full))
	f.Add(encodeTombstone(nil, tomb))
	f.Add(encodeRecord(nil, rec, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := decodeKey(b); err == nil {
			if again, err := decodeKey(encodeKey(nil, *k)); err != nil || !reflect.DeepEqual(again, k) {
				t.Fatalf("a decoded key does not round-trip: %+v %v", again, err)
			}
		}
		decodeTombstone(b)
		decodeRecord(b)
	})
}
