package voice

// RegisterCall records (or updates) a call: its agent, parties and
// monitoring.
func (m *Manager) RegisterCall(c Call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cc := c
	m.calls[c.ID] = &cc
}

// EndCall forgets a call; its session, if any, ends.
func (m *Manager) EndCall(id string) {
	m.mu.Lock()
	sid := m.byCall[id]
	delete(m.calls, id)
	delete(m.ended, id)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.usage, id)
		m.mu.Unlock()
	}()
	if sid != "" {
		m.Cancel(sid, "call ended")
	}
}

// Call returns a registered call.
func (m *Manager) Call(id string) (Call, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.calls[id]
	if c == nil {
		return Call{}, false
	}
	return *c, true
}

// UsageOf returns the secure-input counts of a call.
func (m *Manager) UsageOf(call string) Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := Usage{Outcomes: map[string]int{}}
	if u := m.usage[call]; u != nil {
		out.Requests = u.Requests
		for k, v := range u.Outcomes {
			out.Outcomes[k] = v
		}
	}
	return out
}

// CallsOf returns the calls an agent is on.
func (m *Manager) CallsOf(agent string) []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Call
	for _, c := range m.calls {
		if c.Agent == agent {
			out = append(out, *c)
		}
	}
	return out
}

// SessionOf returns the session under way on a call, or else the last one
// that ended on it (with its outcome, for the platform to announce).
func (m *Manager) SessionOf(call string) (SessionInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.sessions[m.byCall[call]]
	if s == nil {
		info, ok := m.ended[call]
		return info, ok
	}
	return s.info(), true
}

// Active is the number of sessions under way.
func (m *Manager) Active() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}
