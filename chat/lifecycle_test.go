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
// lock order holds (no deadlock, no race) and every conversation ends.
func TestConcurrentEndSendAndRouting(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
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
}
