package wxcrypto

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math"
	"strings"

	"github.com/silenceper/wechat/v2/util"
)

const (
	// blockPad is WeChat's PKCS#7 block size: 32 bytes, not AES's 16.
	blockPad = 32
	// RandomLen is the length of the random prefix inside the ciphertext.
	RandomLen = 16
	// EncodingAESKeyLen is the length of a valid EncodingAESKey.
	EncodingAESKeyLen = 43
)

// Cipher encrypts and decrypts safe-mode payloads for one app. The layout
// inside the AES-256-CBC ciphertext (key = base64(EncodingAESKey+"="),
// IV = key[:16]) is random(16) | msg_len(4, big-endian) | msg | appid, padded
// PKCS#7 to a multiple of 32 bytes. The AES work is silenceper/wechat's
// util.AESEncryptMsg and util.AESDecryptMsg (they reproduce the published
// vectors); Cipher adds the key check at start-up and typed errors. A Cipher
// is immutable and safe for concurrent use.
type Cipher struct {
	key   []byte
	appID string
}

// NewCipher builds a Cipher from the 43-character EncodingAESKey and the app
// ID that must appear inside every ciphertext. It returns ErrBadKey when
// either is unusable.
func NewCipher(encodingAESKey, appID string) (*Cipher, error) {
	if appID == "" {
		return nil, fmt.Errorf("%w: empty app ID", ErrBadKey)
	}
	if len(encodingAESKey) != EncodingAESKeyLen {
		return nil, fmt.Errorf("%w: EncodingAESKey has %d characters, want %d", ErrBadKey, len(encodingAESKey), EncodingAESKeyLen)
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%w: EncodingAESKey is not base64 of 32 bytes", ErrBadKey)
	}
	return &Cipher{key: key, appID: appID}, nil
}

// AppID returns the app ID this Cipher expects and embeds.
func (c *Cipher) AppID() string { return c.appID }

// Decrypted is a safe-mode ciphertext taken apart.
type Decrypted struct {
	Random string // the 16-byte random prefix
	Msg    []byte // the inner message, len(Msg) == msg_len
	AppID  string // the trailing app ID (equal to Cipher.AppID when err == nil)
}

// Decrypt opens a base64 Encrypt value and returns the inner message after
// checking the padding, the length and that the embedded app ID is ours.
func (c *Cipher) Decrypt(b64 string) ([]byte, error) {
	d, err := c.DecryptFull(b64)
	if err != nil {
		return nil, err
	}
	return d.Msg, nil
}

// DecryptFull is Decrypt returning every part of the plaintext. The errors
// are ErrBadCiphertext, ErrBadPadding, ErrBadLength and ErrAppIDMismatch.
//
// The library checks that the pad byte is 1..32 but not that the bytes
// before it repeat it; a plaintext padded wrongly that way fails the length
// or app ID check instead, and it had to carry a valid msg_signature first.
func (c *Cipher) DecryptFull(b64 string) (Decrypted, error) {
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return Decrypted{}, fmt.Errorf("%w: %v", ErrBadCiphertext, err)
	}
	// Checked here, not by the library, so that the error is typed (and
	// CBC is never handed a partial block).
	if len(ct) == 0 || len(ct)%blockPad != 0 {
		return Decrypted{}, fmt.Errorf("%w: %d bytes is not a positive multiple of %d", ErrBadCiphertext, len(ct), blockPad)
	}
	random, msg, appID, err := util.AESDecryptMsg(ct, c.key)
	if err != nil {
		// The library's errors are plain text: only its pad check speaks
		// of padding, the others are about msg_len and the layout.
		if strings.Contains(err.Error(), "pad") {
			return Decrypted{}, fmt.Errorf("%w: %v", ErrBadPadding, err)
		}
		return Decrypted{}, fmt.Errorf("%w: %v", ErrBadLength, err)
	}
	d := Decrypted{Random: string(random), Msg: msg[:len(msg):len(msg)], AppID: string(appID)}
	if d.AppID != c.appID {
		return d, fmt.Errorf("%w: got %q", ErrAppIDMismatch, d.AppID)
	}
	return d, nil
}

// Encrypt seals plaintext for WeChat, returning the base64 Encrypt value.
// random16 must be 16 bytes, or empty to draw a fresh random prefix (tests
// pass a fixed one to reproduce published vectors).
func (c *Cipher) Encrypt(plaintext []byte, random16 string) (string, error) {
	if random16 == "" {
		random16 = randomPrefix()
	}
	if len(random16) != RandomLen {
		return "", fmt.Errorf("wxcrypto: random prefix has %d bytes, want %d", len(random16), RandomLen)
	}
	// The library writes msg_len as a uint32 without checking.
	if uint64(len(plaintext)) > math.MaxUint32 {
		return "", fmt.Errorf("wxcrypto: plaintext of %d bytes too long", len(plaintext))
	}
	ct := util.AESEncryptMsg([]byte(random16), plaintext, c.appID, c.key)
	return base64.StdEncoding.EncodeToString(ct), nil
}

// randomPrefix returns 16 random characters (base32 from crypto/rand).
func randomPrefix() string { return rand.Text()[:RandomLen] }
