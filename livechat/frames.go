// Package livechat runs the live chats between citizens and online-service
// agents: the citizen and agent websockets (contract §4), the queue and the
// routing of sessions to agents, and resumption without loss.
package livechat

import (
	"encoding/json"
	"time"
)

// Frame is every websocket message, both directions.
type Frame struct {
	Type      string          `json:"type"`
	ID        string          `json:"id,omitempty"`
	SessionID string          `json:"session_id,omitempty"`
	Seq       int64           `json:"seq,omitempty"`
	LastSeq   *int64          `json:"last_seq,omitempty"` // resume
	At        time.Time       `json:"at"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// Frame types (contract §4).
const (
	TypeHello    = "hello"
	TypeWelcome  = "welcome"
	TypeMessage  = "message"
	TypeTyping   = "typing"
	TypeRead     = "read"
	TypeQueue    = "queue"
	TypeOffer    = "offer"
	TypeAccept   = "accept"
	TypeDecline  = "decline"
	TypePresence = "presence"
	TypeTransfer = "transfer"
	TypeClose    = "close"
	TypeSLA      = "sla"
	TypeResume   = "resume"
	TypeError    = "error"
	TypeSession  = "session" // server → agent: a session's state changed (assigned, transferred away, closed)
	// TypeLeaveMessage (citizen): end the wait, keep what was written as an
	// ordinary request.
	TypeLeaveMessage = "leave_message"
	// TypeTakeover (supervisor): take a chat from its agent or the queue.
	TypeTakeover = "takeover"
	// TypeAlert (server → supervisors, or every available agent when no
	// supervisor is on duty): a chat needs someone now.
	TypeAlert = "alert"
	// TypeNote (agent): an internal note on a chat, stored in the transcript
	// with from "note" and echoed to the chat's agents only (notes.go).
	TypeNote = "note"
	// TypeSurvey: server → citizen: the follow-up survey of the request
	// (contract §9), sent as an agent closes the chat.
	TypeSurvey   = "survey"
	TypeRTCOffer = "rtc.offer"
	TypeRTCAns   = "rtc.answer"
	TypeRTCICE   = "rtc.ice"
)

// Websocket close codes. 4xxx are ours; the reason says what to do.
const (
	CloseAuth        = 4001 // no or bad token: log in again, do not retry as is
	CloseForbidden   = 4003
	CloseSlow        = 4008 // the client did not read fast enough: reconnect and resume
	CloseReplaced    = 4009
	CloseGoingAway   = 1001 // server shutting down: reconnect (to another instance) and resume
	ClosePolicy      = 1008 // kept sending over the rate limits: slow down before reconnecting
	CloseTooBig      = 1009
	CloseProtocolErr = 1002
)

// MessageData is the data of a message frame.
type MessageData struct {
	Text        string          `json:"text,omitempty"`
	Attachments json.RawMessage `json:"attachments,omitempty"`
	From        string          `json:"from,omitempty"`
	AgentID     string          `json:"agent_id,omitempty"`
	// Meta is the channel's note on the message (an SMS with parts missing).
	Meta map[string]string `json:"meta,omitempty"`
}

// ErrorData is the data of an error frame.
type ErrorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterS says, for rate_limited, how many seconds to wait.
	RetryAfterS int `json:"retry_after_s,omitempty"`
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types are marshalled here
	}
	return b
}
