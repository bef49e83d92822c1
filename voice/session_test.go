package voice

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/secureinput/gateway/secure"
)

// platform is an httptest telephony platform receiving signed webhooks.
type platform struct {
	mu       sync.Mutex
	got      []Instruction
	failures int // answer 500 this many times first (-1: always)
	bodies   []string
}

func (p *platform) handler(secret []byte, t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		if err := Verify(secret, body, r.Header.Get(TimestampHeader), r.Header.Get(SignatureHeader), time.Now()); err != nil {
			t.Errorf("webhook %s: %v", body, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if p.failures != 0 {
			if p.failures > 0 {
				p.failures--
			}
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var in Instruction
		json.Unmarshal(body, &in)
		p.got = append(p.got, in)
		p.bodies = append(p.bodies, string(body))
	}
}

func (p *platform) instructions() []Instruction {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Instruction(nil), p.got...)
}

// events is an Observer that passes what it learns on channels.
type events struct {
	collecting chan SessionInfo
	progress   chan Progress
	ended      chan SessionInfo
}

func newEvents() *events {
	return &events{collecting: make(chan SessionInfo, 16), progress: make(chan Progress, 256), ended: make(chan SessionInfo, 16)}
}

func (e *events) Started(SessionInfo)                {}
func (e *events) Collecting(s SessionInfo)           { e.collecting <- s }
func (e *events) Progress(_ SessionInfo, p Progress) { e.progress <- p }
func (e *events) Ended(s SessionInfo)                { e.ended <- s }

// wait returns the next value of c, failing the test if none comes.
func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// validationCount is the sample validation service, counting requests.
type validationCount struct {
	n       atomic.Int32
	release chan struct{} // nil: answer at once
}

func (v *validationCount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.n.Add(1)
	if v.release != nil {
		<-v.release
	}
	secure.SampleService{}.ServeHTTP(w, r)
}

type testManager struct {
	*Manager
	platform *platform
	events   *events
	service  *validationCount
}

// newManager is a Manager with a signed webhook to an httptest platform
// that fails its first failures tries, and the sample validation service.
func newManager(t *testing.T, failures int, edit ...func(*ManagerConfig)) *testManager {
	t.Helper()
	secret := []byte("platform-secret")
	p := &platform{failures: failures}
	hook := httptest.NewServer(p.handler(secret, t))
	t.Cleanup(hook.Close)
	svc := &validationCount{}
	val := httptest.NewServer(svc)
	t.Cleanup(val.Close)
	client, _ := secure.NewClient(secure.ClientConfig{URL: val.URL})
	ev := newEvents()
	cfg := ManagerConfig{
		Pipeline: secure.NewPipeline(secure.PipelineConfig{Client: client}),
		Notifier: &Webhook{URL: hook.URL, Secret: secret, Backoff: time.Millisecond},
		Observer: ev,
	}
	for _, e := range edit {
		e(&cfg)
	}
	m := NewManager(cfg)
	t.Cleanup(func() { m.Close(context.Background()) })
	m.RegisterCall(Call{ID: "c1", Agent: "ann", Parties: 2})
	return &testManager{m, p, ev, svc}
}

// begin starts a card session on c1 and waits until it collects.
func (tm *testManager) begin(t *testing.T, mode string) SessionInfo {
	t.Helper()
	s, err := tm.Begin(context.Background(), BeginOptions{Call: "c1", Agent: "ann", Mode: mode, Form: "Credit Card", Fields: cardFields, AgentValues: map[string]string{"amount": "12.00"}, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if got := wait(t, tm.events.collecting, "collecting"); got.ID != s.ID || got.State != StateCollecting || got.Prompt == nil {
		t.Fatalf("collecting %+v", got)
	}
	return s
}

func (tm *testManager) session(t *testing.T, id string) SessionInfo {
	t.Helper()
	s, ok := tm.Session(id)
	if !ok {
		t.Fatalf("no session %s", id)
	}
	return s
}

func TestSecureSessionHoldMode(t *testing.T) {
	tm := newManager(t, 2) // the first two webhook tries fail: retried
	ctx := context.Background()
	s := tm.begin(t, ModeHold)
	if _, err := tm.Begin(ctx, BeginOptions{Call: "c1", Agent: "ann", Mode: ModeHold, Form: "x", Fields: cardFields, AgentValues: map[string]string{"amount": "1"}, Now: time.Now()}); !errors.Is(err, ErrSessionExists) {
		t.Errorf("second session: %v", err)
	}
	if pr, _ := tm.Prompt(s.ID); pr.Field != "card_number" {
		t.Errorf("prompt %+v", pr)
	}
	now := time.Now()
	for _, k := range []string{"4111111111111111#", "1230", "123#"} {
		if _, err := tm.Keys(ctx, s.ID, k, now); err != nil {
			t.Fatal(err)
		}
	}
	end := wait(t, tm.events.ended, "end")
	if end.State != StateEnded || end.Outcome == nil || end.Outcome.Status != secure.StatusAccepted || end.Outcome.Last4 != "1111" {
		t.Fatalf("session %+v", end)
	}
	if got := tm.session(t, s.ID); got.State != StateEnded || got.Outcome == nil {
		t.Errorf("Session after the end: %+v", got)
	}
	tm.Close(context.Background()) // waits for the end webhook
	got := tm.platform.instructions()
	if len(got) != 2 || got[0].Type != "secure_session_begin" || got[1].Type != "secure_session_end" {
		t.Fatalf("webhooks %+v", got)
	}
	if strings.Join(got[0].Actions, ",") != "hold_agent,pause_recording,pause_monitoring,start_ivr" ||
		strings.Join(got[1].Actions, ",") != "stop_ivr,reconnect_agent,resume_recording,resume_monitoring" {
		t.Errorf("actions %v / %v", got[0].Actions, got[1].Actions)
	}
	for _, b := range tm.platform.bodies {
		if strings.Contains(b, "4111") || strings.Contains(b, "123") && strings.Contains(b, "cvv") {
			t.Errorf("a webhook holds a secure value: %s", b)
		}
	}
	if tm.Active() != 0 {
		t.Error("the session is still active")
	}
}

// TestSecureSessionWaitsForAcknowledgement: a platform that answers 500 to
// every try never confirmed that recording is paused: the session stays
// starting, without a prompt, refuses keys, and ends with an error naming
// the reason; the agent is told and the validation service never called.
func TestSecureSessionWaitsForAcknowledgement(t *testing.T) {
	tm := newManager(t, -1, func(c *ManagerConfig) { c.AckTimeout = 300 * time.Millisecond })
	ctx := context.Background()
	s, err := tm.Begin(ctx, BeginOptions{Call: "c1", Agent: "ann", Mode: ModeHold, Form: "Credit Card", Fields: cardFields, AgentValues: map[string]string{"amount": "12.00"}, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if s.State != StateStarting || s.Prompt != nil {
		t.Errorf("before the acknowledgement: %+v", s)
	}
	if _, err := tm.Prompt(s.ID); !errors.Is(err, ErrNotCollecting) {
		t.Errorf("prompt before the acknowledgement: %v", err)
	}
	if _, err := tm.Keys(ctx, s.ID, "4111111111111111#1230123#", time.Now()); !errors.Is(err, ErrNotCollecting) {
		t.Errorf("keys before the acknowledgement: %v", err)
	}
	end := wait(t, tm.events.ended, "end")
	if end.ID != s.ID || end.Outcome != nil || !strings.Contains(end.Error, "did not acknowledge") || !strings.Contains(end.Error, "HTTP 500") {
		t.Errorf("ended %+v", end)
	}
	select {
	case c := <-tm.events.collecting:
		t.Errorf("an unacknowledged session collected: %+v", c)
	default:
	}
	if _, err := tm.Keys(ctx, s.ID, "1", time.Now()); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("keys after the end: %v", err)
	}
	if n := tm.service.n.Load(); n != 0 {
		t.Errorf("the validation service was called %d times", n)
	}
	if u := tm.UsageOf("c1"); u.Outcomes["error"] != 1 {
		t.Errorf("usage %+v", u)
	}
}

// TestSecureSessionReceiverHangs: a receiver that never answers holds
// neither Begin (the agent's socket) nor Keys (the platform's request).
func TestSecureSessionReceiverHangs(t *testing.T) {
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hook.Close)
	t.Cleanup(func() { close(release) })
	tm := newManager(t, 0, func(c *ManagerConfig) {
		c.Notifier = &Webhook{URL: hook.URL, Secret: []byte("s"), Backoff: time.Millisecond}
		c.AckTimeout = 300 * time.Millisecond
	})
	ctx := context.Background()
	// Begin returns while the receiver still holds the request.
	s, err := tm.Begin(ctx, BeginOptions{Call: "c1", Agent: "ann", Mode: ModeAssisted, Form: "Credit Card", Fields: cardFields, AgentValues: map[string]string{"amount": "1"}, Now: time.Now()})
	if err != nil || s.State != StateStarting {
		t.Fatalf("begin: %+v %v", s, err)
	}
	if _, err := tm.Keys(ctx, s.ID, "4", time.Now()); !errors.Is(err, ErrNotCollecting) {
		t.Errorf("keys while starting: %v", err)
	}
	end := wait(t, tm.events.ended, "end")
	if !strings.Contains(end.Error, "did not acknowledge") || !strings.Contains(end.Error, "deadline") {
		t.Errorf("ended %+v", end)
	}
	if got := tm.session(t, s.ID); got.State != StateEnded {
		t.Errorf("after the timeout: %+v", got)
	}
}

// TestSecureSessionWithoutNotifier: nothing to wait for, collection starts
// at once.
func TestSecureSessionWithoutNotifier(t *testing.T) {
	tm := newManager(t, 0, func(c *ManagerConfig) { c.Notifier = nil })
	s, err := tm.Begin(context.Background(), BeginOptions{Call: "c1", Agent: "ann", Mode: ModeHold, Form: "f", Fields: cardFields, AgentValues: map[string]string{"amount": "1"}, Now: time.Now()})
	if err != nil || s.State != StateCollecting || s.Prompt == nil || s.Prompt.Field != "card_number" {
		t.Fatalf("begin: %+v %v", s, err)
	}
}

// TestKeysWhileValidating: keys pushed while the values are with the
// validation service are refused; the service gets exactly one request and
// the outcome stands.
func TestKeysWhileValidating(t *testing.T) {
	tm := newManager(t, 0)
	tm.service.release = make(chan struct{})
	ctx := context.Background()
	s := tm.begin(t, ModeHold)
	tm.Keys(ctx, s.ID, "4111111111111111#1230", time.Now())
	done := make(chan error, 1)
	go func() { _, err := tm.Keys(ctx, s.ID, "123#", time.Now()); done <- err }()
	for tm.service.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if got := tm.session(t, s.ID); got.State != StateValidating || got.Prompt != nil {
		t.Errorf("while validating: %+v", got)
	}
	var wg sync.WaitGroup
	for _, k := range []string{"1", "#", "123#", ""} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := tm.Keys(ctx, s.ID, k, time.Now()); !errors.Is(err, ErrNotCollecting) {
				t.Errorf("keys %q while validating: %v", k, err)
			}
		}()
	}
	wg.Wait()
	close(tm.service.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if end := wait(t, tm.events.ended, "end"); end.Outcome == nil || end.Outcome.Status != secure.StatusAccepted {
		t.Errorf("outcome %+v", end)
	}
	if n := tm.service.n.Load(); n != 1 {
		t.Errorf("the validation service got %d requests, want 1", n)
	}
}

func TestSecureSessionRefusalsAndCancel(t *testing.T) {
	tm := newManager(t, 0)
	ctx := context.Background()
	tm.RegisterCall(Call{ID: "conf", Agent: "ann", Parties: 3})
	tm.RegisterCall(Call{ID: "mon", Agent: "ann", Parties: 2, Monitored: true})
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
		if _, err := tm.Begin(ctx, BeginOptions{Call: c.call, Agent: c.agent, Mode: c.mode, Form: "f", Fields: cardFields, AgentValues: map[string]string{"amount": "1"}, Now: t0}); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := tm.Begin(ctx, BeginOptions{Call: "c1", Agent: "ann", Mode: ModeAssisted, Form: "f", Fields: cardFields, AgentValues: nil, Now: t0}); !errors.Is(err, secure.ErrFields) {
		t.Errorf("missing agent value: %v", err)
	}
	s := tm.begin(t, ModeAssisted)
	prog, _ := tm.Keys(ctx, s.ID, "4111", time.Now())
	if prog.Digits != 4 || prog.Brand != "Visa" {
		t.Errorf("assisted progress %+v", prog)
	}
	if err := tm.Cancel(s.ID, "agent"); err != nil {
		t.Fatal(err)
	}
	if _, err := tm.Keys(ctx, s.ID, "1", time.Now()); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("keys after cancel: %v", err)
	}
	if got := wait(t, tm.events.ended, "end"); got.Outcome != nil || !strings.Contains(got.Error, "cancelled") {
		t.Errorf("cancelled session %+v", got)
	}
	// Timeouts end a session.
	s2 := tm.begin(t, ModeHold)
	tm.Tick(time.Now().Add(time.Minute))
	if got := wait(t, tm.events.ended, "end"); got.ID != s2.ID || got.Error != ErrTimeout.Error() {
		t.Errorf("after the timeout %+v", got)
	}
	tm.Close(context.Background())
	got := tm.platform.instructions()
	ends := 0
	for _, in := range got {
		if in.Type == "secure_session_end" && in.Session == s.ID {
			ends++
			if strings.Join(in.Actions, ",") != "unmask_tones,resume_recording,resume_monitoring" {
				t.Errorf("end webhook %+v", in)
			}
		}
	}
	if len(got) != 4 || ends != 1 {
		t.Errorf("webhooks %+v", got)
	}
	// The limit of concurrent sessions.
	lim := NewManager(ManagerConfig{MaxSessions: 1})
	lim.RegisterCall(Call{ID: "a", Agent: "x", Parties: 2})
	lim.RegisterCall(Call{ID: "b", Agent: "x", Parties: 2})
	lim.Begin(ctx, BeginOptions{Call: "a", Agent: "x", Mode: ModeHold, Form: "f", Fields: cardFields, AgentValues: map[string]string{"amount": "1"}, Now: t0})
	if _, err := lim.Begin(ctx, BeginOptions{Call: "b", Agent: "x", Mode: ModeHold, Form: "f", Fields: cardFields, AgentValues: map[string]string{"amount": "1"}, Now: t0}); !errors.Is(err, ErrTooManySessions) {
		t.Errorf("limit: %v", err)
	}
}

// waitEnded waits for the end of session id.
func waitEnded(t *testing.T, tm *testManager, id string) SessionInfo {
	t.Helper()
	for {
		if got := wait(t, tm.events.ended, "end"); got.ID == id {
			return got
		}
	}
}

// TestSecureSessionOverRTP keys a card over real UDP on loopback as RFC 4733
// packets (each key's end packet sent three times), with foreign and
// malformed packets mixed in; the port closes when the session ends.
func TestSecureSessionOverRTP(t *testing.T) {
	tm := newManager(t, 0)
	s := tm.begin(t, ModeHold)
	platformConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer platformConn.Close()
	intruder, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer intruder.Close()
	port, err := tm.OpenRTP(s.ID, "127.0.0.1:0", platformConn.LocalAddr().(*net.UDPAddr), pt)
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
	end := waitEnded(t, tm, s.ID)
	if end.Outcome == nil || end.Outcome.Status != secure.StatusAccepted {
		t.Fatalf("session %+v (foreign %d, malformed %d)", end, port.Stats.Foreign.Load(), port.Stats.Malformed.Load())
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
	tm.Close(context.Background())
	if got := tm.platform.instructions(); len(got) != 2 {
		t.Errorf("webhooks %d", len(got))
	}
}

// TestRTPPayloadTypes: a static type is refused as the telephone-event
// type; G.711 packets are analysed in-band whether declared or not, and
// packets of any other type are counted and never parsed as events, even
// when their bytes look like one.
func TestRTPPayloadTypes(t *testing.T) {
	tm := newManager(t, 0)
	s := tm.begin(t, ModeAssisted)
	conn, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer conn.Close()
	src := conn.LocalAddr().(*net.UDPAddr)
	for _, bad := range []int{0, 8, 18, 95, 128, 255} {
		if _, err := tm.OpenRTP(s.ID, "127.0.0.1:0", src, bad); !errors.Is(err, ErrEventPayloadType) {
			t.Errorf("payload type %d: %v", bad, err)
		}
	}
	port, err := tm.OpenRTP(s.ID, "127.0.0.1:0", src, pt)
	if err != nil {
		t.Fatal(err)
	}
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port.Port()}
	// An event-shaped payload ('5', end, duration 800) in PCMA (8), G.729
	// (18) and an undeclared dynamic type (100) packets: no key.
	payload := []byte{5, 0x8a, 0x03, 0x20}
	for i, typ := range []uint8{payloadPCMA, 18, 100, payloadPCMU} {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: typ, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 9}, Payload: payload}
		b, _ := p.Marshal()
		conn.WriteToUDP(b, dst)
	}
	// Then a real telephone-event '4' on the declared type.
	seq := uint16(10)
	for _, pkt := range press(&seq, 8000, 4, 2) {
		conn.WriteToUDP(pkt, dst)
	}
	// A last unknown packet: once it is counted, the reader has handled
	// (and reported the keys of) every packet before it.
	last := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 18, SequenceNumber: 99, SSRC: 9}, Payload: payload}
	b, _ := last.Marshal()
	conn.WriteToUDP(b, dst)
	for port.Stats.Unknown.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	if n := len(tm.events.progress); n != 1 {
		t.Errorf("%d keys, want 1 (the telephone-event)", n)
	}
	if port.Stats.Unknown.Load() != 3 || port.Stats.Audio.Load() != 2 {
		t.Errorf("unknown %d (want 3), audio %d (want 2)", port.Stats.Unknown.Load(), port.Stats.Audio.Load())
	}
}

