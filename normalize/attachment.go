package normalize

import (
	"net/url"
	"strconv"
	"strings"
)

// The one attachment check of every channel and of the live chat. An
// attachment's url ends up as a link in the agents' console, the ticket
// system and partners' screens, so it may only be:
//
//   - an https URL with a host and no user:password part;
//   - for a miniprogram_page, the page path inside the mini-program that
//     WeChat sends as PagePath ("pages/guide?id=7"): relative, no scheme,
//     no host;
//   - empty, when the attachment is one of the gateway's own media
//     references: a media_id that the gateway resolves through the channel's
//     API with its own credentials (WeChat's MediaId and ThumbMediaId).
//
// javascript:, data:, file:, http: and relative links are refused: there is
// no gateway route that a relative path would name.

// AttachmentURLProblem says what is wrong with a.URL, or "" if nothing.
func AttachmentURLProblem(a Attachment) string {
	if a.URL == "" {
		return ""
	}
	// Spaces and control characters let a URL mean one thing to this check
	// and another to a browser (" javascript:", "java\tscript:").
	if strings.ContainsFunc(a.URL, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return "must not contain spaces, control characters or backslashes"
	}
	u, err := url.Parse(a.URL)
	if err != nil {
		return "must be an https URL"
	}
	if a.Type == "miniprogram_page" && u.Scheme == "" && u.Host == "" && !strings.HasPrefix(a.URL, "/") {
		return "" // a page of the mini-program, opened inside WeChat
	}
	if u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return "must be an https URL"
	}
	if u.User != nil {
		return "must not carry a user name or password"
	}
	return ""
}

// AttachmentFields checks every attachment's url; problems are keyed
// prefix[i].url, as validation errors name fields.
func AttachmentFields(prefix string, atts []Attachment) map[string]string {
	var out map[string]string
	for i, a := range atts {
		if p := AttachmentURLProblem(a); p != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[prefix+"["+strconv.Itoa(i)+"].url"] = p
		}
	}
	return out
}

// CheckAttachments is AttachmentFields as an error: a *ValidationError, or nil.
func CheckAttachments(prefix string, atts []Attachment) error {
	if f := AttachmentFields(prefix, atts); f != nil {
		return &ValidationError{Fields: f}
	}
	return nil
}
