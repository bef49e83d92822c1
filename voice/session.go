package voice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/secureinput/gateway/secure"
)

// Modes of a secure session.
const (
	ModeHold     = "hold"     // the agent is held while the caller keys in
	ModeAssisted = "assisted" // the agent stays; the caller's tones are masked on the agent's leg
)

// Session states.
const (
	StateCollecting = "collecting" // Get Key: the caller keys one field after another
	StateValidating = "validating" // Info Validate: the validation web service has the values
	StateEnded      = "ended"      // End: an outcome, a failure or a cancel
)

// Errors of the Manager; each is shown to the platform's API caller and to
// the agent.
var (
	ErrUnknownCall     = errors.New("voice: no such call")
	ErrUnknownSession  = errors.New("voice: no such secure session")
	ErrConference      = errors.New("voice: secure sessions are refused on conference calls (more than two parties)")
	ErrMonitored       = errors.New("voice: secure sessions are refused while a supervisor monitors the call")
	ErrSessionExists   = errors.New("voice: the call already has a secure session")
	ErrTooManySessions = errors.New("voice: the limit of concurrent secure sessions is reached")
	ErrNotOnCall       = errors.New("voice: the agent is not on this call")
	ErrBadMode         = errors.New("voice: mode must be hold or assisted")
	ErrEnded           = errors.New("voice: the secure session has ended")
	ErrCancelled       = errors.New("voice: cancelled")
)

// Call is a call the telephony platform registered.
type Call struct {
	ID        string
	Agent     string // login of the agent on the call
	Parties   int    // caller and agent: 2
	Monitored bool   // a supervisor listens
}

// Instruction is what the gateway tells the platform at the start and end
// of a secure session (delivered by a Notifier, e.g. a signed webhook).
type Instruction struct {
	Type    string          `json:"type"` // secure_session_begin, secure_session_end
	Call    string          `json:"call"`
	Session string          `json:"session"`
	Mode    string          `json:"mode"`
	Actions []string        `json:"actions"`
	Outcome *secure.Outcome `json:"outcome,omitempty"`
	At      time.Time       `json:"at"`
}

// Notifier tells the platform what to do. It must not block for long.
type Notifier interface {
	Notify(ctx context.Context, in Instruction)
}

// Actions at the start and end of a session, by mode. Recording and
// monitoring pause for the secure segment in both.
var (
	beginActions = map[string][]string{
		ModeHold:     {"hold_agent", "pause_recording", "pause_monitoring", "start_ivr"},
		ModeAssisted: {"mask_tones", "pause_recording", "pause_monitoring"},
	}
	endActions = map[string][]string{
		ModeHold:     {"stop_ivr", "reconnect_agent", "resume_recording", "resume_monitoring"},
		ModeAssisted: {"unmask_tones", "resume_recording", "resume_monitoring"},
	}
)

// Observer learns how sessions go, for the agent's screen: progress
// (agent-assisted mode), and the end. It must not block.
type Observer interface {
	Progress(s SessionInfo, p Progress)
	Ended(s SessionInfo)
}

// SessionInfo is what may be shown about a session: never a digit.
type SessionInfo struct {
	ID      string          `json:"session"`
	Call    string          `json:"call"`
	Agent   string          `json:"agent"`
	Mode    string          `json:"mode"`
	Form    string          `json:"form"`
	State   string          `json:"state"`
	Outcome *secure.Outcome `json:"outcome,omitempty"`
	Error   string          `json:"error,omitempty"`
	Prompt  *Prompt         `json:"prompt,omitempty"`
}

// ManagerConfig configures a Manager.
type ManagerConfig struct {
	Pipeline    *secure.Pipeline
	Notifier    Notifier
	Observer    Observer
	MaxSessions int // concurrent secure sessions (default 1000)
	Prompting   Prompting
}

// Manager holds the calls and their secure sessions. It is safe for
// concurrent use.
type Manager struct {
	cfg      ManagerConfig
	mu       sync.Mutex
	calls    map[string]*Call
	sessions map[string]*Session
	byCall   map[string]string
	ended    map[string]SessionInfo // the last ended session of each call
	usage    map[string]*Usage      // secure-input counts of each call
}

// Usage counts a call's secure sessions and how they ended.
type Usage struct {
	Requests int            `json:"requests"`
	Outcomes map[string]int `json:"outcomes"` // accepted, declined, error, cancelled
}

