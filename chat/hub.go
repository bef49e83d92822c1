// Package chat owns conversations: a visitor opens one on a service, it is
// routed to an agent of the service's workgroup, and every message of either
// side passes the redaction engine before it is stored, logged or delivered.
// Transcripts hold redacted text only.
//
// The Hub is transport-free: the web package turns websocket frames into Hub
// calls and delivers the Frames the Hub emits through Sinks.
package chat

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

// Errors of the Hub. Code maps each to the code of an error frame.
var (
	ErrNotFound       = errors.New("chat: no such conversation")
	ErrUnknownService = errors.New("chat: no such service")
	ErrForbidden      = errors.New("chat: not allowed")
	ErrTaken          = errors.New("chat: conversation already taken")
	ErrEnded          = errors.New("chat: conversation ended")
	ErrTooLarge       = errors.New("chat: message too large")
	ErrEmpty          = errors.New("chat: empty message")
	ErrBadText        = errors.New("chat: message is not valid UTF-8")
	ErrUndeliverable  = errors.New("chat: message could not be redacted and was withheld")
	ErrBusy           = errors.New("chat: agent has reached the maximum number of chats")
	ErrStore          = errors.New("chat: could not store")
	ErrBadClientID    = errors.New("chat: client_id longer than 64 bytes")
)

// errorCodes maps each error of the Hub to its stable code.
var errorCodes = []struct {
	err  error
	code string
}{
	{ErrNotFound, "not_found"},
	{ErrUnknownService, "unknown_service"},
	{ErrForbidden, "forbidden"},
	{ErrTaken, "taken"},
	{ErrEnded, "ended"},
	{ErrTooLarge, "too_large"},
	{ErrEmpty, "empty"},
	{ErrBadText, "bad_text"},
	{ErrUndeliverable, "redaction_failed"},
	{ErrBusy, "busy"},
	{ErrBadClientID, "bad_request"},
}

// Code returns the stable error code of err for error frames and HTTP
// replies (docs/protocol.md); "internal" for any other error.
func Code(err error) string {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}

// Defaults of Config.
const (
	DefaultMaxMessageBytes = 4 << 10
	DefaultOfferTimeout    = 30 * time.Second
	DefaultMaxChats        = 4
)

// Service is what a widget connects to; it belongs to one workgroup.
type Service struct {
	Name      string
	Title     string
	Workgroup string
}

// Agent is a person who may handle the chats of their workgroups.
type Agent struct {
	Login      string
	Name       string // shown to visitors
	Workgroups []string
}

// Config configures a Hub.
type Config struct {
	Store    *store.Store
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
	Logger   *slog.Logger
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// Sink receives the frames of one client connection. Deliver must not
// block: a connection that cannot keep up is closed by its Sink, and its
// client resumes from the last seq it saw.
type Sink interface {
	Deliver(Frame)
}

// Participant says who acts: a visitor (of the conversation they are
// attached to) or an agent, by login.
type Participant struct {
	Role  string
	Login string
}

// Hub holds the live conversations and agents.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	services map[string]Service

	mu      sync.Mutex // guards what follows and the routing fields of conversations
	convs   map[string]*conversation
	waiting map[string]*conversation // the convs in state waiting
	agents  map[string]*agentState
	byGroup map[string][]*agentState // workgroup → its agents
	timers  map[string]*time.Timer   // offer expiry by conversation

	queueDirty map[string]bool // workgroups whose queue frame is due
	queueTimer *time.Timer
	queueSent  time.Time
	closed     bool
	closedCh   chan struct{}
}

type conversation struct {
	id, service, workgroup string
	tokenHash              []byte
	created                time.Time

	mu       sync.Mutex // serialises events: seq, streams, sinks
	seq      int64
	visitors map[Sink]struct{}
	streams  map[Participant]*redact.Stream
	sent     []sentMessage // the last maxRemembered client ids, for deduplication
	sentNext int

	// Guarded by Hub.mu.
	state     string
	agent     string
	offeredTo string
}

// maxRemembered bounds the client ids a conversation remembers; maxClientID
// bounds their length.
const (
	maxRemembered = 16
	maxClientID   = 64
)

// sentMessage is a stored message by the hash of its author and client id:
// a few bytes a message however long the ids, which matters at 10,000 open
// conversations.
type sentMessage struct {
	key uint64
	seq int64
}

func sentKey(p Participant, clientID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(p.Role))
	h.Write([]byte{0})
	h.Write([]byte(p.Login))
	h.Write([]byte{0})
	h.Write([]byte(clientID))
	return h.Sum64()
}

