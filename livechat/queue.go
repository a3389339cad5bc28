package livechat

import (
	"sort"
	"strings"
	"time"

	"github.com/hotline12345/gateway/sessions"
)

// handlingStats keeps a moving average of how long an agent spends on a
// chat, from assignment to close: a place in the queue frees up when a chat
// ends, so that is what a waiting citizen's estimate rests on.
type handlingStats struct{ avg time.Duration }

// defaultHandling stands in until the first chats have ended;
// minHandling keeps a few quick chats from promising no wait at all.
const (
	defaultHandling = 5 * time.Minute
	minHandling     = time.Minute
)

func (hs *handlingStats) observe(d time.Duration) {
	if d <= 0 {
		return
	}
	if hs.avg == 0 {
		hs.avg = d
		return
	}
	hs.avg = (hs.avg*7 + d) / 8
}

func (hs *handlingStats) average() time.Duration {
	if hs.avg == 0 {
		return defaultHandling
	}
	return max(hs.avg, minHandling)
}

// queueInfo is what a waiting citizen is told.
type queueInfo struct {
	Position int
	Wait     time.Duration
	OnDuty   int // agents on duty who could take the chat
}

// NoAgents: nobody on duty could ever take the chat; the citizen is told so
// and offered to leave the request as a message, not shown a wait.
func (q queueInfo) NoAgents() bool { return q.OnDuty == 0 }

func (q queueInfo) data(state string) map[string]any {
	d := map[string]any{"state": state, "queue_position": q.Position, "agents_on_duty": q.OnDuty, "no_agents": q.NoAgents()}
	if !q.NoAgents() {
		d["estimated_wait_s"] = int(q.Wait.Seconds())
	}
	return d
}

// estimate is the outlook of the pos-th waiting session needing the required
// skills: who on duty could take it, and when a place frees up for it. The
// sessions ahead first fill the free places; the rest wait for chats to end,
// which happens about every average handling time divided by the places of
// the agents on duty. Caller holds h.mu.
func (h *Hub) estimate(required []string, video bool, pos int) queueInfo {
	q := queueInfo{Position: pos}
	places, free := 0, 0
	for _, a := range h.agents {
		if !a.onDuty() || !hasAll(a.spec.Skills, required) {
			continue
		}
		q.OnDuty++
		capacity, load := a.spec.MaxConcurrent, len(a.active)+len(a.offers)
		if video {
			capacity, load = 1, min(load, 1)
		}
		places += capacity
		if a.presence == "available" && !h.onCall(a) {
			free += max(0, capacity-load)
		}
	}
	if q.OnDuty == 0 || pos <= free {
		return q
	}
	q.Wait = time.Duration(pos-free) * h.handling.average() / time.Duration(places)
	return q
}

// position is a waiting session's place among the sessions that need the
// same skills, and its outlook. Caller holds h.mu.
func (h *Hub) position(s *sess) queueInfo {
	req, _ := h.splitSkills(s.skills)
	if s.state != sessions.StateQueued { // offered or answered: no wait
		return h.estimate(req, s.video, 0)
	}
	ahead := 1
	for _, o := range h.sessions {
		if o.id != s.id && o.state == sessions.StateQueued && strings.Join(o.skills, "\x00") == strings.Join(s.skills, "\x00") && before(o, s) {
			ahead++
		}
	}
	return h.estimate(req, s.video, ahead)
}

// before says whether a is ahead of b in a queue: priority, then age, then
// id (so that every view of the queue agrees on ties).
func before(a, b *sess) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if !a.since.Equal(b.since) {
		return a.since.Before(b.since)
	}
	return a.id < b.id
}

// sendQueuePositions tells waiting citizens whose place or outlook changed
// where they stand, in one ordered pass over the queue. Caller holds h.mu.
func (h *Hub) sendQueuePositions() {
	groups := map[string][]*sess{}
	for _, s := range h.sessions {
		if s.state == sessions.StateQueued {
			k := strings.Join(s.skills, "\x00")
			groups[k] = append(groups[k], s)
		}
	}
	for _, g := range groups {
		sort.Slice(g, func(i, j int) bool { return before(g[i], g[j]) })
		req, _ := h.splitSkills(g[0].skills)
		for i, s := range g {
			q := h.estimate(req, s.video, i+1)
			if q == s.lastQueue {
				continue
			}
			s.lastQueue = q
			s.mu.Lock()
			s.toRole("citizen", frameBytes(Frame{Type: TypeQueue, SessionID: s.id, At: h.now(), Data: mustJSON(q.data("queued"))}))
			s.mu.Unlock()
		}
	}
}
