package chat

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/secureinput/gateway/redact"
)

// TestQueueShowsFirstMessageAndPage: the agents of the queue see the
// visitor's first message as redacted (and as masked further when a split
// number is completed), and the page without its query; both survive in
// the queue after a restart (the first message) and never hold the digits.
func TestQueueShowsFirstMessageAndPage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	ann := f.agent(t, "ann", false)
	id, _, err := f.hub.OpenAs(ctx, Opening{Service: "support", Page: "https://shop.example/checkout/4111111111111111?card=4111111111111111#x"})
	if err != nil {
		t.Fatal(err)
	}
	visitor := Participant{Role: RoleVisitor}
	if err := f.hub.Send(ctx, id, visitor, "a", []byte("my card is 4111 1111")); err != nil {
		t.Fatal(err)
	}
	if err := f.hub.Send(ctx, id, visitor, "b", []byte("1111 1111 thanks")); err != nil {
		t.Fatal(err)
	}
	want := ChatInfo{FirstMessage: "my card is #########", Page: "https://shop.example/checkout/################"}
	waitFor(t, "the queue shows the first message masked and the page", func() bool {
		q, _ := ann.last(FrameQueue)
		return len(q.Chats) == 1 && q.Chats[0].FirstMessage == want.FirstMessage && q.Chats[0].Page == want.Page
	})

	// After a restart the first message comes back from the store, masked.
	f.hub.Close()
	f.store.Close()
	g := newFixture(t, redact.DefaultConfig(), f.path)
	bob := g.agent(t, "bob", false)
	q, _ := bob.last(FrameQueue)
	if len(q.Chats) != 1 || q.Chats[0].FirstMessage != want.FirstMessage {
		t.Errorf("after a restart the queue = %+v, want the first message %q", q.Chats, want.FirstMessage)
	}
}

func TestPreviewIsBounded(t *testing.T) {
	f := newFixture(t, redact.DefaultConfig(), "")
	long := strings.Repeat("é", 300)
	got := f.hub.preview([]byte(long))
	if len(got) > maxPreview+len("…") || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éé") {
		t.Errorf("preview of 600 bytes: %d bytes %q", len(got), got)
	}
	if got := f.hub.preview([]byte("line one\n\n  line two")); got != "line one line two" {
		t.Errorf("preview folds white space: %q", got)
	}
	if got := f.hub.preview([]byte{0xff, 'a'}); got != "" {
		t.Errorf("preview of invalid UTF-8: %q, want nothing", got)
	}
}

// TestVisitorsLearnTheirPlace: a waiting visitor is told its place in the
// queue in the welcome and again whenever it changes.
func TestVisitorsLearnTheirPlace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, redact.DefaultConfig(), "")
	f.agent(t, "ann", false)
	first, _, _ := f.hub.Open(ctx, "support")
	f.clock.Advance(time.Second)
	second, token, _ := f.hub.Open(ctx, "support")
	f.clock.Advance(time.Second)
	if _, _, err := f.hub.Open(ctx, "sales"); err != nil { // another workgroup's queue
		t.Fatal(err)
	}
	v := &recorder{}
	welcome, _, detach, err := f.hub.AttachVisitor(ctx, second, token, 0, v)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	if welcome.Position != 2 {
		t.Errorf("welcome of the second chat: position %d, want 2", welcome.Position)
	}
	if err := f.hub.Accept(ctx, first, "ann"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second visitor is told it is next", func() bool {
		p, ok := v.last(FramePlace)
		return ok && p.Position == 1 && p.Conversation == second
	})
}

// TestStatusSaysWhetherAnyoneAnswers: a service is available only with an
// agent of its workgroup online and available, and open within its hours.
func TestStatusSaysWhetherAnyoneAnswers(t *testing.T) {
	f := newFixture(t, redact.DefaultConfig(), "")
	hours, _ := ParseHours([]string{"mon-fri 09:00-17:00"}, "")
	f.hub.services["support"] = Service{Name: "support", Title: "Support", Workgroup: "support", Hours: hours}
	// 2026-03-01 is a Sunday.
	st, ok := f.hub.Status("support")
	if !ok || st.Open || st.Available || st.Title != "Support" {
		t.Errorf("Sunday, nobody signed in: %+v", st)
	}
	f.clock.Advance(24 * time.Hour) // Monday 09:00
	f.agent(t, "sam", true)         // sales: does not count
	if st, _ := f.hub.Status("support"); !st.Open || st.Available {
		t.Errorf("Monday, only an agent of another workgroup: %+v", st)
	}
	f.agent(t, "ann", false)
	if st, _ := f.hub.Status("support"); st.Available {
		t.Errorf("Ann signed in but away: %+v", st)
	}
	f.hub.SetAvailable("ann", true)
	if st, _ := f.hub.Status("support"); !st.Available {
		t.Errorf("Ann available: %+v", st)
	}
	if _, ok := f.hub.Status("nope"); ok {
		t.Error("status of an unknown service")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
