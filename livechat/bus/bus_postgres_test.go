package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/pgtest"
	"github.com/hotline12345/gateway/livechat/bus"
	"github.com/hotline12345/gateway/livechat/bus/bustest"
)

func TestConformancePostgres(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	bustest.Run(t, func(t testing.TB, n int) []bus.Bus {
		nodes := pgCluster(t, c.DSN(), n)
		out := make([]bus.Bus, n)
		for i, b := range nodes {
			out[i] = b
		}
		return out
	}, bustest.Features{MaxPayload: bus.MaxPayloadPostgres})
}

// pgCluster opens n buses on one server, as n gateways on the shared store.
func pgCluster(t testing.TB, dsn string, n int) []*bus.Postgres {
	t.Helper()
	nodes := make([]*bus.Postgres, n)
	for i := range nodes {
		b, err := bus.NewPostgres(context.Background(), bus.PostgresConfig{URL: dsn})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, b.Close(context.Background())) })
		nodes[i] = b
	}
	return nodes
}

// A listening connection that the server ends (a failover, an operator's
// pg_terminate_backend) comes back and listens again; frames published
// meanwhile may be lost, later ones arrive.
func TestPostgresListenerReconnects(t *testing.T) {
	c := pgtest.Start(t, pgtest.Options{})
	nodes := pgCluster(t, c.DSN(), 2)
	rec, _ := bustest.Subscribe(t, nodes[1], "reconnect")
	bustest.Connect(t, nodes[0], "reconnect", rec)

	admin, err := pgx.Connect(context.Background(), c.PrimaryDSN())
	require.NoError(t, err)
	defer admin.Close(context.Background())
	var killed int
	require.NoError(t, admin.QueryRow(context.Background(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'gateway-bus-listen'").Scan(&killed))
	require.Equal(t, 2, killed)

	n := 0
	bustest.Eventually(t, 10*time.Second, func() bool {
		n++
		require.NoError(t, nodes[0].Publish(context.Background(), "reconnect", fmt.Appendf(nil, "after %d", n)))
		return rec.Len() > 0
	}, "no frame after the listening connection was ended")
}

func TestPostgresConfigValidate(t *testing.T) {
	_, err := bus.NewPostgres(context.Background(), bus.PostgresConfig{})
	require.ErrorContains(t, err, "store.url")
}
