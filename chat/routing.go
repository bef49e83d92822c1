package chat

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/secureinput/gateway/store"
)

type agentState struct {
	Agent
	workgroups map[string]bool
	available  bool
	freeSince  time.Time
	chats      map[string]bool
	offer      string // the conversation offered to them, if any
	sinks      sinkSet
}

// setStateLocked changes a conversation's routing state and keeps the
// waiting index true. h.mu must be held.
func (h *Hub) setStateLocked(c *conversation, state, agent string) {
	was := c.state
	c.state, c.agent = state, agent
	switch {
	case state == StateWaiting && was != StateWaiting:
		h.enqueueLocked(c)
	case state != StateWaiting && was == StateWaiting:
		h.dequeueLocked(c)
		c.place = 0 // told again if it waits again
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
	a.sinks.deliver(f)
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
	case c.state == StateEnded:
		h.mu.Unlock()
		c.mu.Unlock()
		return ErrEnded
	case c.state != StateWaiting:
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
	h.setStateLocked(c, StateActive, login)
	h.stopOfferLocked(c)
	a.chats[id] = true
	h.mu.Unlock()

	now := h.now()
	ev := store.Event{Conversation: id, Seq: c.seq + 1, Type: FrameAgentJoined, Author: RoleAgent, AuthorName: a.Name, At: now}
	err := h.appendLocked(ctx, c, []store.Event{ev}, func(tx *store.Tx) error {
		if err := tx.Join(id, RoleAgent, login, now); err != nil {
			return err
		}
		return tx.SetState(id, StateActive, login, time.Time{})
	})
	h.mu.Lock()
	if err != nil {
		delete(a.chats, id)
		h.setStateLocked(c, StateWaiting, "")
		h.routeLocked()
		h.mu.Unlock()
		c.mu.Unlock()
		return err
	}
	h.sendChatsLocked(a)
	h.queueChangedLocked(c.workgroup)
	// The agent offered c (if another) is free again, and an offer this
	// agent holds for another chat passes on once they are full.
	if a.offer != "" && len(a.chats) >= h.cfg.MaxChats {
		if other := h.convs[a.offer]; other != nil {
			h.stopOfferLocked(other)
		}
	}
	h.routeLocked()
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
		return tx.SetState(id, StateWaiting, "", time.Time{})
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
	h.setStateLocked(c, StateWaiting, "")
	h.releaseLocked(h.agents[login], id, now)
	h.queueChangedLocked(c.workgroup)
	h.routeLocked()
	h.mu.Unlock()
	c.mu.Unlock()
	return nil
}

// routeLocked offers the waiting conversations without an offer, oldest
// first, each to the available agent of its workgroup who has been free
// longest. It walks each workgroup's queue from its head and stops at the
// first conversation no agent is free for. h.mu held.
func (h *Hub) routeLocked() {
	if h.closed {
		return
	}
	for wg, q := range h.queues {
		for _, c := range *q {
			if c.offeredTo != "" {
				continue
			}
			best := h.freeAgentLocked(wg)
			if best == nil {
				break // nobody free for this workgroup: nor for the rest of its queue
			}
			h.offerLocked(c, best)
		}
	}
}

// freeAgentLocked is the agent of workgroup who should get the next offer:
// available, with room, without an offer, fewest chats, free longest.
func (h *Hub) freeAgentLocked(workgroup string) *agentState {
	var best *agentState
	for _, a := range h.byGroup[workgroup] {
		if !a.available || a.offer != "" || len(a.sinks) == 0 || len(a.chats) >= h.cfg.MaxChats {
			continue
		}
		if best == nil || len(a.chats) < len(best.chats) ||
			len(a.chats) == len(best.chats) && (a.freeSince.Before(best.freeSince) ||
				a.freeSince.Equal(best.freeSince) && a.Login < best.Login) {
			best = a
		}
	}
	return best
}

// offerLocked offers c to best. h.mu held.
func (h *Hub) offerLocked(c *conversation, best *agentState) {
	c.offeredTo, best.offer = best.Login, c.id
	f := Frame{Type: FrameOffer, Conversation: c.id, Service: c.service}
	best.sinks.deliver(f)
	id, login := c.id, best.Login
	h.timers[id] = time.AfterFunc(h.cfg.OfferTimeout, func() { h.offerExpired(id, login) })
}

// offerExpired passes an unanswered offer on; the agent who let it lapse
// goes to the back of the line.
func (h *Hub) offerExpired(id, login string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.convs[id]
	if c == nil || c.offeredTo != login || c.state != StateWaiting {
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
	a.sinks.deliver(f)
}

// maxQueueShown bounds the chats listed in a queue frame (the oldest).
const maxQueueShown = 100

// queueInterval is the least time between two queue frames to an agent: a
// burst of new chats gives one frame, not one per chat to every agent of
// the workgroup.
const queueInterval = 100 * time.Millisecond

func (h *Hub) queueFrameLocked(a *agentState) Frame {
	f := Frame{Type: FrameQueue, Chats: []ChatInfo{}}
	for wg := range a.workgroups {
		if q := h.queues[wg]; q != nil {
			for _, c := range (*q)[:min(len(*q), maxQueueShown)] {
				f.Chats = append(f.Chats, h.infoLocked(c))
			}
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
// Both ends of the interval are read from the Hub's clock; the wait itself
// is a real timer, never longer than queueInterval (should the clock step
// back).
func (h *Hub) queueChangedLocked(workgroup string) {
	h.placesChangedLocked(workgroup)
	h.queueDirty[workgroup] = true
	if h.queueTimer != nil || h.closed {
		return
	}
	if wait := min(queueInterval-h.now().Sub(h.queueSent), queueInterval); wait > 0 {
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
	h.queueSent = h.now()
	for wg := range h.queueDirty {
		delete(h.queueDirty, wg)
		for _, a := range h.byGroup[wg] {
			if len(a.sinks) > 0 {
				f := h.queueFrameLocked(a)
				a.sinks.deliver(f)
			}
		}
	}
}

func (h *Hub) infoLocked(c *conversation) ChatInfo {
	return ChatInfo{Conversation: c.id, Service: c.service, Workgroup: c.workgroup, State: c.state, Since: c.created.UnixMilli(),
		FirstMessage: c.first, Page: c.page}
}

func sortInfos(infos []ChatInfo) { slices.SortFunc(infos, compareInfos) }

// compareInfos orders chats oldest first, then by id.
func compareInfos(x, y ChatInfo) int {
	if x.Since != y.Since {
		return cmp.Compare(x.Since, y.Since)
	}
	return strings.Compare(x.Conversation, y.Conversation)
}

// ServiceStatus is whether a service answers now: within its hours, and
// with an agent of its workgroup signed in and available.
type ServiceStatus struct {
	Service
	Open      bool // within its hours
	Available bool // an agent of its workgroup is online and available
}

// Status returns the status of the service called name.
func (h *Hub) Status(name string) (ServiceStatus, bool) {
	svc, ok := h.services[name]
	if !ok {
		return ServiceStatus{}, false
	}
	st := ServiceStatus{Service: svc, Open: svc.Hours.Open(h.now())}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.byGroup[svc.Workgroup] {
		if a.available && len(a.sinks) > 0 {
			st.Available = true
			break
		}
	}
	return st, true
}

// Service returns the service called name.
func (h *Hub) Service(name string) (Service, bool) {
	s, ok := h.services[name]
	return s, ok
}
