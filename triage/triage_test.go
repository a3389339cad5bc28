package triage_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/triage"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

type fixture struct {
	db    *store.DB
	log   *intakelog.Log
	tr    *triage.Triager
	q     *delivery.Queue
	clk   *clock.Fake
	stamp normalize.Stamp
}

// start opens (or reopens) the store at path with triage hooked into intake.
func start(t testing.TB, path string, clk *clock.Fake) *fixture {
	t.Helper()
	db, err := store.Open(path, store.Options{NoSync: true}, slices.Concat(intakelog.Buckets, delivery.Buckets, triage.Buckets)...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	log := intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, clk)
	q := delivery.New(db, delivery.Options{Clock: clk})
	sec, err := stdwebhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	require.NoError(t, q.Register(triage.EmergencyEndpoint, sec))
	keyer := normalize.CitizenKeyer{Salt: []byte("s")}
	tr, err := triage.New(triage.Deps{DB: db, Keyer: keyer, Clock: clk, Queue: q, EmergencyURL: "https://centre.example/handoff", Window: 30 * 24 * time.Hour})
	require.NoError(t, err)
	log.OnPrepare(tr.Prepare)
	log.OnAccept(tr.OnAccept)
	return &fixture{db: db, log: log, tr: tr, q: q, clk: clk,
		stamp: normalize.Stamp{Keyer: keyer, FirstResponse: 3 * time.Minute, Handling: 24 * time.Hour, Clock: clk}}
}

// accept files a request of citizen (on channel) with text, optionally with
// a verified phone, and returns its envelope as accepted.
func (f *fixture) accept(t testing.TB, channel, citizen, text, phone string) *normalize.Envelope {
	t.Helper()
	env := f.stamp.New(channel, normalize.NewID(), citizen)
	env.Content.Text = text
	env.Location = &normalize.Location{District: "黄浦区"}
	if phone != "" {
		env.Citizen.Phone, env.Citizen.PhoneVerified = phone, true
	}
	res, err := f.log.Accept(context.Background(), env, intakelog.AcceptOptions{Owner: "citizen:" + citizen})
	require.NoError(t, err)
	require.False(t, res.Duplicate)
	return env
}

// outbox returns the types of the events recorded and the envelopes.
func (f *fixture) outbox(t *testing.T) (events []string, envelopes []map[string]any) {
	recs, err := f.log.Pending(10000)
	require.NoError(t, err)
	for _, r := range recs {
		var m map[string]any
		require.NoError(t, json.Unmarshal(r.Value, &m))
		if r.Topic == "intake.events" {
			events = append(events, m["type"].(string))
		} else {
			envelopes = append(envelopes, m)
		}
	}
	return events, envelopes
}

func TestEmergencyIsFlaggedPublishedAndQueued(t *testing.T) {
	f := start(t, filepath.Join(t.TempDir(), "g.db"), clock.NewFake(t0))
	env := f.accept(t, normalize.ChannelWeb, "c1", "There is thick smoke coming out of the flat next door and I think it is on fire", "")
	require.NotNil(t, env.Triage)
	require.Equal(t, normalize.PriorityEmergency, env.Triage.Priority)
	require.Equal(t, "fire", env.Triage.Emergency.Category)
	require.NotEmpty(t, env.Triage.Emergency.Rules)
	require.Equal(t, t0, *env.Triage.Emergency.HandedOffAt)
	require.Equal(t, "en", env.Triage.Language)
	require.Contains(t, normalize.ReceiptFor(env).Notice, "119")

	req, err := f.log.Request(env.ID)
	require.NoError(t, err)
	require.Contains(t, req.Notice, "110", "the status shows the notice too")
	events, envelopes := f.outbox(t)
	require.Contains(t, events, normalize.EventRequestEmergency)
	require.Len(t, envelopes, 1)
	require.Equal(t, "emergency", envelopes[0]["triage"].(map[string]any)["priority"])

	// The hand-off is queued in the same transaction: it is there although
	// nothing has been sent yet.
	entries := queued(t, f.q)
	require.Len(t, entries, 1)
	require.Equal(t, triage.EmergencyEndpoint, entries[0].Endpoint)
	require.Equal(t, env.ID, entries[0].RequestKey)

	ordinary := f.accept(t, normalize.ChannelWeb, "c2", "The street light outside number 5 has been broken for a week", "")
	require.NotEqual(t, normalize.PriorityEmergency, ordinary.Triage.Priority)
	require.Empty(t, normalize.ReceiptFor(ordinary).Notice)
	require.Len(t, queued(t, f.q), 1, "nothing to hand off")
}

