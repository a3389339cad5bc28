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

	send chan [][]byte // a replay is one element, so it keeps its place in line
	done chan struct{}

	mu       sync.Mutex
	closing  bool
	closeMsg []byte

	once sync.Once
	// guarded by Hub.mu
	sessions map[string]bool
}

func newConn(ws *websocket.Conn, role, sub string, queue int) *conn {
	return &conn{ws: ws, role: role, sub: sub, send: make(chan [][]byte, queue),
		done: make(chan struct{}), sessions: map[string]bool{}}
}

// enqueue queues a frame; false if the client is too slow (it is then closed).
func (c *conn) enqueue(b []byte) bool { return c.push([][]byte{b}) }

func (c *conn) push(frames [][]byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.send <- frames:
		return true
	default:
		c.closeWith(CloseSlow, "send queue full: reconnect and resume")
		// A write blocked on a client that does not read must not hold the
		// writer for long: fail it soon so the connection is closed.
		_ = c.ws.UnderlyingConn().SetWriteDeadline(time.Now().Add(time.Second))
		return false
	}
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
		case frames := <-c.send:
			for _, f := range frames {
				if !write(f) {
					c.closeWith(websocket.CloseAbnormalClosure, "")
					return
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
