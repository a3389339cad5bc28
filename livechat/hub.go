package livechat

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// Deps are what the hub is built with.
type Deps struct {
	DB     *store.DB
	Intake *intakelog.Log
	Stamp  normalize.Stamp
	Tokens *tokens.Signer
	Logger *slog.Logger
	Clock  clock.Clock
	Agents []configs.AgentSpec
	// ClientIP is how the gateway's channels see a request's address (the
	// proxy's X-Forwarded-For when trusted); nil: the peer's address.
	ClientIP func(*http.Request) string
	// Video are the sign-language hooks (video.go); zero: video always open,
	// no extra welcome data.
	Video Video
}

// Config tunes the hub.
type Config struct {
	configs.LiveChat
	AllowedOrigins []string
	AgentTokenTTL  time.Duration
	// ResponseWindow is the next-response limit the console counts down.
	ResponseWindow time.Duration
	// AbandonAfter closes a queued web/app session whose citizen left (closed
	// the page) and did not come back within it. Zero: never.
	AbandonAfter time.Duration
	// LanguageWait is how long a chat holds out for agents with the skills
	// the citizen's side asked for (routing.language_wait); RequiredSkills
	// never give way (sign_language always is required).
	LanguageWait   time.Duration
	RequiredSkills []string
	// InitialPresence is an agent's presence when their console connects
	// while they are offline (agents.initial_presence); "": available.
	InitialPresence string
	// Emergency, when set, is triage's emergency rules (contract §10): a
	// chat whose citizen writes of an emergency goes to the head of the
	// queue and the supervisors are alerted.
	Emergency func(text string) (normalize.Emergency, bool)
	// Receipt, when set, is the automatic receipt added to the conversation
	// (and sent on messaging channels) right after the message that created
	// its envelope, in the same transaction.
	Receipt func(env *normalize.Envelope) string
	// MessageTx, when set, runs in the transaction that stores each message
	// (the timeliness clocks start and stop there). It sees the session as it
	// was before the message (LastAgentAt, LastCitizenAt), with its envelope id.
	MessageTx func(tx *store.Tx, s *sessions.Session, m *sessions.Message) error
	// MediaAllowHosts may be reached by the attachment proxy (media.go)
	// although they are loopback or private (webhooks.allow_hosts).
	MediaAllowHosts []string
	// MediaClient, when set, replaces the attachment proxy's safe client
	// (tests: one that trusts their TLS server).
	MediaClient *http.Client
	// CitizenRequests, when set, lists the ids of a citizen's requests
	// across channels, newest first: by citizen key and the keys a verified
	// phone links to (triage's index). The agent's view of a chat shows them
	// (citizen_panel.go).
	CitizenRequests func(citizenKey string) []string
	// CloseTx, when set, runs in the transaction that closes a chat (the
	// follow-up survey is created there). A non-nil survey it returns is
	// sent to the citizen as a survey frame just before the close frame.
	CloseTx func(tx *store.Tx, r *sessions.Session, by, reason string) (*SurveyData, error)
	// Writable, when set, says whether the hub may write to the store now
	// (cluster mode: while its node holds the chat lease); its error aborts
	// the write. A hub whose node stalled past its lease and woke stores
	// nothing its successor may have stored meanwhile.
	Writable func() error
}

