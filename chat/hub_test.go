package chat

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

func TestRoutingOffersToIdleLongestOfWorkgroup(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	bob := f.agent(t, "bob", true)
	f.clock.Advance(time.Minute)
	ann := f.agent(t, "ann", true) // free later than Bob
	sam := f.agent(t, "sam", true)

	id, _, err := f.hub.Open(ctx, "support")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := bob.last(FrameOffer); !ok || o.Conversation != id {
		t.Errorf("Bob (free longest) got no offer for %s: %+v", id, bob.all())
	}
	if _, ok := ann.last(FrameOffer); ok {
		t.Error("Ann was offered the chat although Bob has been free longer")
	}
	if q, _ := sam.last(FrameQueue); len(q.Chats) != 0 {
		t.Errorf("Sam (sales) sees the support queue: %+v", q.Chats)
	}
	if q, _ := ann.last(FrameQueue); len(q.Chats) != 1 || q.Chats[0].Conversation != id {
		t.Errorf("Ann's queue = %+v, want the waiting chat", q.Chats)
	}
	if err := f.hub.Accept(ctx, id, "sam"); !errors.Is(err, ErrForbidden) {
		t.Errorf("Sam accepting a support chat: %v, want ErrForbidden", err)
	}
	if _, err := f.hub.History(ctx, id, "sam", 0); !errors.Is(err, ErrForbidden) {
		t.Errorf("Sam reading a support chat: %v, want ErrForbidden", err)
	}
	if err := f.hub.Accept(ctx, id, "ann"); err != nil {
		t.Fatalf("Ann accepting: %v", err)
	}
	if err := f.hub.Accept(ctx, id, "bob"); !errors.Is(err, ErrTaken) {
		t.Errorf("Bob accepting a taken chat: %v, want ErrTaken", err)
	}
	if c, _ := ann.last(FrameChats); len(c.Chats) != 1 {
		t.Errorf("Ann's chats = %+v", c.Chats)
	}
	if err := f.hub.Send(ctx, id, Participant{Role: RoleAgent, Login: "bob"}, "", []byte("hi")); !errors.Is(err, ErrForbidden) {
		t.Errorf("Bob sending into Ann's chat: %v, want ErrForbidden", err)
	}
}

