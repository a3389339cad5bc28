// Package sessions keeps live-chat conversations durably: each session's
// state and assignment, and its transcript with a gap-free per-session seq.
// Everything is stored through the gateway's store so that a restart loses
// no session or message; the seq of a new message is assigned inside the
// transaction that stores it, so a failed commit leaves no gap.
package sessions

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
)

// States of a session.
const (
	StateQueued  = "queued"
	StateOffered = "offered"
	StateActive  = "active"
	StateClosed  = "closed"
)

// Bucket names.
const (
	bucketSessions   = "chat_sessions"    // id → Session
	bucketTranscript = "chat_transcripts" // id \x00 seq(8) → Message
	bucketOpen       = "chat_open"        // channel \x00 citizen → open session id
	bucketDedup      = "chat_dedup"       // channel dedup key → session id \x00 seq
	// bucketActive indexes the sessions each agent has: a key exactly when
	// the stored session is active with that agent (see indexActive).
	bucketActive = "chat_agent_active" // agent id \x00 session id → empty
)

// Buckets the store must have.
var Buckets = []string{bucketSessions, bucketTranscript, bucketOpen, bucketDedup, bucketActive}

// ErrNotFound: no such session.
var ErrNotFound = errors.New("sessions: not found")

// Session is one conversation.
type Session struct {
	ID            string            `json:"id"`
	Channel       string            `json:"channel"`
	Citizen       string            `json:"citizen"` // the channel user id (token subject, openid, E.164 phone)
	CitizenKey    string            `json:"citizen_key,omitempty"`
	Skills        []string          `json:"skills,omitempty"`
	Language      string            `json:"language,omitempty"`
	Video         bool              `json:"video,omitempty"`
	State         string            `json:"state"`
	AgentID       string            `json:"agent_id,omitempty"`
	EnvelopeID    string            `json:"envelope_id,omitempty"`
	Priority      int               `json:"priority,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	QueuedAt      time.Time         `json:"queued_at"`
	AssignedAt    *time.Time        `json:"assigned_at,omitempty"`
	ClosedAt      *time.Time        `json:"closed_at,omitempty"`
	LastSeq       int64             `json:"last_seq"`
	LastCitizenAt *time.Time        `json:"last_citizen_at,omitempty"`
	LastAgentAt   *time.Time        `json:"last_agent_at,omitempty"`
	Preview       string            `json:"preview,omitempty"`
	Meta          map[string]string `json:"meta,omitempty"`
}

// Message is one transcript entry.
type Message struct {
	Seq         int64                  `json:"seq"`
	ID          string                 `json:"id,omitempty"` // the sender's client id
	From        string                 `json:"from"`         // citizen, agent, system
	AgentID     string                 `json:"agent_id,omitempty"`
	Text        string                 `json:"text,omitempty"`
	Attachments []normalize.Attachment `json:"attachments,omitempty"`
	At          time.Time              `json:"at"`
	// Meta is what the channel says about this message, e.g. an SMS
	// released with parts missing: {"incomplete":"true","missing_parts":"2"}.
	Meta map[string]string `json:"meta,omitempty"`
}

// Put stores s.
func Put(tx *store.Tx, s *Session) error {
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return putEncoded(tx, s, v)
}

// PutMessage stores m, already given its seq, and s, already updated for it
// (LastSeq == m.Seq), from their JSON encodings made before the transaction:
// the store runs transactions one group at a time, so encoding inside one
// delays every other writer.
//
// A message never changes its session's state, agent, channel or citizen,
// so the indexes of open sessions and of agents' active chats stay as they
// are: PutMessage does not read them (on the shared store each read is a
// round trip, and every chat message would pay two).
func PutMessage(tx *store.Tx, s *Session, m *Message, message, session []byte) error {
	if m.Seq != s.LastSeq {
		return fmt.Errorf("sessions: message seq %d but session last_seq %d", m.Seq, s.LastSeq)
	}
	if err := tx.Bucket([]byte(bucketTranscript)).Put(msgKey(s.ID, m.Seq), message); err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketSessions)).Put([]byte(s.ID), session)
}

func putEncoded(tx *store.Tx, s *Session, v []byte) error {
	if err := indexActive(tx, s); err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bucketSessions)).Put([]byte(s.ID), v); err != nil {
		return err
	}
	open := tx.Bucket([]byte(bucketOpen))
	k := openKey(s.Channel, s.Citizen)
	if s.State == StateClosed {
		if string(open.Get(k)) == s.ID {
			return open.Delete(k)
		}
		return nil
	}
	// Most Puts leave the index as it is; a Put of the same value would
	// still rewrite its page and the bucket's branch pages.
	if string(open.Get(k)) == s.ID {
		return nil
	}
	return open.Put(k, []byte(s.ID))
}

// indexActive keeps bucketActive in step with s, about to be stored, from
// the record stored before it in this transaction: it only reads and writes
// tx, so a transaction rerun runs it again from the same state.
func indexActive(tx *store.Tx, s *Session) error {
	idx := tx.Bucket([]byte(bucketActive))
	var now []byte
	if s.State == StateActive && s.AgentID != "" {
		now = activeKey(s.AgentID, s.ID)
		// Indexed already: the stored record is active with this agent.
		if idx.Get(now) != nil {
			return nil
		}
	}
	var was []byte
	if old := tx.Bucket([]byte(bucketSessions)).Get([]byte(s.ID)); old != nil {
		var o struct {
			State   string `json:"state"`
			AgentID string `json:"agent_id"`
		}
		if json.Unmarshal(old, &o) == nil && o.State == StateActive && o.AgentID != "" {
			was = activeKey(o.AgentID, s.ID)
		}
	}
	if was != nil && !bytes.Equal(was, now) {
		if err := idx.Delete(was); err != nil {
			return err
		}
	}
	if now != nil {
		return idx.Put(now, []byte{})
	}
	return nil
}

func activeKey(agentID, sessionID string) []byte { return []byte(agentID + "\x00" + sessionID) }

// IndexActiveSessions adds to the index every open session that is active
// with an agent: the sessions a store held before the index existed (Put
// keeps it from then on). Idempotent; the hub runs it at its start.
func IndexActiveSessions(tx *store.Tx) error {
	idx := tx.Bucket([]byte(bucketActive))
	return ForEachOpen(tx, func(s *Session) error {
		if s.State != StateActive || s.AgentID == "" {
			return nil
		}
		return idx.Put(activeKey(s.AgentID, s.ID), []byte{})
	})
}

// ActiveOf is the number of stored sessions active with agentID, on every
// node of a cluster: those Put with state active and that agent.
func ActiveOf(tx *store.Tx, agentID string) int {
	prefix := []byte(agentID + "\x00")
	c := tx.Bucket([]byte(bucketActive)).Cursor()
	n := 0
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

func openKey(channel, citizen string) []byte { return []byte(channel + "\x00" + citizen) }

// Get returns a session.
func Get(tx *store.Tx, id string) (*Session, error) {
	v := tx.Bucket([]byte(bucketSessions)).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	var s Session
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("sessions: corrupt session %s: %w", id, err)
	}
	return &s, nil
}

// OpenFor returns the citizen's open session on channel, if any.
func OpenFor(tx *store.Tx, channel, citizen string) (*Session, error) {
	id := tx.Bucket([]byte(bucketOpen)).Get(openKey(channel, citizen))
	if id == nil {
		return nil, nil
	}
	return Get(tx, string(id))
}

// Append assigns the next seq to m, stores it and updates s (which must be
// the stored session, read in this transaction or kept in step with it).
func Append(tx *store.Tx, s *Session, m *Message) error {
	s.LastSeq++
	m.Seq = s.LastSeq
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := tx.Bucket([]byte(bucketTranscript)).Put(msgKey(s.ID, m.Seq), v); err != nil {
		return err
	}
	return Put(tx, s)
}

func msgKey(id string, seq int64) []byte {
	return binary.BigEndian.AppendUint64([]byte(id+"\x00"), uint64(seq))
}

// Transcript returns the messages of session id with after < seq ≤ upTo
// (upTo ≤ 0: to the end), in seq order.
func Transcript(tx *store.Tx, id string, after, upTo int64) ([]Message, error) {
	c := tx.Bucket([]byte(bucketTranscript)).Cursor()
	prefix := []byte(id + "\x00")
	var out []Message
	for k, v := c.Seek(msgKey(id, after+1)); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
		var m Message
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, fmt.Errorf("sessions: corrupt message in %s: %w", id, err)
		}
		if upTo > 0 && m.Seq > upTo {
			break
		}
		out = append(out, m)
	}
	return out, nil
}

// SeenDedup reports whether a channel message id was recorded, and records it.
func SeenDedup(tx *store.Tx, key, sessionID string) (bool, error) {
	b := tx.Bucket([]byte(bucketDedup))
	if b.Get([]byte(key)) != nil {
		return true, nil
	}
	return false, b.Put([]byte(key), []byte(sessionID))
}

// Dedup returns the session a channel message id was recorded in, or "".
func Dedup(tx *store.Tx, key string) string {
	return string(tx.Bucket([]byte(bucketDedup)).Get([]byte(key)))
}

// ForEachOpen calls fn for every session that is not closed (start-up).
func ForEachOpen(tx *store.Tx, fn func(*Session) error) error {
	return tx.Bucket([]byte(bucketOpen)).ForEach(func(_, id []byte) error {
		s, err := Get(tx, string(id))
		if err != nil {
			return nil
		}
		if s.State == StateClosed {
			return nil
		}
		return fn(s)
	})
}

// Compact deletes up to limit closed sessions that closed before cutoff,
// with their transcripts and the channel message ids recorded for them.
func Compact(tx *store.Tx, cutoff time.Time, limit int) (int, error) {
	gone := map[string]bool{}
	sc := tx.Bucket([]byte(bucketSessions)).Cursor()
	for k, v := sc.First(); k != nil && len(gone) < limit; k, v = sc.Next() {
		var s Session
		if json.Unmarshal(v, &s) != nil || s.State != StateClosed || s.ClosedAt == nil || !s.ClosedAt.Before(cutoff) {
			continue
		}
		gone[s.ID] = true
	}
	tr := tx.Bucket([]byte(bucketTranscript))
	for id := range gone {
		if err := tx.Bucket([]byte(bucketSessions)).Delete([]byte(id)); err != nil {
			return 0, err
		}
		prefix := []byte(id + "\x00")
		c := tr.Cursor()
		var keys [][]byte
		for k, _ := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := tr.Delete(k); err != nil {
				return 0, err
			}
		}
	}
	if len(gone) > 0 {
		d := tx.Bucket([]byte(bucketDedup))
		var keys [][]byte
		_ = d.ForEach(func(k, v []byte) error {
			if gone[string(v)] {
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range keys {
			if err := d.Delete(k); err != nil {
				return 0, err
			}
		}
	}
	return len(gone), nil
}

// ForEachNewest calls fn with every stored session, newest first (ids are
// time-ordered), until fn says to stop.
func ForEachNewest(tx *store.Tx, fn func(*Session) (more bool, err error)) error {
	c := tx.Bucket([]byte(bucketSessions)).Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		var s Session
		if json.Unmarshal(v, &s) != nil {
			continue // a corrupt record is skipped, as ForEachOpen does
		}
		more, err := fn(&s)
		if err != nil || !more {
			return err
		}
	}
	return nil
}
