package chatforms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/secureinput/gateway/secure"
)

// EventType is the transcript event type of a secure input fact (requested,
// retried, cancelled, an outcome). The chat's history frame of the same name
// carries it.
const EventType = "secure_input"

// Tags of the transcript events the Desk records; the outcomes are tagged
// with the request's final state.
const (
	TagRequested = "requested"
	TagRetried   = "retried"
)

// Chats is what the Desk needs of the chat: who handles a live conversation,
// and its transcript. chat.Hub implements it.
type Chats interface {
	// Handling returns the workgroup and the handling agent of a live
	// conversation.
	Handling(conversation string) (workgroup, agent string, ok bool)
	// Record appends a system event to a live conversation's transcript and
	// shows it to both sides.
	Record(ctx context.Context, conversation, typ, tag, text string) error
}

// Validator takes a request's values to the validation web service.
// secure.Pipeline implements it; it wipes the customer's values.
type Validator interface {
	Validate(ctx context.Context, req secure.Request) (secure.Outcome, error)
}

// Notifier shows the two sides of a conversation where a request stands. The
// web layer turns each call into frames; none of them carries a customer's
// value.
type Notifier interface {
	// FormOpened gives the customer the form of a waiting request, and the
	// agent its state.
	FormOpened(req Request)
	// FormChanged gives both sides the request's new state and outcome.
	FormChanged(req Request)
	// FormRejected tells the customer which fields to correct (field id →
	// the rule it broke); the agent sees the request waiting again.
	FormRejected(req Request, errs map[string]string)
}

// Errors of the Desk beyond the catalog's and the tracker's.
var (
	ErrNoConversation = errors.New("chatforms: no such live conversation")
	ErrNotHandling    = errors.New("chatforms: you do not handle this conversation")
)

// DeskConfig configures a Desk. Every field but Logger and Now is required.
type DeskConfig struct {
	Catalog   *Catalog
	Validator Validator
	Chats     Chats
	Notifier  Notifier
	// Logger receives the requests' events (ids, form, agent), never a value.
	Logger *slog.Logger
	// Now is the clock (time.Now if nil).
	Now func() time.Time
	// RecordTimeout bounds writing an outcome to the transcript once the
	// validation call is back (10 s if 0).
	RecordTimeout time.Duration
	// Interactions, if set, gives the attributes of a conversation (its
	// service, workgroup, page) that forms may pass on.
	Interactions Interactions
	// SiteSecrets are the secrets websites sign their visitors' attributes
	// with, by the site's origin ("https://shop.example").
	SiteSecrets map[string][]byte
}

