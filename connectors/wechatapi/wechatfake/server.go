// Package wechatfake is an in-process fake of the WeChat server API, for
// tests anywhere in the repository. It speaks the real wire format (GET
// /cgi-bin/token, POST /cgi-bin/message/custom/send, errcode/errmsg bodies
// with HTTP 200) and lets a test expire tokens and inject errcodes. It also
// builds signed pushes (push.go) so channel tests exercise our own crypto.
package wechatfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
)

// Error codes the fake answers with, as WeChat documents them.
const (
	CodeOK             = 0
	CodeSystemBusy     = -1
	CodeInvalidToken   = 40001
	CodeInvalidGrant   = 40002
	CodeInvalidOpenID  = 40003
	CodeInvalidMediaID = 40007
	CodeInvalidMsgType = 40008
	CodeInvalidAppID   = 40013
	CodeInvalidSecret  = 40125
	CodeMissingToken   = 41001
	CodeTokenExpired   = 42001
	CodeRequireGET     = 43001
	CodeRequirePOST    = 43002
	CodeEmptyPostData  = 44002
	CodeEmptyContent   = 44004
	CodeOutOfWindow    = 45015
	CodeQuota          = 45047
	CodeDataFormat     = 47001
)

var errmsgs = map[int]string{
	CodeSystemBusy:     "system error",
	CodeInvalidToken:   "invalid credential, access_token is invalid or not latest",
	CodeInvalidGrant:   "invalid grant_type",
	CodeInvalidOpenID:  "invalid openid",
	CodeInvalidMediaID: "invalid media_id",
	CodeInvalidMsgType: "invalid message type",
	CodeInvalidAppID:   "invalid appid",
	CodeInvalidSecret:  "invalid appsecret",
	CodeMissingToken:   "access_token missing",
	CodeTokenExpired:   "access_token expired",
	CodeRequireGET:     "require GET method",
	CodeRequirePOST:    "require POST method",
	CodeEmptyPostData:  "empty post data",
	CodeEmptyContent:   "empty content",
	CodeOutOfWindow:    "response out of time limit or subscription is canceled",
	CodeQuota:          "out of response count limit",
	CodeDataFormat:     "data format error",
}

// SentMessage is one customer-service message the fake accepted.
type SentMessage struct {
	ToUser  string // touser (openid)
	MsgType string // msgtype
	Text    string // text.content, for msgtype text
	MediaID string // image.media_id, for msgtype image
	Token   string // the access_token it was sent with
	Body    []byte // the request body as received
}

// Server is a fake WeChat API. All methods are safe for concurrent use.
type Server struct {
	srv       *httptest.Server
	appID     string
	secret    string
	closeOnce sync.Once

	mu          sync.Mutex
	tokens      map[string]bool // issued token -> still valid
	issued      int
	expiresIn   int
	sent        []SentMessage
	sendCalls   int
	failNext    map[string][]int
	failNextTok []int
}

// New starts a fake for one app. Close it when done (t.Cleanup(s.Close)).
func New(appID, secret string) *Server {
	s := &Server{
		appID:     appID,
		secret:    secret,
		tokens:    map[string]bool{},
		expiresIn: 7200,
		failNext:  map[string][]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/cgi-bin/token", s.handleToken)
	mux.HandleFunc("/cgi-bin/message/custom/send", s.handleSend)
	s.srv = httptest.NewServer(mux)
	return s
}

// URL is the API base to configure (channels.wechat.api_base).
func (s *Server) URL() string { return s.srv.URL }

// Close shuts the server down. It is idempotent.
func (s *Server) Close() { s.closeOnce.Do(s.srv.Close) }

// Sent returns a copy of the messages accepted so far, in order.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SentMessage, len(s.sent))
	copy(out, s.sent)
	return out
}

// SendCalls counts custom/send requests, accepted or not.
func (s *Server) SendCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendCalls
}

// TokensIssued counts access tokens handed out.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

// ExpireTokens makes every token issued so far expired: later calls with
// one of them get errcode 42001.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		s.tokens[t] = false
	}
}

// SetExpiresIn sets the expires_in (seconds) of tokens issued from now on.
func (s *Server) SetExpiresIn(seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiresIn = seconds
}

