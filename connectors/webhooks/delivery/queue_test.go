package delivery_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/connectors/webhooks/safehttp"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
)

func TestRetrySameIDFreshSignature(t *testing.T) {
	clk := newClock(true)
	db := tempDB(t)
	q := newQueue(t, db, clk)
	partner := newStub(t, clk, []stdwebhook.Secret{mustSecret(t, testSecret)}, 500, 500, 200)
	require.NoError(t, q.Enqueue(context.Background(), msg(partner.URL, "env-1", `{"type":"request.status"}`)))
	run(t, q)

	require.Eventually(t, func() bool {
		return len(partner.Hits()) == 3 && pendingCount(t, q) == 0
	}, wait, 5*time.Millisecond, "three attempts and an empty queue")
	hits := partner.Hits()
	for i, h := range hits {
		require.NoError(t, h.VerifyErr, "attempt %d must verify", i)
		require.Equal(t, hits[0].ID, h.ID, "webhook-id is stable across retries")
		require.Equal(t, `{"type":"request.status"}`, h.Body)
	}
	require.True(t, strings.HasPrefix(hits[0].ID, "msg_"))
	// Fresh timestamps on the schedule (jitter off): +5 s, then +5 min.
	require.Equal(t, int64(5), tsOf(t, hits[1])-tsOf(t, hits[0]))
	require.Equal(t, int64(300), tsOf(t, hits[2])-tsOf(t, hits[1]))
	require.NotEqual(t, hits[0].Sig, hits[1].Sig)
	require.Zero(t, deadCount(t, q))
}

func TestRetryAfterHonoured(t *testing.T) {
	clk := newClock(true)
	q := newQueue(t, tempDB(t), clk)
	partner := newStub(t, clk, []stdwebhook.Secret{mustSecret(t, testSecret)}, 503, 200)
	partner.header = http.Header{"Retry-After": {"3600"}}
	require.NoError(t, q.Enqueue(context.Background(), msg(partner.URL, "env-1", `{}`)))
	run(t, q)
	require.Eventually(t, func() bool { return len(partner.Hits()) == 2 && pendingCount(t, q) == 0 }, wait, 5*time.Millisecond, "delivered")
	hits := partner.Hits()
	require.Equal(t, int64(3600), tsOf(t, hits[1])-tsOf(t, hits[0]), "Retry-After beats the 5 s step")
}

func TestGoneDisablesEndpoint(t *testing.T) {
	clk := newClock(true)
	q := newQueue(t, tempDB(t), clk)
	partner := newStub(t, clk, []stdwebhook.Secret{mustSecret(t, testSecret)}, 410, 200)
	ctx := context.Background()
	require.NoError(t, q.Enqueue(ctx, msg(partner.URL, "env-1", `{"n":1}`)))
	run(t, q)
	require.Eventually(t, func() bool { return deadCount(t, q) == 1 }, wait, 5*time.Millisecond, "dead-lettered")
	require.Len(t, partner.Hits(), 1, "a 410 is not retried")

	eps, err := q.Endpoints()
	require.NoError(t, err)
	require.Len(t, eps, 1)
	require.True(t, eps[0].Disabled)
	require.Contains(t, eps[0].Reason, "410")

	// Disabled (persisted): the next message goes straight to the dead letters.
	require.NoError(t, q.Enqueue(ctx, msg(partner.URL, "env-2", `{"n":2}`)))
	require.Equal(t, 2, deadCount(t, q))
	require.Zero(t, pendingCount(t, q))
	dead, err := q.Dead("suishenban", 10)
	require.NoError(t, err)
	require.Contains(t, dead[0].Reason, "410")
	require.Contains(t, dead[1].Reason, "disabled")

	// Replay is refused while disabled; after Enable it is delivered.
	_, err = q.Replay(ctx, dead[1].ID)
	require.ErrorIs(t, err, delivery.ErrEndpointDisabled)
	_, err = q.Enable(ctx, "suishenban")
	require.NoError(t, err)
	_, err = q.Replay(ctx, dead[1].ID)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(partner.Hits()) == 2 && pendingCount(t, q) == 0 }, wait, 5*time.Millisecond, "replayed")
	require.Equal(t, dead[1].ID, partner.Hits()[1].ID)
	require.Equal(t, `{"n":2}`, partner.Hits()[1].Body)
}

