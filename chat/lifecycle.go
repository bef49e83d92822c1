package chat

import (
	"context"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

// Load brings back the conversations that were open when the store was last
// written: waiting ones re-enter the queue, active ones stay with their agent.
func (h *Hub) Load(ctx context.Context) error {
	open, err := h.cfg.Store.OpenConversations(ctx)
	if err != nil {
		return err
	}
	firsts := make(map[string]firstMessage, len(open))
	for _, sc := range open {
		if f, ok := h.readFirst(ctx, sc.ID); ok {
			firsts[sc.ID] = f
		}
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
		if sc.LastSeq > 1 { // more than the opening event: take it as written in
			c.spoke.Store(true)
		} else {
			h.silent = append(h.silent, c) // OpenConversations is oldest first
		}
		h.setStateLocked(c, sc.State, sc.Agent)
		if a := h.agents[sc.Agent]; a != nil && sc.State == StateActive {
			a.chats[sc.ID] = true
		} else if sc.State == StateActive {
			h.setStateLocked(c, StateWaiting, "") // its agent is gone: wait again
		}
		c.firstSeq, c.first = firsts[sc.ID].seq, firsts[sc.ID].text
		h.convs[sc.ID] = c
	}
	h.routeLocked()
	return nil
}

// Open starts a conversation on a service for a new visitor and returns its
// id and the visitor's resume token (shown only this once; the store keeps
// its hash).
func (h *Hub) Open(ctx context.Context, service string) (id, token string, err error) {
	return h.OpenAs(ctx, Opening{Service: service})
}

// MaxVisitorID bounds the visitor id a site may give a conversation.
const MaxVisitorID = 128

// Opening is what a visitor opens a conversation with.
type Opening struct {
	// Service is the service the widget connects to (required).
	Service string
	// Visitor is the site's id of its customer (at most MaxVisitorID bytes
	// of printable ASCII, else ErrBadVisitor): the store keeps it with the
	// conversation so that every conversation of the visitor can be erased
	// on request. Empty for an anonymous visitor.
	Visitor string
	// Page is the address of the page the visitor opened the chat on, which
	// the agents of the queue are shown: without its query and fragment, cut
	// to maxPreview bytes and redacted; dropped if it cannot be redacted. It
	// is kept in memory only.
	Page string
}

// OpenAs is Open with what the visitor brings: the site's id for them and
// the page they are on.
func (h *Hub) OpenAs(ctx context.Context, o Opening) (id, token string, err error) {
	service, visitor, page := o.Service, o.Visitor, o.Page
	if !validVisitorID(visitor) {
		return "", "", ErrBadVisitor
	}
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
		if err := tx.CreateConversation(store.Conversation{ID: id, Service: service, TokenHash: c.tokenHash, State: StateWaiting, Created: now, Visitor: visitor}); err != nil {
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

	c.page = h.preview([]byte(pageOnly(page)))
	h.mu.Lock()
	h.convs[id] = c
	h.setStateLocked(c, StateWaiting, "")
	h.silent = append(h.silent, c)
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
		return Frame{Type: FrameWelcome, Seq: sc.LastSeq, Conversation: id, Service: sc.Service, State: StateEnded, Protocol: ProtocolVersion}, history, func() {}, nil
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
	place := 0
	if state == StateWaiting {
		place = h.placeLocked(c)
	}
	h.mu.Unlock()
	c.visitors[sink] = struct{}{}
	welcome = Frame{Type: FrameWelcome, Seq: c.seq, Conversation: id, Service: c.service, State: state, Protocol: ProtocolVersion, Position: place}
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
	case FrameMessageUpdate, FrameRedaction:
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
	if clientID != "" && !ValidID(clientID) {
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
		h.log.Warn("chat: message withheld: redaction failed", slog.String("conversation", id), slog.String("role", p.Role), slog.Any("err", err),
			slog.String("fail_closed", "redaction"))
		return ErrUndeliverable
	}
	evs := []store.Event{{Conversation: id, Seq: seq, Type: FrameMessage, Author: p.Role, AuthorName: name, ClientID: clientID, Text: string(redacted), At: now}}
	for _, u := range updates {
		evs = append(evs, store.Event{Conversation: id, Seq: seq + int64(len(evs)), Type: FrameMessageUpdate, Author: p.Role, AuthorName: name, Ref: u.ID, Text: u.Text, At: now})
	}
	// Which rules fired, as a transcript event: the rule names only.
	if rules := redact.Rules(spans); len(rules) > 0 {
		evs = append(evs, store.Event{Conversation: id, Seq: seq + int64(len(evs)), Type: FrameRedaction, Author: RoleSystem, AuthorName: "redaction", Ref: seq, Text: strings.Join(rules, " "), At: now})
	}
	if err := h.appendLocked(ctx, c, evs, nil); err != nil {
		st.Reset()
		return err
	}
	if clientID != "" {
		c.remember(key, seq)
	}
	if p.Role == RoleVisitor {
		c.spoke.Store(true)
	}
	h.log.Info("chat: message", slog.String("conversation", id), slog.Int64("seq", seq), slog.String("role", p.Role),
		slog.Int("bytes", len(text)), slog.Int("masked", len(spans)), slog.Int("updated", len(updates)))
	for _, e := range evs {
		h.deliverLocked(c, frameOf(e))
	}
	h.noteFirst(c, evs)
	return nil
}

// noteFirst keeps c's first visitor message (as redacted, and as masked
// further by a later update) for the queue. c.mu must be held.
func (h *Hub) noteFirst(c *conversation, evs []store.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := false
	for _, e := range evs {
		switch {
		case e.Type == FrameMessage && e.Author == RoleVisitor && c.firstSeq == 0:
			c.firstSeq, c.first, changed = e.Seq, h.preview([]byte(e.Text)), true
		case e.Type == FrameMessageUpdate && c.firstSeq != 0 && e.Ref == c.firstSeq:
			c.first, changed = h.preview([]byte(e.Text)), true
		}
	}
	if changed && c.state == StateWaiting {
		h.queueChangedLocked(c.workgroup)
	}
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
	if c.state == StateEnded {
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
		c.visitors.deliver(f)
		return nil
	}
	h.deliverToAgentOf(c, f)
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
	return h.endLocked(ctx, c, p.Role, name)
}

// endLocked ends c on behalf of role (whose name the ended event carries);
// c.mu is held, and released when it returns.
func (h *Hub) endLocked(ctx context.Context, c *conversation, role, name string) error {
	id := c.id
	now := h.now()
	h.mu.Lock()
	agent := c.agent
	h.mu.Unlock()
	ev := store.Event{Conversation: id, Seq: c.seq + 1, Type: FrameEnded, Author: role, AuthorName: name, At: now}
	err := h.appendLocked(ctx, c, []store.Event{ev}, func(tx *store.Tx) error {
		if agent != "" {
			if err := tx.Leave(id, RoleAgent, agent, now); err != nil {
				return err
			}
		}
		return tx.SetState(id, StateEnded, agent, now)
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
	h.setStateLocked(c, StateEnded, agent)
	delete(h.convs, id)
	h.stopOfferLocked(c)
	if a := h.agents[agent]; a != nil {
		h.releaseLocked(a, id, now)
	}
	h.queueChangedLocked(c.workgroup)
	h.routeLocked()
	h.mu.Unlock()
	c.mu.Unlock()
	h.log.Info("chat: conversation ended", slog.String("conversation", id), slog.String("by", role))
	if h.cfg.OnEnd != nil {
		h.cfg.OnEnd(id)
	}
	return nil
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
		h.log.Warn("chat: system event withheld: redaction failed", slog.String("conversation", id), slog.Any("err", err),
			slog.String("fail_closed", "redaction"))
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

// validVisitorID reports whether v may be stored as a visitor id.
func validVisitorID(v string) bool {
	if len(v) > MaxVisitorID {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return false
		}
	}
	return true
}
