package sla_test

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/timeliness/sla"
)

// The receipt quotes the request number, never the envelope id; by SMS it
// fits one 70-character part.
func TestReceiptQuotesTheNumber(t *testing.T) {
	for _, ch := range []string{normalize.ChannelWeb, normalize.ChannelWechat, normalize.ChannelSMS} {
		t.Run(ch, func(t *testing.T) {
			env := &normalize.Envelope{ID: normalize.NewID(), Number: "260612000018", Channel: ch}
			text := sla.Receipt(env)
			require.Contains(t, text, "编号")
			require.Contains(t, text, "260612000018")
			require.NotContains(t, text, env.ID)
			require.NotContains(t, text, env.ID[len(env.ID)-12:])
			if ch == normalize.ChannelSMS {
				require.LessOrEqual(t, utf8.RuneCountInString(text), 70, text)
			} else {
				require.Contains(t, text, "number 260612000018")
			}
		})
	}
}
