package pebblestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/keydeletion/service/shared/keys"
)

// The store's values are a compact binary encoding, not JSON: decoding and
// encoding the key record was a tenth of the server's CPU per request. Each
// value starts with its format's version; fields follow in a fixed order:
// strings and maps length-prefixed (uvarint), integers as varints, times as
// varints of their unit (milliseconds, or seconds for window ends, as the
// DynamoDB items keep them). A value that does not decode is an error that
// names what was wrong, never a panic.
//
// Format 2 of keys and records adds, at their end, what holds need (a
// key's scheduler and holds, a record's hold); format 3 of records, the
// keys a tenant-wide act concerns. Values written before still decode.
const (
	keyFormat       = 2
	tombstoneFormat = 1
	recordFormat    = 3
	freezeFormat    = 1
)

type encoder struct{ b []byte }

func (e *encoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) int(v int64) { e.b = binary.AppendVarint(e.b, v) }

// strs encodes a list of strings: its length, then each.
func strs[S ~string](e *encoder, vs []S) {
	e.b = binary.AppendUvarint(e.b, uint64(len(vs)))
	for _, v := range vs {
		e.str(string(v))
	}
}
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// ms and sec encode a time (zero stays zero).
func (e *encoder) ms(t time.Time) {
	if t.IsZero() {
		e.int(0)
		return
	}
	e.int(t.UnixMilli())
}

func (e *encoder) sec(t time.Time) {
	if t.IsZero() {
		e.int(0)
		return
	}
	e.int(t.Unix())
}

func (e *encoder) principal(p keys.Principal) {
	e.str(p.Dialect)
	e.str(p.AccessKey)
	e.str(p.Source)
	e.str(p.RequestID)
}

type decoder struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated value")

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errTruncated
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 {
		d.err = errTruncated
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	if v > 1 {
		d.err = fmt.Errorf("boolean %d", v)
	}
	return v == 1
}

func (d *decoder) ms() time.Time {
	if v := d.int(); v != 0 {
		return time.UnixMilli(v).UTC()
	}
	return time.Time{}
}

func (d *decoder) sec() time.Time {
	if v := d.int(); v != 0 {
		return time.Unix(v, 0).UTC()
	}
	return time.Time{}
}

func (d *decoder) principal(tenant string) keys.Principal {
	return keys.Principal{Tenant: tenant, Dialect: d.str(), AccessKey: d.str(), Source: d.str(), RequestID: d.str()}
}

// format reads and checks the version byte.
func (d *decoder) format(what string, want byte) {
	d.formats(what, want, want)
}

// formats reads a value's format, one from oldest to newest, and returns it.
func (d *decoder) formats(what string, oldest, newest byte) byte {
	if len(d.b) == 0 {
		d.err = fmt.Errorf("empty %s", what)
		return 0
	}
	v := d.b[0]
	if v < oldest || v > newest {
		d.err = fmt.Errorf("%s in format %d, not %d to %d", what, v, oldest, newest)
		return 0
	}
	d.b = d.b[1:]
	return v
}

// strs decodes a list of strings (nil if empty).
func (d *decoder) strs() []string {
	n := d.uvarint()
	if n == 0 || d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) { // each takes a byte at least
		d.err = errTruncated
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d bytes after the %s", len(d.b), what)
	}
	if d.err != nil {
		return fmt.Errorf("pebblestore: decode %s: %w", what, d.err)
	}
	return nil
}

// encodeKey appends k's encoding to b.
func encodeKey(b []byte, k keys.Key) []byte {
	e := encoder{b: append(b, keyFormat)}
	for _, s := range []string{k.ID, k.Owner, k.Alias, k.Description, string(k.Spec), string(k.Usage), string(k.Origin), string(k.State)} {
		e.str(s)
	}
	e.ms(k.CreatedAt)
	e.ms(k.StateChangedAt)
	e.sec(k.DeleteAt)
	e.ms(k.ScheduledAt)
	e.int(int64(k.PendingDays))
	e.int(int64(k.Reminded / time.Second))
	e.int(k.Number)
	e.b = binary.AppendUvarint(e.b, uint64(len(k.Tags)))
	for _, name := range slices.Sorted(maps.Keys(k.Tags)) {
		e.str(name)
		e.str(k.Tags[name])
	}
	e.bool(k.AutoRotation)
	e.int(int64(k.RotationPeriodDays))
	e.str(k.Protection)
	e.bool(k.Convergent)
	e.str(string(k.LastChange.Op))
	e.principal(k.LastChange.By)
	e.ms(k.LastChange.At)
	e.str(k.ScheduledBy)
	strs(&e, k.Holds)
	return e.b
}

// DecodeKey decodes a key as the store keeps it (for tools and tests that
// read the store's files, such as its write-ahead log).
func DecodeKey(raw []byte) (keys.Key, error) {
	k, err := decodeKey(raw)
	if err != nil {
		return keys.Key{}, err
	}
	return *k, nil
}