// Session is one secure IVR session: Begin → Get Key → Info Insert → Info
// Validate → End.
type Session struct {
	ID, Call, Agent, Mode, Form string
	State                       string
	Outcome                     *secure.Outcome
	Err                         error // why it ended without an outcome

	fields    []secure.Field
	agentVals map[string]string
	collector *Collector
	rtp       *RTPPort
}

// NewManager returns an empty Manager.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 1000
	}
	return &Manager{cfg: cfg, calls: map[string]*Call{}, sessions: map[string]*Session{}, byCall: map[string]string{},
		ended: map[string]SessionInfo{}, usage: map[string]*Usage{}}
}

// RegisterCall records (or updates) a call: its agent, parties and
// monitoring.
func (m *Manager) RegisterCall(c Call) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cc := c
	m.calls[c.ID] = &cc
}

// EndCall forgets a call; its session, if any, ends.
func (m *Manager) EndCall(ctx context.Context, id string) {
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
		m.Cancel(ctx, sid, "call ended")
	}
}

// Begin starts a secure session on a call for the form's fields (the
// caller keys the customer fields; agentValues are the agent-filled ones,
// attached at Info Insert). The platform is told to hold the agent (or mask
// tones) and to pause recording and monitoring.
func (m *Manager) Begin(ctx context.Context, callID, agent, mode, form string, fields []secure.Field, agentValues map[string]string, now time.Time) (*Session, error) {
	if mode != ModeHold && mode != ModeAssisted {
		return nil, ErrBadMode
	}
	var agentFields []secure.Field
	for _, f := range fields {
		if f.AgentFills {
			agentFields = append(agentFields, f)
		}
	}
	if errs := secure.Check(agentFields, nil, agentValues, now); len(errs) > 0 {
		return nil, secure.FieldErrors(errs)
	}
	m.mu.Lock()
	c := m.calls[callID]
	switch {
	case c == nil:
		m.mu.Unlock()
		return nil, ErrUnknownCall
	case c.Agent != agent:
		m.mu.Unlock()
		return nil, ErrNotOnCall
	case c.Parties > 2:
		m.mu.Unlock()
		return nil, ErrConference
	case c.Monitored:
		m.mu.Unlock()
		return nil, ErrMonitored
	case m.byCall[callID] != "":
		m.mu.Unlock()
		return nil, ErrSessionExists
	case len(m.sessions) >= m.cfg.MaxSessions:
		m.mu.Unlock()
		return nil, ErrTooManySessions
	}
	col, err := NewCollector(fields, m.cfg.Prompting, now)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	s := &Session{ID: newSessionID(), Call: callID, Agent: agent, Mode: mode, Form: form, State: StateCollecting,
		fields: fields, agentVals: agentValues, collector: col}
	m.sessions[s.ID] = s
	m.byCall[callID] = s.ID
	u := m.usage[callID]
	if u == nil {
		u = &Usage{Outcomes: map[string]int{}}
		m.usage[callID] = u
	}
	u.Requests++
	m.mu.Unlock()
	m.notify(ctx, Instruction{Type: "secure_session_begin", Call: callID, Session: s.ID, Mode: mode, Actions: beginActions[mode], At: now})
	return s, nil
}

func (m *Manager) notify(ctx context.Context, in Instruction) {
	if m.cfg.Notifier != nil {
		m.cfg.Notifier.Notify(ctx, in)
	}
}

func (m *Manager) session(id string) (*Session, error) {
	s := m.sessions[id]
	if s == nil {
		return nil, ErrUnknownSession
	}
	if s.State == StateEnded {
		return s, ErrEnded
	}
	return s, nil
}

// Prompt is what the platform should play next.
func (m *Manager) Prompt(id string) (Prompt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.session(id)
	if err != nil {
		return Prompt{}, err
	}
	return s.collector.Prompt(), nil
}

// Keys feeds keys the platform gathered (or the RTP decoder found). When
// the last field is complete it validates (Info Insert, Info Validate) and
// ends the session. It returns the progress of the last key, for the agent.
func (m *Manager) Keys(ctx context.Context, id string, keys string, now time.Time) (Progress, error) {
	m.mu.Lock()
	s, err := m.session(id)
	if err != nil {
		m.mu.Unlock()
		return Progress{}, err
	}
	var p Progress
	for i := 0; i < len(keys); i++ {
		p = s.collector.Key(keys[i], now)
	}
	done, cerr := s.collector.Done()
	info := s.Info()
	if !done {
		m.mu.Unlock()
		if m.cfg.Observer != nil && s.Mode == ModeAssisted {
			m.cfg.Observer.Progress(info, p)
		}
		return p, nil
	}
	if cerr != nil {
		m.mu.Unlock()
		m.end(ctx, s, nil, cerr, now)
		return p, nil
	}
	s.State = StateValidating
	values := s.collector.Values()
	m.mu.Unlock()
	out, verr := m.cfg.Pipeline.Validate(ctx, secure.Request{Form: s.Form, Fields: s.fields, Customer: values, Agent: s.agentVals})
	if verr != nil {
		m.end(ctx, s, nil, verr, now)
		return p, nil
	}
	m.end(ctx, s, &out, nil, now)
	return p, nil
}

