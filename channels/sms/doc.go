// Package sms is the short-message channel: citizens text the hotline's
// number, their messages join a live-chat conversation, and agents' replies
// leave as SMS through the configured provider (channels.sms.provider:
// aliyun, tencent or generic; wire formats in smsformat/FORMAT.md).
//
// Routes (Mount):
//
//	POST /v1/channels/sms/inbound   uplink callbacks (citizen → gateway)
//	POST /v1/channels/sms/reports   delivery reports for replies the gateway sent
//
// Both authenticate with smsformat.Authenticator (HMAC signature when a
// secret is configured, else the shared token) and acknowledge in the
// provider's own format (smsformat.Ack); refusals carry the contract's error
// body with the provider's fields beside it (smsformat.Reject). Providers
// retry on anything but 200, so a 200 is sent only once the whole callback
// is durable:
//
//   - a whole message has been handed to Conversations (which records it,
//     with its de-duplication key, in one fsync'ed transaction), or
//   - a part of a long message has been written to the channel's own bucket
//     (pending parts, keyed by phone, UDH reference and sequence number).
//
// A retried callback is recognised by smsformat.DedupKey, also across a
// restart: by the channel's own key index (so that a late retry neither
// closes the citizen's conversation nor opens an empty one) and, for whole
// messages, by the hub's durable de-duplication record. Parts are joined
// through the store, which every gateway shares in cluster mode, so the
// parts of one message may reach different nodes: the transaction that
// stores a part releases its group when the part completes it, so exactly
// one node does, and a group whose parts do not all arrive within
// channels.sms.reassembly_wait is released by whichever node's Run finds
// it first, with what every node stored, and the Meta
// {"incomplete":"true","missing_parts":"2,3"}. A released message is queued
// in the store until Conversations has it (a crash in between hands it
// over again under the same dedup key, which the hub ignores); Run, on
// every node, also retries hand-offs that failed or whose node died, and
// compacts old records. The rules of joining are channels/sms/reassembly's.
//
// Consecutive texts from one number within channels.sms.conversation_window
// join one conversation (InboundMessage.JoinWindow); the first message of a
// conversation makes its envelope (done by the hub). The number, in E.164,
// is the channel user id, so citizen_key is stable per number. Logs show
// numbers masked (smsformat.MaskPhone) and never the text.
//
// Replies (Deliver) go through smsapi with the configured credentials: for
// generic, channels.sms.token / .secret authenticate the send API; for
// aliyun, token and secret are the AccessKey id and secret; for tencent, the
// SecretId and SecretKey, with channels.sms.sdk_app_id. Aliyun and Tencent
// need an approved template whose single variable carries the reply (a
// reply longer than one send, 500 characters with the signature and the
// template's fixed text, leaves as numbered sends; smsapi.SplitSends):
// channels.sms.template (Options.AliyunTemplateCode / TencentTemplateID),
// AliyunTemplateCode and TencentTemplateID below when it is empty.
//
// Every message id the provider returns is remembered (with the session and
// envelope it answered) so that a failed delivery report becomes a
// message.delivery_failed event on intake.events naming them. Successful
// reports are only logged: event/v1 has no "delivered" type.
package sms

// Default templates for the providers that send through templates. The
// template's only variable must carry the whole reply (Aliyun "${content}",
// Tencent "{1}").
const (
	AliyunTemplateCode = "SMS_12345_REPLY"
	TencentTemplateID  = "12345"
)

// Route paths.
const (
	PathInbound = "/v1/channels/sms/inbound"
	PathReports = "/v1/channels/sms/reports"
)
