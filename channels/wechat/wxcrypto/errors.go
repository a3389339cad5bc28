package wxcrypto

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so a handler can map it with errors.Is: the signature and age errors
// to 401, ErrTooLarge to 413, the others to 400 (they mean the push cannot be
// read with our credentials; WeChat will retry it, and retrying will not help).
var (
	// ErrBadSignature: `signature` or `msg_signature` is missing or wrong.
	ErrBadSignature = errors.New("wxcrypto: bad signature")
	// ErrStale: the timestamp is missing, not a number, or further than the
	// verifier's maximum age from now (a replay, or a badly skewed clock).
	ErrStale = errors.New("wxcrypto: stale or invalid timestamp")
	// ErrMalformed: the body is not a well-formed JSON or XML push.
	ErrMalformed = errors.New("wxcrypto: malformed push")
	// ErrTooLarge: the body exceeds MaxPushBytes.
	ErrTooLarge = errors.New("wxcrypto: push too large")
	// ErrBadKey: the EncodingAESKey is not 43 characters of base64 for 32 bytes,
	// or the app ID is empty. A configuration error, found at start-up.
	ErrBadKey = errors.New("wxcrypto: invalid EncodingAESKey or app ID")
	// ErrBadCiphertext: Encrypt is not base64 or not whole AES blocks.
	ErrBadCiphertext = errors.New("wxcrypto: bad ciphertext")
	// ErrBadPadding: the PKCS#7 padding is not 1..32 identical bytes; usually
	// a wrong EncodingAESKey.
	ErrBadPadding = errors.New("wxcrypto: bad padding")
	// ErrBadLength: the decrypted msg_len does not fit the plaintext.
	ErrBadLength = errors.New("wxcrypto: bad message length")
	// ErrAppIDMismatch: the app ID inside the ciphertext is not ours.
	ErrAppIDMismatch = errors.New("wxcrypto: app ID mismatch")
	// ErrEncryptionRequired: a plaintext push reached a verifier configured
	// with RequireEncrypted.
	ErrEncryptionRequired = errors.New("wxcrypto: plaintext push refused, safe mode required")
	// ErrNoCipher: a safe-mode push (encrypt_type=aes) reached a verifier
	// without an EncodingAESKey.
	ErrNoCipher = errors.New("wxcrypto: encrypted push but no EncodingAESKey configured")
)