// Tick ends sessions whose caller took too long.
func (m *Manager) Tick(ctx context.Context, now time.Time) {
	m.mu.Lock()
	var expired []*Session
	for _, s := range m.sessions {
		if s.State == StateCollecting {
			s.collector.Tick(now)
			if done, err := s.collector.Done(); done && err != nil {
				expired = append(expired, s)
			}
		}
	}
	m.mu.Unlock()
	for _, s := range expired {
		_, err := s.collector.Done()
		m.end(ctx, s, nil, err, now)
	}
}

// Cancel ends a session without an outcome (the agent cancelled, the call
// ended).
func (m *Manager) Cancel(ctx context.Context, id, reason string) error {
	m.mu.Lock()
	s, err := m.session(id)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.end(ctx, s, nil, fmt.Errorf("%w: %s", ErrCancelled, reason), time.Now())
	return nil
}

// OpenRTP opens a UDP port on listen ("127.0.0.1:0") for the caller's RTP of
// session id, accepting packets only from source; telephone-events use
// payload type eventPT, G.711 audio is analysed in-band. The port closes
// when the session ends.
func (m *Manager) OpenRTP(id, listen string, source *net.UDPAddr, eventPT uint8) (*RTPPort, error) {
	m.mu.Lock()
	s, err := m.session(id)
	if err == nil && s.rtp != nil {
		err = errors.New("voice: the session already has an RTP port")
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	port, err := OpenRTPPort(listen, source, eventPT, func(key byte) {
		m.Keys(context.Background(), id, string(key), time.Now())
	})
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if s.State == StateEnded {
		m.mu.Unlock()
		port.Close()
		return nil, ErrEnded
	}
	s.rtp = port
	m.mu.Unlock()
	return port, nil
}

// Restart asks the caller for the current field again (agent-assisted).
func (m *Manager) Restart(id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.session(id)
	if err != nil {
		return err
	}
	s.collector.Restart(now)
	return nil
}

// end records the end of a session and tells the platform to reconnect
// and resume recording.
func (m *Manager) end(ctx context.Context, s *Session, out *secure.Outcome, err error, now time.Time) {
	m.mu.Lock()
	if s.State == StateEnded {
		m.mu.Unlock()
		return
	}
	s.State, s.Outcome, s.Err = StateEnded, out, err
	if m.byCall[s.Call] == s.ID {
		delete(m.byCall, s.Call)
	}
	delete(m.sessions, s.ID)
	if s.collector != nil {
		s.collector.fail(nil) // wipe whatever was keyed
	}
	info := s.Info()
	if _, ok := m.calls[s.Call]; ok {
		m.ended[s.Call] = info
	}
	if u := m.usage[s.Call]; u != nil {
		switch {
		case out != nil:
			u.Outcomes[out.Status]++
		case errors.Is(err, ErrCancelled):
			u.Outcomes["cancelled"]++
		default:
			u.Outcomes["error"]++
		}
	}
	port := s.rtp
	m.mu.Unlock()
	if port != nil {
		// Close the socket without waiting for the reader: the call may come
		// from that reader (a key that ended the session).
		port.stop()
	}
	m.notify(ctx, Instruction{Type: "secure_session_end", Call: s.Call, Session: s.ID, Mode: s.Mode, Actions: endActions[s.Mode], Outcome: out, At: now})
	if m.cfg.Observer != nil {
		m.cfg.Observer.Ended(info)
	}
}

// Info describes a session.
func (s *Session) Info() SessionInfo {
	in := SessionInfo{ID: s.ID, Call: s.Call, Agent: s.Agent, Mode: s.Mode, Form: s.Form, State: s.State, Outcome: s.Outcome}
	if s.Err != nil {
		in.Error = s.Err.Error()
	}
	if done, _ := s.collector.Done(); s.State == StateCollecting && !done {
		p := s.collector.Prompt()
		in.Prompt = &p
	}
	return in
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
	return s.Info(), true
}

// Active is the number of sessions under way.
func (m *Manager) Active() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

func newSessionID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "S" + hex.EncodeToString(b)
}
