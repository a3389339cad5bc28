package wechat

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hotline12345/gateway/channels"
	"github.com/hotline12345/gateway/channels/wechat/wxcrypto"
	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/normalize"
)

// Attachment types in envelopes made from WeChat messages.
const (
	AttachmentImage           = "image"
	AttachmentMiniProgramPage = "miniprogram_page"
)

// Meta keys set on the InboundMessage.
const (
	MetaMsgType     = "msg_type"     // WeChat's MsgType
	MetaEvent       = "event"        // WeChat's Event, for events
	MetaSessionFrom = "session_from" // SessionFrom of user_enter_tempsession
	MetaThumbURL    = "thumb_url"    // ThumbUrl of a miniprogrampage
	MetaPageAppID   = "page_app_id"  // AppId of a miniprogrampage
	MetaClipped     = "clipped"      // "true": an attachment field exceeded the envelope's limits
	MetaURLDropped  = "url_dropped"  // "true": a URL the envelope refuses was left out (the media id stays)
)

// Envelope limits on attachment fields (normalize.Attachment's validate tags).
const (
	maxURL   = 2048
	maxMedia = 256
	maxTitle = 500
)

// inbound maps a text, image or miniprogrampage push onto the live chat's
// InboundMessage. Fields longer than the envelope allows are dropped (URL,
// media id) or cut (title) and Meta[clipped] is set, so that a valid push can
// never make an invalid envelope that WeChat would retry forever.
func inbound(p *wxcrypto.Push, now time.Time) channels.InboundMessage {
	m := channels.InboundMessage{
		Channel:       normalize.ChannelWechat,
		ChannelUserID: p.FromUserName,
		DedupKey:      p.DedupKey(),
		At:            sentAt(p, now),
		Source:        &normalize.Source{NativeID: nativeID(p), NativeType: p.MsgType},
		Meta:          map[string]string{MetaMsgType: p.MsgType},
	}
	if p.SessionFrom != "" {
		m.Meta[MetaSessionFrom] = p.SessionFrom
	}
	clipped := false
	switch p.MsgType {
	case wxcrypto.MsgTypeText:
		m.Text = p.Content
	case wxcrypto.MsgTypeImage:
		a := normalize.Attachment{Type: AttachmentImage}
		a.URL = fit(p.PicURL, maxURL, &clipped)
		a.MediaID = fit(p.MediaID, maxMedia, &clipped)
		m.Attachments = []normalize.Attachment{a}
	case wxcrypto.MsgTypeMiniProgramPage:
		a := normalize.Attachment{Type: AttachmentMiniProgramPage}
		a.Title = cut(p.Title, maxTitle, &clipped)
		a.URL = fit(p.PagePath, maxURL, &clipped)
		a.MediaID = fit(p.ThumbMediaID, maxMedia, &clipped)
		m.Attachments = []normalize.Attachment{a}
		if p.ThumbURL != "" {
			m.Meta[MetaThumbURL] = p.ThumbURL
		}
		if p.AppID != "" {
			m.Meta[MetaPageAppID] = p.AppID
		}
	}
	if clipped {
		m.Meta[MetaClipped] = "true"
	}
	for i := range m.Attachments {
		if !safeURL(&m.Attachments[i]) {
			m.Meta[MetaURLDropped] = "true"
		}
	}
	return m
}

// safeURL makes a's URL pass the envelope's attachment check, false if it
// had to drop it: a push WeChat signed must not become an envelope that is
// refused (WeChat would retry it forever), nor carry a link the check
// refuses. WeChat's image CDN (*.qpic.cn) hands out http:// links to
// pictures it serves over TLS too: those are upgraded. The media id, which
// the gateway resolves with its own credentials, always stays.
func safeURL(a *normalize.Attachment) bool {
	if rest, ok := strings.CutPrefix(a.URL, "http://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		if strings.HasSuffix(host, ".qpic.cn") {
			a.URL = "https://" + rest
		}
	}
	if normalize.AttachmentURLProblem(*a) == "" {
		return true
	}
	a.URL = ""
	return false
}

