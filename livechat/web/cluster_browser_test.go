package web_test

// Browser test of issue 19 (test 6): the agent console and the citizen
// widget work against a 3-node cluster as against one gateway, whichever
// node serves each page, its REST calls and its websocket. Screenshots go to
// $ARTIFACTS_DIR (else a temp dir), named cluster-<scenario>-*.png.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// TestMain removes the gateway binary that gatewaytest builds for the
// cluster test.
func TestMain(m *testing.M) { os.Exit(gatewaytest.Main(m)) }

// TestClusterConsoleAndWidget runs one conversation in the console and the
// widget, in headless Chromium, against a 3-node cluster (contract §8.3,
// issue 19 test 6), twice: through the load balancer, which hands each of
// the browser's connections to the next node (so the pages, their REST
// calls and their websockets are spread over the nodes, the chat home
// among them), then with the console on one node that does not run live
// chat and the widget on the other, so that both relay to the home.
func TestClusterConsoleAndWidget(t *testing.T) {
	chrome := chromePath(t)
	c := gatewaytest.StartCluster(t, gatewaytest.ClusterOptions{Nodes: 3, Env: []string{
		"GATEWAY_AGENTS=a1:pw1:general:3",
		// Every connection comes from 127.0.0.1: no per-IP limit.
		"GATEWAY_RATE_LIMIT_PER_IP=100000", "GATEWAY_RATE_LIMIT_PER_IP_BURST=100000",
	}})
	home := clusterChatHome(t, c)
	var relays []int
	for i := 1; i <= c.Nodes(); i++ {
		if i != home {
			relays = append(relays, i)
		}
	}
	require.Len(t, relays, 2)
	t.Logf("chat home node-%d; console on node-%d and widget on node-%d in the second run", home, relays[0], relays[1])

	lb := strings.TrimSuffix(c.URL("/"), "/")
	t.Run("through the balancer", func(t *testing.T) {
		clusterConversation(t, chrome, lb, lb, "balancer", "您好，我们小区的自来水今天一直没有水", "今天晚上能恢复吗？")
	})
	t.Run("console and widget on the two relaying nodes", func(t *testing.T) {
		clusterConversation(t, chrome, strings.TrimSuffix(c.Node(relays[0]).URL("/"), "/"), strings.TrimSuffix(c.Node(relays[1]).URL("/"), "/"),
			"relays", "人民路的红绿灯坏了，路口很乱", "就在人民路和解放路交叉口")
	})
}

// clusterChatHome waits until node 1's /readyz names the chat home and
// returns its index (1-based).
func clusterChatHome(t *testing.T, c *gatewaytest.Cluster) int {
	t.Helper()
	var home int
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		resp, err := gatewaytest.NewClient(1).Do(context.Background(), http.MethodGet, c.Node(1).URL("/readyz"), nil, nil)
		if err != nil {
			return err
		}
		var ready struct {
			ChatHome string `json:"chat_home"`
		}
		if err := json.Unmarshal(resp.Body, &ready); err != nil {
			return fmt.Errorf("/readyz %d: %w: %s", resp.Status, err, resp.Body)
		}
		for i := 1; i <= c.Nodes(); i++ {
			if gatewaytest.NodeID(i) == ready.ChatHome {
				home = i
				return nil
			}
		}
		return fmt.Errorf("chat home: %q", ready.ChatHome)
	})
	return home
}

// on is the desk with its pages at base instead (same browser, same log of
// page errors): how one browser opens the console on one node and the
// widget on another.
func (d *desk) on(base string) *desk {
	o := *d
	o.base = base
	return &o
}

// clusterConversation: agent a1 signs in on the console at consoleBase; a
// citizen opens the widget at widgetBase and writes question; the console
// shows the offer, the agent accepts and replies; the widget shows the
// reply; the citizen writes followUp and the console shows it. Both pages
// end with the same transcript. name prefixes the screenshots.
func clusterConversation(t *testing.T, chrome, consoleBase, widgetBase, name, question, followUp string) {
	d := newDeskOn(t, nil, consoleBase, chrome, "zh-CN,zh")
	w := d.on(widgetBase)
	const reply = "您好，已经为您登记，我们马上联系供水公司。"
	// A transcript line of the chat: which li (selector in #transcript) contains text.
	has := func(sel, text string) string {
		return `[...document.querySelectorAll('#transcript ` + sel + `')].some(li => li.textContent.includes(` + jsq(text) + `))`
	}

	console := d.tab("console", 1280, 800)
	d.login(console, "a1", "pw1", "")
	d.waitJS(console, "agent available", `document.getElementById('presence').dataset.state === 'available'`)

	widget := w.tab("widget", 420, 700)
	w.openWidget(widget, "lang=zh-CN")
	w.write(widget, question)
	sid := w.widgetSession(widget)

	// The offer (a1 may still hold the first run's chat: pick this one).
	offer := `#offers li.offer[data-sid="` + sid + `"]`
	d.waitJS(console, "the offer", `document.querySelector('`+offer+` .accept') !== null`)
	require.Equal(t, question, d.text(console, offer+" .preview"))
	d.shot(console, "cluster-"+name+"-console-offer.png")

	d.click(console, offer+" .accept")
	row := `#sessions li.session[data-sid="` + sid + `"]`
	d.waitJS(console, "the chat open on the desk", `document.querySelector('`+row+`.current') !== null && `+has("li.msg.citizen", question))
	w.waitJS(widget, "the widget shows an agent joined", `document.getElementById('status').dataset.state === 'active'`)

	require.NoError(t, chromedp.Do(console, chromedp.SendKeys(chromedp.ID("reply"), reply), chromedp.Click(chromedp.ID("send"))))
	d.waitJS(console, "reply acknowledged", has("li.msg.agent.mine[data-seq]", reply)+` && !document.querySelector('#transcript li.pending')`)
	w.waitJS(widget, "the reply in the widget", has("li.msg.agent", reply))

	w.write(widget, followUp)
	d.waitJS(console, "the citizen's second message in the console", has("li.msg.citizen[data-seq]", followUp))

	// Both pages hold the same transcript, seq for seq.
	seqs := `[...document.querySelectorAll('#transcript li.msg[data-seq]')].map(li => Number(li.dataset.seq))`
	d.waitJS(console, "console transcript settled", `(() => { const s = `+seqs+`; return s.length > 0 && s.every((v, i) => v === i + 1); })()`)
	w.waitJS(widget, "widget transcript settled", `(() => { const s = `+seqs+`; return s.length > 0 && s.every((v, i) => v === i + 1); })()`)
	require.Equal(t, evalJS[[]int](w, widget, seqs), evalJS[[]int](d, console, seqs), "both pages hold the same transcript")
	require.True(t, evalJS[bool](w, widget, `document.getElementById('error').hidden`), "the widget showed an error: %s", w.text(widget, "#error"))
	require.Equal(t, "up", evalJS[string](d, console, `document.getElementById('conn').dataset.state`))

	d.shot(console, "cluster-"+name+"-console.png")
	w.shot(widget, "cluster-"+name+"-widget.png")
}
