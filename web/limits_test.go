package web

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/chat"
)

// One client opening conversations as fast as it can, over HTTP and over
// hellos, gets the burst and then 429s; the flood ends in bounded time and
// leaves a bounded number of conversations.
func TestConversationFloodIsBounded(t *testing.T) {
	e := newEnv(t, nil)
	const tries = 300
	var created, refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range tries {
		wg.Go(func() {
			resp, err := http.Post(e.srv.URL+"/api/v1/conversations", "application/json", strings.NewReader(`{"service":"support"}`))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusCreated:
				created.Add(1)
			case http.StatusTooManyRequests:
				refused.Add(1)
			default:
				t.Errorf("open: %s", resp.Status)
			}
		})
	}
	wg.Wait()
	// The burst, and at most a token or two refilled while the flood ran.
	if n := created.Load(); n < DefaultConversationBurst || n > DefaultConversationBurst+2 {
		t.Errorf("%d conversations created of %d tries, want about the burst of %d", n, tries, DefaultConversationBurst)
	}
	if created.Load()+refused.Load() != tries {
		t.Errorf("%d created + %d refused != %d", created.Load(), refused.Load(), tries)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("the flood took %v", took)
	}
	// A hello that would open one more is refused too.
	v, _, err := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v.send(map[string]any{"type": "hello", "service": "support"})
	if f := v.next(frameError); f.Code != "rate_limited" {
		t.Errorf("hello past the limit: %q, want rate_limited", f.Code)
	}
	if got := e.web.hub.Live(); int64(got) != created.Load() {
		t.Errorf("%d conversations live, want %d", got, created.Load())
	}
}

// One source address holds at most SocketsPerSource visitor websockets;
// the next upgrade answers 429, and a socket closed frees its slot.
func TestSocketsPerSource(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.SocketsPerSource = 10 })
	var conns []*wsClient
	for i := range 10 {
		c, _, err := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
		if err != nil {
			t.Fatalf("socket %d: %v", i+1, err)
		}
		conns = append(conns, c)
	}
	for range 20 {
		if _, resp, err := dial(t, e.wsURL("/api/v1/visitor/ws"), nil); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("socket past the cap: %v, want 429", err)
		}
	}
	conns[0].conn.Close(websocket.StatusNormalClosure, "")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, _, err := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
		if err == nil {
			c.conn.CloseNow()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed socket did not free its slot")
		}
	}
}

// Visitors from many addresses fill the visitors' share of the budget; the
// agent still connects from the reserved share.
func TestAgentsHaveAReservedShare(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		trustLoopback(c)
		c.MaxConnections, c.AgentConnections = 40, 10
	})
	var refused int
	for i := range 45 {
		h := http.Header{"X-Forwarded-For": {"198.51.100." + itoa(i)}}
		if _, resp, err := dial(t, e.wsURL("/api/v1/visitor/ws"), h); err != nil {
			if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("visitor %d refused with %v, want 503", i, err)
			}
			refused++
		}
	}
	if refused != 15 {
		t.Errorf("%d visitors refused, want 15 (30 fit beside the agents' 10)", refused)
	}
	_, h := e.loginAgent(t, "ann")
	a, _, err := dial(t, e.wsURL("/api/v1/agent/ws"), h)
	if err != nil {
		t.Fatalf("the agent could not connect with visitors at their cap: %v", err)
	}
	a.next(chat.FrameWelcome)
	for i := range DefaultAgentSocketsPerSession - 1 {
		if _, _, err := dial(t, e.wsURL("/api/v1/agent/ws"), h); err != nil {
			t.Fatalf("agent socket %d: %v", i+2, err)
		}
	}
	if _, resp, err := dial(t, e.wsURL("/api/v1/agent/ws"), h); err == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("agent socket past the session's cap: %v, want 429", err)
	}
}

// The sample validation service answers a burst and then 429.
func TestSampleServiceIsRateLimited(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.SampleService = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	})
	var ok, limited int
	for range 50 {
		resp, err := http.Post(e.srv.URL+"/sample/validate", "text/xml", strings.NewReader("<x/>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
		}
	}
	if ok > DefaultSampleBurst+DefaultSampleRate || limited == 0 {
		t.Errorf("%d answered, %d limited of 50 calls; want about the burst of %d answered", ok, limited, DefaultSampleBurst)
	}
}