// FailNext makes the next custom/send to openID (with a valid token) fail
// with errcode; calls queue up. The failed message is not recorded in Sent.
func (s *Server) FailNext(openID string, errcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[openID] = append(s.failNext[openID], errcode)
}

// FailNextToken makes the next token request fail with errcode.
func (s *Server) FailNextToken(errcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNextTok = append(s.failNextTok, errcode)
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeErr(w, CodeRequireGET)
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case q.Get("grant_type") != "client_credential":
		writeErr(w, CodeInvalidGrant)
	case q.Get("appid") != s.appID:
		writeErr(w, CodeInvalidAppID)
	case q.Get("secret") != s.secret:
		writeErr(w, CodeInvalidSecret)
	case len(s.failNextTok) > 0:
		code := s.failNextTok[0]
		s.failNextTok = s.failNextTok[1:]
		writeErr(w, code)
	default:
		s.issued++
		tok := "FAKE_TOKEN_" + strconv.Itoa(s.issued)
		s.tokens[tok] = true
		writeJSON(w, map[string]any{"access_token": tok, "expires_in": s.expiresIn})
	}
}

// sendBody is the custom/send request as WeChat defines it.
type sendBody struct {
	ToUser  string `json:"touser"`
	MsgType string `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text"`
	Image *struct {
		MediaID string `json:"media_id"`
	} `json:"image"`
	Link *struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		URL         string `json:"url"`
		ThumbURL    string `json:"thumb_url"`
	} `json:"link"`
	MiniProgramPage *struct {
		Title        string `json:"title"`
		PagePath     string `json:"pagepath"`
		ThumbMediaID string `json:"thumb_media_id"`
	} `json:"miniprogrampage"`
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendCalls++
	if r.Method != http.MethodPost {
		writeErr(w, CodeRequirePOST)
		return
	}
	tok := r.URL.Query().Get("access_token")
	valid, known := s.tokens[tok]
	switch {
	case tok == "":
		writeErr(w, CodeMissingToken)
		return
	case !known:
		writeErr(w, CodeInvalidToken)
		return
	case !valid:
		writeErr(w, CodeTokenExpired)
		return
	case len(raw) == 0:
		writeErr(w, CodeEmptyPostData)
		return
	}
	var b sendBody
	if err := json.Unmarshal(raw, &b); err != nil {
		writeErr(w, CodeDataFormat)
		return
	}
	if b.ToUser == "" {
		writeErr(w, CodeInvalidOpenID)
		return
	}
	if q := s.failNext[b.ToUser]; len(q) > 0 {
		s.failNext[b.ToUser] = q[1:]
		writeErr(w, q[0])
		return
	}
	m := SentMessage{ToUser: b.ToUser, MsgType: b.MsgType, Token: tok, Body: raw}
	switch b.MsgType {
	case "text":
		if b.Text == nil || b.Text.Content == "" {
			writeErr(w, CodeEmptyContent)
			return
		}
		m.Text = b.Text.Content
	case "image":
		if b.Image == nil || b.Image.MediaID == "" {
			writeErr(w, CodeInvalidMediaID)
			return
		}
		m.MediaID = b.Image.MediaID
	case "link":
		if b.Link == nil || b.Link.URL == "" {
			writeErr(w, CodeEmptyContent)
			return
		}
	case "miniprogrampage":
		if b.MiniProgramPage == nil || b.MiniProgramPage.PagePath == "" {
			writeErr(w, CodeEmptyContent)
			return
		}
	default:
		writeErr(w, CodeInvalidMsgType)
		return
	}
	s.sent = append(s.sent, m)
	writeErr(w, CodeOK)
}

// writeErr answers HTTP 200 with an errcode body, as WeChat does for every
// outcome; errmsg carries a request id suffix like the real one.
func writeErr(w http.ResponseWriter, code int) {
	msg := "ok"
	if code != CodeOK {
		msg = errmsgs[code]
		if msg == "" {
			msg = "error " + strconv.Itoa(code)
		}
		msg += fmt.Sprintf(" rid: fake-%d", code)
	}
	writeJSON(w, map[string]any{"errcode": code, "errmsg": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; encoding=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
