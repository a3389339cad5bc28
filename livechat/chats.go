package livechat

// History and search of chats (contract §11): agents find the chats they
// handled, supervisors every chat, open or closed, by request number, date,
// agent, channel and text, and read a transcript (notes included) without
// taking part in it.

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/sessions"
)

// Bounds of a search.
const (
	defaultChatsLimit = 50
	maxChatsLimit     = 200
	// maxTextScan bounds the transcript messages one text search reads; a
	// search that reaches it answers what it found with truncated: true.
	maxTextScan = 200_000
)

// ChatSummary is one chat in a search's answer.
type ChatSummary struct {
	SessionID string     `json:"session_id"`
	Number    string     `json:"number"` // the request number of the chat's envelope, "" before it has one
	Channel   string     `json:"channel"`
	AgentID   string     `json:"agent_id"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	ClosedAt  *time.Time `json:"closed_at"`
	Preview   string     `json:"preview"`

	envelopeID string // to find a number the session does not keep
}

// ChatQuery is a search of chats. Zero fields do not filter.
type ChatQuery struct {
	Number  string    // the request number
	AgentID string    // the agent who has (or last had) the chat
	Channel string    // its channel
	Text    string    // a case-insensitive substring of a message or note
	From    time.Time // created at or after
	To      time.Time // created before
	Limit   int
}

// ChatsResult is the answer of GET /v1/agents/chats.
type ChatsResult struct {
	Chats []ChatSummary `json:"chats"`
	// Truncated: the text search stopped at its bound before the limit
	// was reached; narrow it by date, agent or channel.
	Truncated bool `json:"truncated,omitempty"`
}

// mayRead: a supervisor reads every chat, an agent the chats they have or
// last had (a chat transferred away is the receiving agent's).
func mayRead(viewer configs.AgentSpec, r *sessions.Session) bool {
	return viewer.Supervisor() || (r.AgentID != "" && r.AgentID == viewer.ID)
}

// Chats returns the chats viewer may read that match q, newest first. A
// number is looked up in the intake log's index; otherwise the sessions
// are walked newest first until the limit is reached, so that a search
// costs what it returns, not what is stored.
func (h *Hub) Chats(viewer configs.AgentSpec, q ChatQuery) (ChatsResult, error) {
	if q.Limit <= 0 {
		q.Limit = defaultChatsLimit
	}
	q.Limit = min(q.Limit, maxChatsLimit)
	out := ChatsResult{Chats: []ChatSummary{}}
	needle := strings.ToLower(strings.TrimSpace(q.Text))
	budget := maxTextScan
	keep := func(tx *store.Tx, r *sessions.Session) (bool, error) {
		switch {
		case !mayRead(viewer, r),
			q.AgentID != "" && r.AgentID != q.AgentID,
			q.Channel != "" && r.Channel != q.Channel,
			!q.From.IsZero() && r.CreatedAt.Before(q.From),
			!q.To.IsZero() && !r.CreatedAt.Before(q.To):
			return false, nil
		}
		if needle == "" {
			return true, nil
		}
		found, read, err := transcriptContains(tx, r.ID, needle, budget)
		budget -= read
		return found, err
	}
	// The intake log is read outside the sessions' read transaction: a
	// read transaction opened inside another can wait forever for a writer
	// that waits for the outer one (bbolt's remap).
	sessionOfNumber := ""
	if q.Number != "" {
		req, err := h.d.Intake.RequestByNumber(q.Number)
		if err != nil || req.SessionID == "" {
			return out, nil // no such number, or not a chat's
		}
		sessionOfNumber = req.SessionID
	}
	err := h.d.DB.View(func(tx *store.Tx) error {
		if sessionOfNumber != "" {
			r, err := sessions.Get(tx, sessionOfNumber)
			if err != nil {
				return nil
			}
			if ok, err := keep(tx, r); err != nil || !ok {
				return err
			}
			out.Chats = append(out.Chats, summaryOf(r, q.Number))
			return nil
		}
		return sessions.ForEachNewest(tx, func(r *sessions.Session) (bool, error) {
			ok, err := keep(tx, r)
			if err != nil {
				return false, err
			}
			if ok {
				out.Chats = append(out.Chats, summaryOf(r, r.Meta[metaNumber]))
			}
			if needle != "" && budget <= 0 {
				out.Truncated = true
				return false, nil
			}
			return len(out.Chats) < q.Limit, nil
		})
	})
	if err != nil {
		return ChatsResult{}, err
	}
	for i := range out.Chats { // chats from before numbers were kept on the session
		if c := &out.Chats[i]; c.Number == "" {
			c.Number = h.requestNumber(c.envelopeID)
		}
	}
	return out, nil
}

func summaryOf(r *sessions.Session, number string) ChatSummary {
	return ChatSummary{SessionID: r.ID, Number: number, Channel: r.Channel, AgentID: r.AgentID, State: r.State,
		CreatedAt: r.CreatedAt, ClosedAt: r.ClosedAt, Preview: r.Preview, envelopeID: r.EnvelopeID}
}

// transcriptContains reports whether a message or note of session id holds
// needle (lower case), reading at most budget messages; read is how many it did.
func transcriptContains(tx *store.Tx, id, needle string, budget int) (found bool, read int, err error) {
	msgs, err := sessions.Transcript(tx, id, 0, 0)
	if err != nil {
		return false, 0, err
	}
	for _, m := range msgs {
		if read >= budget {
			return false, read, nil
		}
		read++
		if strings.Contains(strings.ToLower(m.Text), needle) {
			return true, read, nil
		}
	}
	return false, read, nil
}

// requestNumber is the request number of an envelope, read from its request
// record ("" when there is none, or it predates numbers).
func (h *Hub) requestNumber(envelopeID string) string {
	if envelopeID == "" {
		return ""
	}
	req, err := h.d.Intake.Request(envelopeID)
	if err != nil {
		return ""
	}
	return req.Number
}

// numberOfChat is the request number of r's envelope: recorded on the
// session when the envelope was made, else read from the request record.
func (h *Hub) numberOfChat(r *sessions.Session) string {
	if n := r.Meta[metaNumber]; n != "" {
		return n
	}
	return h.requestNumber(r.EnvelopeID)
}

// serveChats is GET /v1/agents/chats?number=&from=&to=&agent_id=&channel=&q=&limit=.
func (h *Hub) serveChats(c echo.Context) error {
	a, err := h.restAgent(c)
	if err != nil {
		return err
	}
	p := c.QueryParams()
	q := ChatQuery{Number: digitsOnly(p.Get("number")), AgentID: p.Get("agent_id"), Channel: p.Get("channel"), Text: p.Get("q")}
	fields := map[string]string{}
	if p.Get("number") != "" && q.Number == "" {
		fields["number"] = "the request number's digits"
	}
	if v := p.Get("from"); v != "" {
		if q.From, err = parseWhen(v, false); err != nil {
			fields["from"] = "an RFC 3339 time or a date YYYY-MM-DD"
		}
	}
	if v := p.Get("to"); v != "" {
		if q.To, err = parseWhen(v, true); err != nil {
			fields["to"] = "an RFC 3339 time or a date YYYY-MM-DD (the whole day)"
		}
	}
	if v := p.Get("limit"); v != "" {
		if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 1 || q.Limit > maxChatsLimit {
			fields["limit"] = "1 to " + strconv.Itoa(maxChatsLimit)
		}
	}
	if len(q.Text) > 200 {
		fields["q"] = "at most 200 bytes"
	}
	if len(fields) > 0 {
		return apierr.Invalid("the search is not valid", fields)
	}
	res, err := h.Chats(a, q)
	if err != nil {
		return apierr.Wrap(apierr.CodeInternal, "cannot search the chats", err)
	}
	return c.JSON(http.StatusOK, res)
}

// ChatDetail is the answer of GET /v1/agents/chats/{session_id}.
type ChatDetail struct {
	Chat     ChatSummary        `json:"chat"`
	Messages []sessions.Message `json:"messages"`
}

// serveChat is GET /v1/agents/chats/{session_id}: one chat with its whole
// transcript, notes included, read-only. 404 for a chat the agent may not read.
func (h *Hub) serveChat(c echo.Context) error {
	a, err := h.restAgent(c)
	if err != nil {
		return err
	}
	sid := c.Param("session_id")
	var out ChatDetail
	var rec *sessions.Session
	err = h.d.DB.View(func(tx *store.Tx) error {
		r, err := sessions.Get(tx, sid)
		if err != nil || !mayRead(a, r) {
			return nil
		}
		rec = r
		out.Messages, err = sessions.Transcript(tx, sid, 0, 0)
		return err
	})
	if err != nil {
		return apierr.Wrap(apierr.CodeInternal, "cannot read the chat", err)
	}
	if rec == nil {
		return apierr.New(apierr.CodeNotFound, "no such chat among yours")
	}
	out.Chat = summaryOf(rec, h.numberOfChat(rec)) // outside the transaction: no nested read
	if out.Messages == nil {
		out.Messages = []sessions.Message{}
	}
	for i, m := range out.Messages {
		out.Messages[i] = forAgents(m)
	}
	return c.JSON(http.StatusOK, out)
}

// parseWhen reads an RFC 3339 time or a date (Asia/Shanghai, the hotline's
// zone); a date as an upper bound means the end of that day.
func parseWhen(v string, upper bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02", v, chinaTime)
	if err != nil {
		return time.Time{}, err
	}
	if upper {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// chinaTime is UTC+8, the hotline's dates (no daylight saving).
var chinaTime = time.FixedZone("CST", 8*3600)

func digitsOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
