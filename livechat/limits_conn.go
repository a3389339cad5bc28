package livechat

// Caps on open websockets. One token from one address once opened ~990
// sockets and took the process to its file limit, and then /healthz and
// intake failed too. A socket is now counted before the upgrade, in all, by
// client IP and by token subject, and refused with an HTTP answer the client
// can read (429 or 503 with the contract's error body) when over a cap.

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/channels/httpin"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/internal/clock"
)

// Reasons a websocket is refused (the reason label of
// gateway_websocket_refused_total).
const (
	refusedTotal    = "total"     // the process-wide cap
	refusedPerIP    = "per_ip"    // livechat.max_connections_per_ip
	refusedPerToken = "per_token" // livechat.max_connections_per_token
)

// retryConnAfter is what a refused client is told to wait: a tab closed
// elsewhere frees its slot at once, a flood should not come back sooner.
const retryConnAfter = 30 * time.Second

// connCaps counts open websockets. A slot is taken before the upgrade and
// given back when the hub lets go of the connection. The per-address and
// per-token caps count every websocket, relayed or not; the cap in all
// counts this node's sockets only: a websocket another node relays holds a
// descriptor there (Relay applies that node's cap), not here.
type connCaps struct {
	max, perIP, perToken int // 0: no cap

	mu      sync.Mutex
	total   int // every websocket
	local   int // those with a socket on this node
	byIP    map[string]int
	byToken map[string]int
}

func newConnCaps(max, perIP, perToken int) *connCaps {
	return &connCaps{max: max, perIP: perIP, perToken: perToken, byIP: map[string]int{}, byToken: map[string]int{}}
}

// acquire takes a slot for a connection from ip with token subject key ("":
// not authenticated, no per-token count), relayed by another node or not; it
// returns the reason of a refusal,
// "" when the slot is taken.
func (cc *connCaps) acquire(ip, key string, relayed bool) string {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch {
	case cc.perToken > 0 && key != "" && cc.byToken[key] >= cc.perToken:
		return refusedPerToken
	case cc.perIP > 0 && cc.byIP[ip] >= cc.perIP:
		return refusedPerIP
	case !relayed && cc.max > 0 && cc.local >= cc.max:
		return refusedTotal
	}
	cc.total++
	if !relayed {
		cc.local++
	}
	cc.byIP[ip]++
	if key != "" {
		cc.byToken[key]++
	}
	return ""
}

// release gives back a slot that acquire took with the same arguments.
func (cc *connCaps) release(ip, key string, relayed bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.total--
	if !relayed {
		cc.local--
	}
	if cc.byIP[ip]--; cc.byIP[ip] <= 0 {
		delete(cc.byIP, ip)
	}
	if key != "" {
		if cc.byToken[key]--; cc.byToken[key] <= 0 {
			delete(cc.byToken, key)
		}
	}
}

// openHere returns the number of connections with a socket on this node
// (what the cap in all counts).
func (cc *connCaps) openHere() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.local
}

// open returns the number of connections holding a slot.
func (cc *connCaps) open() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.total
}

// capFromFileLimit is the default cap on websockets for a file limit: every
// socket is a descriptor, and HTTP requests (/healthz, intake), the store's
// files and Kafka's connections need theirs too, so max(256, 10 %) of the
// limit is kept for them; a tiny limit is shared half and half.
func capFromFileLimit(limit uint64) int {
	headroom := max(256, limit/10)
	if limit < 2*headroom {
		return int(max(limit/2, 1))
	}
	return int(min(limit-headroom, 1<<30))
}

// fileLimit is the process's RLIMIT_NOFILE (Go raises the soft limit to the
// hard one at start-up), 0 if unknown.
func fileLimit() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 0
	}
	return l.Cur
}

// maxConnections is livechat.max_connections, or the cap derived from the
// file limit when it is 0; 0 if neither is known (no cap).
func maxConnections(configured int) (n int, derived bool) {
	if configured > 0 {
		return configured, false
	}
	if l := fileLimit(); l > 0 {
		return capFromFileLimit(l), true
	}
	return 0, true
}

// tokenKey is who a connection's token speaks for: a per-token cap on the
// token string would not hold an agent who logs in again, nor a citizen's
// second tab.
func tokenKey(role, sub string) string { return role + "\x00" + sub }

// clientIP is the address of a request as the gateway's channels see it
// (behind a trusted proxy: X-Forwarded-For).
func (h *Hub) clientIP(r *http.Request) string {
	if h.d.ClientIP != nil {
		return h.d.ClientIP(r)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// refuseConn answers a websocket over a cap before the upgrade: a browser
// cannot read the body of a failed handshake, but every other client can,
// and the status alone already says "too many" or "busy".
func (h *Hub) refuseConn(reason, role, sub, ip string) error {
	h.limitMet.refused.WithLabelValues(reason).Inc()
	if ok, _ := h.logSample.Allow("refused:" + reason); ok {
		h.log.Warn("livechat: websocket refused", "reason", reason, "role", role, "subject", logSubject(role, sub),
			"ip", ip, "open", h.caps.open(), "open_here", h.caps.openHere())
	}
	if reason == refusedTotal {
		return &apierr.Error{Code: apierr.CodeUnavailable, Message: "the server has as many live connections as it can hold; retry later",
			RetryAfter: retryConnAfter}
	}
	msg := "too many live connections from this address; close one and retry"
	if reason == refusedPerToken {
		msg = "too many live connections with this token; close another tab or console and retry"
	}
	return &apierr.Error{Code: apierr.CodeRateLimited, Message: msg, RetryAfter: retryConnAfter}
}

// logSubject names a token's subject in logs: agents by id, citizens by a
// short hash (their subject may be a phone number or an app's user id).
func logSubject(role, sub string) string {
	if role == tokens.RoleAgent || sub == "" {
		return sub
	}
	sum := sha256.Sum256([]byte(sub))
	return "h:" + hex.EncodeToString(sum[:6])
}

// limitMetrics count what the caps and the frame limits refused.
type limitMetrics struct {
	refused *prometheus.CounterVec // reason
	limited *prometheus.CounterVec // frame type, side
	abuse   *prometheus.CounterVec // side
}

func newLimitMetrics() *limitMetrics {
	return &limitMetrics{
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_websocket_refused_total",
			Help: "Websockets refused before the upgrade, by cap: total, per_ip, per_token."}, []string{"reason"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_chat_frames_rate_limited_total",
			Help: "Chat frames refused or dropped over a session's rate limit, by frame type and side (typing frames coalesced within livechat.typing_interval are not counted)."},
			[]string{"type", "side"}),
		abuse: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_chat_abuse_closes_total",
			Help: "Websockets closed with 1008 for going on over the rate limits, by side."}, []string{"side"}),
	}
}

// Collectors are the hub's metrics, for the gateway's registry.
func (h *Hub) Collectors() []prometheus.Collector {
	return []prometheus.Collector{h.limitMet.refused, h.limitMet.limited, h.limitMet.abuse,
		h.met.offers, h.met.escalations, h.met.supervisor, deskCollector{h},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_websockets_open", Help: "Open websockets (citizens and agents)."},
			func() float64 { return float64(h.caps.open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_websockets_max", Help: "The cap on open websockets (0: none)."},
			func() float64 { return float64(h.caps.max) }),
	}
}

// newLogSampler allows about one log line a second per kind of refusal: a
// flood is in the metrics, the log needs only to say that it happens.
func newLogSampler(clk clock.Clock) *httpin.Limiter { return httpin.NewLimiter(1, 5, clk) }
