package keys

import (
	"errors"
	"testing"
	"time"
)

func TestFinalize(t *testing.T) {
	scheduled := time.Date(2026, 11, 1, 10, 0, 0, 123e6, time.UTC)
	deleteAt := time.Date(2026, 11, 8, 10, 0, 0, 0, time.UTC)
	pending := Key{ID: "k", Owner: "o", Alias: "a", State: PendingDeletion, StateChangedAt: scheduled,
		ScheduledAt: scheduled, DeleteAt: deleteAt, PendingDays: 7}
	legacy := pending
	legacy.ScheduledAt = time.Time{}
	legacy.StateChangedAt = scheduled.Add(time.Minute)
	now := deleteAt.Add(90*time.Second + 456789*time.Nanosecond)

	tests := []struct {
		name          string
		key           Key
		wantErr       bool
		wantScheduled time.Time
	}{
		{name: "pending", key: pending, wantScheduled: scheduled},
		{name: "scheduled before the time was kept", key: legacy, wantScheduled: legacy.StateChangedAt},
		{name: "enabled", key: Key{ID: "k", Owner: "o", State: Enabled}, wantErr: true},
		{name: "disabled with a stray deleteAt", key: Key{ID: "k", Owner: "o", State: Disabled, DeleteAt: deleteAt}, wantErr: true},
		{name: "pending without a deletion time", key: Key{ID: "k", Owner: "o", State: PendingDeletion}, wantErr: true},
		{name: "no id", key: Key{Owner: "o", State: PendingDeletion, DeleteAt: deleteAt}, wantErr: true},
		{name: "no owner", key: Key{ID: "k", State: PendingDeletion, DeleteAt: deleteAt}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Finalize(tc.key, now, System("o", "r"))
			if tc.wantErr {
				var se *StateError
				if !errors.As(err, &se) || se.Op != OpFinalize {
					t.Fatalf("Finalize = %+v, %v; want a StateError", f, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Tombstone{KeyID: "k", Owner: "o", Alias: "a", ScheduledAt: tc.wantScheduled, DeleteAt: deleteAt,
				PendingDays: 7, DeletedAt: now.Truncate(time.Millisecond)}
			if f.Tombstone != want || !f.Now.Equal(want.DeletedAt) {
				t.Fatalf("tombstone %+v at %v, want %+v", f.Tombstone, f.Now, want)
			}
		})
	}
}

func TestFinalizationPermits(t *testing.T) {
	deleteAt := time.Date(2026, 11, 8, 10, 0, 0, 0, time.UTC)
	handed := Key{ID: "k", Owner: "o", State: PendingDeletion, DeleteAt: deleteAt, PendingDays: 7}
	at := func(now time.Time) Finalization {
		f, err := Finalize(handed, now, System("o", "r"))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	cancelled := handed
	cancelled.State, cancelled.DeleteAt = Disabled, time.Time{}
	rescheduled := handed
	rescheduled.DeleteAt = deleteAt.Add(24 * time.Hour)
	otherOwner := handed
	otherOwner.Owner = "p"
	tests := []struct {
		name string
		f    Finalization
		cur  *Key
		want bool
	}{
		{"item already removed (TTL)", at(deleteAt.Add(-time.Hour)), nil, true},
		{"window ended", at(deleteAt), &handed, true},
		{"window still open", at(deleteAt.Add(-time.Millisecond)), &handed, false},
		{"cancelled since", at(deleteAt), &cancelled, false},
		{"scheduled again since", at(deleteAt.Add(48 * time.Hour)), &rescheduled, false},
		{"another owner's item", at(deleteAt), &otherOwner, false},
	}
	for _, tc := range tests {
		if got := tc.f.Permits(tc.cur); got != tc.want {
			t.Errorf("%s: Permits = %v, want %v", tc.name, got, tc.want)
		}
	}
}
