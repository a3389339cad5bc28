package wechat_test

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

const (
	e2eAppID  = "wx134c8103faa5a59e"
	e2eSecret = "app-secret"
	e2eToken  = "AAAAA"
	e2eAESKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	e2eOpenID = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
)

func push(t *testing.T, g *lt.Gateway, inner string, nonce string) (int, string) {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	q, body := wechatfake.EncryptPush(e2eToken, e2eAESKey, e2eAppID, []byte(inner), ts, nonce)
	resp, err := http.Post(g.Base+"/v1/channels/wechat?"+q.Encode(), "text/xml", strings.NewReader(string(body)))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func textPush(msgID int64, text string) string {
	return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>`+
		`<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content><MsgId>%d</MsgId></xml>`,
		e2eOpenID, time.Now().Unix(), text, msgID)
}

// A citizen's WeChat text becomes an envelope on Kafka and a message in the
// agent's websocket; the agent's reply reaches WeChat's custom/send with a
// valid access token, also after the token expired mid-conversation.
func TestWechatRoundTrip(t *testing.T) {
	api := wechatfake.New(e2eAppID, e2eSecret)
	defer api.Close()
	g := lt.Start(t, "GATEWAY_AGENTS=a1:pw:general:3",
		"GATEWAY_CHANNELS_WECHAT_APP_ID="+e2eAppID, "GATEWAY_CHANNELS_WECHAT_APP_SECRET="+e2eSecret,
		"GATEWAY_CHANNELS_WECHAT_TOKEN="+e2eToken, "GATEWAY_CHANNELS_WECHAT_ENCODING_AES_KEY="+e2eAESKey,
		"GATEWAY_CHANNELS_WECHAT_API_BASE="+api.URL())
	a1 := g.MustDial(t, "/v1/ws/agent", g.AgentToken(t, "a1", "pw"))
	a1.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
	a1.Expect(livechat.TypeWelcome, 5*time.Second)

	// WeChat retries: the same MsgId three times.
	for i := range 3 {
		code, body := push(t, g, textPush(24000001, "小区门口垃圾没人清理"), "n"+strconv.Itoa(i))
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "success", body)
	}
	off := a1.Expect(livechat.TypeOffer, 5*time.Second)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: off.SessionID})
	msg := a1.Expect(livechat.TypeMessage, 5*time.Second)
	require.Equal(t, "小区门口垃圾没人清理", lt.Data(t, msg)["text"])
	require.EqualValues(t, 1, msg.Seq)

	a1.SendData(livechat.TypeMessage, off.SessionID, "r1", map[string]string{"text": "您好，已记录，将派单处理。"})
	a1.ExpectChat(5 * time.Second)
	require.Eventually(t, func() bool { return len(api.Sent()) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.Contains(t, api.Sent()[0].Text, "24小时", "the automatic receipt goes out first")
	sent := api.Sent()[1]
	require.Equal(t, e2eOpenID, sent.ToUser)
	require.Equal(t, "您好，已记录，将派单处理。", sent.Text)

	// The access token expires in the middle of the conversation: no reply is lost.
	api.ExpireTokens()
	code, _ := push(t, g, textPush(24000002, "什么时候来？"), "n9")
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 4, a1.ExpectChat(5*time.Second).Seq)
	a1.SendData(livechat.TypeMessage, off.SessionID, "r2", map[string]string{"text": "今天下午。"})
	require.Eventually(t, func() bool { return len(api.Sent()) == 3 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "今天下午。", api.Sent()[2].Text)
	require.Equal(t, 2, api.TokensIssued())

	// Outside the 48-hour window: recorded as message.delivery_failed and
	// shown to the agent, not retried.
	api.FailNext(e2eOpenID, 45015)
	a1.SendData(livechat.TypeMessage, off.SessionID, "r3", map[string]string{"text": "还在吗？"})
	ef := a1.Expect(livechat.TypeError, 5*time.Second)
	require.Equal(t, "delivery_failed", lt.Data(t, ef)["code"])
	require.Equal(t, off.SessionID, ef.SessionID)

	// One envelope, and exactly one chat message per MsgId.
	envs := g.Consume(t, "intake.envelopes", 500*time.Millisecond)
	require.Len(t, envs, 1)
	lt.Validate(t, "envelope", envs[0].Raw)
	require.Equal(t, "wechat_miniprogram", envs[0].Value["channel"])
	require.Equal(t, e2eOpenID, envs[0].Value["citizen"].(map[string]any)["channel_user_id"])
	require.Equal(t, off.SessionID, envs[0].Value["session_id"])
	n, failed := 0, 0
	for _, e := range g.Consume(t, "intake.events", 300*time.Millisecond) {
		lt.Validate(t, "event", e.Raw)
		switch e.Value["type"] {
		case "message.citizen":
			n++
		case "message.delivery_failed":
			failed++
		}
	}
	require.Equal(t, 2, n)
	require.Equal(t, 1, failed)
	require.Len(t, api.Sent(), 3, "a permanent failure is not retried")
}
