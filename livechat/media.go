package livechat

// Attachments through the gateway (contract §11): an agent's console loads
// a citizen's photo or file from GET /v1/agents/media, never from the
// third party's URL. The gateway fetches an https URL itself through the
// safe client (no loopback or private address unless allowed: the URL came
// from outside), or a channel's media reference (a WeChat media_id) through
// the channel's API with the gateway's credentials, and streams it back
// with the agent's token checked.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hotline12345/gateway/auth/tokens"
	"github.com/hotline12345/gateway/connectors/webhooks/safehttp"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

// MaxMediaBytes is the largest attachment the gateway fetches for an agent.
const MaxMediaBytes = 10 << 20

// mediaTimeout bounds one fetch (connect, TLS, headers and body).
const mediaTimeout = 20 * time.Second

// ErrMediaTooLarge: the attachment is larger than MaxMediaBytes.
var ErrMediaTooLarge = errors.New("livechat: attachment larger than 10 MiB")

// MediaFetcher fetches a channel's media reference (a WeChat media_id)
// through the channel's API: the bytes (at most MaxMediaBytes, else
// ErrMediaTooLarge) and their Content-Type. Its errors must not carry
// credentials (an access token in a URL).
type MediaFetcher func(ctx context.Context, mediaID string) (body []byte, contentType string, err error)

// RegisterMedia makes the media references of channel's attachments
// fetchable through f.
func (h *Hub) RegisterMedia(channel string, f MediaFetcher) {
	h.delivMu.Lock()
	if h.media == nil {
		h.media = map[string]MediaFetcher{}
	}
	h.media[channel] = f
	h.delivMu.Unlock()
}

func (h *Hub) mediaFetcher(channel string) MediaFetcher {
	h.delivMu.RLock()
	defer h.delivMu.RUnlock()
	return h.media[channel]
}

// mediaClient is the client for attachments' https URLs: Config.MediaClient,
// else the safe client with Config.MediaAllowHosts.
func (h *Hub) mediaClient() *http.Client {
	h.mediaOnce.Do(func() {
		h.mediaHTTP = h.cfg.MediaClient
		if h.mediaHTTP == nil {
			h.mediaHTTP = safehttp.NewClient(safehttp.Options{AllowHosts: h.cfg.MediaAllowHosts, Timeout: mediaTimeout})
		}
	})
	return h.mediaHTTP
}

// serveMedia is GET /v1/agents/media?session_id=…&seq=…&index=…: the
// index-th attachment of the transcript message seq, for the session's
// agent or a supervisor (token as Authorization: Bearer …). At most
// mediaFetches run at once: each holds up to 10 MiB.
func (h *Hub) serveMedia(c echo.Context) error {
	a, err := h.restAgent(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	sid := q.Get("session_id")
	seq, seqErr := strconv.ParseInt(q.Get("seq"), 10, 64)
	idx, idxErr := strconv.Atoi(q.Get("index"))
	fields := map[string]string{}
	if sid == "" {
		fields["session_id"] = "required"
	}
	if seqErr != nil || seq < 1 {
		fields["seq"] = "a message's seq, from 1"
	}
	if idxErr != nil || idx < 0 {
		fields["index"] = "the attachment's index in the message, from 0"
	}
	if len(fields) > 0 {
		return apierr.Invalid("session_id, seq and index name an attachment", fields)
	}
	rec, ok := h.SessionInfo(sid)
	if !ok || (rec.AgentID != a.ID && !a.Supervisor()) {
		return apierr.New(apierr.CodeNotFound, "no such attachment in a chat of yours")
	}
	var msgs []sessions.Message
	if err := h.d.DB.View(func(tx *store.Tx) error {
		var err error
		msgs, err = sessions.Transcript(tx, sid, seq-1, seq)
		return err
	}); err != nil {
		return apierr.Wrap(apierr.CodeInternal, "cannot read the transcript", err)
	}
	if len(msgs) != 1 || msgs[0].Seq != seq || idx >= len(msgs[0].Attachments) {
		return apierr.New(apierr.CodeNotFound, "no such attachment in a chat of yours")
	}
	att := msgs[0].Attachments[idx]
	if !fileAttachment(att.Type) { // a link or a place is the citizen's pointer, not a file to fetch
		return apierr.New(apierr.CodeBadRequest, "only images, audio, video and files are served; this attachment is a "+att.Type)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), mediaTimeout)
	defer cancel()
	select {
	case h.mediaSlots <- struct{}{}:
		defer func() { <-h.mediaSlots }()
	case <-ctx.Done():
		return apierr.Wrap(apierr.CodeUnavailable, "too many attachments are being fetched; retry", ctx.Err())
	}
	body, ctype, source, err := h.fetchAttachment(ctx, rec.Channel, att)
	if err != nil {
		h.log.Warn("livechat: attachment not fetched", "agent", a.ID, "session", sid, "seq", seq, "index", idx, "source", source, "err", err)
		switch {
		case source == "":
			return apierr.New(apierr.CodeBadRequest, "this attachment has no https URL or media reference the gateway can fetch")
		case errors.Is(err, ErrMediaTooLarge):
			return apierr.New(apierr.CodeTooLarge, "the attachment is larger than 10 MiB")
		}
		return apierr.Wrap(apierr.CodeUnavailable, "the attachment could not be fetched from its source; retry later", err)
	}
	h.log.Info("livechat: attachment served", "agent", a.ID, "session", sid, "seq", seq, "index", idx, "source", source, "bytes", len(body))
	hdr := c.Response().Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hdr.Set("Cache-Control", "private, max-age=300")
	mt, _, perr := mime.ParseMediaType(ctype)
	if perr != nil || mt == "" {
		mt = "application/octet-stream"
	}
	// An SVG is a document that runs script: a download, like any file.
	if !strings.HasPrefix(mt, "image/") || mt == "image/svg+xml" {
		name := fmt.Sprintf("attachment-%d-%d", seq, idx)
		hdr.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		if perr != nil {
			ctype = mt
		}
		return c.Blob(http.StatusOK, ctype, body)
	}
	return c.Blob(http.StatusOK, mt, body)
}

