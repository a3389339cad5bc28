package turn_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/vectorstest"

	"github.com/hotline12345/gateway/connectors/turn"
)

type credVector struct {
	Secret   string `json:"secret"`
	Username string `json:"username"`
	Password string `json:"password"`
}

func TestPasswordVector(t *testing.T) {
	var v credVector
	vectorstest.Load(t, "turn_rest_credentials", &v)
	require.Equal(t, v.Password, turn.Password(v.Secret, v.Username))

	// The vector's username is a bare expiry: Credentials with an empty
	// user and the matching clock reproduces it.
	exp, err := strconv.ParseInt(v.Username, 10, 64)
	require.NoError(t, err)
	ttl := time.Hour
	user, pass, expires := turn.Credentials(v.Secret, "", ttl, time.Unix(exp, 0).Add(-ttl))
	require.Equal(t, v.Username, user)
	require.Equal(t, v.Password, pass)
	require.Equal(t, exp, expires.Unix())
}

func TestCredentials(t *testing.T) {
	now := time.Date(2025, 3, 7, 9, 0, 0, 500_000_000, time.UTC)
	tests := []struct {
		name      string
		user      string
		ttl       time.Duration
		wantUser  string
		wantUntil time.Time
	}{
		{"with user", "sess_42", time.Hour, "1741341600:sess_42", time.Unix(1741341600, 0)},
		{"without user", "", time.Hour, "1741341600", time.Unix(1741341600, 0)},
		{"user with colon kept verbatim", "a:b", time.Minute, "1741338060:a:b", time.Unix(1741338060, 0)},
		{"zero ttl means a day", "u", 0, "1741424400:u", time.Unix(1741424400, 0)},
		{"negative ttl means a day", "u", -time.Hour, "1741424400:u", time.Unix(1741424400, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			user, pass, expires := turn.Credentials("s3cret", tc.user, tc.ttl, now)
			require.Equal(t, tc.wantUser, user)
			require.Equal(t, turn.Password("s3cret", user), pass)
			require.True(t, tc.wantUntil.Equal(expires), "expires %v", expires)
		})
	}
}

func TestICEServers(t *testing.T) {
	now := time.Unix(1741338000, 0)
	stun := []string{"stun:stun.example.cn:3478"}
	turnURLs := []string{"turn:turn.example.cn:3478?transport=udp", "turns:turn.example.cn:5349?transport=tcp"}

	got := turn.ICEServers(stun, turnURLs, "s3cret", "sess_42", time.Hour, now)
	require.Len(t, got, 2)
	require.Equal(t, turn.ICEServer{URLs: stun}, got[0])
	require.Equal(t, turnURLs, got[1].URLs)
	require.Equal(t, "1741341600:sess_42", got[1].Username)
	require.Equal(t, turn.Password("s3cret", "1741341600:sess_42"), got[1].Credential)

	raw, err := json.Marshal(got)
	require.NoError(t, err)
	require.JSONEq(t, `[
		{"urls":["stun:stun.example.cn:3478"]},
		{"urls":["turn:turn.example.cn:3478?transport=udp","turns:turn.example.cn:5349?transport=tcp"],
		 "username":"1741341600:sess_42","credential":"`+got[1].Credential+`"}]`, string(raw))

	onlyTURN := turn.ICEServers(nil, turnURLs, "s3cret", "", time.Hour, now)
	require.Len(t, onlyTURN, 1)
	require.Equal(t, "1741341600", onlyTURN[0].Username)

	none := turn.ICEServers(nil, nil, "s3cret", "u", time.Hour, now)
	raw, err = json.Marshal(none)
	require.NoError(t, err)
	require.Equal(t, "[]", string(raw))

	// The caller's slices are not aliased.
	stun[0] = "changed"
	require.Equal(t, "stun:stun.example.cn:3478", got[0].URLs[0])
}
