package intakelog_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/pgtest"
)

var topics = intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}

// Nodes sharing a store append to lanes of their own; the relay (on any node)
// reads every lane in order, marks each up to what it published, and the
// depth and the compaction count every lane.
func TestLanes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	logs := map[string]*intakelog.Log{
		"":        f.log,
		"node-1":  intakelog.New(f.db, topics, f.clk, intakelog.Lane("node-1"), intakelog.SharedNumbers(10)),
		"node-10": intakelog.New(f.db, topics, f.clk, intakelog.Lane("node-10"), intakelog.SharedNumbers(10)), // node-1 is a prefix of its name
	}
	order := []string{"node-1", "", "node-10", "node-1", "node-10", "node-1"}
	for i, lane := range order {
		f.clk.Advance(time.Second) // each record appended later than the one before
		env := f.env(fmt.Sprintf("k-%d", i), "text")
		_, err := logs[lane].Accept(ctx, env, intakelog.AcceptOptions{})
		require.NoError(t, err)
	}
	depth := func() int { d, err := f.log.Depth(); require.NoError(t, err); return d }
	require.Equal(t, len(order), depth())

	// Every node's log sees every lane, each in order from 1, the lanes
	// merged in the order the records were appended.
	for _, l := range logs {
		recs, err := l.Pending(100)
		require.NoError(t, err)
		require.Len(t, recs, len(order))
		next := map[string]uint64{}
		for i, r := range recs {
			require.Equal(t, order[i], r.Lane, "record %d", i)
			next[r.Lane]++
			require.Equal(t, next[r.Lane], r.Seq, "lane %q", r.Lane)
		}
		require.Equal(t, map[string]uint64{"": 1, "node-1": 3, "node-10": 2}, next)
	}

	// A batch is the oldest records, whatever their lanes.
	recs, err := f.log.Pending(4)
	require.NoError(t, err)
	require.Len(t, recs, 4)
	for i, r := range recs {
		require.Equal(t, order[i], r.Lane, "record %d", i)
	}

	// Marking a batch marks each of its lanes up to its last record there.
	recs, err = f.log.Pending(100)
	require.NoError(t, err)
	var batch []intakelog.Record
	for _, r := range recs {
		if r.Lane != "node-1" || r.Seq == 1 {
			batch = append(batch, r)
		}
	}
	require.NoError(t, f.log.MarkRelayed(ctx, batch))
	require.Equal(t, 2, depth())
	rest, err := logs["node-10"].Pending(100)
	require.NoError(t, err)
	require.Len(t, rest, 2)
	for _, r := range rest {
		require.Equal(t, "node-1", r.Lane)
	}
	require.Equal(t, []uint64{2, 3}, []uint64{rest[0].Seq, rest[1].Seq})

	// Compaction removes what was relayed, in every lane, and nothing else.
	f.clk.Advance(48 * time.Hour)
	n, err := f.log.Compact(ctx, 24*time.Hour)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, len(order)-2)
	left, err := f.log.Pending(100)
	require.NoError(t, err)
	require.Equal(t, rest, left)
	require.NoError(t, f.log.MarkRelayed(ctx, left))
	require.Zero(t, depth())

	// A lane goes on from its last number after compaction.
	_, err = logs["node-1"].Accept(ctx, f.env("k-late", "text"), intakelog.AcceptOptions{})
	require.NoError(t, err)
	late, err := f.log.Pending(100)
	require.NoError(t, err)
	require.Len(t, late, 1)
	require.Equal(t, "node-1", late[0].Lane)
	require.Equal(t, uint64(4), late[0].Seq)
}

// On PostgreSQL, nodes accepting at once each fill their own lane, gap-free,
// and every record is there for the relay.
func TestLanesOnPostgres(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	f := newFixture(t) // for envelopes and the clock
	const nodes, perNode = 3, 300
	var wg sync.WaitGroup
	dbs := make([]*store.DB, nodes)
	for i := range nodes {
		db, err := store.OpenPostgres(t.Context(), pg.DSN(), store.PostgresOptions{}, intakelog.Buckets...)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
		l := intakelog.New(db, topics, f.clk, intakelog.Lane(fmt.Sprintf("node-%d", i)), intakelog.SharedNumbers(100))
		for j := range perNode {
			env := f.env(fmt.Sprintf("n%d-%d", i, j), "text")
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.Accept(t.Context(), env, intakelog.AcceptOptions{})
				require.NoError(t, err)
			}()
		}
	}
	wg.Wait()
	recs, err := intakelog.New(dbs[0], topics, f.clk).Pending(10 * nodes * perNode)
	require.NoError(t, err)
	require.Len(t, recs, nodes*perNode)
	next := map[string]uint64{}
	for _, r := range recs {
		next[r.Lane]++
		require.Equal(t, next[r.Lane], r.Seq, "lane %q", r.Lane)
	}
	require.Len(t, next, nodes)
}
