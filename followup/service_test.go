package followup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/configs"
	"github.com/hotline12345/gateway/followup"
	"github.com/hotline12345/gateway/intake/intakelog"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
	"github.com/hotline12345/gateway/internal/logtest"
	"github.com/hotline12345/gateway/normalize"
)

// shanghai is the survey's quiet-hours zone; the tests pin it to UTC+8 so
// that they need no tzdata.
var shanghai = time.FixedZone("CST", 8*3600)

// t0 is 10:00 in Shanghai, outside the quiet hours.
var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

type send struct {
	Envelope, URL string
	Reminder      bool
}

// harness is a follow-up service over a real store and intake log, under a
// fake clock, with a Sender that records what it was asked to send.
type harness struct {
	t      *testing.T
	path   string
	db     *store.DB
	clk    *clock.Fake
	ilog   *intakelog.Log
	svc    *followup.Service
	cfg    followup.Config
	logs   *logtest.Buffer
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	sends []send
	fail  int           // refuse this many sends
	block chan struct{} // when set, sends wait for it (or ctx)
}

func newHarness(t *testing.T, cfg followup.Config) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "g.db"), clk: clock.NewFake(t0), cfg: cfg, logs: &logtest.Buffer{}}
	h.open()
	t.Cleanup(h.stop)
	return h
}

func defaultConfig() followup.Config {
	q := configs.QuietHours{From: 21 * time.Hour, To: 8 * time.Hour, Location: shanghai}
	return followup.Config{BaseURL: "https://12345.example.cn", Expire: 7 * 24 * time.Hour, RemindAfter: 24 * time.Hour, Quiet: q}
}

func (h *harness) open() {
	t := h.t
	db, err := store.Open(h.path, store.Options{NoSync: true}, slices.Concat(intakelog.Buckets, followup.Buckets)...)
	require.NoError(t, err)
	h.db = db
	h.ilog = intakelog.New(db, intakelog.Topics{Envelopes: "intake.envelopes", Events: "intake.events"}, h.clk)
	h.svc, err = followup.New(h.cfg, h.ilog, h.clk, slog.New(slog.NewJSONHandler(h.logs, nil)), h.sender)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	require.NoError(t, h.svc.Load(ctx))
	h.wg.Go(func() { h.svc.Run(ctx) })
}

// stop is a crash as far as the service is concerned: Run ends, sends under
// way are abandoned, nothing else is written.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.wg.Wait()
	_ = h.db.Close()
	h.cancel = nil
}

func (h *harness) sender(ctx context.Context, r *followup.Record, url string, reminder bool) error {
	h.mu.Lock()
	block, fail := h.block, h.fail > 0
	if fail {
		h.fail--
	}
	h.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errors.New("provider says no")
	}
	h.mu.Lock()
	h.sends = append(h.sends, send{r.EnvelopeID, url, reminder})
	h.mu.Unlock()
	return nil
}

func (h *harness) sent() []send {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sends)
}

// accept files a request on channel; repeat marks it as triage would.
func (h *harness) accept(channel string, repeat bool) string {
	stamp := normalize.Stamp{Keyer: normalize.CitizenKeyer{Salt: []byte("s")}, FirstResponse: 3 * time.Minute, Handling: 24 * time.Hour, Clock: h.clk}
	env := stamp.New(channel, normalize.NewID(), "citizen-1")
	env.Content.Text = "路灯坏了"
	env.Location = &normalize.Location{District: "黄浦区"}
	if repeat {
		env.Triage = &normalize.Triage{RepeatOf: []string{normalize.NewID()}}
	}
	_, err := h.ilog.Accept(context.Background(), env, intakelog.AcceptOptions{})
	require.NoError(h.t, err)
	return env.ID
}

func (h *harness) ticket(id, status string, extra map[string]any) {
	ev := map[string]any{"schema": "ticket-event/v1", "envelope_id": id, "status": status, "at": h.clk.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range extra {
		ev[k] = v
	}
	b, _ := json.Marshal(ev)
	require.NoError(h.t, h.svc.Ticket(context.Background(), b))
}

func (h *harness) advance(d time.Duration) {
	h.clk.Advance(d)
	h.settle()
}

func (h *harness) settle() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(h.t, h.svc.Sync(ctx))
}

// events returns the follow-up events in the outbox, in order.
func (h *harness) events() []normalize.Event {
	recs, err := h.ilog.Pending(100000)
	require.NoError(h.t, err)
	var out []normalize.Event
	for _, r := range recs {
		var ev normalize.Event
		require.NoError(h.t, json.Unmarshal(r.Value, &ev))
		if ev.Type == normalize.EventSurveySent || ev.Type == normalize.EventSurveyAnswered ||
			ev.Type == normalize.EventSurveyExpired || ev.Type == normalize.EventReviewRequested {
			out = append(out, ev)
		}
	}
	return out
}

