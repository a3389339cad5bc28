package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline12345/gateway/gateway"
	"github.com/hotline12345/gateway/gateway/gatewaytest"
)

// BenchmarkWebIntake is the whole intake path in one process, without the
// network: router, middleware, decoding, validation, the durable (fsync'ed,
// group-committed) intake log, and the relay publishing to the embedded
// broker in the background. Profile it with
//
//	go test -run '^$' -bench WebIntake -cpuprofile cpu.out ./gateway/
func BenchmarkWebIntake(b *testing.B) {
	b.Run("parallel", func(b *testing.B) { benchWebIntake(b, 64) })
	b.Run("lone", func(b *testing.B) { benchWebIntake(b, 0) })
}

// benchWebIntake posts from parallelism×GOMAXPROCS goroutines, or from one
// goroutine, one request at a time, when parallelism is 0.
func benchWebIntake(b *testing.B, parallelism int) {
	cfg := gatewaytest.Config(b)
	cfg.RateLimit.PerIP, cfg.RateLimit.PerIPBurst = 1e9, 1e9
	g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	}()
	h := g.Echo()
	db := g.Intake().DB()
	st0 := db.Stats()
	var seq atomic.Int64
	text := strings.Repeat("路灯不亮 street light out. ", 10)
	post := func() {
		body := fmt.Sprintf(`{"client_request_id":"b-%d","kind":"complaint","text":%q}`, seq.Add(1), text)
		r := httptest.NewRequest(http.MethodPost, "/v1/channels/web/requests", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if parallelism == 0 {
		for range b.N {
			post()
		}
	} else {
		b.SetParallelism(parallelism)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				post()
			}
		})
	}
	b.StopTimer()
	st := db.Stats()
	commits, writes := st.Commits-st0.Commits, st.Writes-st0.Writes
	if commits > 0 {
		b.ReportMetric(float64(writes)/float64(commits), "writes/fsync")
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(commits) / 1000 }
		b.ReportMetric(per(st.CommitTime-st0.CommitTime), "ms/commit")
		b.ReportMetric(per(st.WriteTime-st0.WriteTime), "ms-write+fsync/commit")
		b.ReportMetric(per(st.SpillTime-st0.SpillTime), "ms-spill/commit")
		b.ReportMetric(float64(st.PagesWritten-st0.PagesWritten)/float64(writes), "pages/write")
	}
	d, _ := g.Intake().Depth()
	b.ReportMetric(float64(d), "depth_at_end")
}
