package storetest

import (
	"testing"

	"github.com/keydeletion/service/shared/keys"
)

// The serial-order check must reject histories that no serial order explains,
// or the concurrency test could not fail.
func TestSerialOrderExists(t *testing.T) {
	E, D, P := keys.Enabled, keys.Disabled, keys.PendingDeletion
	cases := []struct {
		name     string
		end      keys.State
		es       []edge
		possible bool
	}{
		{"disable then enable", E, []edge{{E, D}, {D, E}}, true},
		{"schedule cancel enable", E, []edge{{"", P}, {P, D}, {D, E}}, true},
		{"schedule from disabled", P, []edge{{E, D}, {"", P}}, true},
		{"lost update: two disables won", D, []edge{{E, D}, {E, D}}, false},
		{"two cancels of one schedule", D, []edge{{"", P}, {P, D}, {P, D}}, false},
		{"end state disagrees", E, []edge{{E, D}}, false},
		{"double schedule", P, []edge{{"", P}, {"", P}}, false},
	}
	for _, c := range cases {
		err := serialOrderExists(E, c.end, c.es)
		if (err == nil) != c.possible {
			t.Errorf("%s: got %v, want possible=%v", c.name, err, c.possible)
		}
	}
}
