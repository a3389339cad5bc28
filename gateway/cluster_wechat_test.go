package gateway_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/wechatapi/wechatfake"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// The nodes of a cluster share one WeChat access token (issue 18, test 6):
// citizens writing to three different nodes get their receipts sent with
// the one token a single node fetched, and WeChat refuses none as replaced.
func TestClusterSharesOneWeChatToken(t *testing.T) {
	const (
		wxAppID, wxToken = "wx134c8103faa5a59e", "AAAAA"
		wxAESKey         = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	)
	wx := wechatfake.New(wxAppID, "secret")
	defer wx.Close()
	c := gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3, Env: []string{
		"GATEWAY_CHANNELS_WECHAT_APP_ID=" + wxAppID, "GATEWAY_CHANNELS_WECHAT_APP_SECRET=secret",
		"GATEWAY_CHANNELS_WECHAT_TOKEN=" + wxToken, "GATEWAY_CHANNELS_WECHAT_ENCODING_AES_KEY=" + wxAESKey,
		"GATEWAY_CHANNELS_WECHAT_API_BASE=" + wx.URL()}})

	openIDs := []string{"o9AgO5Kd5ggOC-bXrbNODIiE3bG1", "o9AgO5Kd5ggOC-bXrbNODIiE3bG2", "o9AgO5Kd5ggOC-bXrbNODIiE3bG3"}
	for i, openID := range openIDs {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		q, body := wechatfake.EncryptPush(wxToken, wxAESKey, wxAppID, []byte(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[`+openID+
			`]]></FromUserName><CreateTime>`+ts+`</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[井盖丢了]]></Content><MsgId>`+
			strconv.Itoa(100+i)+`</MsgId></xml>`), ts, strconv.Itoa(i))
		resp, err := http.Post(c.Node(i+1).URL("/v1/channels/wechat?"+q.Encode()), "text/xml", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
	}
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		to := map[string]bool{}
		for _, m := range wx.Sent() {
			to[m.ToUser] = true
		}
		if len(to) < 3 {
			return fmt.Errorf("receipts sent to %d of 3 citizens", len(to))
		}
		return nil
	})
	require.Equal(t, 1, wx.TokensIssued(), "one node fetched the token for all three")
	tokens := map[string]bool{}
	for _, m := range wx.Sent() {
		tokens[m.Token] = true
	}
	require.Len(t, tokens, 1, "every node sent with the same token")
}
