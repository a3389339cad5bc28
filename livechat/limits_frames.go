package livechat

// Rate limits on chat frames. One anonymous citizen once stored 5,000
// messages in 10 ms and had 50,000 typing frames relayed. Each side of a
// session (its citizen, its agent) now has a budget of messages and one of
// signals (typing, read, rtc.*); typing is coalesced to one relayed frame
// per interval. Over a budget a message or rtc frame is answered with an
// error frame rate_limited, an indicator is dropped; a connection that goes
// on regardless is closed with 1008 (policy violation).

import (
	"strconv"
	"time"

	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/internal/clock"
)

// CodeRateLimited is the code of the error frame for a frame over its
// session's rate limit.
const CodeRateLimited = "rate_limited"

// frameLimits are token buckets (the intake channels' limiter) keyed by
// role, subject and session, so that one citizen's tabs share a budget and
// frames aimed at somebody else's session spend only the sender's.
type frameLimits struct {
	messages *httpin.Limiter
	signals  *httpin.Limiter
	typing   *httpin.Limiter // nil: every typing frame within budget is relayed
	refusals *httpin.Limiter // keyed by connection; nil: never closed for abuse
}

func newFrameLimits(cfg configs.LiveChat, clk clock.Clock) frameLimits {
	fl := frameLimits{
		messages: httpin.NewLimiter(cfg.MessageRate, cfg.MessageBurst, clk),
		signals:  httpin.NewLimiter(cfg.SignalRate, cfg.SignalBurst, clk),
	}
	if cfg.TypingInterval > 0 {
		fl.typing = httpin.NewLimiter(float64(time.Second)/float64(cfg.TypingInterval), 1, clk)
	}
	if cfg.AbuseRefusals > 0 && cfg.AbuseWindow > 0 {
		fl.refusals = httpin.NewLimiter(float64(cfg.AbuseRefusals)/cfg.AbuseWindow.Seconds(), cfg.AbuseRefusals, clk)
	}
	return fl
}

// admit meters f against its sender's budget. False: f is not to be
// handled; it has been answered with an error frame (or dropped, for an
// indicator), and a connection that keeps going over is being closed.
func (h *Hub) admit(c *conn, f Frame) bool {
	var bucket *httpin.Limiter
	switch f.Type {
	case TypeMessage:
		bucket = h.limits.messages
	case TypeTyping, TypeRead, TypeRTCOffer, TypeRTCAns, TypeRTCICE:
		bucket = h.limits.signals
	default:
		return true
	}
	// A session the hub holds has a budget of its own; frames naming any
	// other share the sender's one budget, so that made-up session ids
	// neither buy fresh budgets nor fill the limiter with keys.
	key := c.role + "\x00" + c.sub
	h.mu.Lock()
	if _, ok := h.sessions[f.SessionID]; ok {
		key += "\x00" + f.SessionID
	}
	h.mu.Unlock()
	ok, wait := bucket.Allow(key)
	if ok && f.Type == TypeTyping {
		// An indicator: one a second says as much as fifty, and the
		// extra ones are not the client's fault (a keystroke each).
		ok, _ = h.limits.typing.Allow(key)
		return ok
	}
	if ok {
		return true
	}
	h.limitMet.limited.WithLabelValues(f.Type, c.role).Inc()
	if f.Type != TypeTyping && f.Type != TypeRead {
		c.enqueue(frameBytes(Frame{Type: TypeError, ID: f.ID, SessionID: f.SessionID, At: h.now(), Data: mustJSON(ErrorData{
			Code: CodeRateLimited, Message: "too many " + f.Type + " frames in this session: wait and send again",
			RetryAfterS: int((wait + time.Second - 1) / time.Second)})}))
	}
	h.refused(c)
	return false
}

// refused counts a frame the hub turned away against its connection: one
// that keeps sending what is refused is closed for abuse.
func (h *Hub) refused(c *conn) {
	if ok, _ := h.limits.refusals.Allow(strconv.FormatUint(c.id, 36)); !ok {
		h.abuseClose(c)
	}
}

// abuseClose ends a connection that kept sending over its limits, saying
// why; the client may reconnect, and finds its budgets where it left them.
func (h *Hub) abuseClose(c *conn) {
	if !c.closeWith(ClosePolicy, "too many frames over the rate limit: slow down") {
		return // already closing: counted once
	}
	h.limitMet.abuse.WithLabelValues(c.role).Inc()
	if ok, _ := h.logSample.Allow("abuse"); ok {
		h.log.Warn("livechat: websocket closed for abuse", "role", c.role, "subject", logSubject(c.role, c.sub), "ip", c.ip)
	}
}