// stored returns the seq of the message key, if remembered. c.mu held.
func (c *conversation) stored(key uint64) (int64, bool) {
	for _, m := range c.sent {
		if m.key == key {
			return m.seq, true
		}
	}
	return 0, false
}

// remember records that key was stored as seq. c.mu must be held.
func (c *conversation) remember(key uint64, seq int64) {
	if len(c.sent) < maxRemembered {
		c.sent = append(c.sent, sentMessage{key, seq})
		return
	}
	c.sent[c.sentNext] = sentMessage{key, seq}
	c.sentNext = (c.sentNext + 1) % maxRemembered
}

type agentState struct {
	Agent
	workgroups map[string]bool
	available  bool
	freeSince  time.Time
	chats      map[string]bool
	offer      string // the conversation offered to them, if any
	sinks      map[Sink]struct{}
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
	h := &Hub{
		cfg:        cfg,
		log:        cfg.Logger,
		now:        cfg.Now,
		services:   map[string]Service{},
		convs:      map[string]*conversation{},
		waiting:    map[string]*conversation{},
		agents:     map[string]*agentState{},
		byGroup:    map[string][]*agentState{},
		timers:     map[string]*time.Timer{},
		queueDirty: map[string]bool{},
		closedCh:   make(chan struct{}),
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
		st := &agentState{Agent: a, workgroups: map[string]bool{}, chats: map[string]bool{}, sinks: map[Sink]struct{}{}}
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

// setStateLocked changes a conversation's routing state and keeps the
// waiting index true. h.mu must be held.
func (h *Hub) setStateLocked(c *conversation, state, agent string) {
	c.state, c.agent = state, agent
	if state == store.StateWaiting {
		h.waiting[c.id] = c
	} else {
		delete(h.waiting, c.id)
	}
}

// Describe returns a conversation (live or ended) and its agent.
func (h *Hub) Describe(ctx context.Context, id string) (ChatInfo, string, error) {
	h.mu.Lock()
	if c := h.convs[id]; c != nil {
		defer h.mu.Unlock()
		return h.infoLocked(c), c.agent, nil
	}
	h.mu.Unlock()
	sc, err := h.cfg.Store.Conversation(ctx, id)
	if err != nil {
		return ChatInfo{}, "", ErrNotFound
	}
	return ChatInfo{Conversation: sc.ID, Service: sc.Service, Workgroup: h.services[sc.Service].Workgroup,
		State: sc.State, Since: sc.Created.UnixMilli()}, sc.Agent, nil
}

// LiveChat is a live conversation as a supervisor sees it.
type LiveChat struct {
	ChatInfo
	Agent string `json:"agent"`
}

// AgentInfo is an agent as a supervisor sees them.
type AgentInfo struct {
	Login     string `json:"login"`
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Online    bool   `json:"online"`
	Chats     int    `json:"chats"`
}

// Workgroup returns the live conversations and the agents of a workgroup,
// oldest conversation first, agents by login.
func (h *Hub) Workgroup(workgroup string) ([]LiveChat, []AgentInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	chats := []LiveChat{}
	for _, c := range h.convs {
		if c.workgroup == workgroup {
			chats = append(chats, LiveChat{ChatInfo: h.infoLocked(c), Agent: c.agent})
		}
	}
	slices.SortFunc(chats, func(x, y LiveChat) int { return compareInfos(x.ChatInfo, y.ChatInfo) })
	agents := []AgentInfo{}
	for _, a := range h.byGroup[workgroup] {
		agents = append(agents, AgentInfo{Login: a.Login, Name: a.Name, Available: a.available, Online: len(a.sinks) > 0, Chats: len(a.chats)})
	}
	slices.SortFunc(agents, func(x, y AgentInfo) int { return strings.Compare(x.Login, y.Login) })
	return chats, agents
}

// NotifyAgent delivers an ephemeral frame to every connection of an agent.
func (h *Hub) NotifyAgent(login string, f Frame) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a := h.agents[login]; a != nil {
		for s := range a.sinks {
			s.Deliver(f)
		}
	}
}

// WorkgroupsOf returns an agent's workgroups, in configuration order.
func (h *Hub) WorkgroupsOf(login string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a := h.agents[login]; a != nil {
		return slices.Clone(a.Workgroups)
	}
	return nil
}

// InWorkgroup reports whether an agent belongs to workgroup.
func (h *Hub) InWorkgroup(login, workgroup string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[login]
	return a != nil && a.workgroups[workgroup]
}

// Handling returns the workgroup and the handling agent of a live
// conversation.
func (h *Hub) Handling(id string) (workgroup, agent string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.convs[id]
	if c == nil {
		return "", "", false
	}
	return c.workgroup, c.agent, true
}

// Record appends a system event of type typ with text to a live
// conversation's history and delivers it to both sides; tag classifies it
// for Tags (e.g. a secure input's outcome). The text is redacted like any
// message (it is the gateway's own, but a service's details could hold
// anything).
func (h *Hub) Record(ctx context.Context, id, typ, tag, text string) error {
	h.mu.Lock()
	c := h.convs[id]
	h.mu.Unlock()
	if c == nil {
		return ErrNotFound
	}
	redacted, _, err := h.cfg.Engine.AppendRedact(nil, []byte(text), nil)
	if err != nil {
		return ErrUndeliverable
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := store.Event{Conversation: id, Seq: c.seq + 1, Type: typ, Author: RoleSystem, AuthorName: tag, Text: string(redacted), At: h.now()}
	if err := h.appendLocked(ctx, c, []store.Event{ev}, nil); err != nil {
		return err
	}
	h.deliverLocked(c, frameOf(ev))
	return nil
}

// Tags counts the events of type typ of a conversation by the tag they were
// recorded with.
func (h *Hub) Tags(ctx context.Context, id, typ string) (map[string]int, error) {
	return h.cfg.Store.CountEvents(ctx, id, typ)
}

// Notify delivers an ephemeral frame of a live conversation to its visitors
// and/or its agent; f.Seq is set to the latest history seq.
func (h *Hub) Notify(id string, toVisitor, toAgent bool, f Frame) {
	h.mu.Lock()
	c := h.convs[id]
	h.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f.Seq, f.Conversation = c.seq, id
	if toVisitor {
		for s := range c.visitors {
			s.Deliver(f)
		}
	}
	if toAgent {
		h.mu.Lock()
		if a := h.agents[c.agent]; a != nil {
			for s := range a.sinks {
				s.Deliver(f)
			}
		}
		h.mu.Unlock()
	}
}

// Live returns how many conversations are open (waiting or active).
func (h *Hub) Live() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.convs)
}

