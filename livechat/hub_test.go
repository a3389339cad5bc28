package livechat_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func agentUp(t *testing.T, h *lt.Hub, id string) *lt.Client {
	t.Helper()
	c := lt.MustDial(t, h.Base, "/v1/ws/agent", h.AgentToken(id))
	c.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
	c.Expect(livechat.TypeWelcome, wait)
	return c
}

// citizenUp says hello as web citizen sub and sends the first message (seq
// 1), which opens the session and routes it.
func citizenUp(t *testing.T, h *lt.Hub, sub string) (*lt.Client, string) {
	t.Helper()
	c := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken(sub))
	return c, c.OpenSession(nil, "你好")
}

func noFrame(t *testing.T, c *lt.Client, typ string, d time.Duration) {
	t.Helper()
	end := time.After(d)
	for {
		select {
		case <-end:
			return
		default:
		}
		if f, ok := c.Next(10 * time.Millisecond); ok && f.Type == typ {
			t.Fatalf("unexpected %s frame: %+v", typ, f)
		}
	}
}

func TestOfferTimeoutGoesToNextAgent(t *testing.T) {
	clock := clock.NewFake(t0)
	h := lt.StartHub(t, "a1:p:general:1,a2:p:general:1", clock, "")
	a1, a2 := agentUp(t, h, "a1"), agentUp(t, h, "a2")
	_, sid := citizenUp(t, h, "c1")

	// Whoever is offered first lets the offer lapse; the other gets it.
	var first, second *lt.Client
	select {
	case <-time.After(wait):
		t.Fatal("no offer")
	default:
	}
	for first == nil {
		if f, ok := a1.Next(20 * time.Millisecond); ok && f.Type == livechat.TypeOffer {
			first, second = a1, a2
		} else if f, ok := a2.Next(20 * time.Millisecond); ok && f.Type == livechat.TypeOffer {
			first, second = a2, a1
		}
	}
	clock.Advance(29 * time.Second)
	noFrame(t, second, livechat.TypeOffer, 100*time.Millisecond)
	clock.Advance(2 * time.Second)
	require.Equal(t, "withdrawn", lt.Data(t, first.Expect(livechat.TypeSession, wait))["state"])
	require.Equal(t, sid, second.Expect(livechat.TypeOffer, wait).SessionID)
}

func TestBackfillOnFreeCapacity(t *testing.T) {
	clock := clock.NewFake(t0)
	h := lt.StartHub(t, "a1:p:general:1", clock, "")
	a1 := agentUp(t, h, "a1")
	_, s1 := citizenUp(t, h, "c1")
	require.Equal(t, s1, a1.Expect(livechat.TypeOffer, wait).SessionID)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: s1})
	a1.Expect(livechat.TypeSession, wait)

	c2, s2 := citizenUp(t, h, "c2")
	q := lt.Data(t, c2.Expect(livechat.TypeQueue, wait))
	require.Equal(t, "queued", q["state"])
	require.EqualValues(t, 1, q["queue_position"])
	noFrame(t, a1, livechat.TypeOffer, 100*time.Millisecond)

	a1.Send(livechat.Frame{Type: livechat.TypeClose, SessionID: s1})
	require.Equal(t, s2, a1.Expect(livechat.TypeOffer, wait).SessionID, "freed capacity is backfilled at once")
}

func TestDeclineGoesToAnotherAgent(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2,a2:p:general:2", clock.NewFake(t0), "")
	a1 := agentUp(t, h, "a1")
	_, sid := citizenUp(t, h, "c1")
	require.Equal(t, sid, a1.Expect(livechat.TypeOffer, wait).SessionID)
	a2 := agentUp(t, h, "a2")
	a1.Send(livechat.Frame{Type: livechat.TypeDecline, SessionID: sid})
	require.Equal(t, sid, a2.Expect(livechat.TypeOffer, wait).SessionID)
}