// TestKeysOutOfOrder: keys pushed one a request, concurrently, in shuffled
// order and some twice (a platform's retries), with their sequence
// numbers, are applied in order and once: the card is accepted.
func TestKeysOutOfOrder(t *testing.T) {
	const keys = "4111111111111111#1230123#"
	for round := range 20 {
		tm := newManager(t, 0)
		s := tm.begin(t, ModeHold)
		ctx := context.Background()
		order := rand.New(rand.NewSource(int64(round))).Perm(len(keys))
		var wg sync.WaitGroup
		for _, i := range append(order, order[:5]...) { // five pushed twice
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := tm.KeysAt(ctx, s.ID, i+1, keys[i:i+1], time.Now())
				if err != nil && !errors.Is(err, ErrNotCollecting) && !errors.Is(err, ErrUnknownSession) {
					t.Errorf("key %d: %v", i+1, err)
				}
			}()
		}
		wg.Wait()
		end := waitEnded(t, tm, s.ID)
		if end.Outcome == nil || end.Outcome.Status != secure.StatusAccepted {
			t.Fatalf("round %d (order %v): %+v", round, order, end)
		}
		if n := tm.service.n.Load(); n != 1 {
			t.Fatalf("round %d: %d validation requests", round, n)
		}
	}
}

