package livechat

import "sync"

// pipeline handles an agent's frames for different sessions concurrently and
// each session's frames in order. An agent carries many conversations on one
// socket and every message waits for its fsync: handled one at a time, the
// agent's replies would get one commit each, and a slow disk would cap an
// agent at one message per fsync. Handled side by side, they share group
// commits. Frames without a session (hello, presence) wait until everything
// before them is done and hold back everything after them.
type pipeline struct {
	h   *Hub
	c   *conn
	sem chan struct{} // bounds the frames in flight: the reader stops reading beyond it

	mu     sync.Mutex
	queues map[string][]Frame // session → frames not yet handled; present while a worker runs
	wg     sync.WaitGroup     // workers
}

// maxInFlight bounds an agent connection's queued frames (memory, and how
// far a client may run ahead of the store).
const maxInFlight = 256

func newPipeline(h *Hub, c *conn) *pipeline {
	return &pipeline{h: h, c: c, sem: make(chan struct{}, maxInFlight), queues: map[string][]Frame{}}
}

// submit is called by the connection's reader only.
func (p *pipeline) submit(f Frame) {
	if f.SessionID == "" {
		p.wg.Wait()
		p.h.run(p.c, f)
		return
	}
	p.sem <- struct{}{}
	p.mu.Lock()
	q, running := p.queues[f.SessionID]
	p.queues[f.SessionID] = append(q, f)
	if !running {
		p.wg.Add(1)
		go p.work(f.SessionID)
	}
	p.mu.Unlock()
}

func (p *pipeline) work(sid string) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		q := p.queues[sid]
		if len(q) == 0 {
			delete(p.queues, sid)
			p.mu.Unlock()
			return
		}
		f := q[0]
		p.queues[sid] = q[1:]
		p.mu.Unlock()
		p.h.run(p.c, f)
		<-p.sem
	}
}

// wait returns when every submitted frame has been handled.
func (p *pipeline) wait() { p.wg.Wait() }
