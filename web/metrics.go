package web

import (
	"fmt"
	"net/http"
	"runtime/metrics"
)

// metricSamples are the runtime figures /metrics reports.
var metricSamples = []struct{ runtime, name, help string }{
	{"/gc/heap/live:bytes", "go_heap_live_bytes", "Heap memory still reachable at the last garbage collection."},
	{"/memory/classes/heap/stacks:bytes", "go_stack_bytes", "Memory of goroutine stacks."},
	{"/memory/classes/total:bytes", "go_memory_total_bytes", "All memory mapped by the Go runtime."},
	{"/sched/goroutines:goroutines", "go_goroutines", "Goroutines."},
}

// metrics serves GET /metrics in the Prometheus text format: counts and
// sizes only, never a conversation id or a text.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	samples := make([]metrics.Sample, len(metricSamples))
	for i, m := range metricSamples {
		samples[i].Name = m.runtime
	}
	metrics.Read(samples)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	gauge := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	gauge("gateway_websockets_open", "Open websockets, visitor and agent.", uint64(max(s.conns.Load(), 0)))
	gauge("gateway_conversations_live", "Conversations not ended, in memory.", uint64(s.hub.Live()))
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	st := s.hub.StoreStats()
	counter("gateway_store_commits_total", "Store transactions committed (with durability power_loss, one fsync each).", st.Commits)
	counter("gateway_store_writes_total", "Store writes committed; writes per commit is the group-commit batch size.", st.Writes)
	for i, m := range metricSamples {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			gauge(m.name, m.help, samples[i].Value.Uint64())
		}
	}
}
