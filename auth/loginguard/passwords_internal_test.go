package loginguard

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// TestDummyHashHasTheAgentsCost: an unknown id costs what a known one does
// only if the dummy hash has the configured hashes' cost.
func TestDummyHashHasTheAgentsCost(t *testing.T) {
	for _, tt := range []struct {
		name       string
		cost, want int
	}{
		{"no hashed agent: bcrypt's minimum (equal work at any cost)", 0, bcrypt.MinCost},
		{"the agents' cost", 5, 5},
		{"below bcrypt's minimum", 2, bcrypt.MinCost},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPasswords(tt.cost, func() {}, nil)
			got, err := bcrypt.Cost(p.dummy())
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, p.dummy(), p.dummy(), "made once")
		})
	}
}