func TestRedirectNotFollowed(t *testing.T) {
	clk := newClock(false)
	q := newQueue(t, tempDB(t), clk)
	elsewhere := newStub(t, clk, nil, 200)
	partner := newStub(t, clk, []stdwebhook.Secret{mustSecret(t, testSecret)}, 302, 200)
	partner.header = http.Header{"Location": {elsewhere.URL}}
	require.NoError(t, q.Enqueue(context.Background(), msg(partner.URL, "env-1", `{}`)))
	run(t, q)

	require.Eventually(t, func() bool {
		p, err := q.Pending("", 10)
		return err == nil && len(p) == 1 && p[0].Attempts == 1
	}, wait, 5*time.Millisecond, "first attempt recorded")
	p, err := q.Pending("", 10)
	require.NoError(t, err)
	require.Equal(t, 302, p[0].LastStatus)
	require.Contains(t, p[0].LastError, "redirect not followed")
	require.Equal(t, clk.Now().Add(5*time.Second), p[0].NextAt)
	require.Empty(t, elsewhere.Hits())

	clk.Advance(5 * time.Second)
	require.Eventually(t, func() bool { return pendingCount(t, q) == 0 }, wait, 5*time.Millisecond, "delivered on retry")
	require.Len(t, partner.Hits(), 2)
	require.Empty(t, elsewhere.Hits(), "the redirect target is never contacted")
}

// resolver maps names to addresses, as a DNS answer an attacker controls.
type resolver map[string]string

