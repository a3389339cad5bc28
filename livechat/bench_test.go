package livechat_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

// The benchmarks run a hub in process (livechattest.StartHub: real store
// with fsync in a temp dir, fake clock, real websockets over loopback) and
// drive it with bare websocket clients that only look at each frame's type,
// so that allocs/op is mostly the server's. Profile with
//
//	go test -run '^$' -bench 'MessageRoundTrip|FanOut' -benchmem -cpuprofile cpu.out ./livechat/

// BenchmarkMessageRoundTrip is one citizen message, sequentially: the citizen
// sends, the message is stored (one group commit, fsync'ed), the agent
// receives it and the citizen receives its echo (the ack).
func BenchmarkMessageRoundTrip(b *testing.B) {
	h := lt.StartHub(b, "a1:p:general:5", clock.NewFake(t0), "", noFrameLimits) // b.N frames on a clock that stands still
	agent, cit, sid := benchPair(b, h)
	msg := newMsgFrame(sid, "c", "路灯不亮了，麻烦派人看看")
	st0 := h.DB.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		cit.write(b, msg.build(i))
		agent.await(b, livechat.TypeMessage)
		cit.await(b, livechat.TypeMessage)
	}
	b.StopTimer()
	st := h.DB.Stats()
	b.ReportMetric(float64(st.Commits-st0.Commits)/float64(b.N), "fsyncs/op")
}

// BenchmarkFanOut is one agent frame broadcast to every connection the
// citizen has open on the session (several tabs or devices): "message" is
// stored first (one fsync) and echoed to the agent too; "typing" is relayed
// without touching the store, so it is the fan-out alone.
func BenchmarkFanOut(b *testing.B) {
	for _, kind := range []string{livechat.TypeMessage, livechat.TypeTyping} {
		for _, subs := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/subs=%d", kind, subs), func(b *testing.B) { benchFanOut(b, kind, subs) })
		}
	}
}

func benchFanOut(b *testing.B, kind string, subs int) {
	h := lt.StartHub(b, "a1:p:general:5", clock.NewFake(t0), "", noFrameLimits) // b.N frames on a clock that stands still
	agent, first, sid := benchPair(b, h)
	cits := []*wsClient{first}
	for range subs - 1 { // the same citizen again: each connection rejoins the open session
		c := dialWS(b, h.Base, "/v1/ws/citizen", h.CitizenToken("c1"))
		c.write(b, []byte(`{"type":"hello","data":{"channel":"web"}}`))
		if w := c.await(b, livechat.TypeWelcome); w.SessionID != sid {
			b.Fatalf("second connection joined %q, want %q", w.SessionID, sid)
		}
		cits = append(cits, c)
	}
	var frame func(i int) []byte
	if kind == livechat.TypeMessage {
		m := newMsgFrame(sid, "a", "您好，已为您登记，请问具体地址？")
		frame = m.build
	} else {
		typing := []byte(`{"type":"typing","session_id":"` + sid + `","data":{"typing":true}}`)
		frame = func(int) []byte { return typing }
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		agent.write(b, frame(i))
		for _, c := range cits {
			c.await(b, kind)
		}
		if kind == livechat.TypeMessage {
			agent.await(b, kind) // its own echo
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(subs), "subscribers")
}

// benchPair connects agent a1 (available) and citizen c1, and has a1 accept
// c1's session.
func benchPair(b *testing.B, h *lt.Hub) (agent, cit *wsClient, sid string) {
	b.Helper()
	agent = dialWS(b, h.Base, "/v1/ws/agent", h.AgentToken("a1"))
	agent.write(b, []byte(`{"type":"hello","data":{"presence":"available"}}`))
	agent.await(b, livechat.TypeWelcome)
	cit = dialWS(b, h.Base, "/v1/ws/citizen", h.CitizenToken("c1"))
	cit.write(b, []byte(`{"type":"hello","data":{"channel":"web"}}`))
	sid = cit.await(b, livechat.TypeWelcome).SessionID
	if off := agent.await(b, livechat.TypeOffer); off.SessionID != sid {
		b.Fatalf("offer for %q, want %q", off.SessionID, sid)
	}
	agent.write(b, []byte(`{"type":"accept","session_id":"`+sid+`"}`))
	agent.await(b, livechat.TypeSession)
	return agent, cit, sid
}

// msgFrame builds message frames with distinct ids into one reused buffer.
type msgFrame struct {
	head, tail []byte
	buf        []byte
}

func newMsgFrame(sid, prefix, text string) *msgFrame {
	data, _ := json.Marshal(map[string]string{"text": text})
	return &msgFrame{head: []byte(`{"type":"message","session_id":"` + sid + `","id":"` + prefix),
		tail: []byte(`","data":` + string(data) + `}`)}
}

func (m *msgFrame) build(i int) []byte {
	m.buf = append(m.buf[:0], m.head...)
	m.buf = strconv.AppendInt(m.buf, int64(i), 10)
	return append(m.buf, m.tail...)
}

// wsClient is a bare websocket client: one goroutine reads frames and passes
// on their type; the full frame only for the few types setup looks into.
type wsClient struct {
	ws     *websocket.Conn
	frames chan seen
}

type seen struct {
	typ   string
	frame *livechat.Frame // welcome, offer, session, error
}

func dialWS(b *testing.B, base, path, token string) *wsClient {
	b.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + path + "?token=" + url.QueryEscape(token)
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		b.Fatal(err)
	}
	c := &wsClient{ws: ws, frames: make(chan seen, 1024)}
	go c.read()
	b.Cleanup(func() { _ = ws.Close() })
	return c
}

func (c *wsClient) read() {
	defer close(c.frames)
	var buf bytes.Buffer
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		s := seen{typ: frameType(buf.Bytes())}
		switch s.typ {
		case livechat.TypeMessage, livechat.TypeTyping, livechat.TypeQueue:
		default:
			var f livechat.Frame
			if json.Unmarshal(buf.Bytes(), &f) == nil {
				s.frame = &f
			}
		}
		c.frames <- s
	}
}

// frameType reads the type of a frame the server marshalled (type is its
// first field) without allocating for the common types.
func frameType(b []byte) string {
	const p = `{"type":"`
	if !bytes.HasPrefix(b, []byte(p)) {
		return ""
	}
	b = b[len(p):]
	end := bytes.IndexByte(b, '"')
	if end < 0 {
		return ""
	}
	switch string(b[:end]) {
	case livechat.TypeMessage:
		return livechat.TypeMessage
	case livechat.TypeTyping:
		return livechat.TypeTyping
	case livechat.TypeQueue:
		return livechat.TypeQueue
	}
	return string(b[:end])
}

func (c *wsClient) write(b *testing.B, frame []byte) {
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		b.Fatal(err)
	}
}

// await returns the next frame of type typ, skipping others; an error frame
// fails the benchmark.
func (c *wsClient) await(b *testing.B, typ string) livechat.Frame {
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case s, ok := <-c.frames:
			if !ok {
				b.Fatalf("connection closed while waiting for %q", typ)
			}
			if s.typ == livechat.TypeError {
				b.Fatalf("error frame while waiting for %q: %s", typ, s.frame.Data)
			}
			if s.typ == typ {
				if s.frame != nil {
					return *s.frame
				}
				return livechat.Frame{Type: typ}
			}
		case <-timeout.C:
			b.Fatalf("no %q frame within 5s", typ)
		}
	}
}