func types(evs []normalize.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func (h *harness) record(id string) *followup.Record {
	r, ok := h.svc.ForRequest(id)
	require.True(h.t, ok, "no follow-up for %s", id)
	return r
}

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func TestTicketSendsOneSurvey(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []string
		extra    map[string]any
		surveys  int
	}{
		{"resolved", []string{"resolved"}, nil, 1},
		{"closed", []string{"closed"}, nil, 1},
		{"resolved, then closed, then resolved again", []string{"resolved", "closed", "resolved"}, nil, 1},
		{"not finished", []string{"accepted", "answered", "dispatched", "rejected"}, nil, 0},
		{"no_follow_up", []string{"resolved"}, map[string]any{"no_follow_up": true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, defaultConfig())
			id := h.accept(normalize.ChannelWeb, false)
			for _, s := range tc.statuses {
				h.ticket(id, s, tc.extra)
				h.settle()
			}
			require.Len(t, h.sent(), tc.surveys)
			require.Len(t, h.events(), tc.surveys)
			if tc.surveys == 0 {
				if r, ok := h.svc.ForRequest(id); ok {
					require.Equal(t, followup.StateNone, r.State())
					require.True(t, r.NoFollowUp)
				}
				return
			}
			r := h.record(id)
			require.Equal(t, followup.StateSent, r.State())
			require.Equal(t, "https://12345.example.cn/s/"+r.Code, h.sent()[0].URL)
			require.Len(t, r.Code, 22)
			require.Equal(t, "黄浦区", r.District)
			ev := h.events()[0]
			require.Equal(t, normalize.EventSurveySent, ev.Type)
			require.Equal(t, id, ev.EnvelopeID)
			require.NotContains(t, h.logs.String(), r.Code, "a code is a bearer secret")
		})
	}
}

func TestQuietHoursDelaySMSAndWeChat(t *testing.T) {
	for _, tc := range []struct {
		channel string
		quiet   bool
	}{{normalize.ChannelSMS, true}, {normalize.ChannelWechat, true}, {normalize.ChannelWeb, false}, {normalize.ChannelSuishenban, false}} {
		t.Run(tc.channel, func(t *testing.T) {
			h := newHarness(t, defaultConfig())
			h.clk.Set(time.Date(2026, 3, 2, 22, 30, 0, 0, shanghai)) // 22:30 in Shanghai
			id := h.accept(tc.channel, false)
			h.ticket(id, "resolved", nil)
			h.settle()
			if !tc.quiet {
				require.Len(t, h.sent(), 1)
				return
			}
			require.Empty(t, h.sent(), "not during quiet hours")
			h.advance(9*time.Hour + 29*time.Minute) // 07:59
			require.Empty(t, h.sent())
			h.advance(time.Minute) // 08:00
			require.Len(t, h.sent(), 1)
			require.Equal(t, id, h.sent()[0].Envelope)
		})
	}
}

func TestReminderIsASecondFollowUp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		channel   string
		answer    bool
		reminders int
	}{
		{"sms unanswered", normalize.ChannelSMS, false, 1},
		{"sms answered first", normalize.ChannelSMS, true, 0},
		{"partner unanswered", normalize.ChannelYiwangtongban, false, 1},
		{"web: the survey stays on the status answer", normalize.ChannelWeb, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, defaultConfig())
			id := h.accept(tc.channel, false)
			h.ticket(id, "resolved", nil)
			h.settle()
			if tc.answer {
				require.NoError(t, h.svc.Answer(context.Background(), h.record(id).Code, followup.Answer{Resolved: yes(), Rating: followup.RatingSatisfied}))
			}
			h.advance(24 * time.Hour) // 10:00 the next day: not quiet
			h.advance(7 * 24 * time.Hour)
			var reminders int
			for _, s := range h.sent() {
				if s.Reminder {
					reminders++
				}
			}
			require.Equal(t, tc.reminders, reminders)
			require.Equal(t, 1+tc.reminders, h.record(id).Sends)
		})
	}
}