func TestOfferPassesOnWhenUnanswered(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	f.hub.cfg.OfferTimeout = 10 * time.Millisecond
	bob := f.agent(t, "bob", true)
	f.clock.Advance(time.Minute)
	ann := f.agent(t, "ann", true)
	id, _, _ := f.hub.Open(ctx, "support")
	if o, _ := bob.last(FrameOffer); o.Conversation != id {
		t.Fatalf("first offer did not go to Bob")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if o, ok := ann.last(FrameOffer); ok && o.Conversation == id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unanswered offer never passed to Ann")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMessagesAreRedactedStoredAndResumable(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	ann := f.agent(t, "ann", true)
	id, token, err := f.hub.Open(ctx, "support")
	if err != nil {
		t.Fatal(err)
	}
	visitor := &recorder{}
	welcome, history, detach, err := f.hub.AttachVisitor(ctx, id, token, 0, visitor)
	if err != nil {
		t.Fatal(err)
	}
	if welcome.State != StateWaiting || len(history) != 1 || history[0].Type != FrameWaiting {
		t.Errorf("welcome %+v, history %+v; want waiting", welcome, history)
	}
	if _, _, _, err := f.hub.AttachVisitor(ctx, id, "wrong", 0, &recorder{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("wrong token: %v, want ErrNotFound", err)
	}
	if err := f.hub.Accept(ctx, id, "ann"); err != nil {
		t.Fatal(err)
	}
	vis := Participant{Role: RoleVisitor}
	if err := f.hub.Send(ctx, id, vis, "c1", []byte("my card is 4111 1111")); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * time.Second)
	if err := f.hub.Send(ctx, id, vis, "c2", []byte("1111 1111 thanks")); err != nil {
		t.Fatal(err)
	}
	if err := f.hub.Send(ctx, id, vis, "c3", []byte("or 5555 5555 5555 4444")); err != nil {
		t.Fatal(err)
	}

	// The agent: the first half in clear, then masked by an update.
	var texts []string
	for _, fr := range ann.all() {
		if fr.Type == FrameMessage || fr.Type == FrameMessageUpdate {
			texts = append(texts, fr.Type+":"+fr.Text)
		}
	}
	want := []string{
		"message:my card is 4111 1111",
		"message:######### thanks",
		"message_update:my card is #########",
		"message:or ###################",
	}
	if strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Errorf("agent frames:\n got %q\nwant %q", texts, want)
	}
	// The visitor's own copy acknowledges it.
	if m, _ := visitor.last(FrameMessage); m.ClientID != "c3" || m.Text != "or ###################" {
		t.Errorf("visitor's ack = %+v", m)
	}

	// Resume after seq 3 (agent_joined was 2, first message 3).
	detach()
	_, history, _, err = f.hub.AttachVisitor(ctx, id, token, 3, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, fr := range history {
		seqs = append(seqs, fr.Seq)
	}
	if len(seqs) != 3 || seqs[0] != 4 || seqs[2] != 6 {
		t.Errorf("resume after 3 gave seqs %v, want [4 5 6]", seqs)
	}
	// From the start, the first message already carries its masked text.
	_, history, _, _ = f.hub.AttachVisitor(ctx, id, token, 0, &recorder{})
	for _, fr := range history {
		if strings.Contains(fr.Text, "4111") || strings.Contains(fr.Text, "5555") {
			t.Errorf("history holds digits of a card: %+v", fr)
		}
	}

	if err := f.hub.End(ctx, id, Participant{Role: RoleAgent, Login: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := f.hub.Send(ctx, id, vis, "c4", []byte("hello?")); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrEnded) {
		t.Errorf("send after end: %v", err)
	}
	if _, ok := visitor.last(FrameEnded); ok {
		t.Error("a detached visitor sink still got frames")
	}
	welcome, history, _, err = f.hub.AttachVisitor(ctx, id, token, 0, &recorder{})
	if err != nil || welcome.State != StateEnded || history[len(history)-1].Type != FrameEnded {
		t.Errorf("ended conversation: welcome %+v, err %v", welcome, err)
	}

	f.store.Close()
	db, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(f.path + "-wal")
	for _, digits := range []string{"4111 1111 1111 1111", "5555 5555 5555 4444", "5555555555554444"} {
		if strings.Contains(string(db)+string(wal), digits) {
			t.Errorf("the database file holds %q", digits)
		}
	}
}

func TestRedactionFailureWithholdsMessage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.Config{Default: true, Additional: []string{`(.+)+z`}, Timeout: 20 * time.Millisecond}, "")
	ann := f.agent(t, "ann", true)
	id, _, _ := f.hub.Open(ctx, "support")
	f.hub.Accept(ctx, id, "ann")
	err := f.hub.Send(ctx, id, Participant{Role: RoleVisitor}, "c1", []byte("4111 1111 1111 1111 "+strings.Repeat("a", 40)))
	if !errors.Is(err, ErrUndeliverable) {
		t.Fatalf("Send = %v, want ErrUndeliverable", err)
	}
	if _, ok := ann.last(FrameMessage); ok {
		t.Error("the agent got a message that could not be redacted")
	}
	evs, _ := f.store.Events(ctx, id, 0, 100)
	for _, e := range evs {
		if e.Type == FrameMessage {
			t.Errorf("a withheld message was stored: %+v", e)
		}
	}
}

func TestConversationsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chat.db")
	f := newFixture(t, redact.DefaultConfig(), path)
	f.agent(t, "ann", true)
	active, token, _ := f.hub.Open(ctx, "support")
	f.hub.Accept(ctx, active, "ann")
	f.hub.Send(ctx, active, Participant{Role: RoleVisitor}, "c1", []byte("hello"))
	waiting, _, _ := f.hub.Open(ctx, "support")
	f.hub.Close()
	f.store.Close()

	g := newFixture(t, redact.DefaultConfig(), path)
	ann := g.agent(t, "ann", true)
	if c, _ := ann.last(FrameChats); len(c.Chats) != 1 || c.Chats[0].Conversation != active {
		t.Errorf("after restart Ann's chats = %+v, want %s", c.Chats, active)
	}
	if q, _ := ann.last(FrameQueue); len(q.Chats) != 1 || q.Chats[0].Conversation != waiting {
		t.Errorf("after restart the queue = %+v, want %s", q.Chats, waiting)
	}
	_, history, _, err := g.hub.AttachVisitor(ctx, active, token, 0, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 3 || history[2].Text != "hello" {
		t.Errorf("history after restart = %+v", history)
	}
	if err := g.hub.Send(ctx, active, Participant{Role: RoleVisitor}, "c2", []byte("still there?")); err != nil {
		t.Errorf("send after restart: %v", err)
	}
}

func TestAcceptedChatCountsBeforeItIsStored(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	f.hub.cfg.MaxChats = 1
	ann := f.agent(t, "ann", true)
	x, _, _ := f.hub.Open(ctx, "support")
	if o, _ := ann.last(FrameOffer); o.Conversation != x {
		t.Fatalf("Ann was not offered %s", x)
	}
	y, _, _ := f.hub.Open(ctx, "support") // Ann has an offer pending: not offered
	if err := f.hub.Accept(ctx, x, "ann"); err != nil {
		t.Fatal(err)
	}
	if o, _ := ann.last(FrameOffer); o.Conversation == y {
		t.Errorf("Ann, at her limit of one chat, was offered %s", y)
	}
	if err := f.hub.Accept(ctx, y, "ann"); !errors.Is(err, ErrBusy) {
		t.Errorf("Ann accepting a second chat: %v, want ErrBusy", err)
	}
	bob := f.agent(t, "bob", true)
	if o, ok := bob.last(FrameOffer); !ok || o.Conversation != y {
		t.Errorf("Bob, free, was not offered %s: %+v", y, bob.all())
	}
}

func TestQueueFramesAreCoalesced(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	ann := f.agent(t, "ann", false) // away: nothing is offered, all chats queue
	before := len(ann.all())
	const n = 50
	for range n {
		if _, _, err := f.hub.Open(ctx, "support"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if q, _ := ann.last(FrameQueue); len(q.Chats) == n {
			break
		}
		if time.Now().After(deadline) {
			q, _ := ann.last(FrameQueue)
			t.Fatalf("the queue never listed all %d chats (last had %d)", n, len(q.Chats))
		}
		time.Sleep(10 * time.Millisecond)
	}
	frames := 0
	for _, fr := range ann.all()[before:] {
		if fr.Type == FrameQueue {
			frames++
		}
	}
	if frames >= n/2 {
		t.Errorf("%d queue frames for %d new chats; want them coalesced", frames, n)
	}
}

func TestSendRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	id, _, _ := f.hub.Open(ctx, "support")
	vis := Participant{Role: RoleVisitor}
	for _, tc := range []struct {
		name, clientID, text string
		want                 error
	}{
		{"too large", "c", strings.Repeat("a", DefaultMaxMessageBytes+1), ErrTooLarge},
		{"empty", "c", " \n\t", ErrEmpty},
		{"invalid UTF-8", "c", "a\xff", ErrBadText},
		{"long client id", strings.Repeat("c", 65), "hi", ErrBadClientID},
	} {
		if err := f.hub.Send(ctx, id, vis, tc.clientID, []byte(tc.text)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := f.hub.Send(ctx, "nope", vis, "c", []byte("hi")); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown conversation: %v", err)
	}
}