func (r resolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := r[host]; ok {
		return []net.IPAddr{{IP: net.ParseIP(a)}}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestMetadataAddressRefused(t *testing.T) {
	clk := newClock(true)
	q := newQueue(t, tempDB(t), clk, func(o *delivery.Options) {
		o.Resolver = resolver{"callback.partner.example": "169.254.169.254"}
	})
	ctx := context.Background()

	// A literal metadata address is refused at enqueue.
	err := q.Enqueue(ctx, msg("http://169.254.169.254/latest/meta-data", "env-1", `{}`))
	require.ErrorIs(t, err, delivery.ErrInvalidMessage)
	require.ErrorIs(t, err, safehttp.ErrForbiddenAddress)

	// A name resolving to it is refused at connect time and dead-lettered at
	// once: retrying cannot help.
	require.NoError(t, q.Enqueue(ctx, msg("http://callback.partner.example/hook", "env-2", `{}`)))
	run(t, q)
	require.Eventually(t, func() bool { return deadCount(t, q) == 1 }, wait, 5*time.Millisecond, "dead-lettered")
	dead, err := q.Dead("", 10)
	require.NoError(t, err)
	require.Contains(t, dead[0].Reason, "forbidden destination")
	require.Contains(t, dead[0].Reason, "cloud metadata")
	require.Equal(t, 1, dead[0].Attempts)
}

func TestOrderPerRequestIndependentAcrossRequests(t *testing.T) {
	clk := newClock(false)
	q := newQueue(t, tempDB(t), clk)
	partner := newStub(t, clk, []stdwebhook.Secret{mustSecret(t, testSecret)})
	failedA1 := false
	partner.answer = func(h hit, _ int) int {
		if h.Body == `{"m":"A1"}` && !failedA1 {
			failedA1 = true
			return 500
		}
		return 200
	}
	ctx := context.Background()
	require.NoError(t, q.Enqueue(ctx, msg(partner.URL, "A", `{"m":"A1"}`)))
	require.NoError(t, q.Enqueue(ctx, msg(partner.URL, "A", `{"m":"A2"}`)))
	require.NoError(t, q.Enqueue(ctx, msg(partner.URL, "B", `{"m":"B1"}`)))
	run(t, q)

	require.Eventually(t, func() bool {
		p, err := q.Pending("", 10)
		return err == nil && len(p) == 2 && p[0].Attempts == 1 && len(partner.Hits()) == 2
	}, wait, 5*time.Millisecond, "A1 failed once, B1 delivered")
	bodies := func() []string {
		var out []string
		for _, h := range partner.Hits() {
			out = append(out, h.Body)
		}
		return out
	}
	require.ElementsMatch(t, []string{`{"m":"A1"}`, `{"m":"B1"}`}, bodies(), "A2 waits behind A1; B is independent")

	clk.Advance(5 * time.Second)
	require.Eventually(t, func() bool { return pendingCount(t, q) == 0 }, wait, 5*time.Millisecond, "all delivered")
	got := bodies()
	require.Len(t, got, 4)
	require.Equal(t, []string{`{"m":"A1"}`, `{"m":"A2"}`}, got[2:], "A1 then A2")
}

func TestResumeAfterRestart(t *testing.T) {
	clk := newClock(false)
	path := filepath.Join(t.TempDir(), "q.db")
	db := openDB(t, path)
	partner := newStub(t, clk, []stdwebhook.Secret{mustSecret(t, testSecret)}, 500, 200)
	q := newQueue(t, db, clk)
	ctx := context.Background()
	require.NoError(t, q.Enqueue(ctx, msg(partner.URL, "env-1", `{"m":1}`)))
	require.NoError(t, q.Enqueue(ctx, msg(partner.URL, "env-1", `{"m":2}`)))
	stop := run(t, q)
	require.Eventually(t, func() bool {
		p, err := q.Pending("", 10)
		return err == nil && len(p) == 2 && p[0].Attempts == 1
	}, wait, 5*time.Millisecond, "first attempt failed and recorded")
	// Kill between attempts: stop the queue, close the store.
	stop()
	require.NoError(t, db.Close())
	require.Len(t, partner.Hits(), 1)

	db2 := openDB(t, path)
	t.Cleanup(func() { _ = db2.Close() })
	q2 := newQueue(t, db2, clk)
	p, err := q2.Pending("", 10)
	require.NoError(t, err)
	require.Len(t, p, 2)
	require.Equal(t, 1, p[0].Attempts, "the attempt count survived the restart")
	clk.Advance(5 * time.Second) // before Run: the first scan finds the retry due
	run(t, q2)
	require.Eventually(t, func() bool { return pendingCount(t, q2) == 0 }, wait, 5*time.Millisecond, "resumed and delivered")
	hits := partner.Hits()
	require.Len(t, hits, 3)
	require.Equal(t, []string{`{"m":1}`, `{"m":1}`, `{"m":2}`}, []string{hits[0].Body, hits[1].Body, hits[2].Body})
	require.Equal(t, hits[0].ID, hits[1].ID)
	require.NotEqual(t, hits[1].ID, hits[2].ID)
	for _, h := range hits {
		require.NoError(t, h.VerifyErr)
	}
}

func TestRotationSignsWithEverySecret(t *testing.T) {
	clk := newClock(true)
	oldS := mustSecret(t, testSecret)
	newS := mustSecret(t, "whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24=")
	q := newQueue(t, tempDB(t), clk, func(o *delivery.Options) { o.Secrets = nil })
	require.NoError(t, q.Register("suishenban", newS, oldS))
	onlyOld := newStub(t, clk, []stdwebhook.Secret{oldS}, 200)
	onlyNew := newStub(t, clk, []stdwebhook.Secret{newS}, 200)
	ctx := context.Background()
	require.NoError(t, q.Enqueue(ctx, msg(onlyOld.URL, "a", `{}`)))
	require.NoError(t, q.Enqueue(ctx, msg(onlyNew.URL, "b", `{}`)))
	run(t, q)
	require.Eventually(t, func() bool { return len(onlyOld.Hits()) == 1 && len(onlyNew.Hits()) == 1 }, wait, 5*time.Millisecond, "both delivered")
	require.NoError(t, onlyOld.Hits()[0].VerifyErr)
	require.NoError(t, onlyNew.Hits()[0].VerifyErr)
	require.Len(t, strings.Fields(onlyOld.Hits()[0].Sig), 2)
}

func TestEnqueueValidation(t *testing.T) {
	q := newQueue(t, tempDB(t), newClock(false))
	ok := msg("https://partner.example/hook", "env-1", `{}`)
	cases := []struct {
		name string
		mod  func(m *delivery.Message)
		want error
	}{
		{"no endpoint", func(m *delivery.Message) { m.Endpoint = "" }, delivery.ErrInvalidMessage},
		{"NUL in request key", func(m *delivery.Message) { m.RequestKey = "a\x00b" }, delivery.ErrInvalidMessage},
		{"no request key", func(m *delivery.Message) { m.RequestKey = "" }, delivery.ErrInvalidMessage},
		{"no type", func(m *delivery.Message) { m.Type = "" }, delivery.ErrInvalidMessage},
		{"payload not JSON", func(m *delivery.Message) { m.Payload = []byte("{") }, delivery.ErrInvalidMessage},
		{"ftp URL", func(m *delivery.Message) { m.URL = "ftp://partner.example/" }, safehttp.ErrBadURL},
		{"loopback URL", func(m *delivery.Message) { m.URL = "http://localhost:9/" }, safehttp.ErrForbiddenAddress},
		{"unknown endpoint", func(m *delivery.Message) { m.Endpoint = "nobody" }, delivery.ErrUnknownEndpoint},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			tc.mod(&m)
			require.ErrorIs(t, q.Enqueue(context.Background(), m), tc.want)
		})
	}
	require.NoError(t, q.Enqueue(context.Background(), ok))
}

