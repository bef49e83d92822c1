package chat

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

// Thousands of conversations that nobody writes in (one client opening
// them in a loop) wait, the queue shows the oldest in order and the agent
// is offered the oldest; once they expire, a visitor who came later and
// wrote is offered to the agent.
func TestQueueWithThousandsWaiting(t *testing.T) {
	const n = 3000
	st := testenv.Store(t, store.Config{Path: filepath.Join(t.TempDir(), "chat.db"), Durability: store.SurvivesProcessCrash})
	eng, _ := redact.New(redact.DefaultConfig())
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	h, err := New(Config{Store: st, Engine: eng, Services: testServices, Agents: testAgents, Now: clk.Now, MaxChats: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	f := &fixture{hub: h, store: st, clock: clk}
	ctx := context.Background()
	var ids []string
	for range n {
		id, _, err := h.Open(ctx, "support")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		clk.Advance(100 * time.Millisecond)
	}
	ann := f.agent(t, "ann", true)
	q, _ := ann.last(FrameQueue)
	if len(q.Chats) != maxQueueShown {
		t.Fatalf("queue frame lists %d chats, want %d", len(q.Chats), maxQueueShown)
	}
	for i, c := range q.Chats {
		if c.Conversation != ids[i] {
			t.Fatalf("queue frame entry %d is %s, want %s (the %d-th oldest)", i, c.Conversation, ids[i], i+1)
		}
	}
	if o, _ := ann.last(FrameOffer); o.Conversation != ids[0] {
		t.Fatalf("offered %q, want the oldest %q", o.Conversation, ids[0])
	}

	// A real visitor comes later and writes.
	clk.Advance(DefaultWaitTimeout - time.Duration(n)*100*time.Millisecond/2 - time.Millisecond)
	real, _, err := h.Open(ctx, "support")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Send(ctx, real, Participant{Role: RoleVisitor}, "", []byte("hello, anyone?")); err != nil {
		t.Fatal(err)
	}
	// Half the silent ones are past the timeout.
	if got := h.ExpireWaiting(ctx); got != n/2 {
		t.Fatalf("ExpireWaiting ended %d, want %d", got, n/2)
	}
	clk.Advance(DefaultWaitTimeout)
	if got := h.ExpireWaiting(ctx); got != n-n/2 {
		t.Fatalf("ExpireWaiting ended %d, want %d", got, n-n/2)
	}
	if got := h.Waiting(); got != 1 {
		t.Fatalf("%d conversations wait, want the real visitor's only", got)
	}
	if o, _ := ann.last(FrameOffer); o.Conversation != real {
		t.Fatalf("offered %q, want the real visitor's %q", o.Conversation, real)
	}
	sc, err := st.Conversation(ctx, ids[0])
	if err != nil || sc.State != StateEnded {
		t.Fatalf("expired conversation: %+v, %v; want it ended in the store", sc, err)
	}
	if err := h.Accept(ctx, real, "ann"); err != nil {
		t.Fatal(err)
	}
}

// Only silent, waiting conversations expire; one the visitor wrote in, or
// an agent took, stays. Silent ones brought back by Load expire too.
func TestOnlySilentWaitingConversationsExpire(t *testing.T) {
	f := newFixture(t, redact.DefaultConfig(), "")
	ctx := context.Background()
	h := f.hub
	silent, _, _ := h.Open(ctx, "support")
	spoken, _, _ := h.Open(ctx, "support")
	taken, _, _ := h.Open(ctx, "sales")
	h.Send(ctx, spoken, Participant{Role: RoleVisitor}, "", []byte("hi"))
	f.agent(t, "sam", true)
	if err := h.Accept(ctx, taken, "sam"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(DefaultWaitTimeout - time.Second)
	if n := h.ExpireWaiting(ctx); n != 0 {
		t.Fatalf("before the timeout: %d expired", n)
	}
	f.clock.Advance(time.Second)
	if n := h.ExpireWaiting(ctx); n != 1 {
		t.Fatalf("at the timeout: %d expired, want 1", n)
	}
	for id, want := range map[string]string{silent: StateEnded, spoken: StateWaiting, taken: StateActive} {
		if sc, _ := f.store.Conversation(ctx, id); sc.State != want {
			t.Errorf("conversation %s is %s, want %s", id, sc.State, want)
		}
	}

	// After a restart.
	again, _, _ := h.Open(ctx, "support")
	h.Close()
	g := newFixture(t, redact.DefaultConfig(), f.path)
	g.clock.Advance(2 * DefaultWaitTimeout)
	if n := g.hub.ExpireWaiting(ctx); n != 1 {
		t.Fatalf("after a restart: %d expired, want 1 (%s)", n, again)
	}
	if sc, _ := g.store.Conversation(ctx, spoken); sc.State != StateWaiting {
		t.Errorf("the spoken conversation after a restart is %s, want waiting", sc.State)
	}
}
