package smsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hotline12345/gateway/channels/sms/smsformat"
)

// GenericConfig configures the generic provider.
type GenericConfig struct {
	Options
	// Secret signs each request: X-SMS-Timestamp and X-SMS-Signature as for
	// callbacks (smsformat.SignBody).
	Secret string
	// Token, if set, is sent as X-SMS-Token.
	Token string
	// NewRef returns the UDH reference shared by the parts of one message;
	// random 4 hex digits when nil.
	NewRef func() string
}

// Generic sends through the generic JSON API: one POST to APIBase+"/send" per
// part, body {"to","text","sign","udh":{"ref","total","seq"}} (udh omitted
// for a one-part message), answered 200 {"message_id":"…"}.
type Generic struct{ cfg GenericConfig }

var _ Sender = (*Generic)(nil)

// NewGeneric validates cfg; a Secret or Token is required.
func NewGeneric(cfg GenericConfig) (*Generic, error) {
	cfg.setDefaults("")
	if err := cfg.validate(smsformat.ProviderGeneric); err != nil {
		return nil, err
	}
	if cfg.Secret == "" && cfg.Token == "" {
		return nil, fmt.Errorf("smsapi: generic: secret or token required")
	}
	if cfg.NewRef == nil {
		cfg.NewRef = func() string { return randomHex(2) }
	}
	return &Generic{cfg: cfg}, nil
}

type genericUDH struct {
	Ref   string `json:"ref"`
	Total int    `json:"total"`
	Seq   int    `json:"seq"`
}

type genericSend struct {
	To   string      `json:"to"`
	Text string      `json:"text"`
	Sign string      `json:"sign,omitempty"`
	UDH  *genericUDH `json:"udh,omitempty"`
}

// Send posts each carrier part in order and stops at the first failure. The
// generic API has no per-send limit: the reply is one concatenated message.
func (g *Generic) Send(ctx context.Context, phone, text string) (Result, error) {
	const provider = smsformat.ProviderGeneric
	to, text, cut, err := g.cfg.prepare(provider, phone, text)
	if err != nil {
		return Result{}, err
	}
	parts := Segment(text, g.cfg.SignName, 0)
	res := Result{Parts: len(parts), Sends: 1, Cut: cut, MessageIDs: make([]string, 0, len(parts))}
	ref := g.cfg.NewRef()
	target := strings.TrimSuffix(g.cfg.APIBase, "/") + "/send"
	sign := strings.TrimSuffix(strings.TrimPrefix(Signature(g.cfg.SignName), "【"), "】")
	for i, p := range parts {
		msg := genericSend{To: to, Text: p, Sign: sign}
		if len(parts) > 1 {
			msg.UDH = &genericUDH{Ref: ref, Total: len(parts), Seq: i + 1}
		}
		id, err := g.sendPart(ctx, target, msg)
		if err != nil {
			return res, err
		}
		res.MessageIDs = append(res.MessageIDs, id)
	}
	return res, nil
}

func (g *Generic) sendPart(ctx context.Context, target string, msg genericSend) (string, error) {
	const provider = smsformat.ProviderGeneric
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(msg); err != nil {
		return "", fmt.Errorf("smsapi: generic: encode: %w", err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := http.Header{}
	h.Set("Content-Type", smsformat.ContentTypeJSON)
	if g.cfg.Secret != "" {
		ts := strconv.FormatInt(g.cfg.Clock.Now().Unix(), 10)
		h.Set(smsformat.HeaderTimestamp, ts)
		h.Set(smsformat.HeaderSignature, smsformat.SignBody(g.cfg.Secret, ts, body))
	}
	if g.cfg.Token != "" {
		h.Set(smsformat.HeaderToken, g.cfg.Token)
	}
	status, hdr, data, err := post(ctx, g.cfg.HTTPClient, provider, target, h, body)
	if err != nil {
		return "", err
	}
	return genericAnswer(status, hdr, data)
}

// genericAnswer interprets the generic API's answer to one part.
func genericAnswer(status int, hdr http.Header, data []byte) (string, error) {
	const provider = smsformat.ProviderGeneric
	var ans struct {
		MessageID string `json:"message_id"`
		Error     struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	jsonErr := json.Unmarshal(data, &ans)
	if status < 200 || status > 299 {
		e := statusError(provider, status, hdr, ans.Error.Message)
		e.Code = sanitize(ans.Error.Code)
		return "", e
	}
	if jsonErr != nil || ans.MessageID == "" {
		// Possibly sent: transient, and the caller's retry may duplicate it.
		return "", &Error{Provider: provider, Status: status, Code: "bad_answer", Message: "answer lacks message_id"}
	}
	return ans.MessageID, nil
}