func TestRunTwiceRefused(t *testing.T) {
	q := newQueue(t, tempDB(t), newClock(false))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- q.Run(ctx, lease.Fence{}) }()
	}
	select {
	case err := <-errs:
		require.ErrorIs(t, err, delivery.ErrRunning, "one of two concurrent Runs is refused")
	case <-time.After(10 * time.Second):
		t.Fatal("neither Run was refused")
	}
	cancel()
	require.NoError(t, <-errs)
}

func TestEntryJSON(t *testing.T) {
	clk := newClock(false)
	q := newQueue(t, tempDB(t), clk)
	require.NoError(t, q.Enqueue(context.Background(), msg("https://partner.example/hook", "env-1", `{"a": 1}`)))
	p, err := q.Pending("", 1)
	require.NoError(t, err)
	raw, err := json.Marshal(p[0])
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, map[string]any{"a": float64(1)}, back["payload"], "payload is shown as JSON, not base64")
	require.Equal(t, clk.Now().Format(time.RFC3339), back["next_attempt_at"])
}

// BenchmarkEnqueueWithBacklog measures Enqueue (fsync off) while a partner
// outage left thousands of requests waiting.
func BenchmarkEnqueueWithBacklog(b *testing.B) {
	db, err := store.Open(filepath.Join(b.TempDir(), "q.db"), store.Options{NoSync: true}, delivery.Buckets...)
	require.NoError(b, err)
	defer db.Close()
	clk := newClock(false)
	q := delivery.New(db, delivery.Options{
		Secrets: map[string][]stdwebhook.Secret{"suishenban": {mustSecret(b, testSecret)}},
		Clock:   clk,
	})
	ctx := context.Background()
	payload := []byte(`{"type":"request.status","timestamp":"2025-03-01T08:00:00Z","data":{"id":"0195","request_id":"SSB-1","status":"dispatched","at":"2025-03-01T08:00:00Z"}}`)
	for i := range 5000 {
		require.NoError(b, q.Enqueue(ctx, delivery.Message{Endpoint: "suishenban", URL: "https://p.example/cb",
			RequestKey: "backlog-" + strconv.Itoa(i), Type: delivery.TypeStatus, Payload: payload}))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := q.Enqueue(ctx, delivery.Message{Endpoint: "suishenban", URL: "https://p.example/cb",
			RequestKey: "new-" + strconv.Itoa(i), Type: delivery.TypeStatus, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
}
