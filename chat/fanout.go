package chat

// Sink receives the frames of one client connection. Deliver must not
// block: a connection that cannot keep up is closed by its Sink, and its
// client resumes from the last seq it saw. The Hub calls Deliver with its
// locks held, so Deliver must not call back into the Hub.
type Sink interface {
	// Deliver hands over a frame of the chat.
	Deliver(Frame)
	// Notice hands over a frame of another feature (a secure form, a
	// call) that the Hub routes without reading it, stamped with its
	// conversation and that conversation's latest history seq ("" and 0
	// for a notice to an agent).
	Notice(conversation string, seq int64, body any)
}

// sinkSet is the connections of one side: a conversation's visitors, or an
// agent's sockets.
type sinkSet map[Sink]struct{}

// deliver hands f to every sink of s. Every fan-out of the Hub goes through
// it.
func (s sinkSet) deliver(f Frame) {
	for sink := range s {
		sink.Deliver(f)
	}
}

// notice hands a notice to every sink of s.
func (s sinkSet) notice(conversation string, seq int64, body any) {
	for sink := range s {
		sink.Notice(conversation, seq, body)
	}
}

// agentSinksLocked returns the connections of the agent login; none if
// there is no such agent. h.mu must be held.
func (h *Hub) agentSinksLocked(login string) sinkSet {
	if a := h.agents[login]; a != nil {
		return a.sinks
	}
	return nil
}

// deliverToAgent sends f to every connection of the agent login. The caller
// must not hold h.mu (it may hold a conversation's mu, which comes first).
func (h *Hub) deliverToAgent(login string, f Frame) {
	h.mu.Lock()
	h.agentSinksLocked(login).deliver(f)
	h.mu.Unlock()
}

// deliverToAgentOf sends f to the connections of c's agent, if it has one;
// c.agent is read under h.mu, which guards it. The caller must not hold
// h.mu.
func (h *Hub) deliverToAgentOf(c *conversation, f Frame) {
	h.mu.Lock()
	h.agentSinksLocked(c.agent).deliver(f)
	h.mu.Unlock()
}

// NotifyAgent hands another feature's frame, body, to every connection of
// an agent (see Sink.Notice).
func (h *Hub) NotifyAgent(login string, body any) {
	h.mu.Lock()
	h.agentSinksLocked(login).notice("", 0, body)
	h.mu.Unlock()
}

// Notify hands another feature's frame, body, to the visitors and/or the
// agent of a live conversation, stamped with its latest history seq (see
// Sink.Notice).
func (h *Hub) Notify(id string, toVisitor, toAgent bool, body any) {
	h.mu.Lock()
	c := h.convs[id]
	h.mu.Unlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if toVisitor {
		c.visitors.notice(id, c.seq, body)
	}
	if toAgent {
		h.mu.Lock() // c.agent is guarded by h.mu
		h.agentSinksLocked(c.agent).notice(id, c.seq, body)
		h.mu.Unlock()
	}
}

// deliverLocked sends f to the conversation's visitors and its agent.
// c.mu must be held.
func (h *Hub) deliverLocked(c *conversation, f Frame) {
	c.visitors.deliver(f)
	h.deliverToAgentOf(c, f)
}

// deliverToLocked sends f to p's connections only. c.mu must be held.
func (h *Hub) deliverToLocked(c *conversation, p Participant, f Frame) {
	if p.Role == RoleVisitor {
		c.visitors.deliver(f)
		return
	}
	h.deliverToAgent(p.Login, f)
}
