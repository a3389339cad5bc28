package livechattest

import (
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/livechat"
)

// VideoCall sets up a WebRTC data channel between two pion peers, the
// agent's and the citizen's, whose only signalling path is their websockets
// to the gateway (rtc.* frames on session sid), on loopback host candidates
// (no STUN, no mDNS). One message goes each way; it fails t if either does
// not arrive within timeout, if the gateway answers an error frame, or if
// the call is not on 127.0.0.1.
func VideoCall(t testing.TB, agent, citizen *Client, sid string, timeout time.Duration) {
	t.Helper()
	ap, cp := newPeer(t, agent, sid), newPeer(t, citizen, sid)
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
	for _, p := range []*peer{ap, cp} {
		pumps.Add(1)
		go func() { defer pumps.Done(); p.pump(done) }()
	}
	defer func() { close(done); pumps.Wait() }()
	offer, err := ap.pc.CreateOffer(nil)
	require.NoError(t, err)
	require.NoError(t, ap.pc.SetLocalDescription(offer))
	ap.send(livechat.TypeRTCOffer, offer)

	expectText := func(p *peer, want string) {
		t.Helper()
		select {
		case got := <-p.got:
			require.Equal(t, want, got)
		case err := <-ap.errs:
			t.Fatalf("agent side: %v", err)
		case err := <-cp.errs:
			t.Fatalf("citizen side: %v", err)
		case <-time.After(timeout):
			t.Fatalf("no data-channel message (agent ICE %s, citizen ICE %s)", ap.pc.ICEConnectionState(), cp.pc.ICEConnectionState())
		}
	}
	expectText(cp, "agent: 您好")
	expectText(ap, "citizen: 收到")
	pair, err := ap.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", pair.Local.Address)
}

// peer is one side of a WebRTC call whose only signalling path is its
// websocket to the gateway.
type peer struct {
	pc  *webrtc.PeerConnection
	c   *Client
	sid string

	mu      sync.Mutex
	remote  bool
	pending []webrtc.ICECandidateInit
	errs    chan error
	got     chan string
}

func newPeer(t testing.TB, c *Client, sid string) *peer {
	t.Helper()
	var se webrtc.SettingEngine // host candidates on loopback only, no STUN, no mDNS
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pc.Close() })
	p := &peer{pc: pc, c: c, sid: sid, errs: make(chan error, 16), got: make(chan string, 4)}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand != nil {
			p.send(livechat.TypeRTCICE, map[string]any{"candidate": cand.ToJSON()})
		}
	})
	return p
}

func (p *peer) fail(err error) {
	select {
	case p.errs <- err:
	default:
	}
}

// send writes an rtc.* frame; safe from pion's callbacks (WriteFrame takes
// the client's own lock: the test writes on the same socket).
func (p *peer) send(typ string, data any) {
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
func (p *peer) pump(done <-chan struct{}) {
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

func (p *peer) handle(f livechat.Frame) error {
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
func (p *peer) setRemote(d webrtc.SessionDescription) error {
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
