// Package reassembly joins the parts of a long SMS (concatenated SMS, UDH
// reference/total/seq) back into one message before it becomes a request.
//
// Parts may arrive in any order and more than once (providers retry); a part
// that never comes must not hold the others hostage, so a group waiting
// longer than Config.Wait is released with what arrived, marked Incomplete.
//
// The rules (IsPart, Fits, Join) are pure functions for a caller that keeps
// the parts itself: the SMS channel keeps them in its store, shared by every
// gateway in cluster mode. Assembler applies the same rules to parts held in
// memory by one process.
package reassembly

import (
	"container/list"
	"sync"
	"time"

	"github.com/hotline12345/gateway/channels/sms/smsformat"

	"github.com/hotline12345/gateway/internal/clock"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultWait      = 60 * time.Second
	DefaultMaxGroups = 10000
)

// Config configures an Assembler.
type Config struct {
	// Wait is how long a group may wait for its missing parts, counted
	// from the arrival of its first part.
	Wait time.Duration
	// MaxGroups bounds the groups held at once (memory bound: at most
	// MaxGroups × smsformat.MaxParts parts). Adding a new group beyond it
	// releases the oldest group early, as by Expire.
	MaxGroups int
	// Clock stamps arrivals; clock.System when nil.
	Clock clock.Clock
}

type key struct{ phone, ref string }

type group struct {
	key     key
	total   int
	parts   map[int]smsformat.Inbound
	arrived time.Time
	elem    *list.Element
}

// Assembler collects parts keyed by (phone, UDH ref). It is safe for
// concurrent use. It holds parts in memory only: the caller must have made
// each part durable (or not yet acknowledged it) before adding it.
type Assembler struct {
	cfg Config

	mu       sync.Mutex
	groups   map[key]*group
	order    *list.List // of *group, oldest first
	released []Group
}

// Group is a message that Add completed or Expire released, together with
// the parts it was made of, so that a caller that made each part durable
// knows exactly which records the message consumed (Parts is nil for a
// whole message passed through by Add).
type Group struct {
	Message smsformat.Inbound
	// Parts are the held parts in Seq order, each with its Part header.
	Parts []smsformat.Inbound
}

// New returns an Assembler; zero Config fields take the defaults.
func New(cfg Config) *Assembler {
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.MaxGroups <= 0 {
		cfg.MaxGroups = DefaultMaxGroups
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System
	}
	return &Assembler{cfg: cfg, groups: make(map[key]*group), order: list.New()}
}

// Add offers one message or part. It returns the whole message and true when
// in is not a part (Part nil or Total ≤ 1, or an impossible Seq, passed
// through untouched so no text is ever lost) or when in completes its group;
// otherwise nil and false, and the part is held. A part already held (same
// Seq, same text) is a provider retry and is ignored.
//
// A part that cannot belong to the held group with its key — a different
// Total, or the same Seq with different text, as when the 8-bit UDH
// reference wraps around — releases the held group as incomplete (returned
// by the next Expire) and starts a new one.
func (a *Assembler) Add(in smsformat.Inbound) (*smsformat.Inbound, bool) {
	g, ok := a.AddGroup(in)
	if !ok {
		return nil, false
	}
	return &g.Message, true
}

// AddGroup is Add that also returns the parts a completed message was made
// of.
func (a *Assembler) AddGroup(in smsformat.Inbound) (*Group, bool) {
	if !IsPart(in) {
		return &Group{Message: in}, true
	}
	p := in.Part
	a.mu.Lock()
	defer a.mu.Unlock()

	k := key{phone: in.Phone, ref: p.Ref}
	g := a.groups[k]
	if g != nil {
		held, dup := g.parts[p.Seq]
		var at *smsformat.Inbound
		if dup {
			at = &held
		}
		switch {
		case !Fits(g.total, at, in):
			a.releaseLocked(g)
			g = nil
		case dup:
			return nil, false
		}
	}
	if g == nil {
		for len(a.groups) >= a.cfg.MaxGroups {
			a.releaseLocked(a.order.Front().Value.(*group))
		}
		g = &group{key: k, total: p.Total, parts: make(map[int]smsformat.Inbound, p.Total), arrived: a.cfg.Clock.Now()}
		g.elem = a.order.PushBack(g)
		a.groups[k] = g
	}
	g.parts[p.Seq] = in
	if len(g.parts) < g.total {
		return nil, false
	}
	a.removeLocked(g)
	out := assemble(g)
	return &out, true
}

// ExpireGroups is Expire that also returns the parts each released message
// was made of.
func (a *Assembler) ExpireGroups(now time.Time) []Group {
	a.mu.Lock()
	defer a.mu.Unlock()
	for e := a.order.Front(); e != nil; {
		g := e.Value.(*group)
		next := e.Next()
		if now.Sub(g.arrived) >= a.cfg.Wait {
			a.releaseLocked(g)
		}
		e = next
	}
	out := a.released
	a.released = nil
	return out
}

// Expire releases every group whose first part arrived at least Wait before
// now, and any group evicted early by MaxGroups, as messages marked
// Incomplete with their MissingParts, oldest first. Call it periodically
// (NextDeadline says when it next has work).
func (a *Assembler) Expire(now time.Time) []smsformat.Inbound {
	groups := a.ExpireGroups(now)
	if len(groups) == 0 {
		return nil
	}
	out := make([]smsformat.Inbound, len(groups))
	for i, g := range groups {
		out[i] = g.Message
	}
	return out
}

// NextDeadline reports when Expire next has something to release: now-ish
// if groups were evicted early, else the oldest group's deadline; false
// when nothing is held.
func (a *Assembler) NextDeadline() (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.released) > 0 {
		return time.Time{}, true
	}
	var first time.Time
	for e := a.order.Front(); e != nil; e = e.Next() {
		d := e.Value.(*group).arrived.Add(a.cfg.Wait)
		if first.IsZero() || d.Before(first) {
			first = d
		}
	}
	return first, !first.IsZero()
}

// Len is the number of groups waiting for parts.
func (a *Assembler) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.groups)
}

func (a *Assembler) removeLocked(g *group) {
	delete(a.groups, g.key)
	a.order.Remove(g.elem)
}

func (a *Assembler) releaseLocked(g *group) {
	a.removeLocked(g)
	a.released = append(a.released, assemble(g))
}

// assemble joins the held parts (Join).
func assemble(g *group) Group {
	parts := make([]smsformat.Inbound, 0, len(g.parts))
	for _, p := range g.parts {
		parts = append(parts, p)
	}
	return Join(g.total, parts)
}