func TestAnswer(t *testing.T) {
	h := newHarness(t, defaultConfig())
	first, repeat := h.accept(normalize.ChannelWeb, false), h.accept(normalize.ChannelWeb, true)
	h.ticket(first, "resolved", map[string]any{"handling_unit": "黄浦区市容绿化局"})
	h.ticket(repeat, "resolved", nil)
	h.settle()
	ctx := context.Background()
	c1, c2 := h.record(first).Code, h.record(repeat).Code

	v, err := h.svc.Lookup(ctx, c1)
	require.NoError(t, err)
	require.Equal(t, followup.StateSent, v.State)

	const comment = "路灯还是不亮"
	require.NoError(t, h.svc.Answer(ctx, c1, followup.Answer{Resolved: no(), Rating: followup.RatingDissatisfied, Comment: comment}))
	require.ErrorIs(t, h.svc.Answer(ctx, c1, followup.Answer{Resolved: yes(), Rating: followup.RatingSatisfied}), followup.ErrAnswered)
	require.NoError(t, h.svc.Answer(ctx, c2, followup.Answer{Resolved: no(), Rating: followup.RatingBasicallySatisfied}))
	for _, bad := range []followup.Answer{{Rating: followup.RatingSatisfied}, {Resolved: yes(), Rating: "great"},
		{Resolved: yes(), Rating: followup.RatingSatisfied, Comment: string(make([]rune, 501))}} {
		require.ErrorIs(t, h.svc.Answer(ctx, c1, bad), followup.ErrInvalid)
	}
	require.ErrorIs(t, h.svc.Answer(ctx, "AAAAAAAAAAAAAAAAAAAAAA", followup.Answer{Resolved: yes(), Rating: followup.RatingSatisfied}), followup.ErrUnknown)
	require.ErrorIs(t, h.svc.Answer(ctx, "short", followup.Answer{Resolved: yes(), Rating: followup.RatingSatisfied}), followup.ErrUnknown)

	evs := h.events()
	require.Equal(t, []string{"survey.sent", "survey.sent", "survey.answered", "review.requested", "survey.answered"}, types(evs))
	a := evs[2]
	require.Equal(t, first, a.EnvelopeID)
	require.Equal(t, map[string]any{"resolved": false, "rating": "dissatisfied", "comment": comment, "comment_length": float64(6),
		"via": "ticket", "reminded": false}, a.Data)
	require.Equal(t, first, evs[3].EnvelopeID, "a first request rated not resolved gets a review; a repeat does not")
	require.Equal(t, "黄浦区市容绿化局", evs[3].Data["handling_unit"])
	r := h.record(first)
	require.True(t, r.ReviewRequested)
	require.Equal(t, followup.StateAnswered, r.State())
	require.False(t, h.record(repeat).ReviewRequested)
	require.NotContains(t, h.logs.String(), comment, "the comment goes to Kafka, never to a log")
	require.Contains(t, h.logs.String(), `"comment_length":6`)
}

func TestExpiry(t *testing.T) {
	h := newHarness(t, defaultConfig())
	answered, unanswered := h.accept(normalize.ChannelSMS, false), h.accept(normalize.ChannelSMS, false)
	h.ticket(answered, "resolved", nil)
	h.ticket(unanswered, "resolved", nil)
	h.settle()
	require.NoError(t, h.svc.Answer(context.Background(), h.record(answered).Code, followup.Answer{Resolved: yes(), Rating: followup.RatingSatisfied}))
	h.advance(7*24*time.Hour - time.Minute)
	v, err := h.svc.Lookup(context.Background(), h.record(unanswered).Code)
	require.NoError(t, err)
	require.Equal(t, followup.StateSent, v.State)
	h.advance(time.Minute)
	h.advance(time.Hour)
	code := h.record(unanswered).Code
	require.ErrorIs(t, h.svc.Answer(context.Background(), code, followup.Answer{Resolved: yes(), Rating: followup.RatingSatisfied}), followup.ErrExpired)
	v, err = h.svc.Lookup(context.Background(), code)
	require.NoError(t, err)
	require.Equal(t, followup.StateExpired, v.State)
	var expired []string
	for _, e := range h.events() {
		if e.Type == normalize.EventSurveyExpired {
			expired = append(expired, e.EnvelopeID)
		}
	}
	require.Equal(t, []string{unanswered}, expired, "one expiry, never for an answered survey")
}

// A channel that refuses a send is tried again with backoff; after five
// refusals the follow-up is failed and nothing more is sent.
func TestRefusedSendsAreRetriedThenGivenUp(t *testing.T) {
	for _, tc := range []struct {
		refusals  int
		wantSends int
		failed    bool
	}{{2, 1, false}, {5, 0, true}} {
		t.Run(fmt.Sprint(tc.refusals), func(t *testing.T) {
			h := newHarness(t, defaultConfig())
			h.fail = tc.refusals
			id := h.accept(normalize.ChannelWeb, false)
			h.ticket(id, "resolved", nil)
			h.settle()
			for range 10 {
				h.advance(30 * time.Minute)
			}
			r := h.record(id)
			require.Equal(t, tc.wantSends, r.Sends)
			require.Equal(t, tc.failed, r.Failed)
			if tc.failed {
				require.Equal(t, followup.StateFailed, r.State())
			}
		})
	}
}

