package wxcrypto

import (
	"crypto/subtle"
	"strings"

	"github.com/silenceper/wechat/v2/util"
)

// Signature returns WeChat's signature: the lower-case hex SHA-1 of token and
// parts sorted lexicographically and concatenated. With parts (timestamp,
// nonce) it is the `signature` query parameter; with (timestamp, nonce,
// Encrypt) it is `msg_signature`. The hashing is silenceper/wechat's
// util.Signature; the comparison below stays ours because the library has
// none in constant time.
func Signature(token string, parts ...string) string {
	// util.Signature sorts its argument in place: give it our own slice.
	all := make([]string, 0, len(parts)+1)
	all = append(all, token)
	all = append(all, parts...)
	return util.Signature(all...)
}

// VerifyURL reports whether signature is the valid `signature` for the URL
// verification request (GET with signature, timestamp, nonce, echostr). It
// compares in constant time. It does not judge the timestamp's age: WeChat
// sends it only once, when an operator saves the server URL.
func VerifyURL(token, signature, timestamp, nonce string) bool {
	return signatureEqual(Signature(token, timestamp, nonce), signature)
}

// signatureEqual compares an expected lower-case hex signature with a
// received one in constant time; the received one may be upper-case.
func signatureEqual(want, got string) bool {
	if got == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(got))) == 1
}
