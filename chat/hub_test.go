package chat

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

// *store.Store is the Log the gateway gives the Hub.
var _ Log = (*store.Store)(nil)

// recorder is a Sink that keeps what it gets.
type recorder struct {
	mu     sync.Mutex
	frames []Frame
}

func (r *recorder) Deliver(f Frame) {
	r.mu.Lock()
	r.frames = append(r.frames, f)
	r.mu.Unlock()
}

func (r *recorder) all() []Frame {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Frame(nil), r.frames...)
}

func (r *recorder) last(typ string) (Frame, bool) {
	fs := r.all()
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].Type == typ {
			return fs[i], true
		}
	}
	return Frame{}, false
}

type fixture struct {
	hub   *Hub
	store *store.Store
	path  string
	clock *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testServices = []Service{{Name: "support", Workgroup: "support"}, {Name: "sales", Workgroup: "sales"}}

var testAgents = []Agent{
	{Login: "ann", Name: "Ann", Workgroups: []string{"support"}},
	{Login: "bob", Name: "Bob", Workgroups: []string{"support"}},
	{Login: "sam", Name: "Sam", Workgroups: []string{"sales"}},
}

func newFixture(t *testing.T, engineCfg redact.Config, path string) *fixture {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "chat.db")
	}
	st, err := store.Open(context.Background(), store.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := redact.New(engineCfg)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	h, err := New(Config{Store: st, Engine: eng, Services: testServices, Agents: testAgents, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := &fixture{hub: h, store: st, path: path, clock: clk}
	t.Cleanup(func() { h.Close(); st.Close() })
	return f
}

func (f *fixture) agent(t *testing.T, login string, available bool) *recorder {
	t.Helper()
	r := &recorder{}
	initial, _, err := f.hub.AttachAgent(login, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range initial {
		r.Deliver(fr)
	}
	if err := f.hub.SetAvailable(login, available); err != nil {
		t.Fatal(err)
	}
	return r
}
