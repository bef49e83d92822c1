package chatforms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/secure"
)

// fakeChats is one live conversation, C1, handled by ann in support, with a
// transcript that can be made to fail.
type fakeChats struct {
	mu      sync.Mutex
	events  []string // tag: text
	failing bool
}

func (c *fakeChats) Handling(conversation string) (string, string, bool) {
	if conversation != "C1" {
		return "", "", false
	}
	return "support", "ann", true
}

func (c *fakeChats) Record(_ context.Context, conversation, typ, tag, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing {
		return errors.New("disk full")
	}
	c.events = append(c.events, typ+"/"+tag+": "+text)
	return nil
}

func (c *fakeChats) recorded() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.events...)
}

// fakeNotifier records what each side was shown.
type fakeNotifier struct {
	mu   sync.Mutex
	seen []string
	done chan struct{} // receives after every FormChanged or FormRejected with a final state
}

func (n *fakeNotifier) add(s string) {
	n.mu.Lock()
	n.seen = append(n.seen, s)
	n.mu.Unlock()
}
func (n *fakeNotifier) FormOpened(req Request)  { n.add("opened " + req.State) }
func (n *fakeNotifier) FormChanged(req Request) { n.add("changed " + req.State); n.signal(req.State) }
func (n *fakeNotifier) FormRejected(req Request, errs map[string]string) {
	n.add(fmt.Sprintf("rejected %s %v", req.State, errs))
	n.signal("rejected")
}
func (n *fakeNotifier) signal(state string) {
	if state != StateSubmitted && n.done != nil {
		n.done <- struct{}{}
	}
}

// fakeValidator answers with status, or with field errors, and counts calls;
// block, if set, holds every call until it is closed or ctx ends.
type fakeValidator struct {
	mu     sync.Mutex
	calls  int
	status string
	fields bool
	block  chan struct{}
	got    []map[string]secure.Value
}

func (v *fakeValidator) Validate(ctx context.Context, req secure.Request) (secure.Outcome, error) {
	v.mu.Lock()
	v.calls++
	v.got = append(v.got, req.Customer)
	v.mu.Unlock()
	if v.block != nil {
		select {
		case <-v.block:
		case <-ctx.Done():
			return secure.Outcome{TransactionID: "T1", Status: secure.StatusError, Details: "cancelled"}, nil
		}
	}
	if v.fields {
		return secure.Outcome{}, secure.FieldErrors{{Field: "card_number", Err: secure.ErrFields}}
	}
	return secure.Outcome{TransactionID: "T1", Status: v.status}, nil
}

