package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/identity"
	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/keys"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
	"github.com/secureinput/gateway/voice"
)

type env struct {
	srv    *httptest.Server
	web    *Server
	store  *store.Store
	dbPath string
	logs   *testenv.LogBuffer
	hub    *chat.Hub
	clock  *offsetClock
	ident  *identity.Service
}

// offsetClock is the time plus an offset a test moves forward: sessions
// and lockouts expire without waiting.
type offsetClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *offsetClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *offsetClock) add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// password is the test agents' password.
const password = "secret password 1"

var passwordHash = func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	return string(h)
}()

func newEnv(t *testing.T, tweak func(*Config)) *env {
	return newEnvWith(t, 0, tweak)
}

// testServices are the services of newEnv: support and sales, each its
// workgroup's.
var testServices = []chat.Service{{Name: "support", Workgroup: "support"}, {Name: "sales", Workgroup: "sales"}}

// newEnvWith is newEnv with a message size limit.
func newEnvWith(t *testing.T, maxMessageBytes int, tweak func(*Config)) *env {
	t.Helper()
	return newEnvOpts(t, envOptions{MaxMessageBytes: maxMessageBytes}, tweak)
}

// newEnvServices is newEnvWith with services of the test's own.
func newEnvServices(t *testing.T, maxMessageBytes int, services []chat.Service, tweak func(*Config)) *env {
	t.Helper()
	return newEnvOpts(t, envOptions{MaxMessageBytes: maxMessageBytes, Services: services}, tweak)
}

// envOptions are what an env may change of newEnv's hub.
type envOptions struct {
	MaxMessageBytes int
	Services        []chat.Service // testServices if nil
	Redaction       *redact.Config // redact.DefaultConfig() if nil
}

// newEnvOpts is newEnv with the options o.
func newEnvOpts(t *testing.T, o envOptions, tweak func(*Config)) *env {
	t.Helper()
	maxMessageBytes, services := o.MaxMessageBytes, o.Services
	if services == nil {
		services = testServices
	}
	rc := redact.DefaultConfig()
	if o.Redaction != nil {
		rc = *o.Redaction
	}
	logs := &testenv.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	path := filepath.Join(t.TempDir(), "gw.db")
	st := testenv.Store(t, store.Config{Path: path, Logger: logger, KEK: testKEK})
	eng, err := redact.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	hub, err := chat.New(chat.Config{
		Store: st, Engine: eng, Logger: logger, MaxMessageBytes: maxMessageBytes,
		// As cmd/gateway wires it: an ended conversation's forms are forgotten.
		OnEnd: func(id string) {
			if cfg.Desk != nil {
				cfg.Desk.Forget(id)
			}
		},
		Services: services,
		Agents: []chat.Agent{
			{Login: "ann", Name: "Ann", Workgroups: []string{"support"}},
			{Login: "sam", Name: "Sam", Workgroups: []string{"sales"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := &offsetClock{}
	ident, err := identity.New(identity.Config{Store: st, Logger: logger, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := ident.Bootstrap(context.Background(), []identity.Bootstrap{
		{Login: "ann", PasswordHash: passwordHash, Workgroups: []string{"support"}},
		{Login: "sam", PasswordHash: passwordHash, Workgroups: []string{"sales"}},
	}); err != nil {
		t.Fatal(err)
	}
	trail, err := audit.New(audit.Config{Store: st, Engine: eng, Logger: logger, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	cfg = Config{
		Hub:      hub,
		Identity: ident,
		Audit:    trail,
		Logger:   logger,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.SetReady()
	srv := httptest.NewServer(w)
	t.Cleanup(func() {
		w.Shutdown(context.Background())
		srv.Close()
		hub.Close()
	})
	return &env{srv: srv, web: w, store: st, dbPath: path, logs: logs, hub: hub, clock: clk, ident: ident}
}

func (e *env) wsURL(path string) string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + path }

// frame is any frame the server sends, as a client decodes it: the chat's
// fields and those of web's own frames.
type frame struct {
	chat.Frame
	Code          string            `json:"code"`
	Message       string            `json:"message"`
	Request       string            `json:"request"`
	Form          any               `json:"form"`
	Forms         any               `json:"forms"`
	Canned        any               `json:"canned"`
	Outcome       any               `json:"outcome"`
	Result        string            `json:"result"`
	Workgroup     string            `json:"workgroup"`
	Call          string            `json:"call"`
	Conversations any               `json:"conversations"`
	Agents        any               `json:"agents"`
	Errors        map[string]string `json:"errors"`
	Values        map[string]string `json:"values"` // form_draft
	ReadOnly      []string          `json:"read_only"`
	Ready         bool              `json:"ready"`
	Reasons       []string          `json:"reasons"`
}

// wsClient is a test client that reads frames in the background.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan frame
	closed chan websocket.StatusCode
}

func dial(t *testing.T, url string, header http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(1 << 20)
	c := &wsClient{t: t, conn: conn, frames: make(chan frame, 1024), closed: make(chan websocket.StatusCode, 1)}
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				c.closed <- websocket.CloseStatus(err)
				close(c.frames)
				return
			}
			var f frame
			if err := json.Unmarshal(data, &f); err != nil {
				t.Errorf("server sent a frame that is not JSON: %q", data)
			}
			c.frames <- f
		}
	}()
	t.Cleanup(func() { conn.CloseNow() })
	return c, resp, nil
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	b, _ := json.Marshal(v)
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next waits for the first frame of type typ (skipping others).
func (c *wsClient) next(typ string) frame {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("connection closed while waiting for %q", typ)
			}
			if f.Type == typ {
				return f
			}
		case <-timeout:
			c.t.Fatalf("no %q frame", typ)
		}
	}
}

// closeCode waits for the server to close the connection.
func (c *wsClient) closeCode() websocket.StatusCode {
	c.t.Helper()
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				return <-c.closed
			}
		case <-time.After(10 * time.Second):
			c.t.Fatal("the server did not close the connection")
		}
	}
}

