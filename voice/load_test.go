package voice

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/secure"
)

// latencyObserver records, per session, when each progress report arrived.
type latencyObserver struct {
	mu   sync.Mutex
	sent map[string][]time.Time // session → when each key's first packet was sent
	lat  []time.Duration
}

func (o *latencyObserver) Progress(s SessionInfo, p Progress) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if sent := o.sent[s.ID]; p.Digits > 0 && p.Digits <= len(sent) {
		o.lat = append(o.lat, now.Sub(sent[p.Digits-1]))
	}
}

func (o *latencyObserver) Ended(SessionInfo) {}

func (o *latencyObserver) Started(SessionInfo)    {}
func (o *latencyObserver) Collecting(SessionInfo) {}

// BenchmarkConcurrentSessions runs 1,000 agent-assisted secure sessions at
// once on loopback, each fed RTP at 50 packets/s (a key press every 100 ms,
// five packets each), and reports the latency from a key's first packet to
// the progress report the agent's console gets, and memory per session.
func BenchmarkConcurrentSessions(b *testing.B) {
	const sessions = 1000
	const keys = "4111111111111111"
	obs := &latencyObserver{sent: map[string][]time.Time{}}
	m := NewManager(ManagerConfig{Pipeline: secure.NewPipeline(secure.PipelineConfig{}), Observer: obs, MaxSessions: sessions,
		Prompting: Prompting{FirstDigit: time.Minute, InterDigit: time.Minute}})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	type leg struct {
		id   string
		conn *net.UDPConn
		dst  *net.UDPAddr
	}
	legs := make([]leg, sessions)
	ctx := context.Background()
	fields := []secure.Field{{ID: "card_number", Kind: secure.KindCardNumber}, {ID: "cvv", Kind: secure.KindSecurityCode}}
	for i := range legs {
		call := fmt.Sprintf("call-%d", i)
		m.RegisterCall(Call{ID: call, Agent: "ann", Parties: 2})
		s, err := m.Begin(ctx, BeginOptions{Call: call, Agent: "ann", Mode: ModeAssisted, Form: "f", Fields: fields, AgentValues: nil, Now: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		port, err := m.OpenRTP(s.ID, "127.0.0.1:0", conn.LocalAddr().(*net.UDPAddr), pt)
		if err != nil {
			b.Fatal(err)
		}
		defer port.Close()
		legs[i] = leg{s.ID, conn, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port.Port()}}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, l := range legs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq, ts := uint16(1), uint32(1000)
			// Spread the sessions over the first 100 ms.
			time.Sleep(time.Duration(i) * 100 * time.Millisecond / sessions)
			tick := time.NewTicker(20 * time.Millisecond) // 50 packets/s
			defer tick.Stop()
			for k := 0; k < len(keys); k++ {
				ev := keys[k] - '0'
				for p := 0; p < 5; p++ {
					<-tick.C
					if p == 0 {
						obs.mu.Lock()
						obs.sent[l.id] = append(obs.sent[l.id], time.Now())
						obs.mu.Unlock()
					}
					pkt := eventPacket(seq, ts, ev, p >= 2, uint16(160*(p+1)))
					seq++
					l.conn.WriteToUDP(pkt, l.dst)
				}
				ts += 800
			}
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
	elapsed := time.Since(start)
	b.StopTimer()
	obs.mu.Lock()
	lat := slices.Clone(obs.lat)
	obs.mu.Unlock()
	slices.Sort(lat)
	want := sessions * len(keys)
	if len(lat) < want*99/100 {
		b.Errorf("%d of %d digits reached the console", len(lat), want)
	}
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	}
	b.ReportMetric(float64(sessions*len(keys)*5)/elapsed.Seconds(), "packets/s")
	b.ReportMetric(float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse)/sessions/1024, "KiB/session")
	b.ReportMetric(float64(len(lat)), "digits")
}
