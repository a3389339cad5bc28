package signlang_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/signlang"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

func cst(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, shanghai)
}

var (
	nationalDay = []string{"2025-10-01", "2025-10-02", "2025-10-03", "2025-10-04", "2025-10-05", "2025-10-06", "2025-10-07", "2025-10-08"}
	makeUpDays  = []string{"2025-09-28", "2025-10-11"}
)

type fakeQueue struct{ pos int }

func (q fakeQueue) VideoQueue(string, string) (int, time.Duration) {
	return q.pos, time.Duration(q.pos) * 30 * time.Second
}

func newChannel(t *testing.T, cfg configs.SignLanguage, clk clock.Clock) *signlang.Channel {
	t.Helper()
	d := channels.Deps{Clock: clk, Stamp: normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")},
		FirstResponse: 3 * time.Minute, Handling: 24 * time.Hour, Clock: clk}}
	c, err := signlang.New(d, cfg, configs.Default().RateLimit, fakeQueue{pos: 4})
	require.NoError(t, err)
	return c
}

func TestAnswerFollowsTheCalendar(t *testing.T) {
	cfg := configs.Default().SignLanguage
	cfg.Holidays, cfg.Workdays = nationalDay, makeUpDays
	var now time.Time
	c := newChannel(t, cfg, clock.NewFake(now))
	tests := []struct {
		name  string
		at    time.Time
		open  bool
		opens time.Time
	}{
		{"Friday 16:59 open", cst(2025, 3, 7, 16, 59), true, time.Time{}},
		{"Friday 17:01 closed until Monday", cst(2025, 3, 7, 17, 1), false, cst(2025, 3, 10, 9, 0)},
		{"Sunday closed until Monday", cst(2025, 3, 9, 11, 0), false, cst(2025, 3, 10, 9, 0)},
		{"National Day holiday closed until 9 October", cst(2025, 10, 1, 10, 0), false, cst(2025, 10, 9, 9, 0)},
		{"make-up Saturday open", cst(2025, 10, 11, 10, 0), true, time.Time{}},
		{"make-up Sunday before 09:00 opens at 09:00", cst(2025, 9, 28, 8, 0), false, cst(2025, 9, 28, 9, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.at
			a := c.Answer("web-1", "web", tc.at)
			b, err := json.Marshal(a)
			require.NoError(t, err)
			var m map[string]any
			require.NoError(t, json.Unmarshal(b, &m))
			require.Equal(t, tc.open, m["open"])
			if tc.open {
				require.Equal(t, "/v1/ws/citizen", m["ws"])
				require.Equal(t, map[string]any{"channel": "web", "video": true}, m["hello"])
				require.EqualValues(t, 4, m["queue_position"])
				require.EqualValues(t, 120, m["estimated_wait_s"])
				require.Equal(t, []any{}, m["ice_servers"])
				require.NotContains(t, m, "fallbacks")
				return
			}
			require.Equal(t, tc.opens.Format(time.RFC3339), m["opens_at"])
			require.Contains(t, m["message"], "手语视频服务时间为")
			require.Contains(t, m["message"], "The sign-language video service is open")
			require.Contains(t, m["message"], tc.opens.Format("2006-01-02 15:04"))
			require.Equal(t, []any{
				map[string]any{"type": "text_chat", "ws": "/v1/ws/citizen", "hello": map[string]any{"channel": "web"}},
				map[string]any{"type": "callback", "endpoint": "/v1/channels/sign-language/callbacks"},
			}, m["fallbacks"])
			require.NotContains(t, m, "queue_position")
		})
	}
}

func TestClosedWithNoScheduledOpening(t *testing.T) {
	var days []string
	for d := cst(2025, 1, 1, 0, 0); d.Year() == 2025 && len(days) < 90; d = d.AddDate(0, 0, 1) {
		days = append(days, d.Format(time.DateOnly))
	}
	cfg := configs.Default().SignLanguage
	cfg.Holidays = days
	c := newChannel(t, cfg, clock.System)
	a := c.Answer("web-1", "app", cst(2025, 1, 2, 10, 0))
	require.False(t, a.Open)
	require.Nil(t, a.OpensAt)
	require.Contains(t, a.Message, "No opening is scheduled")
	require.Equal(t, "app", a.Fallbacks[0].Hello.Channel)
}

