package smsformat

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// maxIDLen bounds provider ids used verbatim in keys; longer ids are hashed.
const maxIDLen = 128

// DedupKey is the idempotency key of an uplink message: providers retry a
// callback on any non-200 or timeout, and the retry must not become a second
// request. It is "<provider>:id:<provider id>" when the provider gives an id,
// else "<provider>:h:" + hex sha256 of phone, send time (UTC, nanoseconds),
// text and part identity. The key never contains the phone number or the
// text in clear, so it may be logged and stored as a Kafka header.
func DedupKey(provider string, in Inbound) string {
	if in.ProviderID != "" {
		if len(in.ProviderID) <= maxIDLen {
			return provider + ":id:" + in.ProviderID
		}
		sum := sha256.Sum256([]byte(in.ProviderID))
		return provider + ":idh:" + hex.EncodeToString(sum[:])
	}
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(in.Phone)
	sent := ""
	if !in.SentAt.IsZero() {
		sent = in.SentAt.UTC().Format(time.RFC3339Nano)
	}
	field(sent)
	field(in.Text)
	if in.Part != nil {
		field(in.Part.Ref)
		field(strconv.Itoa(in.Part.Total))
		field(strconv.Itoa(in.Part.Seq))
	} else {
		field("")
	}
	return provider + ":h:" + hex.EncodeToString(h.Sum(nil))
}
