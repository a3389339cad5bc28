package livechat_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

const deskAgents = "a1:p:general:3,a2:p:general:3,sup:p:general:3:supervisor"

func TestCannedReplies(t *testing.T) {
	dir := t.TempDir()
	h := lt.StartHub(t, deskAgents, clock.NewFake(t0), dir)
	url := h.Base + "/v1/replies"

	st, _, _ := call(t, http.MethodGet, url, "", nil)
	require.Equal(t, http.StatusUnauthorized, st)
	st, _, body := call(t, http.MethodGet, url, h.AgentToken("a1"), nil)
	require.Equal(t, http.StatusOK, st)
	require.JSONEq(t, `{"replies":[]}`, string(body))

	set := livechat.Replies{Replies: []livechat.Reply{
		{Keyword: "ludeng", Topic: "市政设施", ZH: "您好，您反映的路灯问题（受理号 {number}）已转{district}市政部门处理。", EN: "Your report {number} went to {district}."},
		{Keyword: "thanks", Topic: "通用", ZH: "感谢您的来电。"},
	}}
	st, _, body = call(t, http.MethodPut, url, h.AgentToken("a1"), set)
	require.Equal(t, http.StatusForbidden, st, string(body))
	st, _, _ = call(t, http.MethodPut, url, "", set)
	require.Equal(t, http.StatusUnauthorized, st)
	st, _, body = call(t, http.MethodPut, url, h.AgentToken("sup"), set)
	require.Equal(t, http.StatusOK, st, string(body))

	got := func(h *lt.Hub) string {
		st, _, body := call(t, http.MethodGet, h.Base+"/v1/replies", h.AgentToken("a2"), nil)
		require.Equal(t, http.StatusOK, st)
		return string(body)
	}
	want := `{"replies":[{"keyword":"ludeng","topic":"市政设施","zh":"您好，您反映的路灯问题（受理号 {number}）已转{district}市政部门处理。","en":"Your report {number} went to {district}."},` +
		`{"keyword":"thanks","topic":"通用","zh":"感谢您的来电。","en":""}]}`
	require.JSONEq(t, want, got(h), "placeholders are kept as they are")

	h.Stop()
	h = lt.StartHub(t, deskAgents, clock.NewFake(t0), dir)
	require.JSONEq(t, want, got(h), "the set survives a restart")
}

func TestCannedRepliesValidation(t *testing.T) {
	h := lt.StartHub(t, deskAgents, clock.NewFake(t0), "")
	ok := livechat.Reply{Keyword: "ok", ZH: "好"}
	many := make([]livechat.Reply, livechat.MaxReplies+1)
	for i := range many {
		many[i] = livechat.Reply{Keyword: "k" + itoa(i), ZH: "x"}
	}
	tests := []struct {
		name    string
		replies []livechat.Reply
		field   string
	}{
		{"upper-case keyword", []livechat.Reply{{Keyword: "LuDeng", ZH: "x"}}, "replies[0].keyword"},
		{"empty keyword", []livechat.Reply{{ZH: "x"}}, "replies[0].keyword"},
		{"keyword too long", []livechat.Reply{{Keyword: strings.Repeat("a", 33), ZH: "x"}}, "replies[0].keyword"},
		{"duplicate keyword", []livechat.Reply{ok, ok}, "replies[1].keyword"},
		{"topic too long", []livechat.Reply{{Keyword: "t", Topic: strings.Repeat("题", 51), ZH: "x"}}, "replies[0].topic"},
		{"no text at all", []livechat.Reply{{Keyword: "t"}}, "replies[0].zh"},
		{"zh too long", []livechat.Reply{{Keyword: "t", ZH: strings.Repeat("字", 2001)}}, "replies[0].zh"},
		{"en too long", []livechat.Reply{{Keyword: "t", EN: strings.Repeat("w", 2001)}}, "replies[0].en"},
		{"too many", many, "replies"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body := call(t, http.MethodPut, h.Base+"/v1/replies", h.AgentToken("sup"), livechat.Replies{Replies: tc.replies})
			require.Equal(t, http.StatusBadRequest, st, string(body))
			e := decode(t, body)["error"].(map[string]any)
			require.Equal(t, "invalid_request", e["code"])
			require.Contains(t, e["fields"], tc.field)
		})
	}
	st, _, body := call(t, http.MethodPut, h.Base+"/v1/replies", h.AgentToken("sup"), map[string]any{"replies": []any{map[string]any{"keyword": "x", "zh": "y", "extra": 1}}})
	require.Equal(t, http.StatusBadRequest, st, string(body))
	require.Equal(t, "bad_request", decode(t, body)["error"].(map[string]any)["code"])
	st, _, body = call(t, http.MethodGet, h.Base+"/v1/replies", h.AgentToken("a1"), nil)
	require.Equal(t, http.StatusOK, st)
	require.JSONEq(t, `{"replies":[]}`, string(body), "a refused set changes nothing")
}
