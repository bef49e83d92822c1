package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/identity"
)

// signIn posts a sign-in, from the source address from (via a trusted
// proxy's X-Forwarded-For) if set, and returns the status and error code.
func (e *env) signIn(t *testing.T, login, pw, from string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"login": login, "password": pw})
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/login", bytes.NewReader(body))
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&reply)
	return resp.StatusCode, reply.Error
}

func trustLoopback(c *Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
}

// records returns the audit trail.
func (e *env) records(t *testing.T) []audit.ExportRecord {
	t.Helper()
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), e.store, &buf, 0); err != nil {
		t.Fatal(err)
	}
	var out []audit.ExportRecord
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r audit.ExportRecord
		if line != "" && json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// 220 wrong passwords from many addresses (the per-source throttle cannot
// stop them): after ten, the right password answers 423, for a known login
// and an unknown one alike; the administrator's unlock lets ann in.
func TestLockoutOverHTTP(t *testing.T) {
	e := newEnv(t, trustLoopback)
	for _, login := range []string{"ann", "nobody"} {
		var codes []int
		for i := range 220 {
			st, _ := e.signIn(t, login, "wrong password 9", "198.51.100."+itoa(i%250))
			codes = append(codes, st)
		}
		for i, st := range codes {
			want := http.StatusUnauthorized
			if i >= identity.DefaultMaxFailures {
				want = http.StatusLocked
			}
			if st != want {
				t.Fatalf("%s: attempt %d answered %d, want %d", login, i+1, st, want)
			}
		}
		if st, code := e.signIn(t, login, password, "203.0.113.9"); st != http.StatusLocked || code != "locked" {
			t.Fatalf("%s: the right password after the lockout: %d %s, want 423 locked", login, st, code)
		}
	}
	if err := e.ident.Unlock(context.Background(), "ann"); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.signIn(t, "ann", password, "203.0.113.9"); st != http.StatusOK {
		t.Fatalf("after unlock: %d, want 200", st)
	}
	// The trail holds the failures, the lockout and the success, with the
	// source; the log names the login and the source of a failure.
	var fails, lockouts, ok int
	for _, r := range e.records(t) {
		switch {
		case r.Action == audit.ActionSignIn && r.Outcome == audit.Failure && r.Actor == "ann":
			fails++
			if !strings.HasPrefix(r.Source, "198.51.100.") {
				t.Errorf("failure recorded from %q", r.Source)
			}
		case r.Action == audit.ActionLockout && r.Actor == "ann":
			lockouts++
		case r.Action == audit.ActionSignIn && r.Outcome == audit.Success && r.Actor == "ann" && r.Source == "203.0.113.9":
			ok++
		}
	}
	if fails != identity.DefaultMaxFailures || lockouts != 1 || ok != 1 {
		t.Errorf("trail: %d failures, %d lockouts, %d successes; want %d, 1, 1", fails, lockouts, ok, identity.DefaultMaxFailures)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "sign-in failed") || !strings.Contains(logs, "login=nobody") || !strings.Contains(logs, "source=198.51.100.") {
		t.Errorf("the log of failed sign-ins lacks the login or the source")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// One source address gets ten attempts a minute, whichever logins it
// tries; then 429, even with the right password.
func TestSignInThrottledPerSource(t *testing.T) {
	e := newEnv(t, trustLoopback)
	for i := range DefaultLoginBurst {
		if st, _ := e.signIn(t, "login"+itoa(i), "wrong password 9", "198.51.100.7"); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, st)
		}
	}
	if st, code := e.signIn(t, "ann", password, "198.51.100.7"); st != http.StatusTooManyRequests || code != "rate_limited" {
		t.Fatalf("attempt %d from one source: %d %s, want 429", DefaultLoginBurst+1, st, code)
	}
	if st, _ := e.signIn(t, "ann", password, "198.51.100.8"); st != http.StatusOK {
		t.Fatalf("another source: %d, want 200", st)
	}
}

