// Package chat owns conversations: a visitor opens one on a service, it is
// routed to an agent of the service's workgroup, and every message of either
// side passes the redaction engine before it is stored, logged or delivered.
// Transcripts hold redacted text only.
//
// The Hub is transport-free: the web package turns websocket frames into Hub
// calls and delivers the Frames the Hub emits through Sinks.
package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

// Defaults of Config.
const (
	DefaultMaxMessageBytes = 4 << 10
	DefaultOfferTimeout    = 30 * time.Second
	DefaultMaxChats        = 4
)

// Service is what a widget connects to; it belongs to one workgroup.
type Service struct {
	Name      string
	Title     string // shown to visitors
	Workgroup string
	// Greeting is the widget's first line to a visitor ("" for its own).
	Greeting string
	// Hours are when agents answer; the zero Hours is always.
	Hours Hours
}

// Agent is a person who may handle the chats of their workgroups.
type Agent struct {
	Login      string
	Name       string // shown to visitors
	Workgroups []string
}

// Log is the transcript log the Hub writes conversations to and reads them
// back from: exactly what the Hub needs of a store. *store.Store is one.
type Log interface {
	// Write runs fn in a transaction and returns once it is committed; name
	// says what the write is, for errors.
	Write(ctx context.Context, name string, fn func(*store.Tx) error) error
	// Conversation reads one conversation, live or ended.
	Conversation(ctx context.Context, id string) (store.Conversation, error)
	// OpenConversations returns the conversations not ended, oldest first.
	OpenConversations(ctx context.Context) ([]store.Conversation, error)
	// Events returns up to limit events of a conversation with Seq > since,
	// in order.
	Events(ctx context.Context, conversation string, since int64, limit int) ([]store.Event, error)
	// CountEvents counts the events of type typ of a conversation by their
	// author name (which system events use as a tag).
	CountEvents(ctx context.Context, conversation, typ string) (map[string]int, error)
	// Stats reports the group commits and the writes they carried.
	Stats() store.Stats
}

// Config configures a Hub.
type Config struct {
	// Store keeps the transcripts (required).
	Store    Log
	Engine   *redact.Engine
	Services []Service
	Agents   []Agent
	// MaxMessageBytes bounds a message (DefaultMaxMessageBytes if zero).
	MaxMessageBytes int
	// SplitWindow is how long a number split across messages is still
	// caught (redact.DefaultStreamWindow if zero).
	SplitWindow time.Duration
	// OfferTimeout is how long an agent has to accept an offered chat before
	// it is offered to the next (DefaultOfferTimeout if zero).
	OfferTimeout time.Duration
	// MaxChats bounds the chats one agent handles at once (DefaultMaxChats
	// if zero).
	MaxChats int
	// WaitTimeout ends a waiting conversation in which the visitor wrote
	// nothing that long after it opened (DefaultWaitTimeout if zero); see
	// ExpireWaiting.
	WaitTimeout time.Duration
	Logger      *slog.Logger
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
	// OnEnd is called once after a conversation has ended, by whatever
	// path (the visitor, the agent, or any other), with its id, outside the
	// Hub's locks (it may call the Hub); nil means nothing is called.
	OnEnd func(conversation string)
}

// Participant says who acts: a visitor (of the conversation they are
// attached to) or an agent, by login.
type Participant struct {
	Role  string
	Login string
}

