package partner_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/channels/partner"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/normalize"
)

func TestAcceptDefaultMapping(t *testing.T) {
	for _, name := range []string{normalize.ChannelSuishenban, normalize.ChannelYiwangtongban} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, map[string]configs.Partner{name: {Secret: secretA}})
			code, body := f.post(t, name, "msg_1", f.clk.Now(), defaultBody, mustSecret(t, secretA))
			require.Equal(t, http.StatusAccepted, code, body)
			require.Equal(t, "accepted", body["status"])
			id := body["id"].(string)
			require.Equal(t, f.clk.Now().Add(3*time.Minute).Format(time.RFC3339), body["first_response_due"])

			envs := f.envelopes(t)
			require.Len(t, envs, 1)
			env := envs[0]
			require.Equal(t, id, env.ID)
			require.Equal(t, name, env.Channel)
			require.Equal(t, name+":msg_1", env.IdempotencyKey)
			require.Equal(t, normalize.KindComplaint, env.Kind)
			require.Equal(t, "噪音扰民\n楼下工地夜间施工", env.Content.Text)
			require.Equal(t, normalize.Citizen{ChannelUserID: "u-778", Name: "张三", Phone: "13800138000"}, env.Citizen)
			require.Equal(t, &normalize.Location{Address: "幸福路 12 号", District: "福田区"}, env.Location)
			require.Equal(t, time.Date(2025, 2, 28, 23, 30, 0, 0, time.UTC), *env.OccurredAt)
			require.Equal(t, time.Date(2025, 2, 28, 23, 59, 0, 0, time.UTC), *env.ChannelSentAt)
			require.Equal(t, &normalize.Source{NativeID: "SSB-20250301-0001", NativeType: "partner_request", Partner: name}, env.Source)
			require.Equal(t, []normalize.Attachment{{Type: "image", URL: "https://partner.example/a.jpg", MIME: "image/jpeg", Size: 12345}},
				env.Content.Attachments)

			req, err := f.log.Request(id)
			require.NoError(t, err)
			require.Equal(t, "partner:"+name, req.Owner)
			require.Equal(t, map[string]string{"request_id": "SSB-20250301-0001", "partner": name}, req.Extra)
			require.Equal(t, 2, f.depth(t), "the envelope and its request.accepted event")
		})
	}
}

func TestReplayAndConflict(t *testing.T) {
	f := newFixture(t, map[string]configs.Partner{"suishenban": {Secret: secretA}})
	sec := mustSecret(t, secretA)
	code, first := f.post(t, "suishenban", "msg_r", f.clk.Now(), defaultBody, sec)
	require.Equal(t, http.StatusAccepted, code)
	depth := f.depth(t)

	// A retry within the window, freshly signed: the first answer, no new envelope.
	f.clk.Advance(90 * time.Second)
	code, again := f.post(t, "suishenban", "msg_r", f.clk.Now(), defaultBody, sec)
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, first, again)
	require.Equal(t, depth+1, f.depth(t), "only the request.duplicate event")
	require.Len(t, f.envelopes(t), 1)

	// The same webhook-id with another body.
	changed := strings.Replace(defaultBody, "夜间施工", "凌晨施工", 1)
	code, body := f.post(t, "suishenban", "msg_r", f.clk.Now(), changed, sec)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Equal(t, "idempotency_conflict", errCode(body))
	require.Equal(t, depth+1, f.depth(t), "a conflict records nothing")
}

func TestSignatureChecks(t *testing.T) {
	sec := mustSecret(t, secretA)
	cases := []struct {
		name   string
		skew   time.Duration
		tamper func(h http.Header, body string) string
		status int
		code   string
	}{
		{"in window, 300 s behind", -300 * time.Second, nil, http.StatusAccepted, ""},
		{"in window, 300 s ahead", 300 * time.Second, nil, http.StatusAccepted, ""},
		{"stale, 301 s behind", -301 * time.Second, nil, http.StatusUnauthorized, "stale_timestamp"},
		{"stale, 301 s ahead", 301 * time.Second, nil, http.StatusUnauthorized, "stale_timestamp"},
		{"one changed byte", 0, func(_ http.Header, b string) string { return strings.Replace(b, "u-778", "u-779", 1) },
			http.StatusUnauthorized, "unauthorized"},
		{"no signature", 0, func(h http.Header, b string) string { h.Del("webhook-signature"); return b },
			http.StatusUnauthorized, "unauthorized"},
		{"other secret", 0, func(h http.Header, b string) string {
			h.Set("webhook-signature", stdwebhook.Sign(mustSecret(t, secretB), h.Get("webhook-id"), time.Unix(0, 0), []byte(b)))
			return b
		}, http.StatusUnauthorized, "unauthorized"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, map[string]configs.Partner{"yiwangtongban": {Secret: secretA}})
			id := "msg_sig_" + string(rune('a'+i))
			ts := f.clk.Now().Add(tc.skew)
			h := stdwebhook.Headers(sec, id, ts, []byte(defaultBody))
			body := defaultBody
			if tc.tamper != nil {
				body = tc.tamper(h, body)
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/channels/yiwangtongban/requests", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range h {
				req.Header[k] = v
			}
			code, out := serve(t, f.e, req)
			require.Equal(t, tc.status, code, out)
			if tc.code != "" {
				require.Equal(t, tc.code, errCode(out))
				require.Zero(t, f.depth(t), "nothing recorded")
			}
		})
	}
}

