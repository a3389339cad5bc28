package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/apierr"
	"github.com/hotline12345/gateway/livechat"
	"github.com/hotline12345/gateway/normalize"
)

// The hub's errors keep their types across nodes: a call made on a node
// that relays to the home fails as it would on the home, so the messaging
// channels branch on it as on one node (an invalid SMS is dropped, not
// retried; a WeChat answer keeps its code).
func TestChatReplyKeepsErrorTypes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		check func(t *testing.T, got error)
	}{
		{"none", nil, func(t *testing.T, got error) { require.NoError(t, got) }},
		{"known", fmt.Errorf("deliver: %w", livechat.ErrNoSession), func(t *testing.T, got error) {
			require.ErrorIs(t, got, livechat.ErrNoSession)
		}},
		{"validation", fmt.Errorf("sms: %w", &normalize.ValidationError{Fields: map[string]string{"text": "required"}}), func(t *testing.T, got error) {
			ve, ok := errors.AsType[*normalize.ValidationError](got)
			require.True(t, ok, "%v", got)
			require.Equal(t, map[string]string{"text": "required"}, ve.Fields)
		}},
		{"api", apierr.New(apierr.CodeTooLarge, "too long"), func(t *testing.T, got error) {
			ae, ok := errors.AsType[*apierr.Error](got)
			require.True(t, ok, "%v", got)
			require.Equal(t, apierr.CodeTooLarge, ae.Code)
		}},
		{"other", errors.New("disk full"), func(t *testing.T, got error) { require.EqualError(t, got, "disk full") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r chatReply
			r.setErr(tc.err)
			b, err := json.Marshal(r) // as it crosses the network
			require.NoError(t, err)
			var back chatReply
			require.NoError(t, json.Unmarshal(b, &back))
			tc.check(t, back.err())
		})
	}
}
