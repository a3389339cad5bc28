// Package wxcrypto implements the authenticity and encryption layer of WeChat
// mini-program message push: URL verification, the plaintext `signature`, the
// safe-mode `msg_signature` with AES-256-CBC under the EncodingAESKey, and the
// decoding of pushed messages in JSON or XML.
//
// The package is pure: it does no I/O and reads the time only through an
// injected clock, so the HTTP handler that uses it stays thin and every rule
// here is testable against the published vectors.
package wxcrypto
