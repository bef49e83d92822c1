package voice

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/secureinput/gateway/secure"
)

// maxKeysAhead bounds the keys a session holds for a gap in their
// sequence numbers.
const maxKeysAhead = 64

// ErrKeySequence refuses a sequence number below 1, or so far ahead of the
// keys received that more than maxKeysAhead would wait for the gap.
var ErrKeySequence = errors.New("voice: key sequence number below 1 or more than 64 keys ahead of the keys received")

// keySequence puts keys pushed with sequence numbers back in order: a key
// is applied once every key before it was, a key seen before is dropped.
// The keys it holds are secure values, wiped with clear.
type keySequence struct {
	next    int // sequence number of the next key to apply (from 1)
	ahead   [maxKeysAhead]byte
	present [maxKeysAhead]bool
}

// Keys feeds keys the platform gathered (or the RTP decoder found), in the
// order they arrive. Only a collecting session takes keys: while it is
// starting, validating or ended they are refused with ErrNotCollecting,
// so the validation service gets exactly one request per session. When the
// last field is complete it validates (Info Insert, Info Validate) and ends
// the session. It returns the progress of the last key, for the agent.
func (m *Manager) Keys(ctx context.Context, id string, keys string, now time.Time) (Progress, error) {
	return m.KeysAt(ctx, id, 0, keys, now)
}

// KeysAt is Keys for keys numbered by the platform: seq is the sequence
// number of the first of keys in the session (the first key of a session
// is 1; 0: not numbered, applied as they arrive). Pushes that arrive
// concurrently or out of order are applied in sequence order, and a key
// pushed twice (a retry) counts once; keys after a gap wait for it (at most
// maxKeysAhead).
func (m *Manager) KeysAt(ctx context.Context, id string, seq int, keys string, now time.Time) (Progress, error) {
	m.mu.Lock()
	s, err := m.lookup(id)
	if err != nil {
		m.mu.Unlock()
		return Progress{}, err
	}
	if state := s.state; state != StateCollecting {
		m.mu.Unlock()
		return Progress{}, fmt.Errorf("%w (state %s)", ErrNotCollecting, state)
	}
	q := &s.seq
	if q.next == 0 {
		q.next = 1
	}
	var p Progress
	key := func(k byte) {
		if done, _ := s.collector.Done(); !done {
			p = s.collector.Key(k, now)
		}
	}
	if seq == 0 {
		seq = q.next // as they arrive
	}
	if seq < 0 || seq > q.next && seq+len(keys)-q.next > maxKeysAhead {
		m.mu.Unlock()
		return Progress{}, ErrKeySequence
	}
	drain := func() {
		for q.present[q.next%maxKeysAhead] {
			i := q.next % maxKeysAhead
			k := q.ahead[i]
			q.ahead[i], q.present[i] = 0, false
			q.next++
			key(k)
		}
	}
	for i := 0; i < len(keys); i++ {
		switch n := seq + i; {
		case n < q.next: // seen before: a retry
		case n == q.next:
			q.next++
			key(keys[i])
			drain()
		default:
			q.ahead[n%maxKeysAhead], q.present[n%maxKeysAhead] = keys[i], true
		}
	}
	return m.afterKeys(ctx, s, p, now)
}

// afterKeys reports progress, or ends or validates a session whose
// collection is done. It is called with the Manager's mutex held and
// releases it.
func (m *Manager) afterKeys(ctx context.Context, s *session, p Progress, now time.Time) (Progress, error) {
	done, cerr := s.collector.Done()
	info := s.info()
	if !done {
		m.mu.Unlock()
		if m.cfg.Observer != nil { // in both modes: field, count, validity, brand; never a digit
			m.cfg.Observer.Progress(info, p)
		}
		return p, nil
	}
	if cerr != nil {
		m.mu.Unlock()
		m.end(s, nil, cerr, now)
		return p, nil
	}
	s.state = StateValidating
	values := s.collector.Values()
	form, fields, agentVals, attrs := s.form, s.fields, s.agentVals, s.attrs
	m.mu.Unlock()
	out, verr := m.cfg.Pipeline.Validate(ctx, secure.Request{Form: form, Fields: fields, Customer: values, Agent: agentVals, Attributes: attrs})
	if verr != nil {
		m.end(s, nil, verr, now)
		return p, nil
	}
	m.end(s, &out, nil, now)
	return p, nil
}

