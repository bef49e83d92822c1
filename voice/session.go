package voice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	StateStarting   = "starting"   // the platform has not yet acknowledged the begin webhook: no prompt, no key
	StateCollecting = "collecting" // Get Key: the caller keys one field after another
	StateValidating = "validating" // Info Validate: the validation web service has the values
	StateEnded      = "ended"      // End: an outcome, a failure or a cancel
)

// DefaultAckTimeout is how long the platform has to acknowledge (2xx) the
// webhook that starts a session, retries included.
const DefaultAckTimeout = 5 * time.Second

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
	// ErrNotCollecting refuses keys pushed while a session is starting,
	// validating or ended: only a collecting session takes keys.
	ErrNotCollecting = errors.New("voice: the secure session is not collecting keys")
	// ErrNotAcknowledged ends a session whose begin webhook the platform did
	// not acknowledge in time: recording may not be paused, the agent may not
	// be held or the tones not masked, so not a digit is collected.
	ErrNotAcknowledged = errors.New("voice: the platform did not acknowledge the start of the secure session")
	// ErrClosed refuses a session on a Manager that is shutting down.
	ErrClosed = errors.New("voice: the manager is closed")
)

// Call is a call the telephony platform registered.
type Call struct {
	ID        string
	Agent     string // login of the agent on the call
	Parties   int    // caller and agent: 2
	Monitored bool   // a supervisor listens
	// Attributes are the call's as the telephony platform registered them
	// (caller, account), for the forms that pass them on.
	Attributes map[string]string
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

// Notifier tells the platform what to do. Notify returns nil once the
// platform acknowledged the instruction, or an error saying why it did not
// (it gives up when ctx ends). The Manager calls it on goroutines of its
// own, never on the agent's or the platform's request.
type Notifier interface {
	Notify(ctx context.Context, in Instruction) error
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

// Observer learns how sessions go, for the agent's screen, in order: the
// start (starting, waiting for the platform, or collecting at once when
// there is none), the start of collection (the platform acknowledged),
// progress, and the end. It must not block.
type Observer interface {
	Started(s SessionInfo)
	Collecting(s SessionInfo)
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
	Pipeline *secure.Pipeline
	// Notifier delivers the begin and end instructions. With one, a session
	// collects no key until the platform acknowledged its begin instruction;
	// without one (the demo, platforms that pause recording themselves),
	// sessions collect at once.
	Notifier Notifier
	// AckTimeout bounds the wait for that acknowledgement, retries
	// included (default DefaultAckTimeout); past it the session ends with
	// ErrNotAcknowledged.
	AckTimeout  time.Duration
	Observer    Observer
	MaxSessions int // concurrent secure sessions (default 1000)
	Prompting   Prompting
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Manager holds the calls and their secure sessions. It is safe for
// concurrent use. Close stops the webhook deliveries it runs.
type Manager struct {
	cfg      ManagerConfig
	ctx      context.Context // cancelled by Close
	stop     context.CancelFunc
	wg       sync.WaitGroup // webhook deliveries
	mu       sync.Mutex
	closed   bool
	calls    map[string]*Call
	sessions map[string]*session
	byCall   map[string]string
	ended    map[string]SessionInfo // the last ended session of each call
	usage    map[string]*Usage      // secure-input counts of each call
}

// Usage counts a call's secure sessions and how they ended.
type Usage struct {
	Requests int            `json:"requests"`
	Outcomes map[string]int `json:"outcomes"` // accepted, declined, error, cancelled
}

// session is one secure IVR session: Begin → (acknowledged) → Get Key →
// Info Insert → Info Validate → End. Its fields are guarded by the
// Manager's mutex; only SessionInfo copies leave the package.
type session struct {
	id, call, agent, mode, form string
	state                       string
	outcome                     *secure.Outcome
	err                         error // why it ended without an outcome

	fields    []secure.Field
	agentVals map[string]string
	attrs     map[string]string
	collector *Collector
	seq       keySequence
	rtp       *RTPPort
	begun     chan struct{} // closed when the begin instruction's delivery finished
}

// NewManager returns an empty Manager.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 1000
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Manager{cfg: cfg, ctx: ctx, stop: stop, calls: map[string]*Call{}, sessions: map[string]*session{},
		byCall: map[string]string{}, ended: map[string]SessionInfo{}, usage: map[string]*Usage{}}
}

// Close refuses new sessions and waits for the webhook deliveries under
// way (each bounded by AckTimeout), so the platform hears the end of every
// session; when ctx ends first, the deliveries are abandoned (a session
// still waiting for its acknowledgement then ends with ErrNotAcknowledged).
func (m *Manager) Close(ctx context.Context) {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		m.stop()
		<-done
	}
	m.stop()
}

// BeginOptions is what a secure session starts with.
type BeginOptions struct {
	Call  string // the registered call
	Agent string // login of the agent starting it, who must be on the call
	Mode  string // ModeHold or ModeAssisted
	Form  string // the form's name, for the validation request and the agent
	// Fields are the form's fields: the caller keys the customer ones;
	// AgentValues hold the agent-filled ones, attached at Info Insert.
	Fields      []secure.Field
	AgentValues map[string]string
	// Attributes go with the values to the validation service (attr.NAME).
	Attributes map[string]string
	// Now is when the session starts, for the agent values' rules and the
	// caller's timeouts (zero: the Manager's clock).
	Now time.Time
}

// Begin starts a secure session on a call. The platform is told to hold
// the agent (or mask tones) and to pause recording and monitoring; with a
// Notifier, the session stays StateStarting, without a prompt, until the
// platform acknowledged that instruction. Begin does not wait for it. It
// returns a copy of the session's state.
func (m *Manager) Begin(ctx context.Context, o BeginOptions) (SessionInfo, error) {
	callID, agent, mode, form, fields, agentValues, now := o.Call, o.Agent, o.Mode, o.Form, o.Fields, o.AgentValues, o.Now
	if now.IsZero() {
		now = m.cfg.Now()
	}
	if mode != ModeHold && mode != ModeAssisted {
		return SessionInfo{}, ErrBadMode
	}
	var agentFields []secure.Field
	for _, f := range fields {
		if f.AgentFills {
			agentFields = append(agentFields, f)
		}
	}
	if errs := secure.Check(agentFields, nil, agentValues, now); len(errs) > 0 {
		return SessionInfo{}, secure.FieldErrors(errs)
	}
	m.mu.Lock()
	c := m.calls[callID]
	var err error
	switch {
	case m.closed:
		err = ErrClosed
	case c == nil:
		err = ErrUnknownCall
	case c.Agent != agent:
		err = ErrNotOnCall
	case c.Parties > 2:
		err = ErrConference
	case c.Monitored:
		err = ErrMonitored
	case m.byCall[callID] != "":
		err = ErrSessionExists
	case len(m.sessions) >= m.cfg.MaxSessions:
		err = ErrTooManySessions
	}
	if err != nil {
		m.mu.Unlock()
		return SessionInfo{}, err
	}
	col, err := NewCollector(fields, m.cfg.Prompting, now)
	if err != nil {
		m.mu.Unlock()
		return SessionInfo{}, err
	}
	s := &session{id: newSessionID(), call: callID, agent: agent, mode: mode, form: form, state: StateCollecting,
		fields: fields, agentVals: agentValues, attrs: o.Attributes, collector: col, begun: make(chan struct{})}
	if m.cfg.Notifier != nil {
		s.state = StateStarting
	}
	m.sessions[s.id] = s
	m.byCall[callID] = s.id
	u := m.usage[callID]
	if u == nil {
		u = &Usage{Outcomes: map[string]int{}}
		m.usage[callID] = u
	}
	u.Requests++
	info := s.info()
	notify := m.cfg.Notifier != nil
	if notify {
		m.wg.Add(1)
	} else {
		close(s.begun)
	}
	m.mu.Unlock()
	// The start is told before the platform is: its acknowledgement, and
	// the collecting that follows, come after it.
	if m.cfg.Observer != nil {
		m.cfg.Observer.Started(info)
	}
	if notify {
		go m.deliverBegin(s, Instruction{Type: "secure_session_begin", Call: callID, Session: s.id, Mode: mode, Actions: beginActions[mode], At: now})
	}
	return info, nil
}

// deliverBegin sends the begin instruction and starts collection once the
// platform acknowledged it, or ends the session when it did not in time.
func (m *Manager) deliverBegin(s *session, in Instruction) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.AckTimeout)
	err := m.cfg.Notifier.Notify(ctx, in)
	cancel()
	close(s.begun)
	now := m.cfg.Now()
	m.mu.Lock()
	if s.state != StateStarting { // cancelled meanwhile
		m.mu.Unlock()
		return
	}
	if err != nil {
		m.mu.Unlock()
		m.end(s, nil, fmt.Errorf("%w within %v: %v", ErrNotAcknowledged, m.cfg.AckTimeout, err), now)
		return
	}
	s.state = StateCollecting
	s.collector.Restart(now) // the caller's timeouts start with the first prompt
	info := s.info()
	m.mu.Unlock()
	if m.cfg.Observer != nil {
		m.cfg.Observer.Collecting(info)
	}
}

