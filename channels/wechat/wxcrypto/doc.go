// Package wxcrypto implements the authenticity and encryption layer of WeChat
// mini-program message push: URL verification, the plaintext `signature`, the
// safe-mode `msg_signature` with AES-256-CBC under the EncodingAESKey, and the
// decoding of pushed messages in JSON or XML.
//
// The SHA-1 signature and the AES layout are silenceper/wechat's util
// (Signature, AESEncryptMsg, AESDecryptMsg), which reproduce the published
// vectors (vectors_library_test.go runs them through util directly).
//
// The Verifier stays ours: the library's miniprogram/message.PushReceiver
// checks only `signature` in safe mode, never `msg_signature` over the
// Encrypt value; it compares with != (not in constant time), has no
// timestamp window, accepts plaintext even when safe mode is configured,
// reads the body without a limit, picks JSON or XML by Content-Type, and its
// errors are untyped, where a handler here maps ours to 401, 400 or 413.
//
// The package is pure: it does no I/O and reads the time only through an
// injected clock, so the HTTP handler that uses it stays thin and every rule
// here is testable against the published vectors.
package wxcrypto