// SurveyData is a survey frame's data: where the citizen rates the chat.
type SurveyData struct {
	EnvelopeID string    `json:"envelope_id"`
	Number     string    `json:"number,omitempty"`
	Code       string    `json:"code"`
	URL        string    `json:"url"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Errors the hub returns to clients (as error frames).
var (
	ErrNotYours    = errors.New("livechat: not your session")
	ErrNoSession   = errors.New("livechat: no such session")
	ErrClosed      = errors.New("livechat: session closed")
	ErrBadFrame    = errors.New("livechat: bad frame")
	ErrNotAssigned = errors.New("livechat: session not assigned to you")
	// ErrAgentUnavailable: a transfer named an agent who is not available
	// or has no room; the session stays with the sender.
	ErrAgentUnavailable = errors.New("livechat: that agent is not available or has no room for another session")
	// ErrNotSupervisor: a take-over, a reassignment or the wall needs the
	// supervisor role.
	ErrNotSupervisor = errors.New("livechat: only a supervisor may do that")
	// ErrNothingWritten: leave_message before the citizen wrote anything.
	ErrNothingWritten = errors.New("livechat: write your request first, then leave it as a message")
)

// Hub holds every live session and agent. Lock order: Hub.mu, then sess.mu.
type Hub struct {
	cfg   Config
	d     Deps
	clock clock.Clock
	log   *slog.Logger

	mu       sync.Mutex
	sessions map[string]*sess
	open     map[string]*sess // ownerKey → the citizen's open session
	// pending are sessions to be: a citizen said hello, and their first
	// message opens it (no offer for a chat with nothing in it yet).
	pending  map[string]*pendingSession // ownerKey →
	posDirty bool                       // queue positions changed since they were last sent
	stop     chan struct{}              // closed by Close: ends the hub's own goroutines
	conns    sync.WaitGroup             // connection readers and writers

	liveMu   sync.Mutex
	live     map[*conn]struct{}     // every open connection; nil once closed
	links    map[*homeLink]struct{} // relaying nodes' links (link_home.go)
	linkWG   sync.WaitGroup         // their readers and pingers
	agents   map[string]*agent
	closed   bool
	handling handlingStats
	met      *hubMetrics

	delivMu    sync.RWMutex // not under mu: deliveries start while a session is locked
	deliverers map[string]channels.Deliverer
	media      map[string]MediaFetcher // channel → its media references' fetcher; guarded by delivMu

	mediaOnce sync.Once
	mediaHTTP *http.Client // the attachment proxy's client (media.go)

	// welcomeExtra adds fields to a citizen's welcome (ICE servers for video).
	welcomeExtra func(*sessions.Session) map[string]any
	video        Video // sign-language hooks (video.go); guarded by mu

	caps      *connCaps       // open websockets (limits_conn.go)
	limits    frameLimits     // frames per session side (limits_frames.go)
	limitMet  *limitMetrics   // what both refused
	logSample *httpin.Limiter // a refusal's log line at most about once a second

	mediaSlots chan struct{} // attachments being fetched (media.go)

	// reroute: an offer was held back or bounced because the agent's chats
	// on other nodes fill them (dispatch.go); route again on the next tick
	// of pushPositions. Guarded by mu.
	reroute bool

	bg sync.WaitGroup
}

// sess is a session's live state. Routing fields are guarded by Hub.mu;
// rec, subs and message order by mu.
type sess struct {
	id        string
	ownerKey  string    // immutable: who may rejoin it (see ownerKeyOf)
	lastQueue queueInfo // what the citizen was last told of the queue
	citizen   string    // immutable
	channel   string    // immutable
	state     string
	agentID   string
	skills    []string
	video     bool
	priority  int
	since     time.Time
	exclude   []string
	toAgent   string
	// escalated: the chat breached a clock and is flagged to supervisors
	// until someone answers or takes it; breach says which clock and when.
	escalated bool
	breach    breach
	emergency string // the category, once a message was found to be one
	// opening: the session's first message is being stored; it is routed
	// only then, so that its offer carries the message.
	opening  bool
	offerTo  string
	offerEnd func() bool
	// abandonEnd stops the pending abandon timer (http.go): each departure
	// of the citizen starts the wait afresh. Guarded by the hub's mu.
	abandonEnd func() bool

	mu   sync.Mutex
	rec  *sessions.Session
	subs map[*conn]bool
	// flagged is the emergency category triage put on the envelope the
	// first message made ("" none), notice what the citizen is to be told;
	// guarded by mu.
	flagged, notice string
}

type agent struct {
	spec      configs.AgentSpec
	presence  string
	conns     map[*conn]bool
	active    map[string]bool // session ids assigned
	offers    map[string]bool
	idleSince time.Time
	graceEnd  func() bool
	onCall    bool
}

// Agent returns an agent's configuration (the login checks passwords
// against it).
func (h *Hub) Agent(id string) (configs.AgentSpec, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a := h.agents[id]; a != nil {
		return a.spec, true
	}
	return configs.AgentSpec{}, false
}

// New builds the hub and loads open sessions from the store.
func New(cfg Config, d Deps) (*Hub, error) {
	if d.Clock == nil {
		d.Clock = clock.System
	}
	if cfg.InitialPresence == "" {
		cfg.InitialPresence = "available"
	}
	h := &Hub{cfg: cfg, d: d, clock: d.Clock, log: d.Logger, sessions: map[string]*sess{}, agents: map[string]*agent{},
		deliverers: map[string]channels.Deliverer{}, open: map[string]*sess{}, pending: map[string]*pendingSession{},
		stop: make(chan struct{}), live: map[*conn]struct{}{}, links: map[*homeLink]struct{}{}, met: newHubMetrics(), mediaSlots: make(chan struct{}, mediaFetches)}
	maxConns, derived := maxConnections(cfg.MaxConnections)
	h.caps = newConnCaps(maxConns, cfg.MaxConnectionsPerIP, cfg.MaxConnectionsPerToken)
	h.limits = newFrameLimits(cfg.LiveChat, d.Clock)
	h.limitMet = newLimitMetrics()
	h.logSample = newLogSampler(d.Clock)
	h.log.Info("livechat: websocket caps", "max_connections", maxConns, "derived_from_file_limit", derived,
		"per_ip", cfg.MaxConnectionsPerIP, "per_token", cfg.MaxConnectionsPerToken)
	for _, a := range d.Agents {
		h.agents[a.ID] = &agent{spec: a, presence: "offline", conns: map[*conn]bool{}, active: map[string]bool{},
			offers: map[string]bool{}, idleSince: d.Clock.Now()}
	}
	h.setVideo(d.Video)
	if err := ensureBuckets(context.Background(), d.DB); err != nil {
		return nil, err
	}
	// Chats active since before the index of agents' chats existed count
	// against their agents' capacity too.
	if err := d.DB.Update(context.Background(), sessions.IndexActiveSessions); err != nil {
		return nil, err
	}
	if err := h.load(); err != nil {
		return nil, err
	}
	go h.pushPositions()
	return h, nil
}

// ownerKeyOf says who may rejoin a session without naming it: the citizen on
// its channel, with video sessions apart (they are on sign_language, entered
// from web or app).
func ownerKeyOf(r *sessions.Session) string {
	if r.Video {
		return "v\x00" + r.Meta[metaVia] + "\x00" + r.Citizen
	}
	return "c\x00" + r.Channel + "\x00" + r.Citizen
}

func connOwnerKey(c *conn, video bool) string {
	if video {
		return "v\x00" + c.ch + "\x00" + c.sub
	}
	return "c\x00" + c.ch + "\x00" + c.sub
}

// pushPositions tells waiting citizens where they stand, at most once a
// second and only when something moved: with many waiting, recomputing on
// every event would cost the square of the queue. On the same tick it routes
// again when an agent's chats on other nodes held an offer back.
func (h *Hub) pushPositions() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.mu.Lock()
			if h.reroute && !h.closed {
				h.reroute = false
				h.route(context.Background())
			}
			if h.posDirty && !h.closed {
				h.posDirty = false
				h.sendQueuePositions()
			}
			h.mu.Unlock()
		}
	}
}

// RegisterDeliverer routes outbound messages of channel to d.
func (h *Hub) RegisterDeliverer(channel string, d channels.Deliverer) {
	h.delivMu.Lock()
	h.deliverers[channel] = d
	h.delivMu.Unlock()
}

var _ channels.Conversations = (*Hub)(nil)

func (h *Hub) now() time.Time { return h.clock.Now().UTC() }

func (h *Hub) event(tx *store.Tx, typ string, r *sessions.Session, agentID string, data map[string]any) error {
	return h.d.Intake.AppendEvent(tx, h.newEvent(typ, r, agentID, data))
}

func (h *Hub) newEvent(typ string, r *sessions.Session, agentID string, data map[string]any) *normalize.Event {
	ev := normalize.NewEvent(typ, h.now())
	ev.Channel, ev.SessionID, ev.EnvelopeID, ev.AgentID, ev.Data = r.Channel, r.ID, r.EnvelopeID, agentID, data
	return ev
}

// update runs fn in a store transaction, while the hub may write
// (Config.Writable). Every write of the hub goes through it.
func (h *Hub) update(ctx context.Context, fn func(tx *store.Tx) error) error {
	w := h.cfg.Writable
	if w == nil {
		return h.d.DB.Update(ctx, fn)
	}
	return h.d.DB.Update(ctx, func(tx *store.Tx) error {
		if err := w(); err != nil {
			return err
		}
		return fn(tx)
	})
}

// persist writes s.rec (after mut) with events in one transaction. Caller
// holds s.mu.
func (h *Hub) persist(ctx context.Context, s *sess, mut func(r *sessions.Session), evs func(tx *store.Tx, r *sessions.Session) error) error {
	next := *s.rec
	next.Meta = cloneMap(s.rec.Meta)
	if mut != nil {
		mut(&next)
	}
	err := h.update(ctx, func(tx *store.Tx) error {
		if err := sessions.Put(tx, &next); err != nil {
			return err
		}
		if evs != nil {
			return evs(tx, &next)
		}
		return nil
	})
	if err != nil {
		return err
	}
	*s.rec = next
	h.d.Intake.Notify()
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func frameBytes(f Frame) []byte {
	if f.At.IsZero() {
		f.At = time.Now().UTC()
	}
	b, _ := json.Marshal(f)
	return b
}

// broadcast sends a frame to every subscriber of s. Caller holds s.mu.
func (s *sess) broadcast(b []byte, except *conn) {
	for c := range s.subs {
		if c != except {
			c.enqueue(b)
		}
	}
}

// toRole sends to subscribers of one role. Caller holds s.mu.
func (s *sess) toRole(role string, b []byte) {
	for c := range s.subs {
		if c.role == role {
			c.enqueue(b)
		}
	}
}

func (a *agent) send(b []byte) {
	for c := range a.conns {
		c.enqueue(b)
	}
}

func (a *agent) connected() bool { return len(a.conns) > 0 }

// openSession creates a queued session with id for a citizen. Caller holds h.mu.
func (h *Hub) openSession(ctx context.Context, id, channel, citizen, language string, skills []string, video bool, meta map[string]string) (*sess, error) {
	now := h.now()
	r := &sessions.Session{ID: id, Channel: channel, Citizen: citizen, Language: language,
		Skills: skills, Video: video, State: sessions.StateQueued, CreatedAt: now, QueuedAt: now, Meta: meta,
		CitizenKey: h.d.Stamp.Keyer.Key(channel, citizen)}
	s := &sess{id: r.ID, citizen: citizen, channel: channel, state: r.State, skills: skills, video: video, since: now, rec: &sessions.Session{}, subs: map[*conn]bool{}}
	var committed func()
	err := h.update(ctx, func(tx *store.Tx) error {
		if video { // a call may carry no message: its envelope is made now
			var err error
			if committed, err = h.videoEnvelopeTx(tx, r); err != nil {
				return err
			}
		}
		if err := sessions.Put(tx, r); err != nil {
			return err
		}
		if err := h.event(tx, normalize.EventSessionOpened, r, "", map[string]any{"skills": skills, "video": video}); err != nil {
			return err
		}
		return h.event(tx, normalize.EventSessionQueued, r, "", nil)
	})
	if err != nil {
		return nil, err
	}
	*s.rec = *r
	if committed != nil {
		committed()
	} else {
		h.d.Intake.Notify()
	}
	s.ownerKey = ownerKeyOf(r)
	h.sessions[s.id] = s
	h.open[s.ownerKey] = s
	h.posDirty = true
	h.preferTimer(s)
	h.log.Info("livechat: session opened", "session", s.id, "channel", channel, "skills", skills, "video", video)
	return s, nil
}

// get returns a session, loading a closed one from the store if needed.
func (h *Hub) get(id string) (*sess, error) {
	if s := h.sessions[id]; s != nil {
		return s, nil
	}
	var r *sessions.Session
	err := h.d.DB.View(func(tx *store.Tx) error {
		var err error
		r, err = sessions.Get(tx, id)
		return err
	})
	if err != nil {
		return nil, ErrNoSession
	}
	return &sess{id: r.ID, citizen: r.Citizen, channel: r.Channel, state: r.State, agentID: r.AgentID, rec: r, subs: map[*conn]bool{}}, nil
}

// subscribe adds c to s and replays what c missed after lastSeq, so that c
// then receives live traffic with no gap and no duplicate. Caller must not
// hold s.mu.
func (h *Hub) subscribe(s *sess, c *conn, lastSeq int64) error {
	lastSeq = max(lastSeq, 0) // a negative last_seq asks for everything
	s.mu.Lock()
	defer s.mu.Unlock()
	if lastSeq < s.rec.LastSeq {
		var msgs []sessions.Message
		if err := h.d.DB.View(func(tx *store.Tx) error {
			var err error
			msgs, err = sessions.Transcript(tx, s.id, lastSeq, s.rec.LastSeq)
			return err
		}); err != nil {
			return err
		}
		frames := make([][]byte, 0, len(msgs))
		for _, m := range msgs {
			if m.From == FromNote && c.role != tokens.RoleAgent {
				continue // agents only: the citizen's replay skips its seq
			}
			if c.role == tokens.RoleAgent {
				m = forAgents(m)
			}
			frames = append(frames, frameBytes(messageFrame(s.id, m)))
		}
		c.replay(frames)
	}
	s.subs[c] = true
	return nil
}

func (s *sess) unsubscribe(c *conn) {
	s.mu.Lock()
	delete(s.subs, c)
	s.mu.Unlock()
}
