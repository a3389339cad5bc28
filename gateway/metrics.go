package gateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/hotline12345/gateway/internal/buildinfo"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hotline12345/gateway/intake/intakelog"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(g *Gateway) *metrics {
	reg := prometheus.NewRegistry()
	bi := buildinfo.Read()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gateway_build_info",
		Help: "The running build: 1, labelled with its version, commit and Go version."}, []string{"version", "revision", "goversion"})
	build.WithLabelValues(bi.Version, bi.Revision, bi.GoVersion).Set(1)
	reg.MustRegister(build)
	m := &metrics{reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gateway_requests_total",
			Help: "Intake requests by channel and outcome (accepted, duplicate, rejected, error)."}, []string{"channel", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gateway_intake_seconds",
			Help:    "Time from request to answer on intake endpoints, including the fsync.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}}, []string{"channel"}),
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_intake_log_depth", Help: "Records waiting in the intake log for the relay."},
			func() float64 { d, _ := g.intake.Depth(); return float64(d) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gateway_relay_lag_seconds", Help: "Age of the oldest record not yet in Kafka."},
			func() float64 { return g.relay.Stats().Lag.Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_relay_published_total", Help: "Records published to Kafka."},
			func() float64 { return float64(g.relay.Stats().Published) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_relay_errors_total", Help: "Failed attempts to publish to Kafka."},
			func() float64 { return float64(g.relay.Stats().Errors) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_store_fsyncs_total", Help: "Group commits (one fsync each)."},
			func() float64 { return float64(g.db.Stats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_store_writes_total", Help: "Writes committed to the store."},
			func() float64 { return float64(g.db.Stats().Writes) }),
		g.commitSeconds,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_store_pages_written_total", Help: "4 KiB pages the store wrote (what its disk has to absorb)."},
			func() float64 { return float64(g.db.Stats().PagesWritten) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_store_conflicts_total",
			Help: "Group commits rerun because PostgreSQL could not serialize them with other nodes' (cluster mode; a steady rise means contention)."},
			func() float64 { return float64(g.db.Stats().Conflicts) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gateway_store_unavailable_total",
			Help: "Attempts that found no read-write PostgreSQL server (cluster mode: a failover, a network fault)."},
			func() float64 { return float64(g.db.Stats().Unavailable) }),
	)
	return m
}

// newCommitHistogram is gateway_store_commit_seconds: every answer and every
// chat delivery waits for a commit, so a disk whose fsyncs stall shows here
// before anywhere else.
func newCommitHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gateway_store_commit_seconds",
		Help:    "Duration of each group commit of the store: the transaction, its page writes and fsyncs.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}})
}

// Register adds a component's collectors.
func (g *Gateway) Register(cs ...prometheus.Collector) { g.metrics.reg.MustRegister(cs...) }

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observe counts intake requests by channel and outcome.
func (g *Gateway) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		path := c.Path()
		rest, ok := strings.CutPrefix(path, "/v1/channels/")
		if !ok {
			return next(c)
		}
		channel, _, _ := strings.Cut(rest, "/")
		channel = strings.ReplaceAll(channel, "-", "_")
		if channel == "wechat" {
			channel = "wechat_miniprogram"
		}
		start := time.Now()
		ctx, duplicate := intakelog.WithDuplicateMark(c.Request().Context())
		c.SetRequest(c.Request().WithContext(ctx))
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		outcome := "accepted"
		switch {
		case status >= 500:
			outcome = "error"
		case status >= 400:
			outcome = "rejected"
		case *duplicate:
			outcome = "duplicate"
		}
		m := g.metrics
		m.requests.WithLabelValues(channel, outcome).Inc()
		m.latency.WithLabelValues(channel).Observe(time.Since(start).Seconds())
		return nil
	}
}