func TestAgentDropGracePeriod(t *testing.T) {
	clock := clock.NewFake(t0)
	h := lt.StartHub(t, "a1:p:general:2,a2:p:general:2", clock, "", func(c *livechat.Config) { c.AgentGrace = time.Minute })
	a1 := agentUp(t, h, "a1")
	cit, sid := citizenUp(t, h, "c1")
	require.Equal(t, sid, a1.Expect(livechat.TypeOffer, wait).SessionID)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	a1.Expect(livechat.TypeSession, wait)
	a2 := agentUp(t, h, "a2")

	// Drop and come back within the grace period: the session stays with a1.
	a1.WS.Close()
	require.Eventually(t, func() bool { c, _ := h.AgentState("a1"); return !c }, wait, 5*time.Millisecond)
	clock.Advance(59 * time.Second)
	a1 = lt.MustDial(t, h.Base, "/v1/ws/agent", h.AgentToken("a1"))
	a1.SendData(livechat.TypeHello, "", "", map[string]any{"presence": "available"})
	w := lt.Data(t, a1.Expect(livechat.TypeWelcome, wait))
	require.Len(t, w["sessions"], 1)
	clock.Advance(10 * time.Second)
	noFrame(t, a2, livechat.TypeOffer, 100*time.Millisecond)

	// Drop for longer than the grace period: re-queued at the front, a2 gets it.
	cit.SendData(livechat.TypeMessage, sid, "m1", map[string]string{"text": "还在吗"})
	a1.WS.Close()
	require.Eventually(t, func() bool { c, _ := h.AgentState("a1"); return !c }, wait, 5*time.Millisecond)
	clock.Advance(61 * time.Second)
	off := a2.Expect(livechat.TypeOffer, wait)
	require.Equal(t, sid, off.SessionID)
	require.EqualValues(t, 1, lt.Data(t, off)["priority"])
	_, n := h.AgentState("a1")
	require.Zero(t, n)
}

func TestResumeAfterConnectionKilledMidBurst(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "", func(c *livechat.Config) { c.SendQueue = 4096 }, noFrameLimits)
	a1 := agentUp(t, h, "a1")
	cit, sid := citizenUp(t, h, "c1")
	a1.Expect(livechat.TypeOffer, wait)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	a1.Expect(livechat.TypeSession, wait)

	const n = 1000
	go func() {
		for i := range n {
			_ = a1.WriteFrame(livechat.Frame{Type: livechat.TypeMessage, SessionID: sid, ID: "a" + itoa(i),
				Data: []byte(`{"text":"第` + itoa(i) + `条"}`)})
		}
	}()
	got := []int64{1} // the citizen's first message, echoed when it opened the session
	for len(got) < 300 {
		f := cit.Expect(livechat.TypeMessage, wait)
		got = append(got, f.Seq)
	}
	cit.WS.UnderlyingConn().Close() // the TCP connection dies mid-burst
	<-cit.Done

	last := got[len(got)-1]
	cit2 := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("c1"))
	cit2.Send(livechat.Frame{Type: livechat.TypeHello, SessionID: sid, LastSeq: &last, Data: []byte(`{"channel":"web"}`)})
	for got[len(got)-1] < n+1 {
		got = append(got, cit2.Expect(livechat.TypeMessage, wait).Seq)
	}
	require.Len(t, got, n+1)
	for i, s := range got {
		require.EqualValues(t, i+1, s, "received sequence must be exactly 1..%d", n+1)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestSeveralTabsOfOneAgentSeeTheSameSessions(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:3", clock.NewFake(t0), "")
	tab1 := agentUp(t, h, "a1")
	tab2 := agentUp(t, h, "a1")
	cit, sid := citizenUp(t, h, "c1")
	require.Equal(t, sid, tab1.Expect(livechat.TypeOffer, wait).SessionID)
	require.Equal(t, sid, tab2.Expect(livechat.TypeOffer, wait).SessionID)
	tab2.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	// Both tabs get the transcript so far (the first message), then the session.
	for _, tab := range []*lt.Client{tab1, tab2} {
		require.EqualValues(t, 1, tab.Expect(livechat.TypeMessage, wait).Seq)
		tab.Expect(livechat.TypeSession, wait)
	}

	cit.SendData(livechat.TypeMessage, sid, "c-1", map[string]string{"text": "在吗"})
	require.EqualValues(t, 2, tab1.Expect(livechat.TypeMessage, wait).Seq)
	require.EqualValues(t, 2, tab2.Expect(livechat.TypeMessage, wait).Seq)
	tab1.SendData(livechat.TypeMessage, sid, "a-1", map[string]string{"text": "您好"})
	require.EqualValues(t, 3, tab2.Expect(livechat.TypeMessage, wait).Seq, "a reply typed in one tab shows in the other")

	// A third device that opens later gets the session and its transcript.
	tab3 := lt.MustDial(t, h.Base, "/v1/ws/agent", h.AgentToken("a1"))
	tab3.SendData(livechat.TypeHello, "", "", map[string]any{})
	w := lt.Data(t, tab3.Expect(livechat.TypeWelcome, wait))
	require.Len(t, w["sessions"], 1)
	for seq := int64(1); seq <= 3; seq++ {
		require.EqualValues(t, seq, tab3.Expect(livechat.TypeMessage, wait).Seq)
	}
}

func TestQueuedSessionAbandonedWhenTheCitizenLeaves(t *testing.T) {
	clock := clock.NewFake(t0)
	h := lt.StartHub(t, "a1:p:general:1", clock, "", func(c *livechat.Config) { c.AbandonAfter = 2 * time.Minute })
	// A citizen who reloads the page within the time keeps their place.
	cit, stay := citizenUp(t, h, "stays")
	timers := clock.Waiters()
	cit.WS.Close()
	<-cit.Done
	// The server has seen the close once it set the abandon timer.
	require.NoError(t, clock.BlockUntil(t.Context(), timers+1))
	clock.Advance(time.Minute)
	cit = lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("stays"))
	cit.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web"})
	require.Equal(t, stay, cit.Expect(livechat.TypeWelcome, wait).SessionID)

	// One who closed the page for good is not kept waiting in the queue.
	gone, sid := citizenUp(t, h, "gone")
	timers = clock.Waiters()
	gone.WS.Close()
	<-gone.Done
	require.NoError(t, clock.BlockUntil(t.Context(), timers+1))
	clock.Advance(2*time.Minute + time.Second)
	require.Eventually(t, func() bool { s, ok := h.SessionInfo(sid); return ok && s.State == "closed" }, wait, 5*time.Millisecond)
	s, _ := h.SessionInfo(stay)
	require.Equal(t, "queued", s.State)
}

