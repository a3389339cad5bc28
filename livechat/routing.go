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
	OnDuty    bool // connected and not offline: may become available
	IdleSince time.Time
}

// Waiting is a session waiting for an agent.
type Waiting struct {
	SessionID string
	Skills    []string // required: only an agent with every one
	// Preferred skills came from the citizen's side (a language): agents
	// with them are offered the session first, and until PreferUntil only
	// they are, when an agent on duty has them.
	Preferred   []string
	PreferUntil time.Time
	Video       bool
	Priority    int
	Since       time.Time
	Exclude     []string // agents that declined or timed out on it
	ToAgent     string   // a transfer to a named agent
}

// Assignment is an offer to make.
type Assignment struct{ SessionID, AgentID string }

// Route decides offers at now: waiting sessions by priority then oldest
// first; each goes to the least-loaded available agent that has every
// required skill and free capacity (ties: idle longest), one with the
// preferred skills first. A video session needs an agent with no other
// session and fills them. Sessions no agent can take stay waiting.
func Route(agents []AgentView, waiting []Waiting, now time.Time) []Assignment {
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
		// Hold out for the preferred skills while the wait lasts, unless no
		// one on duty has them: then waiting would be for nobody.
		strict := len(s.Preferred) > 0 && now.Before(s.PreferUntil) && onDutyWith(ag, s.Preferred)
		best, bestPref := -1, false
		for i := range ag {
			a := &ag[i]
			if !eligible(a, s) {
				continue
			}
			pref := hasAll(a.Skills, s.Preferred)
			if strict && !pref {
				continue
			}
			if best < 0 || (pref && !bestPref) || (pref == bestPref && (a.Load < ag[best].Load ||
				(a.Load == ag[best].Load && a.IdleSince.Before(ag[best].IdleSince)))) {
				best, bestPref = i, pref
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
	return hasAll(a.Skills, s.Skills)
}

func hasAll(have, want []string) bool {
	for _, sk := range want {
		if !slices.Contains(have, sk) {
			return false
		}
	}
	return true
}

// onDutyWith reports whether an agent on duty has every skill.
func onDutyWith(agents []AgentView, skills []string) bool {
	for i := range agents {
		if agents[i].OnDuty && hasAll(agents[i].Skills, skills) {
			return true
		}
	}
	return false
}
