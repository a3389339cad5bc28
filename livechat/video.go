package livechat

import (
	"context"
	"time"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// Sign-language video sessions (issue 8). A citizen's hello with data
// {"video": true} opens a session on channel sign_language that needs the
// sign_language skill. Its envelope is created in the transaction that opens
// it (a call may carry no chat message at all), routing gives it to an agent
// with no other session and fills their capacity, and the rtc.offer /
// rtc.answer / rtc.ice frames of WebRTC signalling are relayed untouched
// between the citizen and the assigned agent only. The gateway carries no
// media.

// VideoEnvelopeText is the content of the envelope a video session creates.
const VideoEnvelopeText = sessions.VideoEnvelopeText

// SkillSignLanguage is the skill a video session needs.
const SkillSignLanguage = "sign_language"

// metaVia is the Session.Meta key holding the channel of the citizen's token
// (web or app) for sessions whose own channel is sign_language.
const metaVia = "via"

// Video connects video sessions to the sign-language service. Every field is
// optional.
type Video struct {
	// Welcome adds fields (ice_servers with fresh TURN credentials) to the
	// citizen's welcome of a video session and to the session frame its
	// agent gets on accepting it. It runs with the hub locked: no I/O.
	Welcome func(s *sessions.Session) map[string]any
	// Open says whether a new video session may open at now and, if not,
	// when the service opens (zero: not known). Nil: always open.
	Open func(now time.Time) (open bool, opensAt time.Time)
	// Answered runs, off the hub's lock, after an agent accepted a video
	// session: at is the acceptance time, when the first-response clock of
	// the session's envelope stops (the call is the response).
	Answered func(ctx context.Context, s sessions.Session, at time.Time)
}

// setVideo installs the sign-language hooks, at New.
func (h *Hub) setVideo(v Video) {
	h.video = v
	h.welcomeExtra = func(r *sessions.Session) map[string]any {
		if !r.Video {
			return nil
		}
		out := map[string]any{"video": true, "envelope_id": r.EnvelopeID}
		if h.video.Welcome != nil {
			for k, v := range h.video.Welcome(r) {
				out[k] = v
			}
		}
		return out
	}
}

// agentView is the data of the session frame an agent gets on accepting:
// a video session also carries the agent's ice_servers. Caller holds h.mu.
func (h *Hub) agentView(r *sessions.Session) map[string]any {
	v := sessionView(r)
	if hist := h.history(r); len(hist) > 0 {
		v["history"] = hist
	}
	v["citizen"] = h.citizenPanel(r)
	if c := r.Meta[metaEmergency]; c != "" {
		v["emergency"] = c
	}
	if r.Video && h.video.Welcome != nil {
		for k, x := range h.video.Welcome(r) {
			v[k] = x
		}
	}
	return v
}

// videoGate refuses a new video session outside opening hours with an
// error frame "service_closed" that says when the service opens. Caller
// holds h.mu.
func (h *Hub) videoGate(c *conn, f Frame) bool {
	if h.video.Open == nil {
		return true
	}
	open, at := h.video.Open(h.now())
	if open {
		return true
	}
	msg := "the sign-language video service is closed now; POST /v1/channels/sign-language/sessions for text chat or a call-back"
	if !at.IsZero() {
		msg = "the sign-language video service is closed now and opens at " + at.Format(time.RFC3339) +
			"; POST /v1/channels/sign-language/sessions for text chat or a call-back"
	}
	c.enqueue(errorFrame(f, "service_closed", msg))
	return false
}

// ownedBy reports whether c's citizen may act on s: the same subject on the
// same channel, or, for a sign_language session, the channel the citizen's
// token was issued for. Caller holds h.mu.
func (s *sess) ownedBy(c *conn) bool {
	if s.citizen != c.sub {
		return false
	}
	if s.channel == c.ch {
		return true
	}
	if s.channel != normalize.ChannelSignLanguage {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.Meta[metaVia] == c.ch
}

// videoOpenArgs returns the channel and meta of a new session for a citizen
// hello: video sessions are on channel sign_language and remember the
// token's channel.
func videoOpenArgs(c *conn, video bool) (string, map[string]string) {
	if !video {
		return c.ch, nil
	}
	return normalize.ChannelSignLanguage, map[string]string{metaVia: c.ch}
}

// videoEnvelopeTx creates the envelope of a new video session r inside the
// transaction that opens it and records its id on r. The returned func must
// run after the commit. fn may run more than once: each run builds a fresh
// envelope.
func (h *Hub) videoEnvelopeTx(tx *store.Tx, r *sessions.Session) (func(), error) {
	env := sessions.VideoEnvelope(h.d.Stamp, r)
	if err := env.Validate(); err != nil {
		return nil, err
	}
	ev := normalize.NewEvent(normalize.EventRequestAccepted, env.ReceivedAt)
	ev.Channel, ev.EnvelopeID, ev.SessionID = env.Channel, env.ID, r.ID
	ev.Data = map[string]any{"video": true}
	res, err := h.d.Intake.AcceptTx(tx, env, intakelog.AcceptOptions{Owner: "citizen:" + r.Citizen, Events: []*normalize.Event{ev}})
	if err != nil {
		return nil, err
	}
	r.EnvelopeID = res.Receipt.ID
	withNumber(r, res.Receipt.Number)
	r.Preview = sessions.VideoEnvelopeText
	return func() { h.d.Intake.Committed(env, res) }, nil
}

// videoAnswered runs the Answered hook for an accepted video session in the
// background (it writes durably and must not hold the hub). Caller holds h.mu.
func (h *Hub) videoAnswered(r sessions.Session, at time.Time) {
	f := h.video.Answered
	if !r.Video || f == nil || h.closed {
		return
	}
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f(ctx, r, at)
	}()
}

// videoDurations adds the wait and call durations of a closing video session
// to its session.closed data: waited_s from opening to the (last)
// assignment, or to the close if nobody took the call; call_s from the
// assignment to the close, 0 if never assigned. They cannot be in the
// envelope, which is published when the session opens.
func videoDurations(data map[string]any, r *sessions.Session, closedAt time.Time) {
	if !r.Video {
		return
	}
	data["video"] = true
	if r.AssignedAt == nil {
		data["waited_s"] = closedAt.Sub(r.CreatedAt).Seconds()
		data["call_s"] = 0.0
		return
	}
	data["waited_s"] = r.AssignedAt.Sub(r.CreatedAt).Seconds()
	data["call_s"] = closedAt.Sub(*r.AssignedAt).Seconds()
}

// onCall reports whether a is on a video call or has one offered: such an
// agent gets no other offer. Caller holds h.mu.
func (h *Hub) onCall(a *agent) bool {
	if a.onCall {
		return true
	}
	for sid := range a.offers {
		if s := h.sessions[sid]; s != nil && s.video {
			return true
		}
	}
	return false
}

// VideoQueue returns the queue position and estimated wait a video session
// of this citizen (token subject and channel) has, or would have if it
// opened now: the place after every video session already waiting.
func (h *Hub) VideoQueue(citizen, channel string) (position int, wait time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	probe := &conn{sub: citizen, ch: channel}
	ahead := 1
	for _, s := range h.sessions {
		if s.video && s.state != sessions.StateClosed && s.ownedBy(probe) {
			if s.state != sessions.StateQueued {
				return 0, 0
			}
			q := h.position(s)
			return q.Position, q.Wait
		}
		if s.video && s.state == sessions.StateQueued {
			ahead++
		}
	}
	q := h.estimate([]string{SkillSignLanguage}, true, ahead)
	return q.Position, q.Wait
}