func newDesk(t *testing.T, chats *fakeChats, n *fakeNotifier, v *fakeValidator) *Desk {
	t.Helper()
	d, err := NewDesk(DeskConfig{Catalog: catalog(t), Validator: v, Chats: chats, Notifier: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func wait(t *testing.T, n *fakeNotifier) {
	t.Helper()
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the validation outcome was never shown")
	}
}

func TestDeskRequestSubmitAccepted(t *testing.T) {
	chats, n, v := &fakeChats{}, &fakeNotifier{done: make(chan struct{}, 4)}, &fakeValidator{status: secure.StatusAccepted}
	d := newDesk(t, chats, n, v)
	req, err := d.Request(context.Background(), "ann", "C1", "credit_card", map[string]string{"amount": "10.00"})
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := d.Waiting("C1"); !ok || w.ID != req.ID {
		t.Fatalf("Waiting = %+v, %v; want request %s", w, ok, req.ID)
	}
	values := map[string]secure.Value{"card_number": secure.NewValue("4111111111111111")}
	if err := d.Submit("C1", req.ID, values); err != nil {
		t.Fatal(err)
	}
	wait(t, n)
	if v.calls != 1 {
		t.Errorf("validator called %d times, want 1", v.calls)
	}
	if len(values) != 0 {
		t.Errorf("values left after the call: %d", len(values))
	}
	want := []string{
		"secure_input/requested: Secure data has been requested: Credit Card (by ann)",
		"secure_input/accepted: Secure data accepted: Credit Card, transaction T1",
	}
	if got := chats.recorded(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("transcript = %q, want %q", got, want)
	}
	if got := fmt.Sprint(n.seen); got != "[opened waiting changed submitted changed accepted]" {
		t.Errorf("notified %s", got)
	}
	if _, ok := d.Waiting("C1"); ok {
		t.Error("an accepted request still waits for the customer")
	}
}

func TestDeskFieldErrorsReopen(t *testing.T) {
	chats, n, v := &fakeChats{}, &fakeNotifier{done: make(chan struct{}, 4)}, &fakeValidator{fields: true}
	d := newDesk(t, chats, n, v)
	req, err := d.Request(context.Background(), "ann", "C1", "credit_card", map[string]string{"amount": "10.00"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Submit("C1", req.ID, map[string]secure.Value{"card_number": secure.NewValue("4111")}); err != nil {
		t.Fatal(err)
	}
	wait(t, n)
	if w, ok := d.Waiting("C1"); !ok || w.Attempts != 1 {
		t.Errorf("after field errors: Waiting = %+v, %v; want the same attempt waiting", w, ok)
	}
	if got := n.seen[len(n.seen)-1]; got != "rejected waiting map[card_number:"+secure.ErrFields.Error()+"]" {
		t.Errorf("last notification %q", got)
	}
	if got := chats.recorded(); len(got) != 1 {
		t.Errorf("field errors reached the transcript: %q", got)
	}
}

func TestDeskRefusesWhatItMustNot(t *testing.T) {
	chats, n, v := &fakeChats{}, &fakeNotifier{}, &fakeValidator{status: secure.StatusAccepted}
	d := newDesk(t, chats, n, v)
	ctx := context.Background()
	if _, err := d.Request(ctx, "ann", "C2", "credit_card", nil); !errors.Is(err, ErrNoConversation) {
		t.Errorf("request in an unknown conversation: %v, want ErrNoConversation", err)
	}
	if _, err := d.Request(ctx, "bob", "C1", "credit_card", nil); !errors.Is(err, ErrNotHandling) {
		t.Errorf("request by an agent who does not handle it: %v, want ErrNotHandling", err)
	}
	if _, err := d.Request(ctx, "ann", "C1", "note", nil); !errors.Is(err, ErrNotForService) {
		t.Errorf("request of another workgroup's form: %v, want ErrNotForService", err)
	}
	values := map[string]secure.Value{"card_number": secure.NewValue("4111111111111111")}
	if err := d.Submit("C1", "F00", values); !errors.Is(err, ErrUnknownRequest) {
		t.Errorf("submit of an unknown request: %v, want ErrUnknownRequest", err)
	}
	if len(values) != 0 {
		t.Error("a refused submission kept its values")
	}
	if v.calls != 0 {
		t.Errorf("validator called %d times", v.calls)
	}
}

func TestDeskRecordFailureOpensNothing(t *testing.T) {
	chats, n, v := &fakeChats{failing: true}, &fakeNotifier{}, &fakeValidator{}
	d := newDesk(t, chats, n, v)
	if _, err := d.Request(context.Background(), "ann", "C1", "credit_card", map[string]string{"amount": "1.00"}); err == nil {
		t.Fatal("a request the transcript could not record was opened")
	}
	if _, ok := d.Waiting("C1"); ok {
		t.Error("the unrecorded request waits for the customer")
	}
	if len(n.seen) != 0 {
		t.Errorf("the sides were shown %v", n.seen)
	}
	chats.failing = false
	if _, err := d.Request(context.Background(), "ann", "C1", "credit_card", map[string]string{"amount": "1.00"}); err != nil {
		t.Errorf("the next request is refused: %v", err)
	}
}

func TestDeskCloseEndsCallsInFlight(t *testing.T) {
	chats, n, v := &fakeChats{}, &fakeNotifier{}, &fakeValidator{block: make(chan struct{})}
	d := newDesk(t, chats, n, v)
	req, err := d.Request(context.Background(), "ann", "C1", "credit_card", map[string]string{"amount": "1.00"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Submit("C1", req.ID, map[string]secure.Value{"card_number": secure.NewValue("4111111111111111")}); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := chats.recorded()
	if len(got) != 2 || got[1] != "secure_input/error: Secure data could not be validated: Credit Card, transaction T1" {
		t.Errorf("after Close the transcript holds %q; want the error outcome of the cancelled call", got)
	}
}

func TestDeskForget(t *testing.T) {
	chats, n, v := &fakeChats{}, &fakeNotifier{}, &fakeValidator{}
	d := newDesk(t, chats, n, v)
	req, err := d.Request(context.Background(), "ann", "C1", "credit_card", map[string]string{"amount": "1.00"})
	if err != nil {
		t.Fatal(err)
	}
	d.Forget("C1")
	if _, ok := d.Waiting("C1"); ok {
		t.Error("a forgotten conversation still has a waiting form")
	}
	if err := d.Submit("C1", req.ID, map[string]secure.Value{}); !errors.Is(err, ErrUnknownRequest) {
		t.Errorf("submit after Forget: %v, want ErrUnknownRequest", err)
	}
}

func TestOfferedAcrossWorkgroups(t *testing.T) {
	c := catalog(t)
	// sue has the rights herself, and sales only; support forms are not hers.
	if got := c.Offered("sue", "sales", "support"); len(got) != 1 || got[0].Name != "note" {
		t.Errorf("Offered(sue, sales, support) = %v, want [note]", got)
	}
	if _, err := c.Authorize("sue", "note", "support", "sales"); err != nil {
		t.Errorf("Authorize in the second workgroup: %v", err)
	}
	if _, err := c.Authorize("sue", "note"); !errors.Is(err, ErrNoAccess) {
		t.Errorf("Authorize with no workgroup: %v, want ErrNoAccess", err)
	}
}

// TestOutcomeTextNamesTheVaultToken: the transcript of an accepted card
// the vault kept holds its token, brand and last four, and nothing more of
// the card; without a vault, the fact only.
func TestOutcomeTextNamesTheVaultToken(t *testing.T) {
	req := Request{Form: Form{Title: "Credit card"}, State: StateAccepted,
		Outcome: &secure.Outcome{TransactionID: "T1", Status: secure.StatusAccepted, Brand: "Visa", Last4: "1881", Token: "tok_abc"}}
	if got, want := OutcomeText(req), "Secure data accepted: Credit card, transaction T1, card Visa ending 1881 kept as tok_abc"; got != want {
		t.Errorf("with a token:\n got %q\nwant %q", got, want)
	}
	req.Outcome.Token = ""
	if got, want := OutcomeText(req), "Secure data accepted: Credit card, transaction T1"; got != want {
		t.Errorf("without a token:\n got %q\nwant %q", got, want)
	}
}