// Tick ends sessions whose caller took too long.
func (m *Manager) Tick(now time.Time) {
	type expiry struct {
		s   *session
		err error
	}
	m.mu.Lock()
	var expired []expiry
	for _, s := range m.sessions {
		if s.state == StateCollecting {
			s.collector.Tick(now)
			if done, err := s.collector.Done(); done && err != nil {
				expired = append(expired, expiry{s, err})
			}
		}
	}
	m.mu.Unlock()
	for _, e := range expired {
		m.end(e.s, nil, e.err, now)
	}
}

// Cancel ends a session without an outcome (the agent cancelled, the call
// ended). A session that is validating ends when the service answers.
func (m *Manager) Cancel(id, reason string) error {
	m.mu.Lock()
	s, err := m.lookup(id)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.end(s, nil, fmt.Errorf("%w: %s", ErrCancelled, reason), m.cfg.Now())
	return nil
}

// OpenRTP opens a UDP port on listen ("127.0.0.1:0") for the caller's RTP of
// session id, accepting packets only from source; telephone-events use
// payload type eventPT, which must be dynamic (96–127); G.711 audio is
// analysed in-band. The port closes when the session ends.
func (m *Manager) OpenRTP(id, listen string, source *net.UDPAddr, eventPT int) (*RTPPort, error) {
	if err := CheckEventPayloadType(eventPT); err != nil {
		return nil, err
	}
	m.mu.Lock()
	s, err := m.lookup(id)
	if err == nil && s.rtp != nil {
		err = errors.New("voice: the session already has an RTP port")
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	port, err := OpenRTPPort(listen, source, uint8(eventPT), func(key byte) {
		m.Keys(context.Background(), id, string(key), m.cfg.Now())
	})
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if s.state == StateEnded {
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
	s, err := m.lookup(id)
	if err != nil {
		return err
	}
	if s.state != StateCollecting {
		return fmt.Errorf("%w (state %s)", ErrNotCollecting, s.state)
	}
	s.collector.Restart(now)
	return nil
}

// end records the end of a session and tells the platform (on a goroutine
// of the Manager's, after the begin instruction) to reconnect and resume
// recording.
func (m *Manager) end(s *session, out *secure.Outcome, err error, now time.Time) {
	m.mu.Lock()
	if s.state == StateEnded {
		m.mu.Unlock()
		return
	}
	s.state, s.outcome, s.err = StateEnded, out, err
	if m.byCall[s.call] == s.id {
		delete(m.byCall, s.call)
	}
	delete(m.sessions, s.id)
	s.collector.fail(nil) // wipe whatever was keyed
	clear(s.seq.ahead[:])
	info := s.info()
	if _, ok := m.calls[s.call]; ok {
		m.ended[s.call] = info
	}
	if u := m.usage[s.call]; u != nil {
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
	if m.cfg.Notifier != nil && !m.closed {
		m.wg.Add(1)
		go m.deliverEnd(s, Instruction{Type: "secure_session_end", Call: s.call, Session: s.id, Mode: s.mode, Actions: endActions[s.mode], Outcome: out, At: now})
	}
	m.mu.Unlock()
	if port != nil {
		// Close the socket without waiting for the reader: the call may come
		// from that reader (a key that ended the session).
		port.stop()
	}
	if m.cfg.Observer != nil {
		m.cfg.Observer.Ended(info)
	}
}