// loginAgent logs in and returns an HTTP client holding the session cookie
// and the cookie header for websockets.
func (e *env) loginAgent(t *testing.T, login string) (*http.Client, http.Header) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Post(e.srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"login":"`+login+`","password":"secret password 1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: %s", login, resp.Status)
	}
	h := http.Header{}
	for _, c := range resp.Cookies() {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	return hc, h
}

func (e *env) agent(t *testing.T, login string) *wsClient {
	t.Helper()
	_, h := e.loginAgent(t, login)
	a, _, err := dial(t, e.wsURL("/api/v1/agent/ws"), h)
	if err != nil {
		t.Fatal(err)
	}
	a.next(chat.FrameWelcome)
	a.send(map[string]any{"type": "status", "status": "available"})
	// The initial frames hold a status frame too ("away"): wait for the
	// answer to this one, or the agent may not be available yet.
	for a.next(chat.FrameStatus).Status != "available" {
	}
	return a
}

func TestVisitorAgentConversation(t *testing.T) {
	e := newEnv(t, nil)
	agent := e.agent(t, "ann")

	v, _, err := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	v.send(map[string]any{"type": "hello", "service": "support"})
	welcome := v.next(chat.FrameWelcome)
	if welcome.Token == "" || welcome.Conversation == "" || welcome.Protocol != chat.ProtocolVersion {
		t.Fatalf("welcome = %+v", welcome)
	}
	id := welcome.Conversation
	offer := agent.next(chat.FrameOffer)
	if offer.Conversation != id {
		t.Fatalf("offer for %s, want %s", offer.Conversation, id)
	}
	agent.send(map[string]any{"type": "accept", "conversation": id})
	if j := v.next(chat.FrameAgentJoined); j.Name != "Ann" {
		t.Errorf("agent_joined = %+v", j)
	}

	const card = "4111 1111 1111 1111"
	v.send(map[string]any{"type": "typing", "active": true})
	if ty := agent.next(chat.FrameTyping); ty.Active == nil || !*ty.Active {
		t.Errorf("typing frame = %+v", ty)
	}
	v.send(map[string]any{"type": "message", "client_id": "m1", "text": "pay with " + card + " please"})
	got := agent.next(chat.FrameMessage)
	if got.Text != "pay with ################### please" || got.From != "visitor" {
		t.Errorf("agent got %+v", got)
	}
	if ack := v.next(chat.FrameMessage); ack.ClientID != "m1" || ack.Seq != got.Seq {
		t.Errorf("visitor ack = %+v", ack)
	}
	agent.send(map[string]any{"type": "message", "conversation": id, "client_id": "a1", "text": "thanks, got it"})
	if m := v.next(chat.FrameMessage); m.Text != "thanks, got it" || m.Name != "Ann" {
		t.Errorf("visitor got %+v", m)
	}

	// Resume on a new socket from seq 3: only what came after.
	v2, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	v2.send(map[string]any{"type": "hello", "conversation": id, "token": welcome.Token, "since": got.Seq})
	w2 := v2.next(chat.FrameWelcome)
	if w2.Token != "" {
		t.Error("a resumed welcome repeats the token")
	}
	if m := v2.next(chat.FrameMessage); m.Seq != got.Seq+2 || m.Text != "thanks, got it" { // +1 is the redaction event
		t.Errorf("resume gave %+v, want the agent's reply only", m)
	}
	// A resend of m1 (ack lost) is not stored twice.
	v2.send(map[string]any{"type": "message", "client_id": "m1", "text": "pay with " + card + " please"})
	if again := v2.next(chat.FrameMessage); again.Seq != got.Seq {
		t.Errorf("resent message got seq %d, want the stored %d", again.Seq, got.Seq)
	}

	agent.send(map[string]any{"type": "end", "conversation": id})
	v.next(chat.FrameEnded)

	// Nothing of the card in the database, the log or any agent frame.
	e.web.Shutdown(context.Background())
	e.store.Close()
	db, _ := os.ReadFile(e.dbPath)
	wal, _ := os.ReadFile(e.dbPath + "-wal")
	digits := strings.ReplaceAll(card, " ", "")
	for name, hay := range map[string]string{"database": string(db) + string(wal), "log": e.logs.String()} {
		if strings.Contains(hay, card) || strings.Contains(hay, digits) {
			t.Errorf("the %s holds the card number", name)
		}
	}
}

