package wxcrypto

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxPushBytes bounds a push body. WeChat's pushes are a few kilobytes; the
// HTTP handler should cut the body at this size too (and answer 413).
const MaxPushBytes = 1 << 20

// Format is the wire format of a push, detected from its content.
type Format int

// Formats. The zero value means unknown.
const (
	FormatUnknown Format = iota
	FormatJSON
	FormatXML
)

func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatXML:
		return "xml"
	default:
		return "unknown"
	}
}

// Message types and events the gateway understands. Any other MsgType still
// decodes: the caller records and acknowledges it.
const (
	MsgTypeText            = "text"
	MsgTypeImage           = "image"
	MsgTypeMiniProgramPage = "miniprogrampage"
	MsgTypeEvent           = "event"

	EventUserEnterTempSession = "user_enter_tempsession"
)

// Push is one message pushed by WeChat to the mini-program's server. The
// fields are the union of those of the message types the gateway handles;
// those a type does not carry stay empty.
type Push struct {
	ToUserName   string `xml:"ToUserName" json:"ToUserName"`
	FromUserName string `xml:"FromUserName" json:"FromUserName"` // the citizen's openid
	CreateTime   int64  `xml:"CreateTime" json:"CreateTime"`     // unix seconds
	MsgType      string `xml:"MsgType" json:"MsgType"`
	Content      string `xml:"Content" json:"Content"` // text
	MsgID        int64  `xml:"MsgId" json:"MsgId"`     // absent for events

	PicURL  string `xml:"PicUrl" json:"PicUrl"`   // image
	MediaID string `xml:"MediaId" json:"MediaId"` // image

	Title        string `xml:"Title" json:"Title"` // miniprogrampage
	AppID        string `xml:"AppId" json:"AppId"`
	PagePath     string `xml:"PagePath" json:"PagePath"`
	ThumbURL     string `xml:"ThumbUrl" json:"ThumbUrl"`
	ThumbMediaID string `xml:"ThumbMediaId" json:"ThumbMediaId"`

	Event       string `xml:"Event" json:"Event"`             // event
	SessionFrom string `xml:"SessionFrom" json:"SessionFrom"` // user_enter_tempsession

	// Raw is the decoded message exactly as received (for safe mode, the
	// decrypted inner message), so that unknown types can be recorded whole.
	Raw []byte `xml:"-" json:"-"`
	// Format is the inner message's format.
	Format Format `xml:"-" json:"-"`
	// Encrypted tells whether the push came in safe mode.
	Encrypted bool `xml:"-" json:"-"`
}

// Known reports whether the push is a message type or event the gateway
// maps onto an envelope or a chat message.
func (p *Push) Known() bool {
	switch p.MsgType {
	case MsgTypeText, MsgTypeImage, MsgTypeMiniProgramPage:
		return true
	case MsgTypeEvent:
		return p.Event == EventUserEnterTempSession
	}
	return false
}

// DedupKey identifies the push for de-duplication of WeChat's retries (it
// retries three times when no answer comes within 5 s): "msg:<MsgId>" for
// messages, "evt:<FromUserName>:<CreateTime>" for events and anything else
// without a MsgId, as WeChat recommends.
func (p *Push) DedupKey() string {
	if p.MsgID != 0 {
		return "msg:" + strconv.FormatInt(p.MsgID, 10)
	}
	return "evt:" + p.FromUserName + ":" + strconv.FormatInt(p.CreateTime, 10)
}

// DecodePush decodes a plaintext push. The format is detected from the first
// non-space byte ('{' JSON, '<' XML), not from Content-Type, because WeChat's
// Content-Type is not reliable. Anything that is not exactly one JSON object
// or one <xml> element, or lacks MsgType or FromUserName, gives ErrMalformed.
func DecodePush(body []byte) (*Push, Format, error) {
	f, err := detect(body)
	if err != nil {
		return nil, f, err
	}
	p := &Push{}
	switch f {
	case FormatJSON:
		err = decodeJSON(body, p)
	case FormatXML:
		v := struct {
			XMLName xml.Name `xml:"xml"`
			*Push
		}{Push: p}
		err = decodeXML(body, &v)
	}
	if err != nil {
		return nil, f, err
	}
	if p.MsgType == "" || p.FromUserName == "" {
		return nil, f, fmt.Errorf("%w: MsgType and FromUserName are required", ErrMalformed)
	}
	p.Raw = bytes.Clone(body)
	p.Format = f
	return p, f, nil
}

// DecodeEncrypted decodes the outer envelope of a safe-mode push, in XML
// (<xml><ToUserName/><Encrypt/></xml>) or JSON ({"ToUserName","Encrypt"}),
// and returns the Encrypt value to check and decrypt. A missing or empty
// Encrypt gives ErrMalformed.
func DecodeEncrypted(body []byte) (encrypt, toUser string, f Format, err error) {
	f, err = detect(body)
	if err != nil {
		return "", "", f, err
	}
	var outer struct {
		XMLName    xml.Name `xml:"xml" json:"-"`
		ToUserName string   `xml:"ToUserName" json:"ToUserName"`
		Encrypt    string   `xml:"Encrypt" json:"Encrypt"`
	}
	if f == FormatJSON {
		err = decodeJSON(body, &outer)
	} else {
		err = decodeXML(body, &outer)
	}
	if err != nil {
		return "", "", f, err
	}
	if outer.Encrypt == "" {
		return "", "", f, fmt.Errorf("%w: no Encrypt field", ErrMalformed)
	}
	return outer.Encrypt, outer.ToUserName, f, nil
}

// detect returns the format from the first byte after an optional UTF-8 BOM
// and whitespace.
func detect(body []byte) (Format, error) {
	if len(body) > MaxPushBytes {
		return FormatUnknown, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(body), MaxPushBytes)
	}
	b := bytes.TrimLeft(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(b) == 0 {
		return FormatUnknown, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	switch b[0] {
	case '{':
		return FormatJSON, nil
	case '<':
		return FormatXML, nil
	}
	return FormatUnknown, fmt.Errorf("%w: body starts with %q, neither JSON nor XML", ErrMalformed, b[0])
}

// decodeJSON decodes exactly one JSON object; json.Unmarshal already
// refuses trailing data and type mismatches.
func decodeJSON(body []byte, v any) error {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: json: %v", ErrMalformed, err)
	}
	return nil
}

// decodeXML decodes one element into v (whose XMLName fixes the root) and
// refuses anything after it other than whitespace, comments and processing
// instructions: xml.Unmarshal alone would ignore trailing garbage.
func decodeXML(body []byte, v any) error {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	d := xml.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: xml: %v", ErrMalformed, err)
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: xml after root: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return fmt.Errorf("%w: text after the root element", ErrMalformed)
			}
		default:
			return fmt.Errorf("%w: content after the root element", ErrMalformed)
		}
	}
}
