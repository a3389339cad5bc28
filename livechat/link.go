package livechat

import (
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/hotline12345/gateway/internal/apierr"
)

// In a cluster, a node that is not the chat home carries its clients'
// websockets to the home over one link (a websocket between the two nodes),
// not one websocket each: the home then holds no socket and no goroutine for
// a relayed client, only its session, and the relaying node one socket and
// one reader. Each message on the link is one frame of one client's
// websocket, or the opening or closing of one. ADR 0003.

// LinkPath is the home's route for links; only a peer may open one.
const LinkPath = "/internal/chat/link"

// Kinds of link frame.
const (
	linkOpen   byte = 'o' // relay → home: a client asks to open a websocket (linkOpening, JSON)
	linkAccept byte = 'a' // home → relay: upgrade the client
	linkRefuse byte = 'r' // home → relay: answer the client's request with this error (linkRefusal, JSON)
	linkText   byte = 't' // both ways: one frame of the client's websocket
	linkClose  byte = 'c' // both ways: the websocket closed (payload: a close frame's, code and reason)
)

// linkOpening is a client's websocket request as the relaying node got it.
type linkOpening struct {
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"` // Authorization, Cookie, Origin, User-Agent
	IP     string      `json:"ip"`     // the client's address as the relaying node saw it
}

// linkRefusal is the home's answer instead of an upgrade.
type linkRefusal struct {
	Code         apierr.Code `json:"code"`
	Message      string      `json:"message"`
	RetryAfterMS int64       `json:"retry_after_ms,omitempty"`
}

func refusalOf(err error) linkRefusal {
	var e *apierr.Error
	if !errors.As(err, &e) {
		return linkRefusal{Code: apierr.CodeInternal, Message: "internal error"}
	}
	return linkRefusal{Code: e.Code, Message: e.Message, RetryAfterMS: e.RetryAfter.Milliseconds()}
}

func (r linkRefusal) err() error {
	return &apierr.Error{Code: r.Code, Message: r.Message, RetryAfter: time.Duration(r.RetryAfterMS) * time.Millisecond}
}

// errLinkFrame: a link message that is not a link frame.
var errLinkFrame = errors.New("livechat: malformed link frame")

// appendLinkFrame appends a link frame to dst.
func appendLinkFrame(dst []byte, kind byte, id uint64, payload []byte) []byte {
	dst = append(dst, kind)
	dst = binary.AppendUvarint(dst, id)
	return append(dst, payload...)
}

// parseLinkFrame splits a link message; the payload aliases b.
func parseLinkFrame(b []byte) (kind byte, id uint64, payload []byte, err error) {
	if len(b) < 2 {
		return 0, 0, nil, errLinkFrame
	}
	switch b[0] {
	case linkOpen, linkAccept, linkRefuse, linkText, linkClose:
	default:
		return 0, 0, nil, errLinkFrame
	}
	id, n := binary.Uvarint(b[1:])
	if n <= 0 || id == 0 {
		return 0, 0, nil, errLinkFrame
	}
	return b[0], id, b[1+n:], nil
}