// enterSession maps user_enter_tempsession onto OpenConversation's argument,
// keeping SessionFrom (where in the mini-program the citizen came from).
func enterSession(p *wxcrypto.Push, now time.Time) channels.InboundMessage {
	m := channels.InboundMessage{
		Channel:       normalize.ChannelWechat,
		ChannelUserID: p.FromUserName,
		DedupKey:      p.DedupKey(),
		At:            sentAt(p, now),
		Source:        &normalize.Source{NativeID: nativeID(p), NativeType: p.MsgType + ":" + p.Event},
		Meta:          map[string]string{MetaMsgType: p.MsgType, MetaEvent: p.Event},
	}
	if p.SessionFrom != "" {
		m.Meta[MetaSessionFrom] = p.SessionFrom
	}
	return m
}

// sentAt is CreateTime, or now when the push carries none.
func sentAt(p *wxcrypto.Push, now time.Time) time.Time {
	if p.CreateTime <= 0 {
		return now.UTC()
	}
	return time.Unix(p.CreateTime, 0).UTC()
}

// nativeID is the MsgId, or the dedup key for events (which have none).
func nativeID(p *wxcrypto.Push) string {
	if p.MsgID != 0 {
		return strconv.FormatInt(p.MsgID, 10)
	}
	return p.DedupKey()
}

// fit returns s if it has at most limit characters, else "" (a cut URL or
// media id would be wrong, not shorter).
func fit(s string, limit int, clipped *bool) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	*clipped = true
	return ""
}

// cut shortens s to limit characters.
func cut(s string, limit int, clipped *bool) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	*clipped = true
	r := []rune(s)
	return string(r[:limit])
}

// refusal maps a wxcrypto error onto the client error WeChat (or a forger)
// gets: 401 for authenticity (signature, app ID, plaintext where safe mode is
// required), 401 stale_timestamp for the age check, 413 for size, 400 for
// anything that cannot be read. The cause is kept for the log only.
func refusal(err error) *apierr.Error {
	switch {
	case errors.Is(err, wxcrypto.ErrTooLarge):
		return apierr.Wrap(apierr.CodeTooLarge, "push body too large", err)
	case errors.Is(err, wxcrypto.ErrBadSignature):
		return apierr.Wrap(apierr.CodeUnauthorized, "bad signature", err)
	case errors.Is(err, wxcrypto.ErrAppIDMismatch):
		return apierr.Wrap(apierr.CodeUnauthorized, "the push is for another app id", err)
	case errors.Is(err, wxcrypto.ErrEncryptionRequired):
		return apierr.Wrap(apierr.CodeUnauthorized, "plaintext push refused: safe mode is configured", err)
	case errors.Is(err, wxcrypto.ErrStale):
		return apierr.Wrap(apierr.CodeStale, "timestamp missing or more than 5 minutes off", err)
	case errors.Is(err, wxcrypto.ErrNoCipher):
		return apierr.Wrap(apierr.CodeBadRequest, "safe-mode push but no EncodingAESKey is configured", err)
	case errors.Is(err, wxcrypto.ErrBadCiphertext), errors.Is(err, wxcrypto.ErrBadPadding), errors.Is(err, wxcrypto.ErrBadLength):
		return apierr.Wrap(apierr.CodeBadRequest, "the encrypted push cannot be decrypted with the configured EncodingAESKey", err)
	default:
		return apierr.Wrap(apierr.CodeBadRequest, "malformed push: "+reason(err), err)
	}
}

// reason is the short, content-free text of a malformed-push error.
func reason(err error) string {
	if errors.Is(err, wxcrypto.ErrMalformed) {
		return "not a well-formed JSON or XML message with MsgType and FromUserName"
	}
	return "unreadable"
}
