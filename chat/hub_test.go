package chat

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/keys"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"

	"github.com/secureinput/gateway/internal/testenv"
)

// *store.Store is the Log the gateway gives the Hub.
var _ Log = (*store.Store)(nil)

// recorder is a Sink that keeps what it gets.
type recorder struct {
	mu      sync.Mutex
	frames  []Frame
	notices []notice
}

// notice is what a Sink's Notice got.
type notice struct {
	conversation string
	seq          int64
	body         any
}

func (r *recorder) Notice(conversation string, seq int64, body any) {
	r.mu.Lock()
	r.notices = append(r.notices, notice{conversation, seq, body})
	r.mu.Unlock()
}

func (r *recorder) allNotices() []notice {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notice(nil), r.notices...)
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
	st := testenv.Store(t, store.Config{Path: path, KEK: testKEK})
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
	t.Cleanup(h.Close)
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

// TestNotifyRoutesNoticesStamped: another feature's frame reaches the side
// it is for, stamped with the conversation and its latest history seq, and
// an agent's notice reaches that agent only.
func TestNotifyRoutesNoticesStamped(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	ann := f.agent(t, "ann", true)
	id, token, err := f.hub.Open(ctx, "support")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.hub.Accept(ctx, id, "ann"); err != nil {
		t.Fatal(err)
	}
	visitor := &recorder{}
	welcome, _, detach, err := f.hub.AttachVisitor(ctx, id, token, 0, visitor)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()

	f.hub.Notify(id, true, false, "for the visitor")
	f.hub.Notify(id, false, true, "for the agent")
	f.hub.NotifyAgent("ann", "to ann")
	f.hub.NotifyAgent("bob", "to bob")
	f.hub.Notify("no-such-conversation", true, true, "lost")

	if got := visitor.allNotices(); len(got) != 1 || got[0] != (notice{id, welcome.Seq, "for the visitor"}) {
		t.Errorf("visitor notices = %+v, want the visitor's one at seq %d", got, welcome.Seq)
	}
	want := []notice{{id, welcome.Seq, "for the agent"}, {"", 0, "to ann"}}
	if got := ann.allNotices(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ann's notices = %+v, want %+v", got, want)
	}
}

// testKEK is the key-encryption key of this package's test stores, one for
// the whole run so that a store reopened by a test opens.
var testKEK = func() *keys.Local {
	k, err := keys.Generate()
	if err != nil {
		panic(err)
	}
	return k
}()
