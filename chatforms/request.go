package chatforms

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/secureinput/gateway/secure"
)

// Request states.
const (
	StateWaiting   = "waiting"   // the customer has the form
	StateSubmitted = "submitted" // the values are with the validation service
	StateAccepted  = "accepted"
	StateDeclined  = "declined"
	StateError     = "error"
	StateCancelled = "cancelled"
)

// Request is one form request inside a conversation. It holds the agent's
// (non-confidential) values, never the customer's.
type Request struct {
	ID           string            `json:"request"`
	Conversation string            `json:"conversation"`
	Form         Form              `json:"-"`
	Agent        string            `json:"-"`
	AgentValues  map[string]string `json:"-"`
	// Attributes go to the validation service only (attr.NAME).
	Attributes map[string]string `json:"-"`
	State      string            `json:"state"`
	Attempts   int               `json:"attempts"`
	Outcome    *secure.Outcome   `json:"outcome,omitempty"`
	Started    time.Time         `json:"-"`
}

// Usage counts a conversation's secure inputs and their outcomes (the web
// layer counts them from the stored history).
type Usage struct {
	Requests int            `json:"requests"`
	Outcomes map[string]int `json:"outcomes"` // accepted, declined, error, cancelled
}

// Tracker keeps the form requests of live conversations, in memory. It is
// safe for concurrent use.
type Tracker struct {
	mu   sync.Mutex
	byID map[string]*Request
	open map[string]string // conversation → its latest request
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{byID: map[string]*Request{}, open: map[string]string{}}
}

// Start opens a request for form in conversation. The agent's values are
// checked against the form's agent fields. One request may be open
// (waiting or submitted) in a conversation at a time. attrs are the
// request's attributes for the validation service.
func (t *Tracker) Start(conversation, agent string, form Form, agentValues map[string]string, now time.Time, attrs map[string]string) (Request, error) {
	if errs := secure.Check(form.AgentFields(), nil, agentValues, now); len(errs) > 0 {
		return Request{}, secure.FieldErrors(errs)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.open[conversation]; ok {
		if r := t.byID[id]; r != nil && (r.State == StateWaiting || r.State == StateSubmitted) {
			return Request{}, ErrBusy
		}
	}
	r := &Request{ID: newID(), Conversation: conversation, Form: form, Agent: agent, AgentValues: agentValues, Attributes: attrs,
		State: StateWaiting, Attempts: 1, Started: now}
	t.byID[r.ID] = r
	t.open[conversation] = r.ID
	return *r, nil
}

// Get returns a request of a conversation.
func (t *Tracker) Get(conversation, id string) (Request, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.byID[id]
	if r == nil || r.Conversation != conversation {
		return Request{}, ErrUnknownRequest
	}
	return *r, nil
}

// Current returns the latest request of a conversation, if any.
func (t *Tracker) Current(conversation string) (Request, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.byID[t.open[conversation]]
	if r == nil {
		return Request{}, false
	}
	return *r, true
}

// transition moves request id of conversation from one of from to to.
func (t *Tracker) transition(conversation, id string, to string, from ...string) (Request, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.byID[id]
	if r == nil || r.Conversation != conversation {
		return Request{}, ErrUnknownRequest
	}
	ok := false
	for _, f := range from {
		ok = ok || r.State == f
	}
	if !ok {
		return *r, ErrState
	}
	r.State = to
	switch to {
	case StateWaiting:
		r.Attempts++
		r.Outcome = nil
	}
	return *r, nil
}

// Submit marks a waiting request submitted: its values are on their way.
func (t *Tracker) Submit(conversation, id string) (Request, error) {
	return t.transition(conversation, id, StateSubmitted, StateWaiting)
}

// Reopen puts a submitted request back to waiting without counting an
// attempt (the customer's values failed their checks).
func (t *Tracker) Reopen(conversation, id string) (Request, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.byID[id]
	if r == nil || r.Conversation != conversation || r.State != StateSubmitted {
		return Request{}, ErrState
	}
	r.State = StateWaiting
	return *r, nil
}

// Finish records the outcome of a submitted request.
func (t *Tracker) Finish(conversation, id string, out secure.Outcome) (Request, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.byID[id]
	if r == nil || r.Conversation != conversation || r.State != StateSubmitted {
		return Request{}, ErrState
	}
	switch out.Status {
	case secure.StatusAccepted:
		r.State = StateAccepted
	case secure.StatusDeclined:
		r.State = StateDeclined
	default:
		r.State = StateError
	}
	r.Outcome = &out
	return *r, nil
}

// Cancel cancels a request that is waiting, declined or in error.
func (t *Tracker) Cancel(conversation, id string) (Request, error) {
	return t.transition(conversation, id, StateCancelled, StateWaiting, StateDeclined, StateError)
}

// Retry sends a declined or failed request to the customer again.
func (t *Tracker) Retry(conversation, id string) (Request, error) {
	return t.transition(conversation, id, StateWaiting, StateDeclined, StateError)
}

// drop removes one request (its opening could not be recorded).
func (t *Tracker) drop(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.byID[id]; r != nil && t.open[r.Conversation] == id {
		delete(t.open, r.Conversation)
	}
	delete(t.byID, id)
}

// Forget drops the requests of an ended conversation.
func (t *Tracker) Forget(conversation string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, r := range t.byID {
		if r.Conversation == conversation {
			delete(t.byID, id)
		}
	}
	delete(t.open, conversation)
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "F" + hex.EncodeToString(b)
}
