package livechat

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one websocket: one reader and one writer goroutine. Sends never
// block: a full queue disconnects the client with CloseSlow, so one slow
// reader cannot hold back anyone else. The queue is a slice that grows on
// demand up to its bound, so an idle connection costs no queue memory.
type conn struct {
	ws   *websocket.Conn
	role string // "citizen" or "agent"
	sub  string // citizen subject or agent id
	ch   string // citizen's channel

	max  int           // bound of the queue, in entries (a replay is one entry)
	wake chan struct{} // signalled when the queue becomes non-empty
	done chan struct{}

	mu       sync.Mutex
	queue    [][][]byte // a replay is one entry, so it keeps its place in line
	closing  bool
	closeMsg []byte

	once sync.Once
	// guarded by Hub.mu
	sessions map[string]bool
}

func newConn(ws *websocket.Conn, role, sub string, queue int) *conn {
	return &conn{ws: ws, role: role, sub: sub, max: queue, wake: make(chan struct{}, 1),
		done: make(chan struct{}), sessions: map[string]bool{}}
}

// enqueue queues a frame; false if the client is too slow (it is then closed).
func (c *conn) enqueue(b []byte) bool { return c.push([][]byte{b}) }

func (c *conn) push(frames [][]byte) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.max {
		c.mu.Unlock()
		c.closeWith(CloseSlow, "send queue full: reconnect and resume")
		// A write blocked on a client that does not read must not hold the
		// writer for long: fail it soon so the connection is closed.
		_ = c.ws.UnderlyingConn().SetWriteDeadline(time.Now().Add(time.Second))
		return false
	}
	c.queue = append(c.queue, frames)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// replay queues missed frames, in order, after what is already queued and
// before anything queued later.
func (c *conn) replay(frames [][]byte) {
	if len(frames) > 0 {
		c.push(frames)
	}
}

// closeWith sends a close frame (from the writer) and ends the connection.
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		c.closeMsg = websocket.FormatCloseMessage(code, reason)
	}
	c.mu.Unlock()
	c.once.Do(func() { close(c.done) })
}

func (c *conn) writeLoop(ping, writeWait time.Duration) {
	t := time.NewTicker(ping)
	defer t.Stop()
	defer c.ws.Close()
	write := func(b []byte) bool {
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
		return c.ws.WriteMessage(websocket.TextMessage, b) == nil
	}
	for {
		select {
		case <-c.done:
			c.mu.Lock()
			msg := c.closeMsg
			c.mu.Unlock()
			if msg == nil {
				msg = websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			}
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return
		case <-c.wake:
			c.mu.Lock()
			q := c.queue
			c.queue = nil // the next burst starts small again
			c.mu.Unlock()
			for _, frames := range q {
				for _, f := range frames {
					if !write(f) {
						c.closeWith(websocket.CloseAbnormalClosure, "")
						return
					}
				}
			}
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				c.closeWith(websocket.CloseAbnormalClosure, "")
				return
			}
		}
	}
}