// ICE servers carry TURN REST credentials; the published vector passes.
func TestICEServersUseTheTURNVector(t *testing.T) {
	var vec struct {
		TURN struct{ Secret, Username, Password string } `json:"turn_rest_credentials"`
	}
	b, err := os.ReadFile("../../../shared/testdata/vectors.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &vec))
	var exp int64
	for _, ch := range vec.TURN.Username {
		exp = exp*10 + int64(ch-'0')
	}
	cfg := configs.Default().SignLanguage
	cfg.Calendar = "Mon-Sun 00:00-24:00 UTC"
	cfg.STUNURLs, cfg.TURNURLs, cfg.TURNSecret, cfg.TURNTTL = []string{"stun:stun.example:3478"}, []string{"turn:turn.example:3478"}, vec.TURN.Secret, time.Hour
	now := time.Unix(exp, 0).Add(-time.Hour)
	c := newChannel(t, cfg, clock.NewFake(now))

	a := c.Answer("web-1", "web", now)
	require.True(t, a.Open)
	require.Len(t, a.ICEServers, 2)
	require.Nil(t, a.ClosedDetails)
	require.Equal(t, []string{"stun:stun.example:3478"}, a.ICEServers[0].URLs)
	require.Equal(t, vec.TURN.Username, a.ICEServers[1].Username)
	require.Equal(t, vec.TURN.Password, a.ICEServers[1].Credential)

	w := c.Welcome(&sessions.Session{ID: "sess-1", Video: true})
	servers := w["ice_servers"]
	b, err = json.Marshal(servers)
	require.NoError(t, err)
	require.Contains(t, string(b), `"username":"`+vec.TURN.Username+`:sess-1"`)
}

func TestNewRejectsABadCalendar(t *testing.T) {
	cfg := configs.Default().SignLanguage
	cfg.Calendar = "Mon-Fri 17:00-09:00 Asia/Shanghai"
	_, err := signlang.New(channels.Deps{}, cfg, configs.Default().RateLimit, fakeQueue{})
	require.ErrorContains(t, err, "sign_language.calendar")
}

func TestDecodeCallback(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		fields map[string]string // nil: valid
		code   apierr.Code
	}{
		{"minimal", `{"phone":"13800138000"}`, nil, ""},
		{"full", `{"phone":"+86 138-0013-8000","name":"李华","preferred_time":"2025-03-10T10:00:00+08:00","note":"请用视频回拨","client_request_id":"r1"}`, nil, ""},
		{"missing phone", `{"name":"x"}`, map[string]string{"phone": "required"}, apierr.CodeInvalid},
		{"bad phone", `{"phone":"call me"}`, map[string]string{"phone": ""}, apierr.CodeInvalid},
		{"bad time", `{"phone":"13800138000","preferred_time":"tomorrow"}`, map[string]string{"preferred_time": ""}, apierr.CodeInvalid},
		{"long note and name", `{"phone":"13800138000","note":"` + strings.Repeat("长", 2001) + `","name":"` + strings.Repeat("n", 101) + `"}`,
			map[string]string{"note": "", "name": ""}, apierr.CodeInvalid},
		{"unknown field", `{"phone":"13800138000","email":"a@b"}`, nil, apierr.CodeBadRequest},
		{"not JSON", `phone=1`, nil, apierr.CodeBadRequest},
		{"wrong type", `{"phone":13800138000}`, nil, apierr.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := signlang.DecodeCallback([]byte(tc.body))
			if tc.code == "" {
				require.NoError(t, err)
				require.NotEmpty(t, r.Phone)
				return
			}
			var ae *apierr.Error
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, tc.code, ae.Code)
			for f, want := range tc.fields {
				require.Contains(t, ae.Fields, f)
				if want != "" {
					require.Equal(t, want, ae.Fields[f])
				}
			}
		})
	}
}

func TestCallbackEnvelope(t *testing.T) {
	now := cst(2025, 3, 7, 17, 1)
	c := newChannel(t, configs.Default().SignLanguage, clock.NewFake(now))
	r, err := signlang.DecodeCallback([]byte(`{"phone":"+86 138 0013 8000","name":"李华","preferred_time":"2025-03-10T02:00:00Z","note":"下午方便"}`))
	require.NoError(t, err)
	env := c.Envelope(r, "web-abc")
	require.NoError(t, env.Validate())
	require.Equal(t, normalize.ChannelSignLanguage, env.Channel)
	require.Equal(t, normalize.KindHelp, env.Kind)
	require.Equal(t, "+8613800138000", env.Citizen.Phone)
	require.Equal(t, "李华", env.Citizen.Name)
	require.Equal(t, "web-abc", env.Citizen.ChannelUserID)
	require.Equal(t, signlang.CallbackText+"\n希望回拨时间 / preferred time: 2025-03-10T10:00:00+08:00\n下午方便", env.Content.Text)
	require.True(t, strings.HasPrefix(env.IdempotencyKey, "sign_language:callback:"))

	r2, err := signlang.DecodeCallback([]byte(`{"phone":"13800138000","client_request_id":"abc"}`))
	require.NoError(t, err)
	require.Equal(t, "sign_language:callback:web-abc:abc", c.Envelope(r2, "web-abc").IdempotencyKey)
	require.Equal(t, signlang.CallbackText, c.Envelope(r2, "web-abc").Content.Text)
}

func FuzzDecodeCallback(f *testing.F) {
	for _, s := range []string{`{"phone":"13800138000"}`, `{"phone":"+1 555-0100","note":"x","preferred_time":"2025-03-10T10:00:00Z"}`,
		`{}`, `null`, `[]`, `{"phone":"`, `{"phone":"1","phone":"2"}`, "{\"note\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := signlang.DecodeCallback(b)
		if err != nil {
			var ae *apierr.Error
			require.True(t, errors.As(err, &ae), "%v", err)
			return
		}
		env := signlang.CallbackText + r.Text(time.UTC)
		require.NotEmpty(t, env)
		require.Regexp(t, `^\+?[0-9]{5,16}$`, r.Phone)
	})
}
