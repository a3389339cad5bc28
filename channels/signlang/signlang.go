// Package signlang is the sign-language video channel (contract §3, §5;
// issue 8). A citizen holding a web or app citizen token asks for a video
// session with POST /v1/channels/sign-language/sessions. Inside the opening
// hours (sign_language.calendar with .holidays and make-up .workdays) the
// answer says how to open the session on the citizen websocket, where it
// stands in the sign-language queue and which ICE servers to use; outside
// them it says when the service opens and offers text chat now or a
// call-back, which POST /v1/channels/sign-language/callbacks turns into an
// envelope for the ticket system.
//
// The video session itself lives in package livechat (hello with
// {"video": true}); this package supplies its calendar gate and the ICE
// servers of its welcome. The gateway relays WebRTC signalling only and
// carries no media.
package signlang

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/connectors/turn"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
	"github.com/hotline12345/gateway/timeliness/calendar"
)

// Paths of the channel's endpoints and of the websocket it hands over to.
const (
	PathSessions  = "/v1/channels/sign-language/sessions"
	PathCallbacks = "/v1/channels/sign-language/callbacks"
	PathCitizenWS = "/v1/ws/citizen"
)

// Queue is what the channel needs of live chat: where a video session of
// this citizen stands, or would stand if it opened now. *livechat.Hub
// implements it.
type Queue interface {
	VideoQueue(citizen, channel string) (position int, wait time.Duration)
}

// Channel is the sign-language channel.
type Channel struct {
	d       channels.Deps
	cfg     configs.SignLanguage
	cal     *calendar.Calendar
	queue   Queue
	limiter *httpin.Limiter
}

var _ channels.Channel = (*Channel)(nil)

