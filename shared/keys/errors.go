package keys

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound: no such key for this owner, or its deletion window has ended.
	ErrNotFound = errors.New("key not found")
	// ErrAliasExists: the owner already has a key with this alias or name.
	ErrAliasExists = errors.New("alias already exists")
	// ErrKeyExists: the id is taken, by a key or by the tombstone of one.
	ErrKeyExists = errors.New("key id already exists")
	// ErrBusy: the store is busy, and the caller may retry: it throttled
	// the request past its client's retries, or the write kept losing to
	// concurrent changes of the same key. Nothing was changed.
	ErrBusy = errors.New("the key store is busy")
	// ErrUnavailable: the store failed (a server error, a broken
	// connection) past its client's retries; the caller may retry. Whether
	// a write was applied is not known, so every write is safe to repeat
	// (see Change.AppliedTo).
	ErrUnavailable = errors.New("the key store is unavailable")
	// ErrStoreTimeout: the store did not answer within the request's
	// time; the caller may retry, as for ErrUnavailable.
	ErrStoreTimeout = errors.New("the key store did not answer in time")
	// ErrNumberTaken: the owner already has a key with this number.
	ErrNumberTaken = errors.New("key number already in use")
	// ErrTooManyTags: the change would leave the key with more than MaxTags tags.
	ErrTooManyTags = errors.New("too many tags")
	// ErrInvalidState matches every *StateError.
	ErrInvalidState = errors.New("key state does not allow the operation")
	// ErrIncompatibleUsage matches every *UsageError.
	ErrIncompatibleUsage = errors.New("key spec does not support the usage")
)

// UsageError is a key requested with a usage its spec does not support.
type UsageError struct {
	Spec  Spec
	Usage Usage
}

func (e *UsageError) Error() string {
	return fmt.Sprintf("key spec %s does not support usage %s", e.Spec, e.Usage)
}

func (e *UsageError) Is(target error) bool { return target == ErrIncompatibleUsage }

// StateError is an operation refused because of the key's current state.
type StateError struct {
	Op    Op
	State State
	// NotHeld: an approval or rejection found the deletion not held for
	// approval (it needs none, or was approved already).
	NotHeld bool
}

func (e *StateError) Error() string {
	if e.NotHeld {
		return fmt.Sprintf("cannot %s: the key's deletion does not await approval", e.Op)
	}
	return fmt.Sprintf("cannot %s a key in state %s", e.Op, e.State)
}

func (e *StateError) Is(target error) bool { return target == ErrInvalidState }

// ConditionFailed is what a store returns when a Change's condition does not
// hold. Current is the item as stored (nil if there is none); the service,
// not the store, decides what that means.
type ConditionFailed struct {
	Current *Key
}

func (e *ConditionFailed) Error() string { return "condition failed" }
