package chat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/secureinput/gateway/redact"
)

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

// An agent who accepts a chat whose offer had passed on to someone else
// (a late accept under load) frees that someone, and an offer the acceptor
// held for another chat passes on once they are full: nobody is left idle
// while chats wait.
func TestLateAcceptFreesTheAgentOfferedNext(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	f.hub.cfg.MaxChats = 1
	f.hub.cfg.OfferTimeout = 10 * time.Millisecond
	bob := f.agent(t, "bob", true)
	f.clock.Advance(time.Minute)
	ann := f.agent(t, "ann", true)
	x, _, _ := f.hub.Open(ctx, "support")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if o, _ := ann.last(FrameOffer); o.Conversation == x {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the offer of x never passed to Ann")
		}
	}
	f.hub.mu.Lock()
	f.hub.cfg.OfferTimeout = time.Hour // no more lapses: what follows is the accept's doing
	f.hub.mu.Unlock()
	y, _, _ := f.hub.Open(ctx, "support")
	if o, _ := bob.last(FrameOffer); o.Conversation != y {
		t.Fatalf("y was not offered to Bob, the free agent: %+v", o)
	}
	// Bob accepts x late (it is offered to Ann now), and is full.
	if err := f.hub.Accept(ctx, x, "bob"); err != nil {
		t.Fatal(err)
	}
	if o, _ := ann.last(FrameOffer); o.Conversation != y {
		t.Fatalf("Ann, freed by Bob's late accept, was not offered y; her last offer is of %q", o.Conversation)
	}
}
