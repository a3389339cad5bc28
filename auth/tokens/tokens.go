// Package tokens issues and verifies the bearer tokens of citizens and agents:
// base64url(JSON claims) "." base64url(HMAC-SHA256). They are stateless, so a
// restart keeps them valid when auth.token_secret is configured.
package tokens

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/hotline12345/gateway/internal/clock"
)

// Roles.
const (
	RoleCitizen = "citizen"
	RoleAgent   = "agent"
)

// Errors.
var (
	ErrInvalid = errors.New("tokens: invalid token")
	ErrExpired = errors.New("tokens: token expired")
	ErrRole    = errors.New("tokens: wrong role")
)

// Claims is what a token says.
type Claims struct {
	Sub     string `json:"sub"`
	Role    string `json:"role"`
	Channel string `json:"ch,omitempty"`
	Exp     int64  `json:"exp"`
}

// Signer issues and verifies tokens.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a signer; an empty secret means a random key per process.
func NewSigner(secret string, clk clock.Clock) *Signer {
	key := []byte(secret)
	if secret == "" {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &Signer{key: key, now: clk.Now}
}

// Issue returns a token for c valid for ttl.
func (s *Signer) Issue(c Claims, ttl time.Duration) string {
	c.Exp = s.now().Add(ttl).Unix()
	body, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(body)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

func (s *Signer) mac(p string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(p))
	return m.Sum(nil)
}

// Verify checks a token's signature, expiry and role ("" accepts any role).
func (s *Signer) Verify(token, role string) (Claims, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 2048 {
		return Claims{}, ErrInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return Claims{}, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Claims{}, ErrInvalid
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil || c.Sub == "" {
		return Claims{}, ErrInvalid
	}
	if s.now().Unix() >= c.Exp {
		return Claims{}, ErrExpired
	}
	if role != "" && c.Role != role {
		return Claims{}, ErrRole
	}
	return c, nil
}

// FromRequest extracts a token from "Authorization: Bearer …", else the
// `token` query parameter, else the named cookie.
func FromRequest(authorization, query, cookie string) string {
	if t, ok := strings.CutPrefix(authorization, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	if query != "" {
		return query
	}
	return cookie
}