// New builds the channel; the calendar spec, holidays and workdays of cfg
// must parse (an error names the key).
func New(d channels.Deps, cfg configs.SignLanguage, rl configs.RateLimit, q Queue) (*Channel, error) {
	if d.Clock == nil {
		d.Clock = clock.System
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.ClientIP == nil {
		d.ClientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	spec := strings.TrimSpace(cfg.Calendar)
	if spec == "" {
		spec = calendar.DefaultSpec
	}
	cal, err := calendar.Parse(spec, cfg.Holidays, cfg.Workdays)
	if err != nil {
		return nil, fmt.Errorf("sign_language.calendar: %w", err)
	}
	cfg.Calendar = spec
	return &Channel{d: d, cfg: cfg, cal: cal, queue: q, limiter: httpin.NewLimiter(rl.PerIP, rl.PerIPBurst, d.Clock)}, nil
}

// Name is the channel value.
func (c *Channel) Name() string { return normalize.ChannelSignLanguage }

// Mount registers the two endpoints.
func (c *Channel) Mount(e *echo.Echo) {
	e.POST(PathSessions, c.requestSession)
	e.POST(PathCallbacks, c.callback)
}

// OpenAt says whether the service is open at t and, if not, when it next
// opens (zero if not within calendar.SearchDays). It is the live-chat gate
// for new video sessions.
func (c *Channel) OpenAt(t time.Time) (bool, time.Time) {
	if c.cal.Open(t) {
		return true, time.Time{}
	}
	return false, c.cal.NextOpen(t)
}

// ICEServers returns the STUN entry and the TURN entry with time-limited
// TURN REST credentials for user (an opaque id, never personal data).
func (c *Channel) ICEServers(user string) []turn.ICEServer {
	return turn.ICEServers(c.cfg.STUNURLs, c.cfg.TURNURLs, c.cfg.TURNSecret, user, c.cfg.TURNTTL, c.d.Clock.Now())
}

// Welcome is the live-chat welcome extra of a video session: its ICE
// servers, the TURN username carrying the session id.
func (c *Channel) Welcome(s *sessions.Session) map[string]any {
	return map[string]any{"ice_servers": c.ICEServers(s.ID)}
}

// Hello is the data of the hello frame the citizen sends next.
type Hello struct {
	Channel string `json:"channel"`
	Video   bool   `json:"video,omitempty"`
}

// Fallback is an alternative offered while the service is closed.
type Fallback struct {
	Type     string `json:"type"` // "text_chat" or "callback"
	WS       string `json:"ws,omitempty"`
	Hello    *Hello `json:"hello,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
}

// SessionAnswer is the 200 answer of POST /v1/channels/sign-language/sessions:
// {"open": true, …OpenDetails} or {"open": false, …ClosedDetails}.
type SessionAnswer struct {
	Open bool `json:"open"`
	*OpenDetails
	*ClosedDetails
}

// OpenDetails say how to open the video session and what to expect.
type OpenDetails struct {
	WS             string           `json:"ws"`
	Hello          Hello            `json:"hello"`
	QueuePosition  int              `json:"queue_position"`
	EstimatedWaitS int              `json:"estimated_wait_s"`
	ICEServers     []turn.ICEServer `json:"ice_servers"`
}

// ClosedDetails say when the service opens and what the citizen can do now.
type ClosedDetails struct {
	// OpensAt is absent when no opening is scheduled within calendar.SearchDays.
	OpensAt   *time.Time `json:"opens_at,omitempty"`
	Message   string     `json:"message"`
	Fallbacks []Fallback `json:"fallbacks"`
}

// citizen returns the claims of the request's citizen token (Authorization:
// Bearer, else the web cookie).
func (c *Channel) citizen(r *http.Request) (tokens.Claims, error) {
	var cookie string
	if ck, err := r.Cookie("citizen_token"); err == nil {
		cookie = ck.Value
	}
	tok := tokens.FromRequest(r.Header.Get("Authorization"), "", cookie)
	if tok == "" {
		return tokens.Claims{}, apierr.New(apierr.CodeUnauthorized, "a citizen token is required: Authorization: Bearer <token from POST /v1/citizen/sessions>")
	}
	cl, err := c.d.Tokens.Verify(tok, tokens.RoleCitizen)
	if err != nil {
		return tokens.Claims{}, apierr.Wrap(apierr.CodeUnauthorized, "the citizen token is not valid: get a new one from POST /v1/citizen/sessions", err)
	}
	if cl.Channel == "" {
		cl.Channel = normalize.ChannelWeb
	}
	return cl, nil
}

func (c *Channel) guard(r *http.Request) (tokens.Claims, error) {
	if ok, wait := c.limiter.Allow(c.d.ClientIP(r)); !ok {
		return tokens.Claims{}, apierr.RateLimited(wait)
	}
	return c.citizen(r)
}

func (c *Channel) requestSession(ec echo.Context) error {
	r := ec.Request()
	cl, err := c.guard(r)
	if err != nil {
		return err
	}
	body, err := httpin.ReadJSON(r, 4096)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) > 0 { // the body is empty or {}
		var none struct{}
		if err := httpin.DecodeStrict(body, &none); err != nil {
			return err
		}
	}
	return ec.JSON(http.StatusOK, c.Answer(cl.Sub, cl.Channel, c.d.Clock.Now()))
}

// Answer is the answer to a citizen (token subject and channel) asking for
// a video session at now.
func (c *Channel) Answer(sub, channel string, now time.Time) SessionAnswer {
	open, next := c.OpenAt(now)
	if open {
		pos, wait := c.queue.VideoQueue(sub, channel)
		return SessionAnswer{Open: true, OpenDetails: &OpenDetails{WS: PathCitizenWS, Hello: Hello{Channel: channel, Video: true},
			QueuePosition: pos, EstimatedWaitS: int(wait.Seconds()), ICEServers: c.ICEServers("")}}
	}
	d := &ClosedDetails{Message: c.closedMessage(next), Fallbacks: []Fallback{
		{Type: "text_chat", WS: PathCitizenWS, Hello: &Hello{Channel: channel}},
		{Type: "callback", Endpoint: PathCallbacks},
	}}
	if !next.IsZero() {
		t := next.In(c.cal.Location())
		d.OpensAt = &t
	}
	return SessionAnswer{Open: false, ClosedDetails: d}
}

// closedMessage tells the citizen, in Chinese and English, the opening
// hours and when the service opens next.
func (c *Channel) closedMessage(next time.Time) string {
	hours := c.cfg.Calendar
	zh := "手语视频服务时间为 " + hours + "（法定节假日除外，调休工作日照常）。"
	en := "The sign-language video service is open " + hours + " (closed on public holidays, open on make-up working days)."
	if next.IsZero() {
		zh += "目前尚无开放安排。"
		en += " No opening is scheduled yet."
	} else {
		at := next.In(c.cal.Location()).Format("2006-01-02 15:04")
		zh += "下次开放：" + at + "。"
		en += " It next opens at " + at + " (" + c.cal.Location().String() + ")."
	}
	zh += "您可以现在使用文字客服，或留下电话预约回拨。"
	en += " You can use text chat now or ask us to call you back."
	return zh + " / " + en
}
