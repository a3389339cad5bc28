package livechat_test

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/livechat"
	lt "github.com/hotline12345/gateway/livechat/livechattest"
	"github.com/hotline12345/gateway/sessions"
)

// A hub that may not write (Config.Writable: its node lost the chat lease)
// stores nothing: a message, an accept or a close is answered with an error
// and the store keeps the session as it was.
func TestHubWritesOnlyWhileWritable(t *testing.T) {
	var lost atomic.Bool
	h := lt.StartHub(t, "a1:p:general:2", clock.NewFake(t0), "", func(c *livechat.Config) {
		c.Writable = func() error {
			if lost.Load() {
				return errors.New("lease lost")
			}
			return nil
		}
	})
	a1 := agentUp(t, h, "a1")
	cit, sid := citizenUp(t, h, "c1")
	require.Equal(t, sid, a1.Expect(livechat.TypeOffer, wait).SessionID)
	stored := func() *sessions.Session {
		var s *sessions.Session
		require.NoError(t, h.DB.View(func(tx *store.Tx) error {
			var err error
			s, err = sessions.Get(tx, sid)
			return err
		}))
		return s
	}
	before := stored()

	lost.Store(true)
	a1.Send(livechat.Frame{Type: livechat.TypeAccept, SessionID: sid})
	a1.Expect(livechat.TypeError, wait)
	cit.SendData(livechat.TypeMessage, sid, "c-2", map[string]string{"text": "还在吗"})
	cit.Expect(livechat.TypeError, wait)
	after := stored()
	require.Equal(t, before.State, after.State, "not assigned")
	require.Equal(t, before.LastSeq, after.LastSeq, "no message stored")

	lost.Store(false) // sanity: the same frames are stored while writable
	cit.SendData(livechat.TypeMessage, sid, "c-3", map[string]string{"text": "在吗"})
	require.Equal(t, "c-3", cit.ExpectFrom("citizen", wait).ID)
	require.Equal(t, before.LastSeq+1, stored().LastSeq)
}
