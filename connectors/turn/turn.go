// Package turn issues short-lived TURN credentials following the TURN REST
// API (draft-uberti-behave-turn-rest-00), as coturn (use-auth-secret) and
// pion/turn implement it: the gateway and the TURN server share a secret,
// and the gateway hands a browser a username that carries its own expiry
// and a password derived from it, so no per-user state is kept anywhere.
package turn

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API specifies.
	"encoding/base64"
	"strconv"
	"time"
)

// DefaultTTL is used when a ttl of zero or less is given; the draft
// recommends one day.
const DefaultTTL = 24 * time.Hour

// ICEServer is one entry of RTCConfiguration.iceServers, in the browser's
// RTCIceServer JSON shape; it goes out in the welcome frame's ice_servers.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Credentials returns a TURN username "<expiry unix seconds>:<user>" (just
// "<expiry>" when user is empty), its password and the expiry, which is
// now+ttl truncated to the second. user ends up in TURN server logs, so
// pass an opaque session id, never a phone number or a name. secret must be
// the TURN server's static-auth-secret.
func Credentials(secret, user string, ttl time.Duration, now time.Time) (username, password string, expires time.Time) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	expires = time.Unix(now.Add(ttl).Unix(), 0)
	username = strconv.FormatInt(expires.Unix(), 10)
	if user != "" {
		username += ":" + user
	}
	return username, Password(secret, username), expires
}

// Password returns base64(HMAC-SHA1(secret, username)), the password a TURN
// server derives for username.
func Password(secret, username string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// ICEServers builds the ice_servers list: one entry for the STUN URLs (no
// credentials) and one for the TURN URLs with fresh credentials from
// Credentials; an entry is left out when its list is empty. The result is
// never nil, so it encodes as [] rather than null, which browsers reject.
func ICEServers(stunURLs, turnURLs []string, secret, user string, ttl time.Duration, now time.Time) []ICEServer {
	out := make([]ICEServer, 0, 2)
	if len(stunURLs) > 0 {
		out = append(out, ICEServer{URLs: append([]string(nil), stunURLs...)})
	}
	if len(turnURLs) > 0 {
		username, password, _ := Credentials(secret, user, ttl, now)
		out = append(out, ICEServer{URLs: append([]string(nil), turnURLs...), Username: username, Credential: password})
	}
	return out
}
