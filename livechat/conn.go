package livechat

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one websocket: one reader goroutine (the handler's) and one writer
// goroutine. Sends never block: a full queue disconnects the client with
// CloseSlow, so one slow reader cannot hold back anyone else.
type conn struct {
	ws   *websocket.Conn
	role string // "citizen" or "agent"
	sub  string // citizen subject or agent id
	ch   string // citizen's channel

	send chan []byte
	wake chan struct{}
	done chan struct{}

	mu       sync.Mutex
	backlog  [][]byte // replayed frames, written before anything live
	closing  bool
	closeMsg []byte

	once sync.Once
	// guarded by Hub.mu
	sessions map[string]bool
}

func newConn(ws *websocket.Conn, role, sub string, queue int) *conn {
	return &conn{ws: ws, role: role, sub: sub, send: make(chan []byte, queue), wake: make(chan struct{}, 1),
		done: make(chan struct{}), sessions: map[string]bool{}}
}

// enqueue queues a frame; false if the client is too slow (it is then closed).
func (c *conn) enqueue(b []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.send <- b:
		return true
	default:
		c.closeWith(CloseSlow, "send queue full: reconnect and resume")
		return false
	}
}

// replay queues frames to be written before any live frame queued after it.
func (c *conn) replay(frames [][]byte) {
	if len(frames) == 0 {
		return
	}
	c.mu.Lock()
	c.backlog = append(c.backlog, frames...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
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
	flush := func() bool {
		c.mu.Lock()
		b := c.backlog
		c.backlog = nil
		c.mu.Unlock()
		for _, f := range b {
			if !write(f) {
				return false
			}
		}
		return true
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
			if !flush() {
				c.closeWith(websocket.CloseAbnormalClosure, "")
				return
			}
		case f := <-c.send:
			if !flush() || !write(f) {
				c.closeWith(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				c.closeWith(websocket.CloseAbnormalClosure, "")
				return
			}
		}
	}
}
