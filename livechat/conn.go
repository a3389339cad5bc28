package livechat

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one websocket. Its reader goroutine lives as long as the socket;
// a writer goroutine runs only while there is something to send (frames, a
// ping, the close frame) and exits when the queue is empty, so an idle
// connection costs one small goroutine stack, not two. Sends never block: a
// full queue disconnects the client with CloseSlow, so one slow reader cannot
// hold back anyone else. The queue grows on demand up to its bound.
type conn struct {
	ws   socket
	role string // "citizen" or "agent"
	sub  string // citizen subject or agent id
	ch   string // citizen's channel
	id   uint64 // unique in the process: keys the connection's abuse budget
	ip   string // client IP and token subject counted by connCaps
	cap  string

	max       int             // bound of the queue, in entries (a replay is one entry)
	writers   *sync.WaitGroup // the hub's: every writer goroutine is counted
	writeWait time.Duration
	ping      time.Duration
	pinger    *time.Timer

	mu      sync.Mutex
	queue   [][][]byte // a replay is one entry, so it keeps its place in line
	writing bool       // a writer goroutine is running (or has closed the socket)
	closing bool
	// closeMsg is the close frame to send; set without closing, it waits
	// for the queue to be sent first (closeAfterQueue).
	closeMsg []byte

	// in is the frames a relaying node sent for this connection, waiting to
	// be handled (nil for a websocket of this node: its reader reads them).
	in *inbox

	// guarded by Hub.mu
	sessions map[string]bool
}

// clientReadBuffer is the read buffer of a client's websocket. An idle
// socket holds it for as long as it is open, and a frame longer than it is
// read straight into the message (bufio reads a large read directly), so a
// small one costs a frame a few more reads at most.
const clientReadBuffer = 256

// socket is where a connection's frames go: its websocket on this node
// (wsSocket), or a link to the node that relays it (linkSocket).
type socket interface {
	writeText(b []byte, writeWait time.Duration) error
	writePing(writeWait time.Duration) error
	// writeClose sends the close frame and lets go of the socket.
	writeClose(msg []byte)
	// hurry fails a write in progress soon: the client does not read.
	hurry()
}

// wsSocket is a websocket of this node.
type wsSocket struct{ ws *websocket.Conn }

func (s wsSocket) writeText(b []byte, writeWait time.Duration) error {
	_ = s.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return s.ws.WriteMessage(websocket.TextMessage, b)
}

func (s wsSocket) writePing(writeWait time.Duration) error {
	return s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
}

func (s wsSocket) writeClose(msg []byte) {
	_ = s.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	_ = s.ws.Close()
}

func (s wsSocket) hurry() { _ = s.ws.UnderlyingConn().SetWriteDeadline(time.Now().Add(time.Second)) }

// connSeq numbers connections.
var connSeq atomic.Uint64

// pingEntry in the queue asks the writer for a ping control frame.
var pingEntry = [][]byte{nil}

func newConn(ws socket, role, sub string, queue int, writers *sync.WaitGroup, ping, writeWait time.Duration) *conn {
	return &conn{ws: ws, role: role, sub: sub, id: connSeq.Add(1), max: queue, writers: writers, ping: ping, writeWait: writeWait,
		sessions: map[string]bool{}}
}

// start arms the ping timer; called once the hub owns the connection.
func (c *conn) start() {
	if c.ping > 0 {
		c.mu.Lock() // the timer may fire before the assignment is seen
		c.pinger = time.AfterFunc(c.ping, c.pingDue)
		c.mu.Unlock()
	}
}

func (c *conn) pingDue() {
	if !c.push(pingEntry) {
		return
	}
	c.mu.Lock()
	if !c.closing {
		c.pinger.Reset(c.ping)
	}
	c.mu.Unlock()
}

// enqueue queues a frame; false if the client is too slow (it is then closed).
func (c *conn) enqueue(b []byte) bool { return c.push([][]byte{b}) }

func (c *conn) push(frames [][]byte) bool {
	c.mu.Lock()
	if c.closing || c.closeMsg != nil {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.max {
		c.mu.Unlock()
		c.closeWith(CloseSlow, "send queue full: reconnect and resume")
		// A write blocked on a client that does not read must not hold the
		// writer for long: fail it soon so the connection is closed.
		c.ws.hurry()
		return false
	}
	c.queue = append(c.queue, frames)
	c.startWriterLocked()
	c.mu.Unlock()
	return true
}

// startWriterLocked starts the writer unless it runs. Caller holds c.mu.
func (c *conn) startWriterLocked() {
	if c.writing {
		return
	}
	c.writing = true
	c.writers.Add(1)
	go c.write()
}

// replay queues missed frames, in order, after what is already queued and
// before anything queued later.
func (c *conn) replay(frames [][]byte) {
	if len(frames) > 0 {
		c.push(frames)
	}
}

// closeWith sends a close frame (from the writer) and ends the connection.
// What is still queued is dropped: clients resume from their last seq.
// False if the connection was closing already.
func (c *conn) closeWith(code int, reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.closing = true
	c.closeMsg = websocket.FormatCloseMessage(code, reason)
	c.queue = nil
	c.startWriterLocked()
	return true
}

// closeAfterQueue sends what is queued, then the close frame: a relaying
// node passes on the home's close after the frames the home sent before it.
func (c *conn) closeAfterQueue(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closeMsg != nil {
		return
	}
	c.closeMsg = websocket.FormatCloseMessage(code, reason)
	c.startWriterLocked()
}

// write sends the queue until it is empty, then exits; once the connection
// is closing it sends the close frame and closes the socket (which ends the
// reader), and leaves writing set so that no writer starts again.
func (c *conn) write() {
	defer c.writers.Done()
	for {
		c.mu.Lock()
		if c.closing {
			msg := c.closeMsg
			if c.pinger != nil {
				c.pinger.Stop()
			}
			c.mu.Unlock()
			c.ws.writeClose(msg)
			return
		}
		q := c.queue
		c.queue = nil                         // the next burst starts small again
		if len(q) == 0 && c.closeMsg != nil { // closeAfterQueue: all sent
			c.closing = true
			c.mu.Unlock()
			continue
		}
		if len(q) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if !c.send(q) {
			c.closeWith(websocket.CloseAbnormalClosure, "")
		}
	}
}

func (c *conn) send(q [][][]byte) bool {
	for _, frames := range q {
		for _, f := range frames {
			var err error
			if f == nil {
				err = c.ws.writePing(c.writeWait)
			} else {
				err = c.ws.writeText(f, c.writeWait)
			}
			if err != nil {
				return false
			}
		}
	}
	return true
}