func TestRepeats(t *testing.T) {
	const light1 = "人民路和西藏路路口的路灯坏了一个星期了，晚上很黑，请尽快修理"
	const light2 = "人民路西藏路路口那盏路灯还是坏的，已经一个多星期了，晚上很黑"
	const rubbish = "小区门口的垃圾三天没人清运了，气味很大"
	for _, tc := range []struct {
		name   string
		second func(f *fixture, t *testing.T) *normalize.Envelope
		repeat bool
	}{
		{"same citizen, same matter", func(f *fixture, t *testing.T) *normalize.Envelope {
			return f.accept(t, normalize.ChannelWeb, "c1", light2, "")
		}, true},
		{"same citizen, another matter", func(f *fixture, t *testing.T) *normalize.Envelope {
			return f.accept(t, normalize.ChannelWeb, "c1", rubbish, "")
		}, false},
		{"another citizen, same matter", func(f *fixture, t *testing.T) *normalize.Envelope {
			return f.accept(t, normalize.ChannelWeb, "c2", light2, "")
		}, false},
		{"the same phone, verified on SMS, links another channel", func(f *fixture, t *testing.T) *normalize.Envelope {
			f.accept(t, normalize.ChannelSMS, "+8613912345678", "你好", "+8613912345678")
			return f.accept(t, normalize.ChannelApp, "app-user-7", light2, "+8613912345678")
		}, true},
		{"an unverified phone links nothing", func(f *fixture, t *testing.T) *normalize.Envelope {
			env := f.stamp.New(normalize.ChannelApp, normalize.NewID(), "app-user-8")
			env.Content.Text, env.Citizen.Phone = light2, "+8613912345678"
			_, err := f.log.Accept(context.Background(), env, intakelog.AcceptOptions{})
			require.NoError(t, err)
			return env
		}, false},
		{"after the window, not a repeat", func(f *fixture, t *testing.T) *normalize.Envelope {
			f.clk.Advance(31 * 24 * time.Hour)
			return f.accept(t, normalize.ChannelWeb, "c1", light2, "")
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, filepath.Join(t.TempDir(), "g.db"), clock.NewFake(t0))
			// The first request of c1 came by SMS from a phone when the case links phones.
			first := f.accept(t, normalize.ChannelWeb, "c1", light1, "+8613912345678")
			f.clk.Advance(time.Hour)
			second := tc.second(f, t)
			events, _ := f.outbox(t)
			if tc.repeat {
				require.Equal(t, []string{first.ID}, second.Triage.RepeatOf)
				require.Contains(t, events, normalize.EventRequestRepeat)
			} else {
				require.Empty(t, second.Triage.RepeatOf)
				require.NotContains(t, events, normalize.EventRequestRepeat)
			}
		})
	}
}

// What triage keeps survives a restart: a repeat is recognised after it.
func TestRepeatsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	clk := clock.NewFake(t0)
	f := start(t, path, clk)
	first := f.accept(t, normalize.ChannelWeb, "c1", "Construction noise from the site on Huaihai Road every night after 11 pm", "")
	require.NoError(t, f.db.Close())
	clk.Advance(24 * time.Hour)
	f = start(t, path, clk)
	second := f.accept(t, normalize.ChannelWeb, "c1", "The construction site on Huaihai Road is making noise after 11 pm every night again", "")
	require.Equal(t, []string{first.ID}, second.Triage.RepeatOf)
}

func queued(t *testing.T, q *delivery.Queue) []delivery.Entry {
	t.Helper()
	out, err := q.Pending(triage.EmergencyEndpoint, 100)
	require.NoError(t, err)
	return out
}
