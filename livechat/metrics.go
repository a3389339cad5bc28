package livechat

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline12345/gateway/sessions"
)

// hubMetrics count what the desk does; the queue's state is read when
// Prometheus scrapes (deskCollector).
type hubMetrics struct {
	offers      *prometheus.CounterVec
	escalations *prometheus.CounterVec
	supervisor  *prometheus.CounterVec
}

func newHubMetrics() *hubMetrics {
	return &hubMetrics{
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_livechat_offers_total",
			Help: "Offers of chats to agents by outcome: offered, accepted, declined, expired (no answer in time), withdrawn (the agent went away or disconnected)."},
			[]string{"outcome"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_livechat_escalations_total",
			Help: "Breached chats flagged, by who was alerted: supervisors, or every available agent when no supervisor was on duty."},
			[]string{"alerted"}),
		supervisor: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_livechat_supervisor_actions_total",
			Help: "Supervisors' take-overs and reassignments."}, []string{"action"}),
	}
}

// offerOutcome is the outcome label of an offer that went back to the queue.
func offerOutcome(why string) string {
	switch why {
	case "declined":
		return "declined"
	case "offer_timeout":
		return "expired"
	}
	return "withdrawn"
}

var (
	descWaiting = prometheus.NewDesc("gateway_livechat_waiting_sessions",
		"Chats waiting for an agent, by queue (the skills they require; general: none).", []string{"queue"}, nil)
	descOldest = prometheus.NewDesc("gateway_livechat_oldest_wait_seconds",
		"How long the longest-waiting chat of each queue has waited.", []string{"queue"}, nil)
	descAgents = prometheus.NewDesc("gateway_livechat_agents",
		"Configured agents by presence (available, away, offline) and whether their console is connected.", []string{"presence", "connected"}, nil)
	descActive = prometheus.NewDesc("gateway_livechat_active_sessions", "Chats an agent is answering.", nil, nil)
)

// deskCollector reads the hub when scraped.
type deskCollector struct{ h *Hub }

func (d deskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWaiting
	ch <- descOldest
	ch <- descAgents
	ch <- descActive
}

func (d deskCollector) Collect(ch chan<- prometheus.Metric) {
	h := d.h
	h.mu.Lock()
	now := h.now()
	waiting, oldest := map[string]int{}, map[string]float64{}
	active := 0
	for _, s := range h.sessions {
		switch s.state {
		case sessions.StateQueued, sessions.StateOffered:
			// Labelled by the required skills only: those are the
			// operator's, the preferences come from citizens' browsers.
			req, _ := h.splitSkills(s.skills)
			q := strings.Join(req, "+")
			if q == "" {
				q = "general"
			}
			waiting[q]++
			oldest[q] = max(oldest[q], now.Sub(s.since).Seconds())
		case sessions.StateActive:
			active++
		}
	}
	agents := map[[2]string]int{}
	for _, a := range h.agents {
		agents[[2]string{a.presence, strconv.FormatBool(a.connected())}]++
	}
	h.mu.Unlock()
	for q, n := range waiting {
		ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(n), q)
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, oldest[q], q)
	}
	for k, n := range agents {
		ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(active))
}