func TestAgentOfAnotherWorkgroupCannotAccept(t *testing.T) {
	e := newEnv(t, nil)
	sam := e.agent(t, "sam")
	resp, err := http.Post(e.srv.URL+"/api/v1/conversations", "application/json", strings.NewReader(`{"service":"support"}`))
	if err != nil {
		t.Fatal(err)
	}
	var opened struct{ Conversation, Token string }
	json.NewDecoder(resp.Body).Decode(&opened)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || opened.Conversation == "" {
		t.Fatalf("open: %s %+v", resp.Status, opened)
	}
	sam.send(map[string]any{"type": "accept", "conversation": opened.Conversation})
	if f := sam.next(frameError); f.Code != "forbidden" {
		t.Errorf("Sam accepting a support chat: %+v, want forbidden", f)
	}
	sam.send(map[string]any{"type": "history", "conversation": opened.Conversation})
	if f := sam.next(frameError); f.Code != "forbidden" {
		t.Errorf("Sam reading a support chat: %+v, want forbidden", f)
	}
}

func TestBadInputAndLimits(t *testing.T) {
	e := newEnvWith(t, 64, func(c *Config) {
		c.MaxConnections = 3
		c.Rate, c.Burst = 1, 2
		c.AllowedOrigins = []string{"https://shop.example"}
	})
	hello := map[string]any{"type": "hello", "service": "support"}

	t.Run("malformed frame closes with policy violation", func(t *testing.T) {
		v, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
		v.send(hello)
		v.next(chat.FrameWelcome)
		v.conn.Write(context.Background(), websocket.MessageText, []byte("{not json"))
		if code := v.closeCode(); code != websocket.StatusPolicyViolation {
			t.Errorf("close code %d, want 1008", code)
		}
	})
	t.Run("unknown frame type closes with policy violation", func(t *testing.T) {
		v, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
		v.send(hello)
		v.next(chat.FrameWelcome)
		v.send(map[string]any{"type": "launch_missiles"})
		if code := v.closeCode(); code != websocket.StatusPolicyViolation {
			t.Errorf("close code %d, want 1008", code)
		}
	})
	t.Run("first frame must be hello", func(t *testing.T) {
		v, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
		v.send(map[string]any{"type": "message", "text": "hi"})
		if code := v.closeCode(); code != websocket.StatusPolicyViolation {
			t.Errorf("close code %d, want 1008", code)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		v, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
		v.send(map[string]any{"type": "hello", "conversation": "nope", "token": "nope"})
		if f := v.next(frameError); f.Code != "not_found" {
			t.Errorf("error = %+v", f)
		}
		if code := v.closeCode(); code != websocket.StatusPolicyViolation {
			t.Errorf("close code %d, want 1008", code)
		}
	})
	t.Run("message over the size limit", func(t *testing.T) {
		v, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
		v.send(hello)
		v.next(chat.FrameWelcome)
		v.send(map[string]any{"type": "message", "client_id": "big", "text": strings.Repeat("a", 65)})
		if f := v.next(frameError); f.Code != "too_large" || f.ClientID != "big" {
			t.Errorf("error = %+v, want too_large", f)
		}
		// A frame over the socket's read limit closes it.
		v.send(map[string]any{"type": "message", "text": strings.Repeat("a", 64*6+2048)})
		if code := v.closeCode(); code != websocket.StatusMessageTooBig {
			t.Errorf("close code %d, want 1009", code)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		v, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
		v.send(hello)
		v.next(chat.FrameWelcome)
		for i := range 5 {
			v.send(map[string]any{"type": "typing", "active": i%2 == 0})
		}
		if f := v.next(frameError); f.Code != "rate_limited" {
			t.Errorf("error = %+v, want rate_limited", f)
		}
	})
	t.Run("origin not allowed", func(t *testing.T) {
		_, resp, err := dial(t, e.wsURL("/api/v1/visitor/ws"), http.Header{"Origin": {"https://evil.example"}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("dial from a foreign origin: err %v, resp %v; want 403", err, resp)
		}
		v, _, err := dial(t, e.wsURL("/api/v1/visitor/ws"), http.Header{"Origin": {"https://shop.example"}})
		if err != nil {
			t.Fatalf("dial from an allowed origin: %v", err)
		}
		v.conn.CloseNow()
	})
	t.Run("connection limit", func(t *testing.T) {
		var open []*wsClient
		var lastResp *http.Response
		for range 5 {
			c, resp, err := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
			if err != nil {
				lastResp = resp
				break
			}
			open = append(open, c)
		}
		if lastResp == nil || lastResp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("after %d connections: %v, want 503", len(open), lastResp)
		}
		for _, c := range open {
			c.conn.Close(websocket.StatusNormalClosure, "")
		}
	})
}

func TestIdleTimeout(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	v, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	v.send(map[string]any{"type": "hello", "service": "support"})
	v.next(chat.FrameWelcome)
	if code := v.closeCode(); code != websocket.StatusGoingAway {
		t.Errorf("idle close code %d, want 1001", code)
	}
}

func TestAgentAuth(t *testing.T) {
	e := newEnv(t, nil)
	if _, resp, err := dial(t, e.wsURL("/api/v1/agent/ws"), nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("agent socket without a session: %v %v, want 401", err, resp)
	}
	resp, _ := http.Post(e.srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"login":"ann","password":"wrong"}`))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %s", resp.Status)
	}
	resp, _ = http.Post(e.srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"login":"ann","password":"secret password 1"}`))
	raw := resp.Header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(raw, attr) {
			t.Errorf("session cookie %q lacks %s", raw, attr)
		}
	}
	hc, h := e.loginAgent(t, "ann")
	a, _, err := dial(t, e.wsURL("/api/v1/agent/ws"), h)
	if err != nil {
		t.Fatal(err)
	}
	a.next(chat.FrameWelcome)
	// Logout ends the session and closes its sockets.
	resp, _ = hc.Post(e.srv.URL+"/api/v1/logout", "", nil)
	io.Copy(io.Discard, resp.Body)
	if code := a.closeCode(); code != websocket.StatusPolicyViolation {
		t.Errorf("after logout the agent socket closed with %d, want 1008", code)
	}
	resp, _ = hc.Get(e.srv.URL + "/api/v1/me")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/me after logout: %s", resp.Status)
	}
}

