package tokens_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/internal/clock"
)

func TestTokens(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := tokens.NewSigner("secret", clk)
	tok := s.Issue(tokens.Claims{Sub: "c1", Role: tokens.RoleCitizen}, time.Hour)
	c, err := s.Verify(tok, tokens.RoleCitizen)
	require.NoError(t, err)
	require.Equal(t, "c1", c.Sub)

	_, err = s.Verify(tok, tokens.RoleAgent)
	require.ErrorIs(t, err, tokens.ErrRole)
	for _, bad := range []string{"", "x", "a.b", tok + "x", "e30." + tok[len(tok)-10:]} {
		_, err = s.Verify(bad, "")
		require.ErrorIs(t, err, tokens.ErrInvalid, bad)
	}
	other := tokens.NewSigner("other", clk)
	_, err = other.Verify(tok, "")
	require.ErrorIs(t, err, tokens.ErrInvalid)
	clk.Advance(2 * time.Hour)
	_, err = s.Verify(tok, "")
	require.ErrorIs(t, err, tokens.ErrExpired)
}

func FuzzVerify(f *testing.F) {
	s := tokens.NewSigner("k", clock.System)
	f.Add(s.Issue(tokens.Claims{Sub: "a", Role: "agent"}, time.Hour))
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, tok string) { _, _ = s.Verify(tok, "") })
}