// Desk runs the secure forms of live conversations: it authorises the
// agent, opens, retries and cancels requests, takes the customer's values to
// the validation service on a goroutine of its own, records each fact in the
// transcript and tells both sides. It is safe for concurrent use.
type Desk struct {
	cfg     DeskConfig
	log     *slog.Logger
	tracker *Tracker
	calls   sync.WaitGroup // validation calls in flight
	mu      sync.Mutex
	drafts  map[string]draft       // conversation → its latest successful lookup
	sites   map[string]Interaction // conversation → its website attributes
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewDesk returns a Desk; Close it to end the validation calls in flight.
func NewDesk(cfg DeskConfig) (*Desk, error) {
	switch {
	case cfg.Catalog == nil:
		return nil, errors.New("chatforms: DeskConfig.Catalog is required")
	case cfg.Validator == nil:
		return nil, errors.New("chatforms: DeskConfig.Validator is required")
	case cfg.Chats == nil:
		return nil, errors.New("chatforms: DeskConfig.Chats is required")
	case cfg.Notifier == nil:
		return nil, errors.New("chatforms: DeskConfig.Notifier is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RecordTimeout <= 0 {
		cfg.RecordTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Desk{cfg: cfg, log: log, tracker: NewTracker(), drafts: map[string]draft{}, sites: map[string]Interaction{}}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// Catalog returns the forms and rights the Desk authorises with.
func (d *Desk) Catalog() *Catalog { return d.cfg.Catalog }

// Close cancels the validation calls in flight (each ends with an error
// outcome) and waits for them until ctx ends.
func (d *Desk) Close(ctx context.Context) error {
	d.cancel()
	done := make(chan struct{})
	go func() { d.calls.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handling checks that agent handles the live conversation and returns its
// workgroup.
func (d *Desk) handling(conversation, agent string) (string, error) {
	wg, handler, ok := d.cfg.Chats.Handling(conversation)
	switch {
	case !ok:
		return "", ErrNoConversation
	case handler != agent:
		return "", ErrNotHandling
	}
	return wg, nil
}

// Forms returns the forms and canned responses agent may use in the
// conversation they handle.
func (d *Desk) Forms(agent, conversation string) ([]Form, []Canned, error) {
	wg, err := d.handling(conversation, agent)
	if err != nil {
		return nil, nil, err
	}
	return d.cfg.Catalog.Offered(agent, wg), d.cfg.Catalog.Canned(agent, wg), nil
}

// Request opens a request for form in the conversation agent handles, with
// the agent's (non-confidential) values, records it and gives the customer
// the form. Nothing is opened if the transcript cannot record it.
func (d *Desk) Request(ctx context.Context, agent, conversation, form string, agentValues map[string]string) (Request, error) {
	wg, err := d.handling(conversation, agent)
	if err != nil {
		return Request{}, err
	}
	f, err := d.cfg.Catalog.Authorize(agent, form, wg)
	if err != nil {
		return Request{}, err
	}
	if agentValues == nil {
		agentValues = map[string]string{}
	}
	agentValues, attrs, err := d.completeRequest(conversation, wg, f, agentValues)
	if err != nil {
		return Request{}, err
	}
	req, err := d.tracker.Start(conversation, agent, f, agentValues, d.cfg.Now(), attrs)
	if err != nil {
		return Request{}, err
	}
	d.forgetDraft(conversation)
	text := fmt.Sprintf("Secure data has been requested: %s (by %s)", f.Title, agent)
	if err := d.cfg.Chats.Record(ctx, conversation, EventType, TagRequested, text); err != nil {
		d.tracker.drop(req.ID)
		return Request{}, fmt.Errorf("chatforms: record the request: %w", err)
	}
	d.log.Info("chatforms: secure form requested", slog.String("conversation", conversation), slog.String("request", req.ID),
		slog.String("form", f.Name), slog.String("agent", agent))
	d.cfg.Notifier.FormOpened(req)
	return req, nil
}

// Retry sends a declined or failed request to the customer again.
func (d *Desk) Retry(ctx context.Context, agent, conversation, id string) (Request, error) {
	if _, err := d.handling(conversation, agent); err != nil {
		return Request{}, err
	}
	req, err := d.tracker.Retry(conversation, id)
	if err != nil {
		return Request{}, err
	}
	d.record(ctx, req, TagRetried, fmt.Sprintf("Secure data has been requested again: %s (attempt %d)", req.Form.Title, req.Attempts))
	d.cfg.Notifier.FormOpened(req)
	return req, nil
}

// Cancel cancels a request that is waiting, declined or in error. agent is
// the login of the handling agent, or "" when the customer cancels.
func (d *Desk) Cancel(ctx context.Context, agent, conversation, id string) (Request, error) {
	who := "the customer"
	if agent != "" {
		if _, err := d.handling(conversation, agent); err != nil {
			return Request{}, err
		}
		who = agent
	}
	req, err := d.tracker.Cancel(conversation, id)
	if err != nil {
		return Request{}, err
	}
	d.record(ctx, req, StateCancelled, fmt.Sprintf("Secure data request cancelled by %s: %s", who, req.Form.Title))
	d.cfg.Notifier.FormChanged(req)
	return req, nil
}

// Submit takes the customer's values for a waiting request to the
// validation service on a goroutine of its own, so the chat goes on
// meanwhile; the outcome is recorded and shown to both sides. The values are
// wiped, whatever happens; they are never echoed, stored or logged.
func (d *Desk) Submit(conversation, id string, values map[string]secure.Value) error {
	req, err := d.tracker.Submit(conversation, id)
	if err != nil {
		Wipe(values)
		return err
	}
	d.cfg.Notifier.FormChanged(req)
	d.calls.Add(1)
	go func() {
		defer d.calls.Done()
		d.validate(req, values)
	}()
	return nil
}

// validate runs one validation call and reports its outcome.
func (d *Desk) validate(req Request, values map[string]secure.Value) {
	out, err := d.cfg.Validator.Validate(d.ctx, secure.Request{
		Form: req.Form.Name, Fields: req.Form.Fields, Customer: values, Agent: req.AgentValues, Attributes: req.Attributes,
	})
	Wipe(values) // the validator wipes them too; this holds for any Validator
	var fe secure.FieldErrors
	if errors.As(err, &fe) {
		req, rerr := d.tracker.Reopen(req.Conversation, req.ID)
		if rerr != nil {
			return // cancelled or forgotten meanwhile
		}
		errs := map[string]string{}
		for _, e := range fe {
			errs[e.Field] = e.Err.Error()
		}
		d.cfg.Notifier.FormRejected(req, errs)
		return
	}
	req, err = d.tracker.Finish(req.Conversation, req.ID, out)
	if err != nil {
		return // cancelled or forgotten meanwhile
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.RecordTimeout)
	defer cancel()
	d.record(ctx, req, req.State, OutcomeText(req))
	d.cfg.Notifier.FormChanged(req)
}

// record writes a fact of req to the transcript. The request has already
// moved, so a failure is logged (without text) rather than undone.
func (d *Desk) record(ctx context.Context, req Request, tag, text string) {
	if err := d.cfg.Chats.Record(ctx, req.Conversation, EventType, tag, text); err != nil {
		d.log.Error("chatforms: transcript could not record a secure input fact", slog.String("conversation", req.Conversation),
			slog.String("request", req.ID), slog.String("tag", tag), slog.Any("err", err))
	}
}

// Waiting returns the request of a conversation whose form the customer
// has yet to send, so a reconnecting widget shows it again.
func (d *Desk) Waiting(conversation string) (Request, bool) {
	req, ok := d.tracker.Current(conversation)
	return req, ok && req.State == StateWaiting
}

// Forget drops the requests of an ended conversation; the chat calls it
// when a conversation ends, by whatever path.
func (d *Desk) Forget(conversation string) {
	d.tracker.Forget(conversation)
	d.forgetDraft(conversation)
	d.mu.Lock()
	delete(d.sites, conversation)
	d.mu.Unlock()
}

// Wipe clears and removes every value of values.
func Wipe(values map[string]secure.Value) {
	for k, v := range values {
		v.Wipe()
		delete(values, k)
	}
}

// OutcomeText is what the transcript keeps of an outcome: the fact, never a
// value (the brand and last four digits are for the agent's screen only).
func OutcomeText(req Request) string {
	o := req.Outcome
	switch req.State {
	case StateAccepted:
		text := fmt.Sprintf("Secure data accepted: %s, transaction %s", req.Form.Title, o.TransactionID)
		if o.Token != "" {
			// The card vault kept the card: the token is what a refund or a
			// later charge needs, and all the transcript may hold of it.
			text += fmt.Sprintf(", card %s ending %s kept as %s", o.Brand, o.Last4, o.Token)
		}
		return text
	case StateDeclined:
		return fmt.Sprintf("Secure data declined: %s, transaction %s: %s", req.Form.Title, o.TransactionID, o.Details)
	}
	return fmt.Sprintf("Secure data could not be validated: %s, transaction %s", req.Form.Title, o.TransactionID)
}

// CountUsage turns the tag counts of a conversation's secure input events
// into its usage.
func CountUsage(tags map[string]int) Usage {
	u := Usage{Requests: tags[TagRequested], Outcomes: map[string]int{}}
	for _, st := range []string{StateAccepted, StateDeclined, StateError, StateCancelled} {
		u.Outcomes[st] = tags[st]
	}
	return u
}