func decodeKey(raw []byte) (*keys.Key, error) {
	d := decoder{b: raw}
	format := d.formats("key", 1, keyFormat)
	k := &keys.Key{ID: d.str(), Owner: d.str(), Alias: d.str(), Description: d.str(), Spec: keys.Spec(d.str()),
		Usage: keys.Usage(d.str()), Origin: keys.Origin(d.str()), State: keys.State(d.str())}
	k.CreatedAt, k.StateChangedAt, k.DeleteAt, k.ScheduledAt = d.ms(), d.ms(), d.sec(), d.ms()
	k.PendingDays = int(d.int())
	k.Reminded = time.Duration(d.int()) * time.Second
	k.Number = d.int()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			d.err = errTruncated
		} else {
			k.Tags = make(map[string]string, n)
			for range n {
				name := d.str()
				k.Tags[name] = d.str()
			}
		}
	}
	k.AutoRotation = d.bool()
	k.RotationPeriodDays = int(d.int())
	k.Protection = d.str()
	k.Convergent = d.bool()
	if op := keys.Op(d.str()); op != "" {
		k.LastChange = keys.Stamp{Op: op, By: d.principal(k.Owner), At: d.ms()}
	} else {
		d.principal(k.Owner)
		d.ms()
	}
	if format >= 2 {
		k.ScheduledBy = d.str()
		for _, h := range d.strs() {
			k.Holds = append(k.Holds, keys.Hold(h))
		}
	}
	if k.Number == 0 && d.err == nil {
		k.Number = keys.NumberOf(k.ID)
	}
	return k, d.done("key")
}

func encodeTombstone(b []byte, t keys.Tombstone) []byte {
	e := encoder{b: append(b, tombstoneFormat)}
	e.str(t.KeyID)
	e.str(t.Owner)
	e.str(t.Alias)
	e.ms(t.ScheduledAt)
	e.sec(t.DeleteAt)
	e.int(int64(t.PendingDays))
	e.ms(t.DeletedAt)
	e.ms(t.ReportedAt)
	return e.b
}

func decodeTombstone(raw []byte) (keys.Tombstone, error) {
	d := decoder{b: raw}
	d.format("tombstone", tombstoneFormat)
	t := keys.Tombstone{KeyID: d.str(), Owner: d.str(), Alias: d.str(), ScheduledAt: d.ms(), DeleteAt: d.sec(),
		PendingDays: int(d.int()), DeletedAt: d.ms(), ReportedAt: d.ms()}
	return t, d.done("tombstone")
}

// storedRecord is an audit record with the end of its retention (zero:
// kept for good).
type storedRecord struct {
	keys.Record
	expiresAt int64 // epoch seconds
}

// expiry is when a record made at at is removed, kept for retention.
func expiry(at time.Time, retention time.Duration) int64 {
	if retention <= 0 {
		return 0
	}
	return at.Add(retention).Unix()
}

func encodeRecord(b []byte, r keys.Record, expiresAt int64) []byte {
	e := encoder{b: append(b, recordFormat)}
	e.str(r.ID)
	e.str(r.Owner)
	e.str(r.KeyID)
	e.str(r.Alias)
	e.str(string(r.Op))
	e.ms(r.At)
	e.principal(r.By)
	e.sec(r.DeleteAt)
	e.int(int64(r.PendingDays))
	e.int(expiresAt)
	e.str(string(r.Hold))
	strs(&e, r.KeyIDs)
	return e.b
}

func decodeRecord(raw []byte) (storedRecord, error) {
	d := decoder{b: raw}
	format := d.formats("audit record", 1, recordFormat)
	r := keys.Record{ID: d.str(), Owner: d.str(), KeyID: d.str(), Alias: d.str(), Op: keys.Op(d.str()), At: d.ms()}
	r.By = d.principal(r.Owner)
	r.DeleteAt = d.sec()
	r.PendingDays = int(d.int())
	s := storedRecord{Record: r, expiresAt: d.int()}
	if format >= 2 {
		s.Record.Hold = keys.Hold(d.str())
	}
	if format >= 3 {
		s.Record.KeyIDs = d.strs()
	}
	return s, d.done("audit record")
}

func encodeFreeze(b []byte, f keys.Freeze) []byte {
	e := encoder{b: append(b, freezeFormat)}
	e.bool(f.Frozen)
	e.ms(f.At)
	e.principal(f.By)
	return e.b
}

func decodeFreeze(raw []byte, owner string) (keys.Freeze, error) {
	d := decoder{b: raw}
	d.format("freeze", freezeFormat)
	f := keys.Freeze{Frozen: d.bool(), At: d.ms()}
	f.By = d.principal(owner)
	return f, d.done("freeze")
}