// Hub holds the live conversations and agents.
//
// Lock order: a conversation's mu (conversation.mu) before the Hub's mu
// (Hub.mu), never the other way round, and never two conversations' mu at
// once. conversation.mu serialises a conversation's events and is held across
// the store write that commits them; Hub.mu guards the maps below and the
// routing fields of every conversation, and is held only briefly, for
// bookkeeping and fan-out. A function that holds both releases Hub.mu first;
// one that holds Hub.mu (routing, the offer and queue timers, Load) takes no
// conversation's mu. Sinks are called with these locks held, and the store's
// own locks come after both.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	services map[string]Service

	mu      sync.Mutex // after conversation.mu; guards what follows and the routing fields of conversations
	convs   map[string]*conversation
	queues  map[string]*waitQueue // workgroup → its waiting conversations, in queue order
	silent  []*conversation       // opened and not yet written in by the visitor, oldest first (some since left that state)
	agents  map[string]*agentState
	byGroup map[string][]*agentState // workgroup → its agents
	timers  map[string]*time.Timer   // offer expiry by conversation

	queueDirty map[string]bool // workgroups whose queue frame is due
	queueTimer *time.Timer
	queueSent  time.Time

	placesMu      sync.Mutex      // before conversation.mu: one sendPlaces at a time, so places arrive in order
	placesDirty   map[string]bool // workgroups whose visitors' places are due
	placesPending bool            // a sendPlaces is scheduled

	closed   bool
	closedCh chan struct{}
}

// New returns a Hub; call Load to bring back the conversations of an earlier
// run.
func New(cfg Config) (*Hub, error) {
	if cfg.Store == nil || cfg.Engine == nil {
		return nil, errors.New("chat: Config.Store and Config.Engine are required")
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.OfferTimeout <= 0 {
		cfg.OfferTimeout = DefaultOfferTimeout
	}
	if cfg.MaxChats <= 0 {
		cfg.MaxChats = DefaultMaxChats
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = DefaultWaitTimeout
	}
	h := &Hub{
		cfg:         cfg,
		log:         cfg.Logger,
		now:         cfg.Now,
		services:    map[string]Service{},
		convs:       map[string]*conversation{},
		queues:      map[string]*waitQueue{},
		agents:      map[string]*agentState{},
		byGroup:     map[string][]*agentState{},
		timers:      map[string]*time.Timer{},
		queueDirty:  map[string]bool{},
		placesDirty: map[string]bool{},
		closedCh:    make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	for _, s := range cfg.Services {
		if s.Name == "" || s.Workgroup == "" {
			return nil, fmt.Errorf("chat: service %q: name and workgroup are required", s.Name)
		}
		h.services[s.Name] = s
	}
	for _, a := range cfg.Agents {
		st := &agentState{Agent: a, workgroups: map[string]bool{}, chats: map[string]bool{}, sinks: sinkSet{}}
		for _, w := range a.Workgroups {
			if !st.workgroups[w] {
				h.byGroup[w] = append(h.byGroup[w], st)
			}
			st.workgroups[w] = true
		}
		h.agents[a.Login] = st
	}
	return h, nil
}

// Close stops the offer timers. Sinks are the caller's to close.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	close(h.closedCh)
	for id, t := range h.timers {
		t.Stop()
		delete(h.timers, id)
	}
	if h.queueTimer != nil {
		h.queueTimer.Stop()
	}
}

// Live returns how many conversations are open (waiting or active).
func (h *Hub) Live() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.convs)
}

// MaskText returns s redacted by the hub's engine, for a string a client
// or platform sent that the gateway logs, shows or echoes (a telephony call
// id). If redaction fails it is masked whole.
func (h *Hub) MaskText(s string) string {
	r, err := h.cfg.Engine.Redact(s)
	if err != nil {
		return string(redact.MaskAll(nil, []byte(s)))
	}
	return r.Text
}

// RedactionCounts reports, per rule, the matches the hub's engine has
// masked (on every channel that shares it) and the texts it could not
// redact.
func (h *Hub) RedactionCounts() ([]redact.RuleCount, uint64) { return h.cfg.Engine.Counts() }

// MaxMessageBytes is the largest message text Send accepts.
func (h *Hub) MaxMessageBytes() int { return h.cfg.MaxMessageBytes }

// StoreStats reports the store's group commits and the writes they carried.
func (h *Hub) StoreStats() store.Stats { return h.cfg.Store.Stats() }