// TestKeysSequence: a gap holds the keys after it, a retry counts once,
// numbers below 1 or too far ahead are refused, and unnumbered keys count
// in the sequence.
func TestKeysSequence(t *testing.T) {
	tm := newManager(t, 0)
	s := tm.begin(t, ModeAssisted)
	ctx := context.Background()
	now := time.Now()
	if p, _ := tm.KeysAt(ctx, s.ID, 3, "11", now); p.Digits != 0 {
		t.Errorf("keys after a gap applied: %+v", p)
	}
	if p, _ := tm.KeysAt(ctx, s.ID, 1, "41", now); p.Digits != 4 || p.Brand != "Visa" {
		t.Errorf("after the gap is filled: %+v", p)
	}
	if p, _ := tm.KeysAt(ctx, s.ID, 1, "4111", now); p.Digits != 0 {
		t.Errorf("a retry counted again: %+v", p)
	}
	if p, _ := tm.Keys(ctx, s.ID, "1", now); p.Digits != 5 {
		t.Errorf("an unnumbered key: %+v", p)
	}
	if p, _ := tm.KeysAt(ctx, s.ID, 6, "1", now); p.Digits != 6 {
		t.Errorf("numbered after an unnumbered one: %+v", p)
	}
	for _, seq := range []int{-1, 7 + maxKeysAhead} {
		if _, err := tm.KeysAt(ctx, s.ID, seq, "1", now); !errors.Is(err, ErrKeySequence) {
			t.Errorf("seq %d: %v", seq, err)
		}
	}
}

