package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// Two pion peers, a citizen and a sign-language agent on the two nodes that
// are not the chat home, set up a data channel on loopback with the relayed
// websockets as their only signalling path (issue 19 test 5): the rtc.*
// frames cross two relays and the home's hub untouched, and one message
// goes each way.
func TestClusterVideoSignallingAcrossNodes(t *testing.T) {
	c := startChatCluster(t, "s1:pw:sign_language|general:3",
		"GATEWAY_SIGN_LANGUAGE_CALENDAR=Mon-Sun 00:00-24:00 UTC") // always open
	home := c.home(1)
	nodes := c.others(home)
	citNode, agNode := nodes[0], nodes[1]
	t.Logf("chat home node-%d; citizen on node-%d, agent on node-%d", home, citNode, agNode)
	wait := 15 * time.Second

	ag := c.agent(agNode, "s1", "pw")

	// The citizen asks for a video session on its node and opens it there
	// as the answer says.
	var tok struct{ Token string }
	c.post(citNode, "/v1/citizen/sessions", map[string]any{}, &tok)
	resp, err := gatewaytest.NewClient(1).Do(context.Background(), http.MethodPost,
		c.Node(citNode).URL("/v1/channels/sign-language/sessions"), []byte(`{}`),
		http.Header{"Authorization": {"Bearer " + tok.Token}})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.Status, "%s", resp.Body)
	var answer struct {
		Open  bool           `json:"open"`
		WS    string         `json:"ws"`
		Hello map[string]any `json:"hello"`
	}
	require.NoError(t, json.Unmarshal(resp.Body, &answer))
	require.True(t, answer.Open, "%s", resp.Body)
	cit := lt.MustDial(t, c.base(citNode), answer.WS, tok.Token)
	cit.SendData(livechat.TypeHello, "", "", answer.Hello)
	w := cit.Expect(livechat.TypeWelcome, wait)
	require.Equal(t, true, lt.Data(t, w)["video"])
	sid := w.SessionID

	off := ag.Expect(livechat.TypeOffer, wait)
	require.Equal(t, sid, off.SessionID)
	require.Equal(t, true, lt.Data(t, off)["video"])
	ag.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	ag.Expect(livechat.TypeSession, wait)
	for lt.Data(t, cit.Expect(livechat.TypeQueue, wait))["state"] != "active" {
	}

	ap, cp := newRTCPeer(t, ag, sid), newRTCPeer(t, cit, sid)
	cp.pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) {
			cp.got <- string(m.Data)
			if err := dc.SendText("citizen: 收到"); err != nil {
				cp.fail(err)
			}
		})
	})
	dc, err := ap.pc.CreateDataChannel("chat", nil)
	require.NoError(t, err)
	dc.OnOpen(func() {
		if err := dc.SendText("agent: 您好"); err != nil {
			ap.fail(err)
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) { ap.got <- string(m.Data) })
	done := make(chan struct{})
	var pumps sync.WaitGroup
	for _, p := range []*rtcPeer{ap, cp} {
		pumps.Add(1)
		go func() { defer pumps.Done(); p.pump(done) }()
	}
	defer func() { close(done); pumps.Wait() }()
	offer, err := ap.pc.CreateOffer(nil)
	require.NoError(t, err)
	require.NoError(t, ap.pc.SetLocalDescription(offer))
	ap.send(livechat.TypeRTCOffer, offer)

	expectText := func(p *rtcPeer, want string) {
		t.Helper()
		select {
		case got := <-p.got:
			require.Equal(t, want, got)
		case err := <-ap.errs:
			t.Fatalf("agent side: %v", err)
		case err := <-cp.errs:
			t.Fatalf("citizen side: %v", err)
		case <-time.After(wait):
			t.Fatalf("no data-channel message (agent ICE %s, citizen ICE %s)", ap.pc.ICEConnectionState(), cp.pc.ICEConnectionState())
		}
	}
	expectText(cp, "agent: 您好")
	expectText(ap, "citizen: 收到")
	pair, err := ap.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", pair.Local.Address)
}

// rtcPeer is one side of a WebRTC call whose only signalling path is its
// websocket to the gateway (after livechat/video_test.go).
type rtcPeer struct {
	pc  *webrtc.PeerConnection
	c   *lt.Client
	sid string

	mu      sync.Mutex
	remote  bool
	pending []webrtc.ICECandidateInit
	errs    chan error
	got     chan string
}

func newRTCPeer(t *testing.T, c *lt.Client, sid string) *rtcPeer {
	t.Helper()
	var se webrtc.SettingEngine // host candidates on loopback only, no STUN, no mDNS
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	p := &rtcPeer{pc: pc, c: c, sid: sid, errs: make(chan error, 16), got: make(chan string, 4)}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			p.send(livechat.TypeRTCICE, map[string]any{"candidate": cand.ToJSON()})
		}
	})
	return p
}

func (p *rtcPeer) fail(err error) {
	select {
	case p.errs <- err:
	default:
	}
}

// send writes an rtc.* frame; safe from pion's callbacks.
func (p *rtcPeer) send(typ string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		p.fail(err)
		return
	}
	if err := p.c.WriteFrame(livechat.Frame{Type: typ, SessionID: p.sid, At: time.Now().UTC(), Data: b}); err != nil {
		p.fail(err)
	}
}

// pump handles the frames that reach this side until done closes.
func (p *rtcPeer) pump(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		default:
		}
		if f, ok := p.c.Next(20 * time.Millisecond); ok {
			if err := p.handle(f); err != nil {
				p.fail(fmt.Errorf("%s: %w", f.Type, err))
			}
		}
	}
}

func (p *rtcPeer) handle(f livechat.Frame) error {
	switch f.Type {
	case livechat.TypeError:
		return fmt.Errorf("gateway error frame: %s", f.Data)
	case livechat.TypeRTCOffer, livechat.TypeRTCAns:
		var d webrtc.SessionDescription
		if err := json.Unmarshal(f.Data, &d); err != nil {
			return err
		}
		if err := p.setRemote(d); err != nil {
			return err
		}
		if f.Type == livechat.TypeRTCAns {
			return nil
		}
		ans, err := p.pc.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := p.pc.SetLocalDescription(ans); err != nil {
			return err
		}
		p.send(livechat.TypeRTCAns, ans)
	case livechat.TypeRTCICE:
		var d struct {
			Candidate webrtc.ICECandidateInit `json:"candidate"`
		}
		if err := json.Unmarshal(f.Data, &d); err != nil {
			return err
		}
		p.mu.Lock()
		if !p.remote { // before the description: applied with it
			p.pending = append(p.pending, d.Candidate)
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
		return p.pc.AddICECandidate(d.Candidate)
	}
	return nil
}

// setRemote applies the other side's description, then the candidates that
// came before it.
func (p *rtcPeer) setRemote(d webrtc.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(d); err != nil {
		return err
	}
	p.mu.Lock()
	p.remote = true
	pend := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, cand := range pend {
		if err := p.pc.AddICECandidate(cand); err != nil {
			return err
		}
	}
	return nil
}