// StoreStats reports the store's group commits and the writes they carried.
func (h *Hub) StoreStats() store.Stats { return h.cfg.Store.Stats() }

// MaxMessageBytes is the largest message text Send accepts.
func (h *Hub) MaxMessageBytes() int { return h.cfg.MaxMessageBytes }

// Service returns the service called name.
func (h *Hub) Service(name string) (Service, bool) {
	s, ok := h.services[name]
	return s, ok
}

// Load brings back the conversations that were open when the store was last
// written: waiting ones re-enter the queue, active ones stay with their agent.
func (h *Hub) Load(ctx context.Context) error {
	open, err := h.cfg.Store.OpenConversations(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, sc := range open {
		svc, ok := h.services[sc.Service]
		wg := svc.Workgroup
		if !ok {
			h.log.Warn("chat: conversation of a service no longer configured", slog.String("conversation", sc.ID), slog.String("service", sc.Service))
		}
		c := h.newConversation(sc.ID, sc.Service, wg, sc.TokenHash, sc.Created)
		c.seq = sc.LastSeq
		h.setStateLocked(c, sc.State, sc.Agent)
		if a := h.agents[sc.Agent]; a != nil && sc.State == store.StateActive {
			a.chats[sc.ID] = true
		} else if sc.State == store.StateActive {
			h.setStateLocked(c, store.StateWaiting, "") // its agent is gone: wait again
		}
		h.convs[sc.ID] = c
	}
	h.routeLocked()
	return nil
}

func (h *Hub) newConversation(id, service, workgroup string, tokenHash []byte, created time.Time) *conversation {
	return &conversation{
		id: id, service: service, workgroup: workgroup, tokenHash: tokenHash, created: created,
		visitors: map[Sink]struct{}{}, streams: map[Participant]*redact.Stream{},
	}
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

// Open starts a conversation on a service for a new visitor and returns its
// id and the visitor's resume token (shown only this once; the store keeps
// its hash).
func (h *Hub) Open(ctx context.Context, service string) (id, token string, err error) {
	svc, ok := h.services[service]
	if !ok {
		return "", "", ErrUnknownService
	}
	id = randomID()
	token = randomToken()
	now := h.now()
	c := h.newConversation(id, service, svc.Workgroup, hashToken(token), now)
	c.mu.Lock()
	err = h.cfg.Store.Write(ctx, "open conversation", func(tx *store.Tx) error {
		if err := tx.CreateConversation(store.Conversation{ID: id, Service: service, TokenHash: c.tokenHash, State: store.StateWaiting, Created: now}); err != nil {
			return err
		}
		if err := tx.Join(id, RoleVisitor, "visitor", now); err != nil {
			return err
		}
		return tx.AppendEvent(store.Event{Conversation: id, Seq: 1, Type: FrameWaiting, Author: RoleSystem, At: now})
	})
	if err != nil {
		c.mu.Unlock()
		h.log.Error("chat: open conversation", slog.String("service", service), slog.Any("err", err))
		return "", "", ErrStore
	}
	c.seq = 1
	c.mu.Unlock()
	h.log.Info("chat: conversation opened", slog.String("conversation", id), slog.String("service", service))

	h.mu.Lock()
	h.convs[id] = c
	h.setStateLocked(c, store.StateWaiting, "")
	h.routeLocked()
	h.queueChangedLocked(c.workgroup)
	h.mu.Unlock()
	return id, token, nil
}

// AttachVisitor checks a visitor's token and subscribes sink to the
// conversation. It returns the welcome frame and the history after since; the
// caller writes those first, then what sink receives. detach unsubscribes.
// An ended conversation gives its history and no subscription.
func (h *Hub) AttachVisitor(ctx context.Context, id, token string, since int64, sink Sink) (welcome Frame, history []Frame, detach func(), err error) {
	h.mu.Lock()
	c := h.convs[id]
	h.mu.Unlock()
	if c == nil {
		sc, err := h.cfg.Store.Conversation(ctx, id)
		if err != nil || !tokenMatches(sc.TokenHash, token) {
			return Frame{}, nil, nil, ErrNotFound
		}
		// Not live: ended (or of a service no longer configured).
		history, err = h.history(ctx, id, since)
		if err != nil {
			return Frame{}, nil, nil, err
		}
		return Frame{Type: FrameWelcome, Seq: sc.LastSeq, Conversation: id, Service: sc.Service, State: store.StateEnded, Protocol: ProtocolVersion}, history, func() {}, nil
	}
	if !tokenMatches(c.tokenHash, token) {
		return Frame{}, nil, nil, ErrNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	history, err = h.history(ctx, id, since)
	if err != nil {
		return Frame{}, nil, nil, err
	}
	h.mu.Lock()
	state := c.state
	h.mu.Unlock()
	c.visitors[sink] = struct{}{}
	welcome = Frame{Type: FrameWelcome, Seq: c.seq, Conversation: id, Service: c.service, State: state, Protocol: ProtocolVersion}
	return welcome, history, func() {
		c.mu.Lock()
		delete(c.visitors, sink)
		c.mu.Unlock()
	}, nil
}

// history reads the frames of a conversation after since.
func (h *Hub) history(ctx context.Context, id string, since int64) ([]Frame, error) {
	evs, err := h.cfg.Store.Events(ctx, id, since, 1<<20)
	if err != nil {
		h.log.Error("chat: read history", slog.String("conversation", id), slog.Any("err", err))
		return nil, ErrStore
	}
	frames := make([]Frame, len(evs))
	for i, e := range evs {
		frames[i] = frameOf(e)
	}
	return frames, nil
}

func frameOf(e store.Event) Frame {
	f := Frame{Type: e.Type, Seq: e.Seq, Conversation: e.Conversation, From: e.Author, Name: e.AuthorName, Text: e.Text, At: e.At.UnixMilli(), ClientID: e.ClientID}
	switch e.Type {
	case FrameMessage:
		f.ID = e.Seq
	case FrameMessageUpdate:
		f.ID = e.Ref
	}
	return f
}

// Send redacts a message and, once it is committed, delivers it to every
// participant (the author's own copy carries clientID, which acknowledges
// it). If redaction fails the message is withheld: Send returns
// ErrUndeliverable and nothing is stored or delivered.
func (h *Hub) Send(ctx context.Context, id string, p Participant, clientID string, text []byte) error {
	if len(text) > h.cfg.MaxMessageBytes {
		return ErrTooLarge
	}
	if len(clientID) > maxClientID {
		return ErrBadClientID
	}
	if !utf8.Valid(text) {
		return ErrBadText
	}
	if strings.TrimSpace(string(text)) == "" {
		return ErrEmpty
	}
	c, name, err := h.participantOf(id, p)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := h.stillOpen(c, p); err != nil {
		return err
	}
	key := sentKey(p, clientID)
	if seq, dup := c.stored(key); dup && clientID != "" {
		// A client resending a message whose acknowledgement it missed:
		// give it the stored copy again, store nothing.
		if again, err := h.history(ctx, id, seq-1); err == nil && len(again) > 0 {
			h.deliverToLocked(c, p, again[0])
		}
		return nil
	}
	st := c.streams[p]
	if st == nil {
		st = redact.NewStream(h.cfg.Engine, h.cfg.SplitWindow)
		c.streams[p] = st
	}
	now := h.now()
	seq := c.seq + 1
	redacted, spans, updates, err := st.Push(seq, now, text)
	if err != nil {
		h.log.Warn("chat: message withheld: redaction failed", slog.String("conversation", id), slog.String("role", p.Role), slog.Any("err", err))
		return ErrUndeliverable
	}
	evs := []store.Event{{Conversation: id, Seq: seq, Type: FrameMessage, Author: p.Role, AuthorName: name, ClientID: clientID, Text: string(redacted), At: now}}
	for _, u := range updates {
		evs = append(evs, store.Event{Conversation: id, Seq: seq + int64(len(evs)), Type: FrameMessageUpdate, Author: p.Role, AuthorName: name, Ref: u.ID, Text: u.Text, At: now})
	}
	if err := h.appendLocked(ctx, c, evs, nil); err != nil {
		st.Reset()
		return err
	}
	if clientID != "" {
		c.remember(key, seq)
	}
	h.log.Info("chat: message", slog.String("conversation", id), slog.Int64("seq", seq), slog.String("role", p.Role),
		slog.Int("bytes", len(text)), slog.Int("masked", len(spans)), slog.Int("updated", len(updates)))
	for _, e := range evs {
		h.deliverLocked(c, frameOf(e))
	}
	return nil
}

// appendLocked stores evs (numbered from c.seq+1) and, on success, advances
// c.seq. extra runs in the same transaction. c.mu must be held.
func (h *Hub) appendLocked(ctx context.Context, c *conversation, evs []store.Event, extra func(*store.Tx) error) error {
	err := h.cfg.Store.Write(ctx, "append events", func(tx *store.Tx) error {
		for _, e := range evs {
			if err := tx.AppendEvent(e); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		h.log.Error("chat: store events", slog.String("conversation", c.id), slog.Any("err", err))
		return ErrStore
	}
	c.seq += int64(len(evs))
	return nil
}

// deliverLocked sends f to the conversation's visitors and its agent.
// c.mu must be held.
func (h *Hub) deliverLocked(c *conversation, f Frame) {
	for s := range c.visitors {
		s.Deliver(f)
	}
	h.mu.Lock()
	if a := h.agents[c.agent]; a != nil {
		for s := range a.sinks {
			s.Deliver(f)
		}
	}
	h.mu.Unlock()
}

// deliverToLocked sends f to p's connections only. c.mu must be held.
func (h *Hub) deliverToLocked(c *conversation, p Participant, f Frame) {
	if p.Role == RoleVisitor {
		for s := range c.visitors {
			s.Deliver(f)
		}
		return
	}
	h.mu.Lock()
	if a := h.agents[p.Login]; a != nil {
		for s := range a.sinks {
			s.Deliver(f)
		}
	}
	h.mu.Unlock()
}

// participantOf finds the conversation and checks that p takes part in it.
func (h *Hub) participantOf(id string, p Participant) (*conversation, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.convs[id]
	if c == nil {
		return nil, "", ErrNotFound
	}
	switch p.Role {
	case RoleVisitor:
		return c, "Visitor", nil
	case RoleAgent:
		a := h.agents[p.Login]
		if a == nil || c.agent != p.Login {
			return nil, "", ErrForbidden
		}
		return c, a.Name, nil
	}
	return nil, "", ErrForbidden
}

// stillOpen checks, with c.mu held, that p may still write to c.
func (h *Hub) stillOpen(c *conversation, p Participant) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.state == store.StateEnded {
		return ErrEnded
	}
	if p.Role == RoleAgent && c.agent != p.Login {
		return ErrForbidden
	}
	return nil
}

// Typing tells the other side of the conversation that p is (or stopped)
// typing. Nothing is stored.
func (h *Hub) Typing(id string, p Participant, active bool) error {
	c, _, err := h.participantOf(id, p)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f := Frame{Type: FrameTyping, Seq: c.seq, Conversation: id, From: p.Role, Active: &active}
	if p.Role == RoleAgent {
		for s := range c.visitors {
			s.Deliver(f)
		}
		return nil
	}
	h.mu.Lock()
	if a := h.agents[c.agent]; a != nil {
		for s := range a.sinks {
			s.Deliver(f)
		}
	}
	h.mu.Unlock()
	return nil
}

// End ends a conversation; the visitor or its agent may.
func (h *Hub) End(ctx context.Context, id string, p Participant) error {
	c, name, err := h.participantOf(id, p)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if err := h.stillOpen(c, p); err != nil {
		c.mu.Unlock()
		return err
	}
	now := h.now()
	h.mu.Lock()
	agent := c.agent
	h.mu.Unlock()
	ev := store.Event{Conversation: id, Seq: c.seq + 1, Type: FrameEnded, Author: p.Role, AuthorName: name, At: now}
	err = h.appendLocked(ctx, c, []store.Event{ev}, func(tx *store.Tx) error {
		if agent != "" {
			if err := tx.Leave(id, RoleAgent, agent, now); err != nil {
				return err
			}
		}
		return tx.SetState(id, store.StateEnded, agent, now)
	})
	if err != nil {
		c.mu.Unlock()
		return err
	}
	h.deliverLocked(c, frameOf(ev))
	for _, st := range c.streams {
		st.Reset()
	}
	h.mu.Lock()
	h.setStateLocked(c, store.StateEnded, agent)
	delete(h.convs, id)
	h.stopOfferLocked(c)
	if a := h.agents[agent]; a != nil {
		h.releaseLocked(a, id, now)
	}
	c.mu.Unlock()
	h.queueChangedLocked(c.workgroup)
	h.routeLocked()
	h.mu.Unlock()
	h.log.Info("chat: conversation ended", slog.String("conversation", id), slog.String("by", p.Role))
	return nil
}

// AttachAgent subscribes sink to everything an agent sees and returns the
// frames that describe where they stand: welcome, status, chats, queue.
func (h *Hub) AttachAgent(login string, sink Sink) (initial []Frame, detach func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[login]
	if a == nil {
		return nil, nil, ErrForbidden
	}
	a.sinks[sink] = struct{}{}
	initial = []Frame{
		{Type: FrameWelcome, Agent: a.Login, Name: a.Name, Protocol: ProtocolVersion},
		h.statusFrameLocked(a),
		h.chatsFrameLocked(a),
		h.queueFrameLocked(a),
	}
	if a.offer != "" {
		if c := h.convs[a.offer]; c != nil {
			initial = append(initial, Frame{Type: FrameOffer, Conversation: c.id, Service: c.service, Seq: 0})
		}
	}
	return initial, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(a.sinks, sink)
		if len(a.sinks) == 0 && a.offer != "" {
			// Nobody to see the offer: pass it on.
			if c := h.convs[a.offer]; c != nil {
				h.stopOfferLocked(c)
				h.routeLocked()
			}
		}
	}, nil
}

// SetAvailable sets whether an agent takes new chats.
func (h *Hub) SetAvailable(login string, available bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.agents[login]
	if a == nil {
		return ErrForbidden
	}
	if a.available != available {
		a.available = available
		if available && len(a.chats) == 0 {
			a.freeSince = h.now()
		}
		if !available && a.offer != "" {
			if c := h.convs[a.offer]; c != nil {
				h.stopOfferLocked(c)
			}
		}
	}
	f := h.statusFrameLocked(a)
	for s := range a.sinks {
		s.Deliver(f)
	}
	h.routeLocked()
	return nil
}

// Accept gives a waiting conversation to an agent of its workgroup.
func (h *Hub) Accept(ctx context.Context, id, login string) error {
	h.mu.Lock()
	c := h.convs[id]
	a := h.agents[login]
	if a == nil || c == nil || !a.workgroups[c.workgroup] {
		h.mu.Unlock()
		if a != nil && c != nil {
			return ErrForbidden
		}
		if a == nil {
			return ErrForbidden
		}
		return ErrNotFound
	}
	h.mu.Unlock()

	c.mu.Lock()
	h.mu.Lock()
	switch {
	case c.state == store.StateEnded:
		h.mu.Unlock()
		c.mu.Unlock()
		return ErrEnded
	case c.state != store.StateWaiting:
		h.mu.Unlock()
		c.mu.Unlock()
		return ErrTaken
	case len(a.chats) >= h.cfg.MaxChats:
		if c.offeredTo == login {
			h.stopOfferLocked(c) // pass the offer on
			h.routeLocked()
		}
		h.mu.Unlock()
		c.mu.Unlock()
		return ErrBusy
	}
	// Claim it before the write, so that neither a concurrent Accept nor
	// the router sees the chat free or the agent with room for it.
	h.setStateLocked(c, store.StateActive, login)
	h.stopOfferLocked(c)
	a.chats[id] = true
	h.mu.Unlock()

	now := h.now()
	ev := store.Event{Conversation: id, Seq: c.seq + 1, Type: FrameAgentJoined, Author: RoleAgent, AuthorName: a.Name, At: now}
	err := h.appendLocked(ctx, c, []store.Event{ev}, func(tx *store.Tx) error {
		if err := tx.Join(id, RoleAgent, login, now); err != nil {
			return err
		}
		return tx.SetState(id, store.StateActive, login, now)
	})
	h.mu.Lock()
	if err != nil {
		delete(a.chats, id)
		h.setStateLocked(c, store.StateWaiting, "")
		h.routeLocked()
		h.mu.Unlock()
		c.mu.Unlock()
		return err
	}
	h.sendChatsLocked(a)
	h.queueChangedLocked(c.workgroup)
	h.mu.Unlock()
	h.deliverLocked(c, frameOf(ev))
	c.mu.Unlock()
	h.log.Info("chat: accepted", slog.String("conversation", id), slog.String("agent", login))
	return nil
}

// Leave hands a conversation back to the queue of its workgroup.
func (h *Hub) Leave(ctx context.Context, id, login string) error {
	c, name, err := h.participantOf(id, Participant{Role: RoleAgent, Login: login})
	if err != nil {
		return err
	}
	c.mu.Lock()
	if err := h.stillOpen(c, Participant{Role: RoleAgent, Login: login}); err != nil {
		c.mu.Unlock()
		return err
	}
	now := h.now()
	evs := []store.Event{
		{Conversation: id, Seq: c.seq + 1, Type: FrameAgentLeft, Author: RoleAgent, AuthorName: name, At: now},
		{Conversation: id, Seq: c.seq + 2, Type: FrameWaiting, Author: RoleSystem, At: now},
	}
	err = h.appendLocked(ctx, c, evs, func(tx *store.Tx) error {
		if err := tx.Leave(id, RoleAgent, login, now); err != nil {
			return err
		}
		return tx.SetState(id, store.StateWaiting, "", now)
	})
	if err != nil {
		c.mu.Unlock()
		return err
	}
	for _, e := range evs {
		h.deliverLocked(c, frameOf(e))
	}
	delete(c.streams, Participant{Role: RoleAgent, Login: login})
	h.mu.Lock()
	h.setStateLocked(c, store.StateWaiting, "")
	h.releaseLocked(h.agents[login], id, now)
	c.mu.Unlock()
	h.queueChangedLocked(c.workgroup)
	h.routeLocked()
	h.mu.Unlock()
	return nil
}

// History returns the frames of a conversation after since, for an agent
// who handles it or belongs to its workgroup.
func (h *Hub) History(ctx context.Context, id, login string, since int64) ([]Frame, error) {
	h.mu.Lock()
	a := h.agents[login]
	c := h.convs[id]
	var wg, agent string
	if c != nil {
		wg, agent = c.workgroup, c.agent
	}
	h.mu.Unlock()
	if a == nil {
		return nil, ErrForbidden
	}
	if c == nil {
		sc, err := h.cfg.Store.Conversation(ctx, id)
		if err != nil {
			return nil, ErrNotFound
		}
		svc := h.services[sc.Service]
		wg, agent = svc.Workgroup, sc.Agent
	}
	if agent != login && !a.workgroups[wg] {
		return nil, ErrForbidden
	}
	return h.history(ctx, id, since)
}

// routeLocked offers each waiting conversation without an offer to the
// available agent of its workgroup who has been free longest. h.mu held.
func (h *Hub) routeLocked() {
	if h.closed {
		return
	}
	var waiting []*conversation
	for _, c := range h.waiting {
		if c.offeredTo == "" {
			waiting = append(waiting, c)
		}
	}
	slices.SortFunc(waiting, func(x, y *conversation) int {
		if d := x.created.Compare(y.created); d != 0 {
			return d
		}
		return strings.Compare(x.id, y.id)
	})
	for _, c := range waiting {
		var best *agentState
		for _, a := range h.byGroup[c.workgroup] {
			if !a.available || a.offer != "" || len(a.sinks) == 0 || len(a.chats) >= h.cfg.MaxChats {
				continue
			}
			if best == nil || len(a.chats) < len(best.chats) ||
				len(a.chats) == len(best.chats) && (a.freeSince.Before(best.freeSince) ||
					a.freeSince.Equal(best.freeSince) && a.Login < best.Login) {
				best = a
			}
		}
		if best == nil {
			continue
		}
		c.offeredTo, best.offer = best.Login, c.id
		f := Frame{Type: FrameOffer, Conversation: c.id, Service: c.service}
		for s := range best.sinks {
			s.Deliver(f)
		}
		id, login := c.id, best.Login
		h.timers[id] = time.AfterFunc(h.cfg.OfferTimeout, func() { h.offerExpired(id, login) })
	}
}

// offerExpired passes an unanswered offer on; the agent who let it lapse
// goes to the back of the line.
func (h *Hub) offerExpired(id, login string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.convs[id]
	if c == nil || c.offeredTo != login || c.state != store.StateWaiting {
		return
	}
	h.stopOfferLocked(c)
	if a := h.agents[login]; a != nil {
		a.freeSince = h.now()
	}
	h.routeLocked()
}

func (h *Hub) stopOfferLocked(c *conversation) {
	if t := h.timers[c.id]; t != nil {
		t.Stop()
		delete(h.timers, c.id)
	}
	if a := h.agents[c.offeredTo]; a != nil && a.offer == c.id {
		a.offer = ""
	}
	c.offeredTo = ""
}

func (h *Hub) statusFrameLocked(a *agentState) Frame {
	status := "away"
	if a.available {
		status = "available"
	}
	return Frame{Type: FrameStatus, Agent: a.Login, Status: status}
}

func (h *Hub) chatsFrameLocked(a *agentState) Frame {
	f := Frame{Type: FrameChats, Chats: []ChatInfo{}}
	for id := range a.chats {
		if c := h.convs[id]; c != nil {
			f.Chats = append(f.Chats, h.infoLocked(c))
		}
	}
	sortInfos(f.Chats)
	return f
}

// releaseLocked takes a chat off an agent's hands: if it was their last,
// they are free from now. h.mu held.
func (h *Hub) releaseLocked(a *agentState, id string, now time.Time) {
	delete(a.chats, id)
	if len(a.chats) == 0 {
		a.freeSince = now
	}
	h.sendChatsLocked(a)
}

func (h *Hub) sendChatsLocked(a *agentState) {
	f := h.chatsFrameLocked(a)
	for s := range a.sinks {
		s.Deliver(f)
	}
}

// maxQueueShown bounds the chats listed in a queue frame (the oldest).
const maxQueueShown = 100

// queueInterval is the least time between two queue frames to an agent: a
// burst of new chats gives one frame, not one per chat to every agent of
// the workgroup.
const queueInterval = 100 * time.Millisecond

func (h *Hub) queueFrameLocked(a *agentState) Frame {
	f := Frame{Type: FrameQueue, Chats: []ChatInfo{}}
	for _, c := range h.waiting {
		if a.workgroups[c.workgroup] {
			f.Chats = append(f.Chats, h.infoLocked(c))
		}
	}
	sortInfos(f.Chats)
	if len(f.Chats) > maxQueueShown {
		f.Chats = f.Chats[:maxQueueShown]
	}
	return f
}

// queueChangedLocked sends the new queue to the agents of a workgroup: at
// once if none was sent within queueInterval, else once at the end of it.
func (h *Hub) queueChangedLocked(workgroup string) {
	h.queueDirty[workgroup] = true
	if h.queueTimer != nil || h.closed {
		return
	}
	if wait := queueInterval - time.Since(h.queueSent); wait > 0 {
		h.queueTimer = time.AfterFunc(wait, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.queueTimer = nil
			h.flushQueuesLocked()
		})
		return
	}
	h.flushQueuesLocked()
}

func (h *Hub) flushQueuesLocked() {
	if h.closed {
		return
	}
	h.queueSent = time.Now()
	for wg := range h.queueDirty {
		delete(h.queueDirty, wg)
		for _, a := range h.byGroup[wg] {
			if len(a.sinks) > 0 {
				f := h.queueFrameLocked(a)
				for s := range a.sinks {
					s.Deliver(f)
				}
			}
		}
	}
}

func (h *Hub) infoLocked(c *conversation) ChatInfo {
	return ChatInfo{Conversation: c.id, Service: c.service, Workgroup: c.workgroup, State: c.state, Since: c.created.UnixMilli()}
}

func sortInfos(infos []ChatInfo) { slices.SortFunc(infos, compareInfos) }

// compareInfos orders chats oldest first, then by id.
func compareInfos(x, y ChatInfo) int {
	if x.Since != y.Since {
		return cmp.Compare(x.Since, y.Since)
	}
	return strings.Compare(x.Conversation, y.Conversation)
}

func randomID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func tokenMatches(hash []byte, token string) bool {
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(hash, hashToken(token)) == 1
}