// TestBeginUsesTheClock: a session started without a time uses the
// Manager's clock, for its timeouts too.
func TestBeginUsesTheClock(t *testing.T) {
	past := time.Date(2020, 3, 1, 9, 0, 0, 0, time.UTC)
	ev := newEvents()
	m := NewManager(ManagerConfig{Observer: ev, Now: func() time.Time { return past }})
	m.RegisterCall(Call{ID: "c", Agent: "ann", Parties: 2})
	s, err := m.Begin(context.Background(), BeginOptions{Call: "c", Agent: "ann", Mode: ModeHold, Form: "f", Fields: cardFields, AgentValues: map[string]string{"amount": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	m.Tick(past.Add(DefaultFirstDigit - time.Second))
	if got, _ := m.Session(s.ID); got.State != StateCollecting {
		t.Fatalf("before the first-digit timeout of the given clock: %+v", got)
	}
	m.Tick(past.Add(DefaultFirstDigit + time.Second))
	if got := wait(t, ev.ended, "end"); got.ID != s.ID || got.Error != ErrTimeout.Error() {
		t.Errorf("after the first-digit timeout of the given clock: %+v", got)
	}
}

// TestHoldModeProgress: in hold mode the agent sees the same progress as in
// assisted mode: field, count of keys, validity, brand; never a digit.
func TestHoldModeProgress(t *testing.T) {
	tm := newManager(t, 0)
	s := tm.begin(t, ModeHold)
	ctx := context.Background()
	for _, k := range "4111" {
		tm.Keys(ctx, s.ID, string(k), time.Now())
	}
	var last Progress
	for range 4 {
		last = wait(t, tm.events.progress, "progress in hold mode")
	}
	if last.Field != "card_number" || last.Digits != 4 || last.Brand != "Visa" {
		t.Errorf("hold-mode progress %+v", last)
	}
	tm.Keys(ctx, s.ID, "111111111111#", time.Now())
	for p := range tm.events.progress {
		if p.Valid != nil {
			if !*p.Valid || p.Field != "card_number" {
				t.Errorf("the end of the field: %+v", p)
			}
			break
		}
	}
	b, _ := json.Marshal(last)
	if strings.Contains(string(b), "4111") {
		t.Errorf("progress holds digits: %s", b)
	}
}

// orderObserver records the states the observer is told, in order.
type orderObserver struct {
	mu     sync.Mutex
	states []string
}

func (o *orderObserver) add(s string) { o.mu.Lock(); o.states = append(o.states, s); o.mu.Unlock() }

func (o *orderObserver) Started(s SessionInfo)          { o.add("started:" + s.State) }
func (o *orderObserver) Collecting(SessionInfo)         { o.add("collecting") }
func (o *orderObserver) Progress(SessionInfo, Progress) {}
func (o *orderObserver) Ended(SessionInfo)              { o.add("ended") }

// instantAck acknowledges every instruction at once.
type instantAck struct{}

func (instantAck) Notify(context.Context, Instruction) error { return nil }

// TestObserverHearsTheStartFirst: the start is told before the platform
// is asked, so a platform that acknowledges at once cannot put collecting
// before it on the agent's screen; without a platform the start is told
// as collecting.
func TestObserverHearsTheStartFirst(t *testing.T) {
	for _, tc := range []struct {
		notifier Notifier
		want     []string
	}{{instantAck{}, []string{"started:starting", "collecting"}}, {nil, []string{"started:collecting"}}} {
		for i := 0; i < 50; i++ {
			o := &orderObserver{}
			m := NewManager(ManagerConfig{Notifier: tc.notifier, Observer: o})
			m.RegisterCall(Call{ID: "c1", Agent: "ann", Parties: 2})
			if _, err := m.Begin(context.Background(), BeginOptions{Call: "c1", Agent: "ann", Mode: ModeHold, Form: "Credit Card",
				Fields: cardFields, AgentValues: map[string]string{"amount": "1"}, Now: time.Now()}); err != nil {
				t.Fatal(err)
			}
			m.Close(context.Background()) // waits for the begin instruction's goroutine
			o.mu.Lock()
			got := slices.Clone(o.states)
			o.mu.Unlock()
			if len(got) > len(tc.want) {
				got = got[:len(tc.want)] // Close may end the session after
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("run %d: observer heard %q, want %q first", i, got, tc.want)
			}
		}
	}
}