func TestNegativeLastSeqReplaysEverything(t *testing.T) {
	h := lt.StartHub(t, "a1:p:general:1", clock.NewFake(t0), "")
	a1 := agentUp(t, h, "a1")
	cit, sid := citizenUp(t, h, "c1")
	a1.Expect(livechat.TypeOffer, wait)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	a1.Expect(livechat.TypeSession, wait)
	cit.SendData(livechat.TypeMessage, sid, "c-1", map[string]string{"text": "一"})
	cit.Expect(livechat.TypeMessage, wait)

	again := lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("c1"))
	last := int64(-7)
	again.Send(livechat.Frame{Type: livechat.TypeHello, SessionID: sid, LastSeq: &last, Data: []byte(`{"channel":"web"}`)})
	again.Expect(livechat.TypeWelcome, wait)
	require.EqualValues(t, 1, again.Expect(livechat.TypeMessage, wait).Seq)
}

// The wait before a queued session is abandoned starts from the citizen's
// last departure: a citizen who left, came back and left again is not
// dropped by the first departure's timer (it was, seconds after the second).
func TestAbandonWaitStartsFromTheLastDeparture(t *testing.T) {
	clk := clock.NewFake(t0)
	h := lt.StartHub(t, "a1:p:general:1", clk, "", func(c *livechat.Config) { c.AbandonAfter = 2 * time.Minute })
	// The hub has seen a departure once the socket is no longer counted:
	// it untracks a connection after it has started the abandon wait.
	leave := func(c *lt.Client) {
		c.WS.Close()
		<-c.Done
		require.Eventually(t, func() bool { return metricValue(t, h, "gateway_websockets_open", nil) == 0 }, wait, time.Millisecond)
	}
	cit, sid := citizenUp(t, h, "twice")
	leave(cit)
	clk.Advance(time.Minute)
	cit = lt.MustDial(t, h.Base, "/v1/ws/citizen", h.CitizenToken("twice"))
	cit.SendData(livechat.TypeHello, "", "", map[string]any{"channel": "web"})
	require.Equal(t, sid, cit.Expect(livechat.TypeWelcome, wait).SessionID)
	leave(cit)
	clk.Advance(time.Minute + time.Second) // 2m1s after the first departure
	s, _ := h.SessionInfo(sid)
	require.Equal(t, "queued", s.State, "1m1s after the last departure")
	clk.Advance(time.Minute)
	require.Eventually(t, func() bool { s, ok := h.SessionInfo(sid); return ok && s.State == "closed" }, wait, 5*time.Millisecond)
}
