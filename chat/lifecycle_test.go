package chat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/redact"
)

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
		"message:my card is 4111 11##",
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
	var rules []string
	for _, fr := range history {
		seqs = append(seqs, fr.Seq)
		if fr.Type == FrameRedaction {
			rules = append(rules, fmt.Sprintf("%d:%s", fr.ID, fr.Text))
		}
	}
	// 4 the first message's redaction event, 5 the second message, 6 the
	// update, 7 its redaction event, 8 the third, 9 its event.
	if len(seqs) != 6 || seqs[0] != 4 || seqs[5] != 9 {
		t.Errorf("resume after 3 gave seqs %v, want [4 … 9]", seqs)
	}
	if got := strings.Join(rules, "|"); got != "3:card_prefix|5:card|8:card" {
		t.Errorf("redaction events %q, want 3:card_prefix|5:card|8:card: which rule, never the text", got)
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

// TestConcurrentEndSendAndRouting runs sends, notifications, accepts, leaves
// and ends of the same conversations at once; with -race it checks that the
// lock order holds (no deadlock, no race), and that every conversation ends
// and OnEnd hears of each once.
func TestConcurrentEndSendAndRouting(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	var endedMu sync.Mutex
	ended := map[string]int{}
	f.hub.cfg.OnEnd = func(id string) {
		endedMu.Lock()
		ended[id]++
		endedMu.Unlock()
	}
	f.agent(t, "ann", true)
	f.agent(t, "bob", true)
	const n = 8
	ids := make([]string, n)
	for i := range ids {
		id, _, err := f.hub.Open(ctx, "support")
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	// Refusals are expected when the calls race; anything else is not.
	expected := []error{ErrEnded, ErrNotFound, ErrTaken, ErrBusy, ErrForbidden}
	var mu sync.Mutex
	var unexpected []error
	check := func(what string, err error) {
		for _, e := range expected {
			if err == nil || errors.Is(err, e) {
				return
			}
		}
		mu.Lock()
		unexpected = append(unexpected, fmt.Errorf("%s: %w", what, err))
		mu.Unlock()
	}
	vis := Participant{Role: RoleVisitor}
	var wg sync.WaitGroup
	for i, id := range ids {
		login := []string{"ann", "bob"}[i%2]
		wg.Go(func() {
			for k := range 5 {
				check("send", f.hub.Send(ctx, id, vis, fmt.Sprint("c", k), []byte("hello")))
				check("typing", f.hub.Typing(id, vis, k%2 == 0))
				f.hub.Notify(id, true, true, "a notice")
			}
		})
		wg.Go(func() {
			check("accept", f.hub.Accept(ctx, id, login))
			check("leave", f.hub.Leave(ctx, id, login))
			check("accept again", f.hub.Accept(ctx, id, login))
			by := vis
			if i%3 == 0 {
				by = Participant{Role: RoleAgent, Login: login}
			}
			err := f.hub.End(ctx, id, by)
			if by.Role == RoleAgent && errors.Is(err, ErrForbidden) {
				err = f.hub.End(ctx, id, vis) // the chat went to the other agent
			}
			check("end", err)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("concurrent calls did not finish within 30s: deadlock?")
	}
	for _, err := range unexpected {
		t.Error(err)
	}
	if live := f.hub.Live(); live != 0 {
		t.Errorf("%d conversations still live after every one was ended", live)
	}
	endedMu.Lock()
	defer endedMu.Unlock()
	for _, id := range ids {
		if ended[id] != 1 {
			t.Errorf("OnEnd was called %d times for %s, want once", ended[id], id)
		}
	}
}

func TestOnEndIsCalledOnceOutsideTheLocks(t *testing.T) {
	for _, tc := range []struct {
		name string
		by   Participant
	}{
		{"ended by the visitor", Participant{Role: RoleVisitor}},
		{"ended by the agent", Participant{Role: RoleAgent, Login: "ann"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, redact.DefaultConfig(), "")
			var c *conversation
			var calls []string
			f.hub.cfg.OnEnd = func(id string) {
				calls = append(calls, id)
				if !lockable(&f.hub.mu) {
					t.Error("OnEnd was called with the hub's lock held")
				}
				if !lockable(&c.mu) {
					t.Error("OnEnd was called with the conversation's lock held")
				}
			}
			f.agent(t, "ann", true)
			id, _, err := f.hub.Open(ctx, "support")
			if err != nil {
				t.Fatal(err)
			}
			if err := f.hub.Accept(ctx, id, "ann"); err != nil {
				t.Fatal(err)
			}
			f.hub.mu.Lock()
			c = f.hub.convs[id]
			f.hub.mu.Unlock()
			if err := f.hub.End(ctx, id, tc.by); err != nil {
				t.Fatal(err)
			}
			if err := f.hub.End(ctx, id, Participant{Role: RoleVisitor}); err == nil {
				t.Error("ending an ended conversation again succeeded")
			}
			if len(calls) != 1 || calls[0] != id {
				t.Errorf("OnEnd calls = %q, want [%q]", calls, id)
			}
		})
	}
}

// lockable reports whether another goroutine can take m while the caller
// waits: false if the caller holds it. (TryLock would also fail while one of
// the hub's own goroutines, such as the queue's place updates, holds it for
// a moment.) The bound only stops a held lock from hanging the test.
func lockable(m *sync.Mutex) bool {
	got := make(chan struct{})
	go func() {
		m.Lock()
		close(got)
		m.Unlock()
	}()
	select {
	case <-got:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// TestOpenAsKeepsTheVisitorID: the site's visitor id is stored with the
// conversation (for erasure); a bad one opens nothing.
func TestOpenAsKeepsTheVisitorID(t *testing.T) {
	f := newFixture(t, redact.DefaultConfig(), "")
	ctx := context.Background()
	id, _, err := f.hub.OpenAs(ctx, Opening{Service: "support", Visitor: "customer-42"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := f.store.Conversation(ctx, id); err != nil || c.Visitor != "customer-42" {
		t.Errorf("stored conversation = %+v, %v; want visitor customer-42", c, err)
	}
	for _, bad := range []string{"has space", "new\nline", strings.Repeat("x", MaxVisitorID+1), "é"} {
		if _, _, err := f.hub.OpenAs(ctx, Opening{Service: "support", Visitor: bad}); !errors.Is(err, ErrBadVisitor) {
			t.Errorf("visitor %q: %v, want ErrBadVisitor", bad, err)
		}
	}
	open, _ := f.store.OpenConversations(ctx)
	if len(open) != 1 {
		t.Errorf("%d conversations open, want only the good one", len(open))
	}
}
