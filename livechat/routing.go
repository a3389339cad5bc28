package livechat

import (
	"slices"
	"sort"
	"time"
)

// AgentView is what routing needs to know of an agent.
type AgentView struct {
	ID        string
	Skills    []string
	Capacity  int
	Load      int  // active sessions + pending offers
	OnCall    bool // on a video call: takes the agent's whole capacity
	Available bool // presence available and connected (or within grace)
	IdleSince time.Time
}

// Waiting is a session waiting for an agent.
type Waiting struct {
	SessionID string
	Skills    []string
	Video     bool
	Priority  int
	Since     time.Time
	Exclude   []string // agents that declined or timed out on it
	ToAgent   string   // a transfer to a named agent
}

// Assignment is an offer to make.
type Assignment struct{ SessionID, AgentID string }

// Route decides offers: waiting sessions by priority then oldest first; each
// goes to the least-loaded available agent that has every skill it needs and
// free capacity (ties: idle longest). A video session needs an agent with no
// other session and fills them. Sessions no agent can take stay waiting.
func Route(agents []AgentView, waiting []Waiting) []Assignment {
	ag := slices.Clone(agents)
	w := slices.Clone(waiting)
	sort.SliceStable(w, func(i, j int) bool {
		if w[i].Priority != w[j].Priority {
			return w[i].Priority > w[j].Priority
		}
		return w[i].Since.Before(w[j].Since)
	})
	var out []Assignment
	for _, s := range w {
		best := -1
		for i := range ag {
			a := &ag[i]
			if !eligible(a, s) {
				continue
			}
			if best < 0 || a.Load < ag[best].Load || (a.Load == ag[best].Load && a.IdleSince.Before(ag[best].IdleSince)) {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		out = append(out, Assignment{SessionID: s.SessionID, AgentID: ag[best].ID})
		if s.Video {
			ag[best].Load = ag[best].Capacity
			ag[best].OnCall = true
		} else {
			ag[best].Load++
		}
	}
	return out
}

func eligible(a *AgentView, s Waiting) bool {
	if !a.Available || a.OnCall || a.Load >= a.Capacity {
		return false
	}
	if s.ToAgent != "" && s.ToAgent != a.ID {
		return false
	}
	if s.Video && a.Load > 0 {
		return false
	}
	if slices.Contains(s.Exclude, a.ID) && s.ToAgent == "" {
		return false
	}
	for _, sk := range s.Skills {
		if !slices.Contains(a.Skills, sk) {
			return false
		}
	}
	return true
}
