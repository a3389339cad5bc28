package loginguard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// passwords checks a login's password with one bcrypt comparison of the same
// cost whatever the id: a configured hash, or else a dummy hash made once.
// Without the dummy, an unknown id or a plaintext (bootstrap) agent answered
// in well under a millisecond and a hashed one in tens: the difference told
// which ids exist.
type passwords struct {
	dummy   func() []byte
	counted func()
	compare func(hash, password []byte) bool
}

func newPasswords(cost int, counted func(), compare func(hash, password []byte) bool) passwords {
	if compare == nil {
		compare = func(hash, password []byte) bool { return bcrypt.CompareHashAndPassword(hash, password) == nil }
	}
	// With no hashed agent, unknown ids and plaintext agents both run the
	// dummy: their work is equal at any cost, and the least is cheapest.
	cost = min(max(cost, bcrypt.MinCost), bcrypt.MaxCost)
	return passwords{counted: counted, compare: compare, dummy: sync.OnceValue(func() []byte {
		// Made on first use: a gateway nobody logs in to pays nothing. The
		// password is random so that no given password can match it.
		h, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
		if err != nil {
			panic("loginguard: bcrypt: " + err.Error()) // only for a cost out of range, excluded above
		}
		return h
	})}
}

// check reports whether given matches hash (bcrypt) or, when hash is empty,
// plain; with both empty (no such agent) it does the same work and fails.
func (p passwords) check(hash, plain, given string) bool {
	p.counted()
	if hash != "" {
		return p.compare([]byte(hash), []byte(given))
	}
	_ = p.compare(p.dummy(), []byte(given))
	// Digests of equal length: the comparison does not reveal the length.
	a, b := sha256.Sum256([]byte(plain)), sha256.Sum256([]byte(given))
	return plain != "" && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// CostOf returns the highest bcrypt cost among hashes (0 if none parses):
// the cost of the dummy hash, so that unknown ids take as long as known ones.
func CostOf(hashes ...string) int {
	best := 0
	for _, h := range hashes {
		if c, err := bcrypt.Cost([]byte(h)); err == nil {
			best = max(best, c)
		}
	}
	return best
}