// deliverEnd sends the end instruction, after the begin one: the platform
// reconnects the agent and resumes recording. A failure is the Notifier's
// to report (it cannot stop anything any more).
func (m *Manager) deliverEnd(s *session, in Instruction) {
	defer m.wg.Done()
	<-s.begun
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.AckTimeout)
	defer cancel()
	m.cfg.Notifier.Notify(ctx, in)
}

// lookup returns the session id, or ErrUnknownSession; ended sessions are
// forgotten at once.
func (m *Manager) lookup(id string) (*session, error) {
	s := m.sessions[id]
	if s == nil {
		return nil, ErrUnknownSession
	}
	return s, nil
}

// Prompt is what the platform should play next; ErrNotCollecting while
// the session is starting or validating.
func (m *Manager) Prompt(id string) (Prompt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.lookup(id)
	if err != nil {
		return Prompt{}, err
	}
	if s.state != StateCollecting {
		return Prompt{}, fmt.Errorf("%w (state %s)", ErrNotCollecting, s.state)
	}
	return s.collector.Prompt(), nil
}

// Session returns a copy of a session's state: the one under way, or the
// last one that ended on its call.
func (m *Manager) Session(id string) (SessionInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.sessions[id]; s != nil {
		return s.info(), true
	}
	for _, info := range m.ended {
		if info.ID == id {
			return info, true
		}
	}
	return SessionInfo{}, false
}

// info describes a session. The Manager's mutex must be held.
func (s *session) info() SessionInfo {
	in := SessionInfo{ID: s.id, Call: s.call, Agent: s.agent, Mode: s.mode, Form: s.form, State: s.state, Outcome: s.outcome}
	if s.err != nil {
		in.Error = s.err.Error()
	}
	if done, _ := s.collector.Done(); s.state == StateCollecting && !done {
		p := s.collector.Prompt()
		in.Prompt = &p
	}
	return in
}

func newSessionID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "S" + hex.EncodeToString(b)
}
