package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/kafka"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/internal/logtest"
	"github.com/hotline12345/gateway/normalize"
	"github.com/hotline12345/gateway/normalize/schemas"
)

const defaultReply = "您的诉求已转交相关部门处理。"

func ticketSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	b, ok := schemas.Get("ticket-event")
	require.True(t, ok)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	require.NoError(t, c.AddResource("ticket-event.schema.json", doc))
	s, err := c.Compile("ticket-event.schema.json")
	require.NoError(t, err)
	return s
}

func envelopeJSON(t *testing.T, id string) []byte {
	t.Helper()
	now := time.Now().UTC()
	env := normalize.Envelope{Schema: normalize.SchemaEnvelope, ID: id, IdempotencyKey: "k-" + id, Channel: normalize.ChannelWeb,
		ReceivedAt: now, CitizenKey: "0123456789abcdef0123456789abcdef", Citizen: normalize.Citizen{ChannelUserID: "u1"},
		Content: normalize.Content{Text: "路灯不亮"}, SLA: normalize.SLA{FirstResponseDue: now.Add(3 * time.Minute), HandlingDue: now.Add(24 * time.Hour)}}
	b, err := json.Marshal(env)
	require.NoError(t, err)
	return b
}

// start runs ticketsim until the returned stop is called; stop returns run's result.
func start(t *testing.T, cfg config, logs io.Writer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil))) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("run did not return within 30 s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestEndToEnd: an envelope on intake.envelopes becomes accepted, dispatched
// (with the reply) and resolved on ticket.events, each matching the
// contract's schema; a record that is not an envelope is skipped; offsets
// are committed, so a restarted ticketsim does not answer it again.
func TestEndToEnd(t *testing.T) {
	b, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Addr: "127.0.0.1:0", Dir: t.TempDir(), Partitions: 1}, "intake.envelopes", "ticket.events")
	require.NoError(t, err)
	defer b.Close()
	brokers := []string{b.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	p := kafka.NewProducer(brokers)
	defer p.Close()
	id1, id2 := normalize.NewID(), normalize.NewID()
	require.NoError(t, p.Produce(ctx, []kafka.Message{
		{Topic: "intake.envelopes", Key: []byte("c1"), Value: []byte(`{"not":"an envelope"}`)},
		{Topic: "intake.envelopes", Key: []byte("c1"), Value: envelopeJSON(t, id1)},
		{Topic: "intake.envelopes", Key: []byte("c1"), Value: envelopeJSON(t, id1)}, // published twice by the relay
	}))

	fixed := time.Date(2024, 5, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	cfg := config{Brokers: brokers, AcceptDelay: time.Millisecond, DispatchDelay: time.Millisecond,
		ResolveDelay: time.Millisecond, Reply: defaultReply, Clock: clock.NewFake(fixed)}
	var logs logtest.Buffer
	stop := start(t, cfg, &logs)

	out := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: "ticket.events", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer out.Close()
	schema := ticketSchema(t)
	read := func() (kafkago.Message, normalize.TicketEvent) {
		t.Helper()
		m, err := out.ReadMessage(ctx)
		require.NoError(t, err)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(m.Value))
		require.NoError(t, err)
		require.NoError(t, schema.Validate(doc), "%s", m.Value)
		var ev normalize.TicketEvent
		dec := json.NewDecoder(bytes.NewReader(m.Value))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&ev))
		return m, ev
	}

	for _, want := range []string{"accepted", "dispatched", "resolved"} {
		m, ev := read()
		require.Equal(t, id1, string(m.Key))
		require.Equal(t, want, ev.Status)
		require.Equal(t, id1, ev.EnvelopeID)
		require.Equal(t, "T1", ev.TicketID)
		require.True(t, fixed.Equal(ev.At))
		headers := map[string]string{}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		require.Equal(t, map[string]string{"schema": "ticket-event/v1", "channel": "web", "idempotency-key": id1 + ":" + want}, headers)
		if want == "dispatched" {
			require.NotNil(t, ev.Reply)
			require.Equal(t, defaultReply, ev.Reply.Text)
		} else {
			require.Nil(t, ev.Reply)
		}
	}
	// The offsets are committed once the sequences are done: wait until the
	// group's committed offset covers all three records, then stop.
	admin := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	require.Eventually(t, func() bool {
		res, err := admin.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: "ticketsim",
			Topics: map[string][]int{"intake.envelopes": {0}}})
		if err != nil || len(res.Topics["intake.envelopes"]) == 0 {
			return false
		}
		return res.Topics["intake.envelopes"][0].CommittedOffset >= 3
	}, 20*time.Second, 20*time.Millisecond, "offsets committed")
	require.NoError(t, stop())
	require.Contains(t, logs.String(), `"msg":"skipping record"`)
	require.Contains(t, logs.String(), `"msg":"skipping duplicate envelope"`)
	require.NotContains(t, logs.String(), "路灯不亮", "no message text in logs")
	require.NotContains(t, logs.String(), defaultReply)

	// A new process, same group: only the new envelope is answered, so it
	// gets the new process's first ticket id.
	require.NoError(t, p.Produce(ctx, []kafka.Message{{Topic: "intake.envelopes", Key: []byte("c2"), Value: envelopeJSON(t, id2)}}))
	cfg.ResolveDelay = 0 // never resolved
	stop = start(t, cfg, io.Discard)
	for _, want := range []string{"accepted", "dispatched"} {
		m, ev := read()
		require.Equal(t, id2, string(m.Key))
		require.Equal(t, want, ev.Status)
		require.Equal(t, "T1", ev.TicketID, "the first envelope must not be answered again")
	}
	require.NoError(t, stop())
}

