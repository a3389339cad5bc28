package normalize

import (
	"time"

	"github.com/hotline12345/gateway/internal/clock"
)

// Stamp fills in what the gateway, not the channel, decides about a new
// envelope: its id, when it was received, its citizen key and its due times.
type Stamp struct {
	Keyer         CitizenKeyer
	FirstResponse time.Duration
	Handling      time.Duration
	Clock         clock.Clock
}

// New returns an envelope for channel with the given idempotency key
// ("<channel>:<native id>") and channel user id.
func (s Stamp) New(channel, idemKey, channelUserID string) *Envelope {
	now := s.Clock.Now().UTC().Truncate(time.Millisecond)
	return &Envelope{
		Schema:         SchemaEnvelope,
		ID:             NewID(),
		IdempotencyKey: idemKey,
		Channel:        channel,
		ReceivedAt:     now,
		CitizenKey:     s.Keyer.Key(channel, channelUserID),
		Citizen:        Citizen{ChannelUserID: channelUserID},
		SLA:            SLA{FirstResponseDue: now.Add(s.FirstResponse), HandlingDue: now.Add(s.Handling)},
	}
}
