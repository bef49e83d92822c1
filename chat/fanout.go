package chat

// Sink receives the frames of one client connection. Deliver must not
// block: a connection that cannot keep up is closed by its Sink, and its
// client resumes from the last seq it saw.
type Sink interface {
	Deliver(Frame)
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
