package chat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/redact"
)

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
				f.hub.Notify(id, true, true, Frame{Type: FrameFormStatus})
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
				if !f.hub.mu.TryLock() {
					t.Error("OnEnd was called with the hub's lock held")
				} else {
					f.hub.mu.Unlock()
				}
				if !c.mu.TryLock() {
					t.Error("OnEnd was called with the conversation's lock held")
				} else {
					c.mu.Unlock()
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