// Only a trusted proxy may say whom it forwards for and over what: an
// untrusted peer's X-Forwarded-For does not move its bucket, and its
// X-Forwarded-Proto does not make the cookie Secure; a trusted one's does.
func TestForwardedHeadersOnlyFromTrustedProxies(t *testing.T) {
	e := newEnv(t, nil)
	for i := range DefaultLoginBurst {
		e.signIn(t, "x", "wrong password 9", "198.51.100."+itoa(i))
	}
	if st, _ := e.signIn(t, "ann", password, "203.0.113.1"); st != http.StatusTooManyRequests {
		t.Fatalf("an untrusted peer's X-Forwarded-For moved it to a new bucket: %d, want 429", st)
	}
	p := newEnv(t, trustLoopback)
	body := strings.NewReader(`{"login":"ann","password":"` + password + `"}`)
	req, _ := http.NewRequest("POST", p.srv.URL+"/api/v1/login", body)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-For", "203.0.113.50")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("behind a trusted TLS proxy the cookie lacks Secure: %q", c)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h == "" {
		t.Error("behind a trusted TLS proxy there is no HSTS header")
	}
	req, _ = http.NewRequest("POST", e.srv.URL+"/api/v1/login", strings.NewReader(`{"login":"sam","password":"`+password+`"}`))
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if c := resp.Header.Get("Set-Cookie"); strings.Contains(c, "Secure") || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("an untrusted peer's X-Forwarded-Proto made the cookie Secure: %q", c)
	}
	var src string
	for _, r := range p.records(t) {
		if r.Action == audit.ActionSignIn {
			src = r.Source
		}
	}
	if src != "203.0.113.50" {
		t.Errorf("sign-in through the proxy recorded from %q, want 203.0.113.50", src)
	}
}

// A sign-in gets a new session id each time; a restart of the server keeps
// the session; a password change ends it and closes its websockets.
func TestSessionsRotateSurviveAndEndOnPasswordChange(t *testing.T) {
	e := newEnv(t, nil)
	hc, h := e.loginAgent(t, "ann")
	_, h2 := e.loginAgent(t, "ann")
	if h.Get("Cookie") == h2.Get("Cookie") {
		t.Fatal("two sign-ins got the same session id")
	}
	// A second server on the same store (a restart) knows the session.
	cfg := e.web.cfg
	cfg.Metrics = nil
	again, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Shutdown(context.Background()) })
	req, _ := http.NewRequest("GET", "/api/v1/me", nil)
	req.Header.Set("Cookie", h.Get("Cookie"))
	rec := httptest.NewRecorder()
	again.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("/me after a restart: %d, want 200", rec.Code)
	}
	a, _, err := dial(t, e.wsURL("/api/v1/agent/ws"), h)
	if err != nil {
		t.Fatal(err)
	}
	a.next(chat.FrameWelcome)
	if err := e.ident.SetPassword(context.Background(), "ann", "a new password 2"); err != nil {
		t.Fatal(err)
	}
	e.web.Sweep(context.Background())
	if code := a.closeCode(); code != websocket.StatusPolicyViolation {
		t.Errorf("after a password change the agent socket closed with %d, want 1008", code)
	}
	resp, _ := hc.Get(e.srv.URL + "/api/v1/me")
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/me after a password change: %s, want 401", resp.Status)
	}
}

// Sweeps while agents sign in and connect close none of their sockets: a
// session that starts during a sweep is not taken for one that ended.
func TestSweepSparesSessionsStartedMeanwhile(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Limits.LoginBurst = 1000 })
	stop := make(chan struct{})
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		for {
			select {
			case <-stop:
				return
			default:
				e.web.Sweep(context.Background())
			}
		}
	}()
	var clients []*wsClient
	for range 40 {
		for _, login := range []string{"ann", "sam"} {
			_, h := e.loginAgent(t, login)
			a, _, err := dial(t, e.wsURL("/api/v1/agent/ws"), h)
			if err != nil {
				t.Fatal(err)
			}
			clients = append(clients, a)
		}
	}
	close(stop)
	<-swept
	e.web.Sweep(context.Background())
	for i, a := range clients {
		a.send(map[string]any{"type": "ping"})
		select {
		case code := <-a.closed:
			t.Fatalf("agent socket %d was closed (%d) by a sweep", i, code)
		default:
		}
	}
}
