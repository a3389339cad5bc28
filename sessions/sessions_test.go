package sessions_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
)

func TestTranscriptAndCompact(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{}, sessions.Buckets...)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	closed := t0.Add(time.Hour)
	for _, id := range []string{"old", "new"} {
		s := &sessions.Session{ID: id, Channel: "web", Citizen: "c-" + id, State: sessions.StateActive}
		require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
			for i := range 3 {
				m := &sessions.Message{From: "citizen", Text: "m", At: t0.Add(time.Duration(i) * time.Second)}
				if err := sessions.Append(tx, s, m); err != nil {
					return err
				}
			}
			_, err := sessions.SeenDedup(tx, "wechat:msg:"+id, id)
			return err
		}))
		require.EqualValues(t, 3, s.LastSeq)
		if id == "old" {
			s.State, s.ClosedAt = sessions.StateClosed, &closed
			require.NoError(t, db.Update(ctx, func(tx *store.Tx) error { return sessions.Put(tx, s) }))
		}
	}
	require.NoError(t, db.View(func(tx *store.Tx) error {
		msgs, err := sessions.Transcript(tx, "new", 1, 0)
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		require.EqualValues(t, 2, msgs[0].Seq)
		open, err := sessions.OpenFor(tx, "web", "c-old")
		require.NoError(t, err)
		require.Nil(t, open, "a closed session is no longer the citizen's open one")
		return nil
	}))
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		n, err := sessions.Compact(tx, t0.Add(2*time.Hour), 100)
		require.Equal(t, 1, n)
		return err
	}))
	require.NoError(t, db.View(func(tx *store.Tx) error {
		_, err := sessions.Get(tx, "old")
		require.ErrorIs(t, err, sessions.ErrNotFound)
		msgs, _ := sessions.Transcript(tx, "old", 0, 0)
		require.Empty(t, msgs)
		require.Empty(t, sessions.Dedup(tx, "wechat:msg:old"))
		require.Equal(t, "new", sessions.Dedup(tx, "wechat:msg:new"))
		_, err = sessions.Get(tx, "new")
		return err
	}))
}

// ForEachNewest walks the sessions newest first (ids are time-ordered) and
// stops when told: a search of the last chats reads only those.
func TestForEachNewest(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{NoSync: true}, sessions.Buckets...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var ids []string
	require.NoError(t, db.Update(context.Background(), func(tx *store.Tx) error {
		for range 5 {
			s := &sessions.Session{ID: normalize.NewID(), Channel: "web", Citizen: "c", State: sessions.StateQueued}
			ids = append(ids, s.ID)
			if err := sessions.Put(tx, s); err != nil {
				return err
			}
		}
		return nil
	}))
	var seen []string
	require.NoError(t, db.View(func(tx *store.Tx) error {
		return sessions.ForEachNewest(tx, func(s *sessions.Session) (bool, error) {
			seen = append(seen, s.ID)
			return len(seen) < 3, nil
		})
	}))
	require.Equal(t, []string{ids[4], ids[3], ids[2]}, seen)
}

// ActiveOf counts an agent's active sessions from the index Put keeps from
// each session's previous state: assigned, messages, transferred to another
// agent, re-queued, closed.
func TestActiveOf(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{NoSync: true}, sessions.Buckets...)
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	put := func(s *sessions.Session) {
		t.Helper()
		require.NoError(t, db.Update(ctx, func(tx *store.Tx) error { return sessions.Put(tx, s) }))
	}
	count := func() (a1, a2 int) {
		t.Helper()
		require.NoError(t, db.View(func(tx *store.Tx) error {
			a1, a2 = sessions.ActiveOf(tx, "a1"), sessions.ActiveOf(tx, "a2")
			return nil
		}))
		return a1, a2
	}
	s1 := &sessions.Session{ID: "s1", Channel: "web", Citizen: "c1", State: sessions.StateQueued}
	s2 := &sessions.Session{ID: "s2", Channel: "web", Citizen: "c2", State: sessions.StateQueued, Preview: `"state":"active"`}
	// a1x shares a1's prefix up to the separator only: never counted as a1.
	s3 := &sessions.Session{ID: "s3", Channel: "web", Citizen: "c3", State: sessions.StateActive, AgentID: "a1x"}
	put(s1)
	put(s2)
	put(s3)
	steps := []struct {
		name   string
		s      *sessions.Session
		state  string
		agent  string
		a1, a2 int
	}{
		{"s1 offered to a1", s1, sessions.StateOffered, "a1", 0, 0},
		{"s1 assigned to a1", s1, sessions.StateActive, "a1", 1, 0},
		{"s1 again (a message)", s1, sessions.StateActive, "a1", 1, 0},
		{"s2 assigned to a1", s2, sessions.StateActive, "a1", 2, 0},
		{"s1 taken over by a2", s1, sessions.StateActive, "a2", 1, 1},
		{"s2 re-queued", s2, sessions.StateQueued, "", 0, 1},
		{"s2 queued again, text as its preview", s2, sessions.StateQueued, "", 0, 1},
		{"s1 closed", s1, sessions.StateClosed, "a2", 0, 0},
	}
	for _, st := range steps {
		st.s.State, st.s.AgentID = st.state, st.agent
		put(st.s)
		a1, a2 := count()
		require.Equal(t, [2]int{st.a1, st.a2}, [2]int{a1, a2}, st.name)
	}

	// A store from before the index: its active chats are indexed once the
	// hub starts, and only once.
	s2.State, s2.AgentID = sessions.StateActive, "a1"
	put(s2)
	require.NoError(t, db.Update(ctx, func(tx *store.Tx) error {
		c := tx.Bucket([]byte("chat_agent_active")).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	}))
	a1, _ := count()
	require.Zero(t, a1)
	for range 2 {
		require.NoError(t, db.Update(ctx, sessions.IndexActiveSessions))
		a1, _ = count()
		require.Equal(t, 1, a1)
	}
}
