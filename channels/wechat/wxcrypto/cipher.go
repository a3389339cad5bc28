package wxcrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
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
// PKCS#7 to a multiple of 32 bytes. A Cipher is immutable and safe for
// concurrent use.
type Cipher struct {
	block cipher.Block
	iv    []byte
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
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return &Cipher{block: block, iv: key[:aes.BlockSize], appID: appID}, nil
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
func (c *Cipher) DecryptFull(b64 string) (Decrypted, error) {
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return Decrypted{}, fmt.Errorf("%w: %v", ErrBadCiphertext, err)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return Decrypted{}, fmt.Errorf("%w: %d bytes is not a positive multiple of %d", ErrBadCiphertext, len(ct), aes.BlockSize)
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(c.block, c.iv).CryptBlocks(pt, ct)

	pad := int(pt[len(pt)-1])
	if pad < 1 || pad > blockPad || pad > len(pt) {
		return Decrypted{}, fmt.Errorf("%w: pad byte %d", ErrBadPadding, pad)
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return Decrypted{}, fmt.Errorf("%w: inconsistent pad bytes", ErrBadPadding)
		}
	}
	pt = pt[:len(pt)-pad]

	if len(pt) < RandomLen+4 {
		return Decrypted{}, fmt.Errorf("%w: plaintext of %d bytes has no header", ErrBadLength, len(pt))
	}
	msgLen := binary.BigEndian.Uint32(pt[RandomLen : RandomLen+4])
	body := pt[RandomLen+4:]
	if uint64(msgLen) > uint64(len(body)) {
		return Decrypted{}, fmt.Errorf("%w: msg_len %d exceeds %d bytes", ErrBadLength, msgLen, len(body))
	}
	d := Decrypted{
		Random: string(pt[:RandomLen]),
		Msg:    body[:msgLen:msgLen],
		AppID:  string(body[msgLen:]),
	}
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
	if uint64(len(plaintext)) > math.MaxUint32 {
		return "", fmt.Errorf("wxcrypto: plaintext of %d bytes too long", len(plaintext))
	}
	n := RandomLen + 4 + len(plaintext) + len(c.appID)
	pad := blockPad - n%blockPad
	buf := make([]byte, 0, n+pad)
	buf = append(buf, random16...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(plaintext)))
	buf = append(buf, plaintext...)
	buf = append(buf, c.appID...)
	buf = append(buf, bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(c.block, c.iv).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// randomPrefix returns 16 random characters (base32 from crypto/rand).
func randomPrefix() string { return rand.Text()[:RandomLen] }
