package delivery_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/connectors/webhooks/delivery"
	"github.com/hotline12345/gateway/connectors/webhooks/stdwebhook"
	"github.com/hotline12345/gateway/intake/lease"
	"github.com/hotline12345/gateway/intake/store"
	"github.com/hotline12345/gateway/internal/clock"
)

// wait bounds every wait for something the test set in motion.
const wait = 10 * time.Second

// newClock is a fake clock; in auto mode every timer jumps the clock to its
// deadline at once, so that a whole retry schedule runs in milliseconds.
func newClock(auto bool) *clock.Fake {
	c := clock.NewFake(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
	c.Auto(auto)
	return c
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func mustSecret(t testing.TB, s string) stdwebhook.Secret {
	t.Helper()
	sec, err := stdwebhook.ParseSecret(s)
	require.NoError(t, err)
	return sec
}

func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, store.Options{}, delivery.Buckets...)
	require.NoError(t, err)
	return db
}

func tempDB(t *testing.T) *store.DB {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "q.db"))
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newQueue(t *testing.T, db *store.DB, clk *clock.Fake, mod ...func(*delivery.Options)) *delivery.Queue {
	t.Helper()
	opts := delivery.Options{
		AllowHosts: []string{"127.0.0.1"},
		Secrets:    map[string][]stdwebhook.Secret{"suishenban": {mustSecret(t, testSecret)}},
		Clock:      clk,
		Rand:       func() float64 { return 0.5 }, // no jitter: exact delays
		Workers:    2,
	}
	for _, m := range mod {
		m(&opts)
	}
	return delivery.New(db, opts)
}

// run starts q.Run and returns a stop function that waits for it.
func run(t *testing.T, q *delivery.Queue) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, lease.Fence{}) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// hit is one request a stub received.
type hit struct {
	ID, TS, Sig string
	Body        string
	VerifyErr   error
}

// stub is a partner's callback endpoint: it verifies each request with the
// partner's secrets and answers with the scripted statuses (the last one
// repeats).
type stub struct {
	*httptest.Server
	mu       sync.Mutex
	hits     []hit
	statuses []int
	header   http.Header // added to non-2xx answers
	answer   func(h hit, n int) int
}

func newStub(t *testing.T, clk *clock.Fake, secrets []stdwebhook.Secret, statuses ...int) *stub {
	t.Helper()
	s := &stub{statuses: statuses}
	v := &stdwebhook.Verifier{Secrets: secrets, Clock: clk}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := hit{ID: r.Header.Get("webhook-id"), TS: r.Header.Get("webhook-timestamp"),
			Sig: r.Header.Get("webhook-signature"), Body: string(body), VerifyErr: v.Verify(r.Header, body)}
		s.mu.Lock()
		n := len(s.hits)
		s.hits = append(s.hits, h)
		code := http.StatusOK
		switch {
		case s.answer != nil:
			code = s.answer(h, n)
		case len(s.statuses) > 0:
			code = s.statuses[min(n, len(s.statuses)-1)]
		}
		hdr := s.header
		s.mu.Unlock()
		if code >= 300 {
			for k, vs := range hdr {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *stub) Hits() []hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hit(nil), s.hits...)
}

func tsOf(t *testing.T, h hit) int64 {
	t.Helper()
	n, err := strconv.ParseInt(h.TS, 10, 64)
	require.NoError(t, err)
	return n
}

func msg(url, requestKey, body string) delivery.Message {
	return delivery.Message{Endpoint: "suishenban", URL: url, RequestKey: requestKey,
		Type: delivery.TypeStatus, Payload: []byte(body)}
}

func pendingCount(t *testing.T, q *delivery.Queue) int {
	t.Helper()
	p, err := q.Pending("", 1000)
	require.NoError(t, err)
	return len(p)
}

func deadCount(t *testing.T, q *delivery.Queue) int {
	t.Helper()
	d, err := q.Dead("", 1000)
	require.NoError(t, err)
	return len(d)
}