// fetchAttachment gets an attachment's bytes: a media reference through its
// channel's fetcher, else an https URL through the safe client. source is
// "media_id" or "url", "" when the attachment is neither (refused).
func (h *Hub) fetchAttachment(ctx context.Context, channel string, att normalize.Attachment) (body []byte, ctype, source string, err error) {
	if att.MediaID != "" {
		if f := h.mediaFetcher(channel); f != nil {
			body, ctype, err = f(ctx, att.MediaID)
			return body, ctype, "media_id", err
		}
	}
	u, perr := url.Parse(att.URL)
	if att.URL == "" || att.Type == "miniprogram_page" || perr != nil || u.Scheme != "https" || normalize.AttachmentURLProblem(att) != "" {
		return nil, "", "", errors.New("no https URL and no fetchable media reference")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", "url", err
	}
	resp, err := h.mediaClient().Do(req)
	if err != nil {
		return nil, "", "url", redactURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", "url", fmt.Errorf("the source answered %d", resp.StatusCode)
	}
	if resp.ContentLength > MaxMediaBytes {
		return nil, "", "url", ErrMediaTooLarge
	}
	body, err = readCapped(resp.Body)
	return body, resp.Header.Get("Content-Type"), "url", err
}

// readCapped reads r up to MaxMediaBytes, ErrMediaTooLarge beyond.
func readCapped(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxMediaBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMediaBytes {
		return nil, ErrMediaTooLarge
	}
	return b, nil
}

// redactURL drops the *url.Error layer, whose text holds the full URL (a
// signed link's query, an access token).
func redactURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// forAgents is m as agents' consoles get it: the attachments that are
// files (image, audio, video, file) without their third party's URL, which
// the console opens through GET /v1/agents/media instead. Links, locations
// and mini-program pages keep theirs: they are what the citizen shared.
func forAgents(m sessions.Message) sessions.Message {
	cloned := false // the stored message's slice is shared: never written
	for i, a := range m.Attachments {
		if a.URL == "" || !fileAttachment(a.Type) {
			continue
		}
		if !cloned {
			m.Attachments, cloned = slices.Clone(m.Attachments), true
		}
		m.Attachments[i].URL = ""
	}
	return m
}

// mediaFetches bounds the attachments fetched at once.
const mediaFetches = 4

func fileAttachment(typ string) bool {
	return typ == "image" || typ == "audio" || typ == "video" || typ == "file"
}

// broadcastMessage sends a stored message to every subscriber, agents as
// forAgents has it. Caller holds s.mu.
func (s *sess) broadcastMessage(m sessions.Message) {
	b := frameBytes(messageFrame(s.id, m))
	ab := b
	if am := forAgents(m); !slices.EqualFunc(am.Attachments, m.Attachments, func(x, y normalize.Attachment) bool { return x == y }) {
		ab = frameBytes(messageFrame(s.id, am))
	}
	for c := range s.subs {
		if c.role == tokens.RoleAgent {
			c.enqueue(ab)
		} else {
			c.enqueue(b)
		}
	}
}
