package chat

import (
	"context"
	"testing"

	"github.com/secureinput/gateway/redact"
)

// TestQueueThrottleReadsTheInjectedClock: once the Hub's clock has moved on
// by queueInterval, a change to the queue is sent at once, although (almost)
// no real time has passed.
func TestQueueThrottleReadsTheInjectedClock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	ann := f.agent(t, "ann", false) // away: the chats queue
	if _, _, err := f.hub.Open(ctx, "support"); err != nil {
		t.Fatal(err)
	}
	if q, _ := ann.last(FrameQueue); len(q.Chats) != 1 {
		t.Fatalf("first queue frame lists %d chats, want 1 at once", len(q.Chats))
	}
	f.clock.Advance(queueInterval)
	if _, _, err := f.hub.Open(ctx, "support"); err != nil {
		t.Fatal(err)
	}
	if q, _ := ann.last(FrameQueue); len(q.Chats) != 2 {
		t.Errorf("after the clock moved on by queueInterval the queue frame lists %d chats, want 2 at once", len(q.Chats))
	}
}
