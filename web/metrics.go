package web

import (
	"crypto/subtle"
	"net/http"
	"runtime/metrics"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// runtimeGauges are runtime figures /metrics reports under the names the
// load tool and dashboards read; the Go collector adds go_goroutines and
// the rest of the runtime.
var runtimeGauges = []struct{ runtime, name, help string }{
	{"/gc/heap/live:bytes", "go_heap_live_bytes", "Heap memory still reachable at the last garbage collection."},
	{"/memory/classes/heap/stacks:bytes", "go_stack_bytes", "Memory of goroutine stacks."},
	{"/memory/classes/total:bytes", "go_memory_total_bytes", "All memory mapped by the Go runtime."},
}

// registerMetrics puts the server's metrics on reg: counts and sizes only,
// never a conversation id, a login or a text. A new metric is one line
// here (or a collector its own package registers on the same registry).
func (s *Server) registerMetrics(reg *prometheus.Registry) error {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gauge("gateway_websockets_open", "Open websockets, visitor and agent.", func() float64 { return float64(max(s.conns.Load(), 0)) }),
		gauge("gateway_conversations_live", "Conversations not ended, in memory.", func() float64 { return float64(s.hub.Live()) }),
		counter("gateway_store_commits_total", "Store transactions committed (with durability power_loss, one fsync each).",
			func() float64 { return float64(s.hub.StoreStats().Commits) }),
		counter("gateway_store_writes_total", "Store writes committed; writes per commit is the group-commit batch size.",
			func() float64 { return float64(s.hub.StoreStats().Writes) }),
	}
	for _, g := range runtimeGauges {
		cs = append(cs, gauge(g.name, g.help, func() float64 {
			sample := []metrics.Sample{{Name: g.runtime}}
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return 0
			}
			return float64(sample[0].Value.Uint64())
		}))
	}
	cs = append(cs, redactionCollector{s})
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// metricsHandler serves GET /metrics in the Prometheus text format.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	redactionsDesc = prometheus.NewDesc("gateway_redactions_total",
		"Matches masked, by the rule that found them (card, security_code, card_prefix, expr:N), on every channel.", []string{"rule"}, nil)
	redactionFailuresDesc = prometheus.NewDesc("gateway_redaction_failures_total",
		"Texts that could not be redacted and were withheld or masked whole.", nil, nil)
)

// redactionCollector reports the engine's per-rule counts.
type redactionCollector struct{ s *Server }

// Describe implements prometheus.Collector.
func (redactionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- redactionsDesc
	ch <- redactionFailuresDesc
}

// Collect implements prometheus.Collector.
func (c redactionCollector) Collect(ch chan<- prometheus.Metric) {
	rules, failed := c.s.hub.RedactionCounts()
	for _, r := range rules {
		ch <- prometheus.MustNewConstMetric(redactionsDesc, prometheus.CounterValue, float64(r.Count), r.Rule)
	}
	ch <- prometheus.MustNewConstMetric(redactionFailuresDesc, prometheus.CounterValue, float64(failed))
}

// MetricsHandler serves the Prometheus text format of the server's
// registry, for a listener of its own (loopback by default).
func (s *Server) MetricsHandler() http.Handler { return metricsHandler(s.cfg.Metrics) }

// publicMetrics serves /metrics on the public handler: only with the
// bearer token, if one is configured; else it does not exist here.
func (s *Server) publicMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.MetricsToken == "" {
		http.NotFound(w, r)
		return
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.MetricsToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
		writeError(w, http.StatusUnauthorized, "unauthenticated", "metrics need the bearer token")
		return
	}
	metricsHandler(s.cfg.Metrics).ServeHTTP(w, r)
}
