package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// chatRun is the shared state of a chat run.
type chatRun struct {
	start                         time.Time
	c2a, a2c, pair, citAck, agAck recorder
	fsync                         recorder // -fsync-probe
	winFrom                       atomic.Int64
	sent, completed, late, closed atomic.Int64
	closing                       atomic.Bool
	errs                          counters
}

// now is the harness's monotonic clock in ns since the run started.
func (r *chatRun) now() int64 { return int64(time.Since(r.start)) }

func (r *chatRun) openWindow() {
	from := r.now()
	for _, rec := range []*recorder{&r.c2a, &r.a2c, &r.pair, &r.citAck, &r.agAck, &r.fsync} {
		rec.setWindow(from, 0)
	}
	r.winFrom.Store(from)
}

type outKind uint8

const (
	outAccept outKind = iota
	outReply
	outClose
)

type agentOut struct {
	kind   outKind
	sid    string
	cSent  int64
	queued int64
}

// chatAgent accepts every offer and answers every citizen message at once.
type chatAgent struct {
	id      string
	ws      *websocket.Conn
	out     chan agentOut
	welcome chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	sessions []string
}

func (a *chatAgent) push(r *chatRun, o agentOut) {
	select {
	case a.out <- o:
	default:
		r.errs.inc("agent send queue full (harness)")
	}
}

func (a *chatAgent) read(r *chatRun) {
	defer close(a.done)
	for {
		_, b, err := a.ws.ReadMessage()
		recv := r.now()
		if err != nil {
			if !r.closing.Load() {
				r.errs.inc("agent disconnected: " + shortErr(err))
			}
			return
		}
		var f inFrame
		if json.Unmarshal(b, &f) != nil {
			r.errs.inc("agent: bad frame")
			continue
		}
		switch f.Type {
		case "welcome":
			select {
			case a.welcome <- struct{}{}:
			default:
			}
		case "offer":
			a.push(r, agentOut{kind: outAccept, sid: f.SessionID})
		case "session":
			if f.Data.State == "active" {
				a.mu.Lock()
				a.sessions = append(a.sessions, f.SessionID)
				a.mu.Unlock()
			}
		case "message":
			cs, as, err := parseMsgID(f.ID)
			switch {
			case f.Data.From == "system":
			case err != nil:
				r.errs.inc("agent: message with a foreign id")
			case f.Data.From == "citizen":
				r.c2a.add(cs, time.Duration(recv-cs))
				a.push(r, agentOut{kind: outReply, sid: f.SessionID, cSent: cs, queued: recv})
			case f.Data.From == "agent":
				r.agAck.add(as, time.Duration(recv-as))
			}
		case "error":
			r.errs.inc("agent error frame: " + f.Data.Code)
		}
	}
}

func (a *chatAgent) write(r *chatRun) {
	for {
		var o agentOut
		select {
		case o = <-a.out:
		case <-a.done:
			return
		}
		var b []byte
		switch o.kind {
		case outAccept:
			b = controlFrame("accept", o.sid)
		case outReply:
			b = messageFrame(o.sid, agentMsgID(o.cSent, r.now()), agentText)
		case outClose:
			b = controlFrame("close", o.sid)
		}
		if err := a.ws.WriteMessage(websocket.TextMessage, b); err != nil {
			if !r.closing.Load() {
				r.errs.inc("agent write: " + shortErr(err))
			}
			return
		}
	}
}

// chatCitizen sends a message each time the scheduler tells it to.
type chatCitizen struct {
	quit   atomic.Bool // set before the harness closes it
	ws     *websocket.Conn
	sid    string
	out    chan struct{}
	events chan string
	done   chan struct{}
}

func (c *chatCitizen) event(e string) {
	select {
	case c.events <- e:
	default:
	}
}

func (c *chatCitizen) read(r *chatRun) {
	defer close(c.done)
	for {
		_, b, err := c.ws.ReadMessage()
		recv := r.now()
		if err != nil {
			if !r.closing.Load() && !c.quit.Load() {
				r.errs.inc("citizen disconnected: " + shortErr(err))
				c.event("closed")
			}
			return
		}
		var f inFrame
		if json.Unmarshal(b, &f) != nil {
			r.errs.inc("citizen: bad frame")
			continue
		}
		switch f.Type {
		case "welcome":
			c.event("welcome:" + f.SessionID)
		case "queue":
			if f.Data.State == "active" {
				c.event("active")
			}
		case "message":
			cs, as, err := parseMsgID(f.ID)
			switch {
			case f.Data.From == "system":
			case err != nil:
				r.errs.inc("citizen: message with a foreign id")
			case f.Data.From == "citizen":
				r.citAck.add(cs, time.Duration(recv-cs))
				c.event("echo")
			case f.Data.From == "agent":
				r.a2c.add(as, time.Duration(recv-as))
				if r.pair.add(cs, time.Duration(recv-cs)) {
					r.completed.Add(1)
				}
			}
		case "close":
			r.closed.Add(1)
		case "error":
			r.errs.inc("citizen error frame: " + f.Data.Code)
		}
	}
}

func (c *chatCitizen) write(r *chatRun) {
	for range c.out {
		sent := r.now()
		if from := r.winFrom.Load(); from > 0 && sent >= from {
			r.sent.Add(1)
		}
		if err := c.ws.WriteMessage(websocket.TextMessage, messageFrame(c.sid, citizenMsgID(sent), citizenText)); err != nil {
			if !r.closing.Load() {
				r.errs.inc("citizen write: " + shortErr(err))
			}
			return
		}
	}
}

// await waits for an event with prefix.
func (c *chatCitizen) await(ctx context.Context, prefix string) (string, error) {
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case e := <-c.events:
			if strings.HasPrefix(e, prefix) {
				return e, nil
			}
			if e == "closed" {
				return "", errors.New("closed by the gateway")
			}
		case <-t.C:
			return "", fmt.Errorf("no %s within 30s", strings.TrimSuffix(prefix, ":"))
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}