func TestSecretRotation(t *testing.T) {
	f := newFixture(t, map[string]configs.Partner{"suishenban": {Secret: secretB + "  " + secretA}})
	for i, s := range []string{secretA, secretB} {
		body := strings.Replace(defaultBody, "SSB-20250301-0001", "R-"+string(rune('0'+i)), 1)
		code, out := f.post(t, "suishenban", "msg_rot_"+string(rune('0'+i)), f.clk.Now(), body, mustSecret(t, s))
		require.Equal(t, http.StatusAccepted, code, out)
	}
	require.Len(t, f.envelopes(t), 2)
}

func TestStatusOwner(t *testing.T) {
	f := newFixture(t, map[string]configs.Partner{"suishenban": {Secret: secretA}, "yiwangtongban": {Secret: secretB}})
	ssb, ywtb := f.ch["suishenban"], f.ch["yiwangtongban"]
	get := func(secret string, skew time.Duration, xPartner string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/v1/requests/abc", nil)
		if secret != "" {
			for k, v := range stdwebhook.Headers(mustSecret(t, secret), "msg_get", f.clk.Now().Add(skew), nil) {
				r.Header[k] = v
			}
		}
		if xPartner != "" {
			r.Header.Set(partner.HeaderPartner, xPartner)
		}
		return r
	}
	cases := []struct {
		name       string
		ch         *partner.Channel
		req        *http.Request
		owner      string
		ok         bool
		errCode    string
		errPresent bool
	}{
		{"no webhook headers", ssb, get("", 0, ""), "", false, "", false},
		{"own signature", ssb, get(secretA, 0, ""), "partner:suishenban", true, "", false},
		{"other partner's signature: pass on", ssb, get(secretB, 0, ""), "", false, "", false},
		{"the other partner recognises it", ywtb, get(secretB, 0, ""), "partner:yiwangtongban", true, "", false},
		{"X-Partner names another partner", ssb, get(secretA, 0, "yiwangtongban"), "", false, "", false},
		{"X-Partner names us, bad signature", ssb, get(secretB, 0, "suishenban"), "", true, "unauthorized", true},
		{"X-Partner names us, stale", ssb, get(secretA, -10*time.Minute, "suishenban"), "", true, "stale_timestamp", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			owner, ok, err := tc.ch.StatusOwner(tc.req)
			require.Equal(t, tc.owner, owner)
			require.Equal(t, tc.ok, ok)
			if !tc.errPresent {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.errCode)
		})
	}
}

func TestNewConfigErrors(t *testing.T) {
	f := newFixture(t, nil)
	d := f.deps()
	cases := []struct {
		name    string
		partner string
		cfg     configs.Partner
		want    string
	}{
		{"unknown partner", "zhejiang", configs.Partner{Secret: secretA}, "unknown partner"},
		{"no secret", "suishenban", configs.Partner{}, "channels.suishenban.secret"},
		{"bad secret", "suishenban", configs.Partner{Secret: secretA + " whsec_%%%"}, "channels.suishenban.secret"},
		{"unknown mapping target", "suishenban", configs.Partner{Secret: secretA, Mapping: map[string]string{"citizen.age": "a"}},
			"channels.suishenban.mapping"},
		{"metadata callback", "yiwangtongban", configs.Partner{Secret: secretA, CallbackURL: "http://169.254.169.254/x"},
			"channels.yiwangtongban.callback_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := partner.New(tc.partner, d, tc.cfg, f.q, f.log, partner.Options{})
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := partner.New("suishenban", d, configs.Partner{Secret: secretA, CallbackURL: "https://p.example/cb"}, nil, f.log, partner.Options{})
	require.ErrorContains(t, err, "no delivery queue")
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}
