package voice

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/secure"

	"github.com/secureinput/gateway/internal/testenv"
)

// platform is an httptest telephony platform receiving signed webhooks.
type platform struct {
	mu       sync.Mutex
	got      []Instruction
	failures int // answer 500 this many times first
	bodies   []string
}

func (p *platform) handler(secret []byte, t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		if !Verify(secret, body, r.Header.Get(SignatureHeader)) {
			t.Errorf("bad signature on %s", body)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if p.failures > 0 {
			p.failures--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var in Instruction
		json.Unmarshal(body, &in)
		p.got = append(p.got, in)
		p.bodies = append(p.bodies, string(body))
	}
}

func newManager(t *testing.T, failures int) (*Manager, *platform) {
	t.Helper()
	secret := []byte("platform-secret")
	p := &platform{failures: failures}
	hook := httptest.NewServer(p.handler(secret, t))
	t.Cleanup(hook.Close)
	client := testenv.ValidationService(t)
	m := NewManager(ManagerConfig{
		Pipeline: secure.NewPipeline(secure.PipelineConfig{Client: client}),
		Notifier: &Webhook{URL: hook.URL, Secret: secret, Backoff: time.Millisecond},
	})
	m.RegisterCall(Call{ID: "c1", Agent: "ann", Parties: 2})
	return m, p
}

func TestSecureSessionHoldMode(t *testing.T) {
	m, p := newManager(t, 2) // the first two webhook tries fail: retried
	ctx := context.Background()
	s, err := m.Begin(ctx, "c1", "ann", ModeHold, "Credit Card", cardFields, map[string]string{"amount": "12.00"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Begin(ctx, "c1", "ann", ModeHold, "x", cardFields, map[string]string{"amount": "1"}, t0); !errors.Is(err, ErrSessionExists) {
		t.Errorf("second session: %v", err)
	}
	if pr, _ := m.Prompt(s.ID); pr.Field != "card_number" {
		t.Errorf("prompt %+v", pr)
	}
	now := t0.Add(time.Second)
	m.Keys(ctx, s.ID, "4111111111111111#", now)
	m.Keys(ctx, s.ID, "1230", now)
	m.Keys(ctx, s.ID, "123#", now)
	if s.State != StateEnded || s.Outcome == nil || s.Outcome.Status != secure.StatusAccepted || s.Outcome.Last4 != "1111" {
		t.Fatalf("session %+v outcome %+v err %v", s, s.Outcome, s.Err)
	}
	if len(p.got) != 2 || p.got[0].Type != "secure_session_begin" || p.got[1].Type != "secure_session_end" {
		t.Fatalf("webhooks %+v", p.got)
	}
	if strings.Join(p.got[0].Actions, ",") != "hold_agent,pause_recording,pause_monitoring,start_ivr" ||
		strings.Join(p.got[1].Actions, ",") != "stop_ivr,reconnect_agent,resume_recording,resume_monitoring" {
		t.Errorf("actions %v / %v", p.got[0].Actions, p.got[1].Actions)
	}
	for _, b := range p.bodies {
		if strings.Contains(b, "4111") || strings.Contains(b, "123") && strings.Contains(b, "cvv") {
			t.Errorf("a webhook holds a secure value: %s", b)
		}
	}
	if m.Active() != 0 {
		t.Error("the session is still active")
	}
}

func TestSecureSessionRefusalsAndCancel(t *testing.T) {
	m, p := newManager(t, 0)
	ctx := context.Background()
	m.RegisterCall(Call{ID: "conf", Agent: "ann", Parties: 3})
	m.RegisterCall(Call{ID: "mon", Agent: "ann", Parties: 2, Monitored: true})
	for name, c := range map[string]struct {
		call, agent, mode string
		want              error
	}{
		"conference":   {"conf", "ann", ModeHold, ErrConference},
		"monitored":    {"mon", "ann", ModeHold, ErrMonitored},
		"unknown call": {"nope", "ann", ModeHold, ErrUnknownCall},
		"other agent":  {"c1", "bob", ModeHold, ErrNotOnCall},
		"bad mode":     {"c1", "ann", "whisper", ErrBadMode},
	} {
		if _, err := m.Begin(ctx, c.call, c.agent, c.mode, "f", cardFields, map[string]string{"amount": "1"}, t0); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := m.Begin(ctx, "c1", "ann", ModeAssisted, "f", cardFields, nil, t0); !errors.Is(err, secure.ErrFields) {
		t.Errorf("missing agent value: %v", err)
	}
	amount := map[string]string{"amount": "1"}
	s, _ := m.Begin(ctx, "c1", "ann", ModeAssisted, "f", cardFields, amount, t0)
	prog, _ := m.Keys(ctx, s.ID, "4111", t0.Add(time.Second))
	if prog.Digits != 4 || prog.Brand != "Visa" {
		t.Errorf("assisted progress %+v", prog)
	}
	if err := m.Cancel(ctx, s.ID, "agent"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Keys(ctx, s.ID, "1", t0); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("keys after cancel: %v", err)
	}
	if s.Outcome != nil || s.Err == nil {
		t.Errorf("cancelled session %+v", s)
	}
	if last := p.got[len(p.got)-1]; last.Type != "secure_session_end" || strings.Join(last.Actions, ",") != "unmask_tones,resume_recording,resume_monitoring" {
		t.Errorf("end webhook %+v", last)
	}
	// Timeouts end a session.
	s2, _ := m.Begin(ctx, "c1", "ann", ModeHold, "f", cardFields, amount, t0)
	m.Tick(ctx, t0.Add(time.Minute))
	if s2.State != StateEnded || !errors.Is(s2.Err, ErrTimeout) {
		t.Errorf("after the timeout %+v", s2)
	}
	// The limit of concurrent sessions.
	lim := NewManager(ManagerConfig{MaxSessions: 1})
	lim.RegisterCall(Call{ID: "a", Agent: "x", Parties: 2})
	lim.RegisterCall(Call{ID: "b", Agent: "x", Parties: 2})
	lim.Begin(ctx, "a", "x", ModeHold, "f", cardFields, amount, t0)
	if _, err := lim.Begin(ctx, "b", "x", ModeHold, "f", cardFields, amount, t0); !errors.Is(err, ErrTooManySessions) {
		t.Errorf("limit: %v", err)
	}
}

// TestSecureSessionOverRTP keys a card over real UDP on loopback as RFC 4733
// packets (each key's end packet sent three times), with foreign and
// malformed packets mixed in; the port closes when the session ends.
func TestSecureSessionOverRTP(t *testing.T) {
	m, p := newManager(t, 0)
	ctx := context.Background()
	s, err := m.Begin(ctx, "c1", "ann", ModeHold, "Credit Card", cardFields, map[string]string{"amount": "5.00"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	platformConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer platformConn.Close()
	intruder, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer intruder.Close()
	port, err := m.OpenRTP(s.ID, "127.0.0.1:0", platformConn.LocalAddr().(*net.UDPAddr), pt)
	if err != nil {
		t.Fatal(err)
	}
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port.Port()}
	seq, ts := uint16(1), uint32(1000)
	events := map[byte]byte{'0': 0, '1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6, '7': 7, '8': 8, '9': 9, '*': 10, '#': 11}
	for _, k := range []byte("4111111111111111#1230123#") {
		for _, pkt := range press(&seq, ts, events[k], 2) {
			platformConn.WriteToUDP(pkt, dst)
		}
		intruder.WriteToUDP(eventPacket(1, ts+5, 9, true, 800), dst) // a foreign '9'
		platformConn.WriteToUDP([]byte{0x80, 0x01}, dst)             // malformed
		ts += 1600
		time.Sleep(2 * time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		ended := s.State == StateEnded
		m.mu.Unlock()
		if ended {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	m.mu.Lock()
	state, outcome := s.State, s.Outcome
	m.mu.Unlock()
	if state != StateEnded || outcome == nil || outcome.Status != secure.StatusAccepted {
		t.Fatalf("session %s, outcome %+v (foreign %d, malformed %d)", state, outcome, port.Stats.Foreign.Load(), port.Stats.Malformed.Load())
	}
	if port.Stats.Foreign.Load() == 0 || port.Stats.Malformed.Load() == 0 {
		t.Errorf("stats: foreign %d malformed %d", port.Stats.Foreign.Load(), port.Stats.Malformed.Load())
	}
	port.Close()
	// The port is closed: a new listener can take it.
	if c, err := net.ListenUDP("udp", dst); err != nil {
		t.Errorf("the port stayed open after the session: %v", err)
	} else {
		c.Close()
	}
	if len(p.got) != 2 {
		t.Errorf("webhooks %d", len(p.got))
	}
}
