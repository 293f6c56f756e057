// Package keys is the domain: what a key is, which transitions are legal, and
// the service every dialect calls. It knows neither the wire nor the storage.
package keys

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"time"
)

// State is a key's lifecycle state. Deleted is never stored on a key: a key
// whose window has ended is gone, and a tombstone remembers it.
type State string

const (
	Enabled         State = "Enabled"
	Disabled        State = "Disabled"
	PendingDeletion State = "PendingDeletion"
	PendingImport   State = "PendingImport"
)

// Spec is the kind of key. Dialects map their own names onto these.
type Spec string

const (
	AES256  Spec = "AES_256"
	RSA2048 Spec = "RSA_2048"
	RSA3072 Spec = "RSA_3072"
	RSA4096 Spec = "RSA_4096"
	ECP256  Spec = "EC_P256"
	ECP384  Spec = "EC_P384"
)

// Usage is what a key is for.
type Usage string

const (
	EncryptDecrypt Usage = "ENCRYPT_DECRYPT"
	SignVerify     Usage = "SIGN_VERIFY"
)

// specUsages says which specs exist and which usages each supports; the
// first is the spec's default: symmetric keys encrypt, asymmetric keys sign
// (Huawei's documented defaults; RSA keys can also encrypt, if asked).
var specUsages = map[Spec][]Usage{
	AES256:  {EncryptDecrypt},
	RSA2048: {SignVerify, EncryptDecrypt},
	RSA3072: {SignVerify, EncryptDecrypt},
	RSA4096: {SignVerify, EncryptDecrypt},
	ECP256:  {SignVerify},
	ECP384:  {SignVerify},
}

// Specs returns every key spec, sorted.
func Specs() []Spec {
	out := make([]Spec, 0, len(specUsages))
	for s := range specUsages {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Usages returns every key usage.
func Usages() []Usage { return []Usage{EncryptDecrypt, SignVerify} }

// Symmetric reports whether the spec is a symmetric key's.
func (s Spec) Symmetric() bool { return s == AES256 }

// Origin tells where the key material comes from. External keys start in
// PendingImport.
type Origin string

const (
	OriginKMS      Origin = "KMS"
	OriginExternal Origin = "EXTERNAL"
)

// Key is one key, whichever dialect created it.
type Key struct {
	ID          string
	Owner       string // tenant id
	Alias       string // Huawei key_alias, NCP keyName; empty if none
	Description string
	Spec        Spec
	Usage       Usage
	Origin      Origin
	State       State
	CreatedAt   time.Time
	// StateChangedAt is when the state last changed (NCP statusDate).
	StateChangedAt time.Time
	// DeleteAt is when a pending deletion ends, on a whole second; zero
	// unless State is PendingDeletion.
	DeleteAt time.Time
	// ScheduledAt is when the pending deletion was scheduled; zero unless
	// State is PendingDeletion (and for keys scheduled before it was kept).
	ScheduledAt time.Time
	// PendingDays is the waiting period the deletion was scheduled with.
	PendingDays int
	// ScheduledBy is the access key id that scheduled the pending
	// deletion ("" for keys scheduled before it was kept): an approver must
	// be someone else.
	ScheduledBy string
	// Holds keep a pending deletion past its window (see Hold); sorted,
	// each once.
	Holds []Hold
	// Reminded is the smallest offset before DeleteAt at which a reminder
	// of this window was sent (0: none yet); reminders at larger offsets
	// count as sent with it.
	Reminded time.Duration
	// Number is the key's number, unique within its owner and never reused
	// (NCP names keys by integers); see NumberOf.
	Number int64
	// Tags are the key's tags (AWS TagResource), nil if none.
	Tags map[string]string
	// LastChange is the last change made to the key (its creation, at first).
	LastChange Stamp
	// Rotation and encryption settings, carried for NCP's create-key and get-key.
	AutoRotation       bool
	RotationPeriodDays int
	Protection         string
	Convergent         bool
}

// NumberOf is the number a key with this id is given: 31 bits (a positive
// Java int, safe in every JSON reader) taken from a digest of the id, never
// 0. A store refuses a number its owner already uses (ErrNumberTaken); the
// service then draws a new id.
func NumberOf(id string) int64 {
	sum := sha256.Sum256([]byte("key-number/v1:" + id))
	n := int64(binary.BigEndian.Uint32(sum[:4]) & 0x7fffffff)
	if n == 0 {
		n = 1
	}
	return n
}

// Live reports whether the key exists for callers at now: a pending-deletion
// key is deleted at the instant its window ends, whatever storage still
// holds, unless a hold keeps it.
func (k Key) Live(now time.Time) bool {
	return k.DeleteAt.IsZero() || now.Before(k.DeleteAt) || k.Held()
}

// Tombstone records a key's final deletion, so that the id is never served as
// live again and the deletion can be audited.
type Tombstone struct {
	KeyID       string
	Owner       string
	Alias       string
	ScheduledAt time.Time // when the deletion was scheduled
	DeleteAt    time.Time // when the window ended
	PendingDays int       // the window it was scheduled with
	DeletedAt   time.Time // when the final deletion was carried out
	// ReportedAt is when the final deletion was reported (logged); zero
	// until then. The tombstone is written first and reported after, so a
	// crash between the two leaves it unreported, to be reported again.
	ReportedAt time.Time
}

// Immediate reports whether the key was deleted before its window's end
// (NCP's DELETE) rather than when the window ended.
func (t Tombstone) Immediate() bool {
	if t.ScheduledAt.IsZero() || t.PendingDays <= 0 {
		return false
	}
	return t.DeleteAt.Before(CeilSecond(t.ScheduledAt.Add(time.Duration(t.PendingDays) * 24 * time.Hour)))
}
