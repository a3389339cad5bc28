package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// loadResult is what one client-side request came to.
type loadResult struct {
	key    string // client_request_id
	body   []byte
	status int // 0: no answer (transport error)
	id     string
	err    error // the transport error when status is 0
}

// driveLoad posts web requests with unique client_request_ids from workers
// goroutines until stop is closed, and returns every outcome.
func driveLoad(ctx context.Context, url, prefix string, workers int, stop <-chan struct{}) []loadResult {
	c := gatewaytest.NewClient(workers)
	var mu sync.Mutex
	var out []loadResult
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("%s-%d", prefix, seq.Add(1))
				r := loadResult{key: key, body: gatewaytest.WebRequest(key, "crash test "+key)}
				// Idempotency-Key lets net/http retry a POST on a keep-alive
				// connection the server closed as idle, as browsers do.
				resp, err := c.Do(ctx, http.MethodPost, url, r.body, http.Header{"Idempotency-Key": {key}})
				r.err = err
				if err == nil {
					r.status = resp.Status
					if rc, err := resp.Receipt(); err == nil {
						r.id = rc.ID
					}
				}
				mu.Lock()
				out = append(out, r)
				mu.Unlock()
				if err != nil {
					time.Sleep(2 * time.Millisecond) // the server is gone: don't spin
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// envelopesByKey reads intake.envelopes and maps idempotency key → envelope
// id published under it → its records (more than one: published again).
func envelopesByKey(ctx context.Context, t testing.TB, brokers string) (map[string]map[string]int, int, error) {
	recs, err := gatewaytest.ConsumeE(ctx, gatewaytest.Need(t, "kcat"), brokers, "intake.envelopes")
	if err != nil {
		return nil, 0, err
	}
	out := map[string]map[string]int{}
	for _, r := range recs {
		var env struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.Value, &env); err != nil {
			return nil, 0, err
		}
		k := r.Headers["idempotency-key"]
		if out[k] == nil {
			out[k] = map[string]int{}
		}
		out[k][env.ID]++
	}
	return out, len(recs), nil
}

// requireAllAcknowledgedPublished waits until every request that got a 202
// is in intake.envelopes under its id, and checks that no idempotency key
// was published with two different envelope ids.
func requireAllAcknowledgedPublished(t *testing.T, brokers string, results []loadResult) {
	t.Helper()
	ctx := context.Background()
	var byKey map[string]map[string]int
	gatewaytest.Eventually(t, 60*time.Second, func() error {
		m, n, err := envelopesByKey(ctx, t, brokers)
		if err != nil {
			return err
		}
		missing := 0
		for _, r := range results {
			if r.status == http.StatusAccepted && m["web:"+r.key][r.id] == 0 {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d acknowledged requests not in Kafka yet (%d records read)", missing, n)
		}
		byKey = m
		return nil
	})
	for k, ids := range byKey {
		require.Len(t, ids, 1, "idempotency key %s published with different envelope ids: %v", k, ids)
	}
}

// kill -9 under load: every request that got a 202 is in Kafka after the
// restart, and no idempotency key ever yields two envelope ids, whether the
// client saw the first answer or not.
func TestCrashUnderLoadLosesNothingAcknowledged(t *testing.T) {
	gatewaytest.Need(t, "kcat")
	gw := gatewaytest.Start(t, gatewaytest.Options{Env: []string{
		"GATEWAY_RATE_LIMIT_PER_IP=100000", "GATEWAY_RATE_LIMIT_PER_IP_BURST=100000"}})
	ctx := context.Background()
	url := gw.URL("/v1/channels/web/requests")

	stop := make(chan struct{})
	var results []loadResult
	done := make(chan struct{})
	go func() { results = driveLoad(ctx, url, "crash", 32, stop); close(done) }()
	// Let the load build up, then crash the process in the middle of it.
	gatewaytest.Eventually(t, 30*time.Second, func() error {
		v, err := gatewaytest.Metric(ctx, gw.URL(""), `gateway_requests_total{channel="web",outcome="accepted"}`)
		if err != nil || v < 300 {
			return fmt.Errorf("accepted so far: %v (%v)", v, err)
		}
		return nil
	})
	gw.Kill()
	close(stop)
	<-done

	accepted, unanswered := 0, 0
	for _, r := range results {
		switch r.status {
		case http.StatusAccepted:
			require.NotEmpty(t, r.id)
			accepted++
		case 0:
			unanswered++
		default:
			t.Fatalf("unexpected status %d for %s", r.status, r.key)
		}
	}
	require.GreaterOrEqual(t, accepted, 300)
	t.Logf("before the crash: %d acknowledged, %d without an answer", accepted, unanswered)

	gw.Restart()

	// Clients retry: acknowledged keys get the same id back; keys whose
	// answer was lost get one id, whichever it is, and keep it.
	c := gatewaytest.NewClient(1)
	retried := 0
	for i, r := range results {
		if r.status == http.StatusAccepted && i%10 != 0 {
			continue
		}
		resp, err := c.PostJSON(ctx, url, r.body)
		require.NoError(t, err)
		rc, err := resp.Receipt()
		require.NoError(t, err)
		if r.status == http.StatusAccepted {
			require.Equal(t, r.id, rc.ID, "key %s answered with a new id after the restart", r.key)
		} else {
			results[i].status, results[i].id = http.StatusAccepted, rc.ID
		}
		retried++
	}
	t.Logf("re-sent %d keys after the restart", retried)
	requireAllAcknowledgedPublished(t, gw.KafkaAddr, results)
}