// A session idle for the idle timeout ends: at the next sweep its
// websockets close, and the cookie no longer opens one.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, nil)
	_, h := e.loginAgent(t, "ann")
	a, _, err := dial(t, e.wsURL("/api/v1/agent/ws"), h)
	if err != nil {
		t.Fatal(err)
	}
	a.next(chat.FrameWelcome)
	e.clock.add(identity.DefaultIdleTimeout)
	if err := e.web.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := a.closeCode(); code != websocket.StatusPolicyViolation {
		t.Errorf("expired session: close code %d, want 1008", code)
	}
	if _, resp, err := dial(t, e.wsURL("/api/v1/agent/ws"), h); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("socket with an expired session: %v, want 401", err)
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Get(e.srv.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", err, resp)
	}
	w, _ := New(Config{Hub: e.web.hub, Identity: e.ident, Audit: e.web.cfg.Audit})
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("healthz before ready = %d, want 503", rec.Code)
	}
}

func TestTelephonyIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/telephony.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{inCalls, inCallForms, inCallSecureInput, inCallCancel, inCallRestart, frameCalls, frameCallSession,
		"unknown_call", "no_session", "session_exists", "conference_call", "monitored_call", "too_many_sessions", "not_on_call",
		"/calls/{call}/session/digits", "/calls/{call}/session/rtp", voice.SignatureHeader} {
		if !bytes.Contains(doc, []byte(s)) {
			t.Errorf("docs/telephony.md does not document %q", s)
		}
	}
}

func TestEveryFrameTypeIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	tel, err := os.ReadFile("../docs/telephony.md")
	if err != nil {
		t.Fatal(err)
	}
	types := append(append(append([]string{}, chat.HistoryFrames...), chat.EphemeralFrames...), webFrames...)
	types = append(types, inHello, inMessage, inTyping, inEnd, inPing, inStatus, inAccept, inLeave, inHistory,
		inForms, inFormRequest, inFormRetry, inFormCancel, inFormSubmit, inSupervise)
	for _, typ := range types {
		if !bytes.Contains(doc, []byte("`"+typ+"`")) && !bytes.Contains(tel, []byte("`"+typ+"`")) {
			t.Errorf("neither docs/protocol.md nor docs/telephony.md documents frame type %q", typ)
		}
	}
	for _, code := range []string{"not_found", "unknown_service", "forbidden", "taken", "ended", "too_large", "empty", "bad_text", "redaction_failed", "busy", "rate_limited", "bad_request", "internal", "no_secure_input", "no_initiate_secure_input", "no_workgroup_access",
		"form_not_for_service", "unknown_form", "unknown_request", "form_state", "form_busy", "invalid_fields", "forms_disabled", "1008", "1009", "1013", "1001"} {
		if !bytes.Contains(doc, []byte(code)) {
			t.Errorf("docs/protocol.md does not document %q", code)
		}
	}
	// Every error a client can meet maps to a documented code.
	for _, c := range errorCodes {
		if !bytes.Contains(doc, []byte("`"+c.code+"`")) && !bytes.Contains(tel, []byte("`"+c.code+"`")) {
			t.Errorf("error code %q (%v) is not documented", c.code, c.err)
		}
	}
	if code, status := errorCode(errors.New("other")); code != "internal" || status != http.StatusInternalServerError {
		t.Errorf("an unknown error is %q, %d; want internal, 500", code, status)
	}
}

// /metrics is served on its own listener; on the public one it answers
// 404, or, with a token configured, 401 without it.
func TestMetrics(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MetricsToken = "metrics-token-1" })
	before := e.store.Stats()
	v, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	v.send(map[string]any{"type": "hello", "service": "support"})
	id := v.next(chat.FrameWelcome).Conversation
	for _, auth := range []string{"", "Bearer wrong", "metrics-token-1"} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("/metrics with Authorization %q: %s, want 401", auth, resp.Status)
		}
	}
	closed := newEnv(t, nil)
	if resp, _ := http.Get(closed.srv.URL + "/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public listener without a token: %s, want 404", resp.Status)
	}
	own := httptest.NewServer(e.web.MetricsHandler())
	t.Cleanup(own.Close)
	req, _ := http.NewRequest("GET", e.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer metrics-token-1")
	tokened, err := http.DefaultClient.Do(req)
	if err != nil || tokened.StatusCode != 200 {
		t.Fatalf("/metrics with the token: %v %v", err, tokened)
	}
	tokened.Body.Close()
	resp, err := http.Get(own.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"gateway_websockets_open 1\n", "gateway_conversations_live 1\n", "go_heap_live_bytes ", "go_stack_bytes ",
		"go_memory_total_bytes ", "go_goroutines ", "process_open_fds "} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(body), id) {
		t.Errorf("/metrics names conversation %s", id)
	}
	// Opening the conversation was the one write since the accounts were
	// set up, in one commit.
	for _, want := range []string{fmt.Sprintf("gateway_store_commits_total %d\n", before.Commits+1), fmt.Sprintf("gateway_store_writes_total %d\n", before.Writes+1)} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TLS = true })
	resp, err := http.Post(e.srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"login":"ann","password":"secret password 1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if raw := resp.Header.Get("Set-Cookie"); !strings.Contains(raw, "Secure") {
		t.Errorf("session cookie under TLS lacks Secure: %q", raw)
	}
}

func TestPagesAndHeaders(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowedOrigins = []string{"https://shop.example"} })
	for path, want := range map[string]string{
		"/chat/?service=support": "frame-ancestors 'self' https://shop.example",
		"/console/":              "frame-ancestors 'none'",
	} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", path, csp, want)
		}
	}
	resp, _ := http.Post(e.srv.URL+"/api/v1/conversations", "application/json", strings.NewReader(`{"service":"nope"}`))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown service: %s, want 404", resp.Status)
	}
	resp, _ = http.Post(e.srv.URL+"/api/v1/conversations", "application/json", strings.NewReader(`not json`))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad body: %s, want 400", resp.Status)
	}
}

// testKEK is the key-encryption key of this package's test stores, one for
// the whole run so that a store reopened by a test opens.
var testKEK = func() *keys.Local {
	k, err := keys.Generate()
	if err != nil {
		panic(err)
	}
	return k
}()
