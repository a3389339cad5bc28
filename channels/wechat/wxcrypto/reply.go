package wxcrypto

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strconv"
)

// Reply is a safe-mode answer to WeChat: the encrypted message with its
// msg_signature over (token, TimeStamp, Nonce, Encrypt).
type Reply struct {
	Encrypt      string
	MsgSignature string
	TimeStamp    string
	Nonce        string
}

// EncryptReply encrypts plaintext with c and signs it with token. random may
// be empty (a fresh prefix is drawn) or 16 bytes (to reproduce vectors).
func EncryptReply(token string, c *Cipher, plaintext []byte, random, timestamp, nonce string) (Reply, error) {
	enc, err := c.Encrypt(plaintext, random)
	if err != nil {
		return Reply{}, err
	}
	return Reply{
		Encrypt:      enc,
		MsgSignature: Signature(token, timestamp, nonce, enc),
		TimeStamp:    timestamp,
		Nonce:        nonce,
	}, nil
}

// Marshal renders the reply in the push's format: XML with CDATA sections,
// or JSON with TimeStamp as a number as WeChat documents it (a non-numeric
// TimeStamp stays a string).
func (r Reply) Marshal(f Format) ([]byte, error) {
	switch f {
	case FormatXML:
		type cdata struct {
			V string `xml:",cdata"`
		}
		v := struct {
			XMLName      xml.Name `xml:"xml"`
			Encrypt      cdata
			MsgSignature cdata
			TimeStamp    string
			Nonce        cdata
		}{Encrypt: cdata{r.Encrypt}, MsgSignature: cdata{r.MsgSignature}, TimeStamp: r.TimeStamp, Nonce: cdata{r.Nonce}}
		return xml.Marshal(v)
	case FormatJSON:
		var ts any = r.TimeStamp
		if n, err := strconv.ParseInt(r.TimeStamp, 10, 64); err == nil {
			ts = n
		}
		return json.Marshal(map[string]any{
			"Encrypt": r.Encrypt, "MsgSignature": r.MsgSignature, "TimeStamp": ts, "Nonce": r.Nonce,
		})
	default:
		return nil, fmt.Errorf("wxcrypto: cannot marshal reply in format %v", f)
	}
}
