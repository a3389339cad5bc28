package sla_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/internal/logtest"

	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/sessions"
	"github.com/hotline12345/gateway/timeliness/sla"
	"github.com/hotline12345/gateway/timeliness/timers"
)

// Warnings and breaches leave an audit line naming the clock, the request
// and when it was due, and never the citizen's phone number or words: the
// timers firing, and a clock stopped after its due time before its timer
// fired.
func TestWarningsAndBreachesAreLogged(t *testing.T) {
	const phone, text = "13812345678", "我家楼道的灯坏了一个月"
	t0 := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	type line struct{ Level, Msg, Clock, Channel string }
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, svc *sla.Service, clk *clock.Fake, id string)
		want []line
	}{
		{"warning then breach, by the timers", func(t *testing.T, svc *sla.Service, clk *clock.Fake, _ string) {
			advance(t, svc, clk, 2*time.Minute) // 1 min before first_response is due
			advance(t, svc, clk, time.Minute)
		}, []line{{"INFO", "sla warning", "first_response", "web"}, {"WARN", "sla breached", "first_response", "web"}}},
		{"a late stop is a breach", func(t *testing.T, svc *sla.Service, clk *clock.Fake, id string) {
			// Handled a day and a minute later by the ticket's own time,
			// before the gateway's clock (which has not moved) fired anything.
			require.NoError(t, svc.Handled(context.Background(), id, clk.Now().Add(24*time.Hour+time.Minute)))
		}, []line{{"WARN", "sla breached", "handling", "web"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			db, err := store.Open(filepath.Join(t.TempDir(), "g.db"), store.Options{NoSync: true},
				slices.Concat(intakelog.Buckets, timers.Buckets, sessions.Buckets, []string{sla.BucketTickets})...)
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			ilog := intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, clk)
			logs := &logtest.Buffer{}
			svc, err := sla.New(sla.Config{FirstResponse: 3 * time.Minute, NextResponse: 3 * time.Minute, Handling: 24 * time.Hour,
				LeadResponse: time.Minute, LeadHandling: time.Hour}, ilog, clk,
				slog.New(slog.NewJSONHandler(logs, nil)), nil, nil)
			require.NoError(t, err)
			ilog.OnAccept(svc.OnAccept)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			t.Cleanup(func() { cancel(); wg.Wait() })
			require.NoError(t, svc.Load(ctx))
			wg.Go(func() { svc.Run(ctx) })

			stamp := normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")}, FirstResponse: 3 * time.Minute,
				Handling: 24 * time.Hour, Clock: clk}
			env := stamp.New(normalize.ChannelWeb, "k1", "web-citizen")
			env.Content.Text, env.Citizen.Phone = text+"，电话"+phone, phone
			_, err = ilog.Accept(ctx, env, intakelog.AcceptOptions{})
			require.NoError(t, err)

			tc.run(t, svc, clk, env.ID)
			got := logs.Lines(t, "sla warning", "sla breached")
			require.Len(t, got, len(tc.want))
			for i, w := range tc.want {
				require.Equal(t, w, line{got[i]["level"].(string), got[i]["msg"].(string), got[i]["clock"].(string), got[i]["channel"].(string)})
				require.Equal(t, env.ID, got[i]["envelope"])
				require.NotEmpty(t, got[i]["due"])
			}
			all := logs.String()
			require.NotContains(t, all, phone)
			require.NotContains(t, all, text)
		})
	}
}

func advance(t *testing.T, svc *sla.Service, clk *clock.Fake, d time.Duration) {
	t.Helper()
	clk.Advance(d)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, svc.Timers().Sync(ctx))
}
