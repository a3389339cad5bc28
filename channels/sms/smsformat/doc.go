// Package smsformat holds the pure, transport-free pieces of the SMS channel:
// decoding the uplink (citizen → gateway) and delivery-report callbacks of
// Alibaba Cloud, Tencent Cloud and the gateway's own "generic" format, the
// answers each provider expects, phone-number normalisation to E.164,
// de-duplication keys and request authentication.
//
// Nothing here performs I/O or keeps state, so every function is safe for
// concurrent use. Decoders never panic on hostile input: they return an error
// that satisfies errors.Is(err, ErrMalformed), naming the offending field
// (*FieldError) but never echoing its value, so the error is safe to log and
// to return to the provider.
//
// The generic wire format is documented in FORMAT.md beside this file.
package smsformat

// Provider names, as configured in channels.sms.provider.
const (
	ProviderAliyun  = "aliyun"
	ProviderTencent = "tencent"
	ProviderGeneric = "generic"
)

// MaxBatch bounds how many items one callback may carry; providers batch far
// fewer (Aliyun pushes at most a few hundred), so more is refused as malformed.
const MaxBatch = 1000