// A crash after the ticket event and before the send is recorded (here: the
// channel never answers, then the process dies) still sends exactly one
// survey after the restart.
func TestCrashBetweenTicketAndSend(t *testing.T) {
	h := newHarness(t, defaultConfig())
	h.block = make(chan struct{}) // the first send hangs
	id := h.accept(normalize.ChannelSMS, false)
	h.ticket(id, "resolved", nil)
	h.clk.Advance(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.svc.Timers().Sync(ctx)) // fired: the send is under way
	h.stop()
	require.Empty(t, h.sent())

	h.block = nil
	h.open()
	h.settle()
	require.Empty(t, h.sent(), "the re-armed send waits its minute")
	h.advance(time.Minute)
	require.Len(t, h.sent(), 1)
	h.advance(time.Hour)
	h.stop()
	h.open()
	h.advance(time.Hour)
	require.Len(t, h.sent(), 1, "exactly one survey")
	require.Equal(t, []string{"survey.sent"}, types(h.events()))
}

func TestChatClosedByAgent(t *testing.T) {
	for _, tc := range []struct {
		channel string
		inChat  bool
	}{{normalize.ChannelWeb, true}, {normalize.ChannelApp, true}, {normalize.ChannelSMS, false}} {
		t.Run(tc.channel, func(t *testing.T) {
			h := newHarness(t, defaultConfig())
			h.clk.Set(time.Date(2026, 3, 2, 23, 0, 0, 0, shanghai)) // the citizen is chatting: no quiet hours
			id := h.accept(tc.channel, false)
			var got *followup.Record
			require.NoError(t, h.db.Update(context.Background(), func(tx *store.Tx) error {
				var err error
				got, err = h.svc.ChatClosedTx(tx, id)
				return err
			}))
			h.settle()
			if tc.inChat {
				require.NotNil(t, got)
				require.Equal(t, followup.ViaChat, got.Via)
				require.Empty(t, h.sent(), "the hub puts it in the chat")
			} else {
				require.Nil(t, got)
				require.Len(t, h.sent(), 1)
			}
			require.Equal(t, []string{"survey.sent"}, types(h.events()))
			// The ticket system finishes the request later: no second survey.
			h.ticket(id, "resolved", map[string]any{"handling_unit": "热线办"})
			h.advance(time.Hour)
			r := h.record(id)
			require.Equal(t, 1, r.Sends)
			require.NotNil(t, r.FinishedAt)
			require.Equal(t, "热线办", r.HandlingUnit)
			require.Equal(t, []string{"survey.sent"}, types(h.events()))
			// A second close of the same request's chat adds nothing.
			require.NoError(t, h.db.Update(context.Background(), func(tx *store.Tx) error {
				got, err := h.svc.ChatClosedTx(tx, id)
				require.Nil(t, got)
				return err
			}))
		})
	}
}

func TestQuietNext(t *testing.T) {
	q := configs.QuietHours{From: 21 * time.Hour, To: 8 * time.Hour, Location: shanghai}
	day := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, shanghai) }
	for _, tc := range []struct{ at, want time.Time }{
		{day(20, 59), day(20, 59)},
		{day(21, 0), time.Date(2026, 3, 3, 8, 0, 0, 0, shanghai)},
		{day(23, 59), time.Date(2026, 3, 3, 8, 0, 0, 0, shanghai)},
		{day(0, 0), day(8, 0)},
		{day(7, 59), day(8, 0)},
		{day(8, 0), day(8, 0)},
	} {
		require.True(t, tc.want.Equal(q.Next(tc.at)), "%s → %s, want %s", tc.at, q.Next(tc.at), tc.want)
	}
	noon := configs.QuietHours{From: 12 * time.Hour, To: 14 * time.Hour, Location: shanghai}
	require.True(t, day(14, 0).Equal(noon.Next(day(12, 30))))
	require.True(t, day(11, 0).Equal(noon.Next(day(11, 0))))
	off := configs.QuietHours{Location: shanghai}
	require.True(t, day(23, 0).Equal(off.Next(day(23, 0))))
}

func TestSMSTextIsOneSegment(t *testing.T) {
	url := "https://12345.sh.gov.cn/s/AAAAAAAAAAAAAAAAAAAAAA"
	for _, reminder := range []bool{false, true} {
		txt := followup.Text(normalize.ChannelSMS, url, reminder)
		require.LessOrEqual(t, len([]rune(txt)), 70)
		require.Contains(t, txt, url)
	}
	long := "https://" + string(make([]byte, followup.MaxBaseURL)) + "/s/AAAAAAAAAAAAAAAAAAAAAA"
	require.Equal(t, long, followup.Text(normalize.ChannelSMS, long, false), "a long link goes alone")
}