// TestTicketSequence drives one sequence against a fake producer.
func TestTicketSequence(t *testing.T) {
	tests := []struct {
		name     string
		resolve  time.Duration
		reply    string
		failures int // produce attempts that fail first
		statuses []string
	}{
		{"resolved", time.Microsecond, "r", 0, []string{"accepted", "dispatched", "resolved"}},
		{"never resolved", 0, "r", 0, []string{"accepted", "dispatched"}},
		{"no reply", 0, "", 0, []string{"accepted", "dispatched"}},
		{"retries failed produce", 0, "r", 2, []string{"accepted", "dispatched"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []normalize.TicketEvent
			fails := tc.failures
			s := &sim{log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
				cfg: config{OutTopic: "out", ResolveDelay: tc.resolve, Reply: tc.reply, Clock: clock.System},
				produce: func(_ context.Context, msgs []kafka.Message) error {
					if fails > 0 {
						fails--
						return errors.New("broker down")
					}
					var ev normalize.TicketEvent
					require.NoError(t, json.Unmarshal(msgs[0].Value, &ev))
					got = append(got, ev)
					return nil
				}}
			require.NoError(t, s.ticket(context.Background(), envelopeRef{ID: "e1", Channel: "sms"}))
			var statuses []string
			for _, ev := range got {
				statuses = append(statuses, ev.Status)
				if ev.Status == "dispatched" && tc.reply != "" {
					require.Equal(t, tc.reply, ev.Reply.Text)
				} else {
					require.Nil(t, ev.Reply)
				}
			}
			require.Equal(t, tc.statuses, statuses)
		})
	}
}

func TestTicketStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sim{log: slog.New(slog.NewJSONHandler(io.Discard, nil)), cfg: config{OutTopic: "out", DispatchDelay: time.Hour, Clock: clock.System},
		produce: func(context.Context, []kafka.Message) error { cancel(); return nil }}
	require.ErrorIs(t, s.ticket(ctx, envelopeRef{ID: "e1"}), context.Canceled)
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:9092"}, cfg.Brokers)
	require.Equal(t, "ticketsim", cfg.Group)
	require.Equal(t, "intake.envelopes", cfg.InTopic)
	require.Equal(t, "ticket.events", cfg.OutTopic)
	require.Equal(t, time.Second, cfg.AcceptDelay)
	require.Equal(t, 5*time.Second, cfg.DispatchDelay)
	require.Zero(t, cfg.ResolveDelay)
	require.Equal(t, defaultReply, cfg.Reply)

	cfg, err = parseFlags([]string{"-brokers", "a:1, b:2", "-resolve-delay", "1m", "-reply", ""}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"a:1", "b:2"}, cfg.Brokers)
	require.Equal(t, time.Minute, cfg.ResolveDelay)

	for _, args := range [][]string{
		{"-accept-delay", "-1s"},
		{"-brokers", " , "},
		{"-reply", strings.Repeat("字", 2001)},
		{"-out-topic", "intake.envelopes"},
		{"-max-in-flight", "-1"},
		{"-nope"},
		{"extra"},
	} {
		var out bytes.Buffer
		_, err := parseFlags(args, &out)
		require.Error(t, err, "%q", args)
		require.NotEmpty(t, out.String(), "%q: the problem is printed", args)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	e, err := decodeEnvelope([]byte(`{"schema":"envelope/v1","id":"abc","channel":"sms","content":{"text":"x"}}`))
	require.NoError(t, err)
	require.Equal(t, envelopeRef{Schema: "envelope/v1", ID: "abc", Channel: "sms"}, e)
	for _, bad := range []string{``, `null`, `[]`, `{"schema":"event/v1","id":"abc"}`, `{"schema":"envelope/v1"}`,
		`{"schema":"envelope/v1","id":"` + strings.Repeat("a", 65) + `"}`, `{"schema":"envelope/v1","id":"\xff"}`} {
		_, err := decodeEnvelope([]byte(bad))
		require.ErrorIs(t, err, errBadEnvelope, "%q", bad)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add([]byte(`{"schema":"envelope/v1","id":"abc","channel":"sms"}`))
	f.Add([]byte(`{"schema":"envelope/v1","id":""}`))
	f.Add([]byte(`{"schema":1}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			require.ErrorIs(t, err, errBadEnvelope)
			return
		}
		require.Equal(t, normalize.SchemaEnvelope, e.Schema)
		require.NotEmpty(t, e.ID)
		require.LessOrEqual(t, len(e.ID), 64)
	})
}

func TestSeenSet(t *testing.T) {
	s := newSeenSet(2)
	require.True(t, s.add("a"))
	require.False(t, s.add("a"))
	require.True(t, s.add("b"))
	require.True(t, s.add("c")) // evicts a
	require.True(t, s.add("a"))
	require.False(t, s.add("c"))
}
