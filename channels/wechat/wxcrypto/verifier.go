package wxcrypto

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/hotline12345/gateway/internal/clock"
)

// DefaultMaxAge is how far a push's timestamp may be from now.
const DefaultMaxAge = 5 * time.Minute

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Token is the message-push token set in the WeChat console. Required.
	Token string
	// Cipher opens safe-mode pushes. Nil: only plaintext pushes are accepted.
	Cipher *Cipher
	// RequireEncrypted refuses plaintext pushes (ErrEncryptionRequired), for
	// a deployment where the console is set to safe mode only.
	RequireEncrypted bool
	// MaxAge is how far the timestamp may be from now in either direction.
	// Zero means DefaultMaxAge.
	MaxAge time.Duration
	// Clock is the time source. Nil means clock.System.
	Clock clock.Clock
}

func (c *VerifierConfig) setDefaults() {
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Clock == nil {
		c.Clock = clock.System
	}
}

// Validate names the missing or inconsistent setting.
func (c *VerifierConfig) Validate() error {
	if c.Token == "" {
		return errors.New("wxcrypto: channels.wechat.token is required")
	}
	if c.RequireEncrypted && c.Cipher == nil {
		return errors.New("wxcrypto: RequireEncrypted needs channels.wechat.encoding_aes_key")
	}
	return nil
}

// Verifier authenticates and opens message pushes. It is immutable and safe
// for concurrent use. It does not remember nonces: de-duplicate retries with
// Push.DedupKey, which is stable across WeChat's retries while the nonce is not.
type Verifier struct {
	cfg VerifierConfig
}

// NewVerifier validates cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Verifier{cfg: cfg}, nil
}

// VerifyURL checks a URL-verification request's query (signature, timestamp,
// nonce). On success the handler answers 200 with the echostr exactly.
func (v *Verifier) VerifyURL(query url.Values) error {
	if !VerifyURL(v.cfg.Token, query.Get("signature"), query.Get("timestamp"), query.Get("nonce")) {
		return ErrBadSignature
	}
	return nil
}

// Open authenticates a push from its query string and body and decodes it.
//
// Plaintext mode (no encrypt_type, or "raw"): `signature` over (token,
// timestamp, nonce) must match, then the body is decoded. Safe mode
// (encrypt_type=aes): `msg_signature` over (token, timestamp, nonce, Encrypt)
// must match, then Encrypt is decrypted, its app ID checked and the inner
// message decoded. In both, a timestamp further than MaxAge from now gives
// ErrStale. The signature is checked before the timestamp, so an unsigned
// request learns nothing about our clock.
func (v *Verifier) Open(query url.Values, body []byte) (*Push, error) {
	ts, nonce := query.Get("timestamp"), query.Get("nonce")
	switch et := query.Get("encrypt_type"); et {
	case "", "raw":
		if v.cfg.RequireEncrypted {
			return nil, ErrEncryptionRequired
		}
		if !signatureEqual(Signature(v.cfg.Token, ts, nonce), query.Get("signature")) {
			return nil, fmt.Errorf("%w: signature", ErrBadSignature)
		}
		if err := v.checkAge(ts); err != nil {
			return nil, err
		}
		p, _, err := DecodePush(body)
		return p, err
	case "aes":
		if v.cfg.Cipher == nil {
			return nil, ErrNoCipher
		}
		enc, _, _, err := DecodeEncrypted(body)
		if err != nil {
			return nil, err
		}
		if !signatureEqual(Signature(v.cfg.Token, ts, nonce, enc), query.Get("msg_signature")) {
			return nil, fmt.Errorf("%w: msg_signature", ErrBadSignature)
		}
		if err := v.checkAge(ts); err != nil {
			return nil, err
		}
		inner, err := v.cfg.Cipher.Decrypt(enc)
		if err != nil {
			return nil, err
		}
		p, _, err := DecodePush(inner)
		if err != nil {
			return nil, fmt.Errorf("inner message: %w", err)
		}
		p.Encrypted = true
		return p, nil
	default:
		return nil, fmt.Errorf("%w: unsupported encrypt_type %q", ErrMalformed, et)
	}
}

// checkAge refuses a timestamp that is not a decimal number of seconds or is
// further than MaxAge from now, in the past (replay) or the future (skew).
func (v *Verifier) checkAge(ts string) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrStale, ts)
	}
	now := v.cfg.Clock.Now().Unix()
	maxAge := int64(v.cfg.MaxAge / time.Second)
	// Compare without overflow for any int64 timestamp.
	if sec < now-maxAge || sec > now+maxAge {
		return fmt.Errorf("%w: timestamp %d, now %d, max age %s", ErrStale, sec, now, v.cfg.MaxAge)
	}
	return nil
}
