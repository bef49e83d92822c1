package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/internal/testenv"
)

// demoGateway starts the demo configuration on :0 with tweak applied.
func demoGateway(t *testing.T, data string, tweak func(*config)) *gateway {
	t.Helper()
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = data
	if tweak != nil {
		tweak(cfg)
	}
	g, err := startGateway(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// A request whose body trickles in is cut off at the read timeout, and
// so is one whose headers do; the flood of slow clients ends in bounded
// time.
func TestSlowRequestsAreCutOff(t *testing.T) {
	g := demoGateway(t, t.TempDir(), func(c *config) {
		c.Limits.ReadTimeout = duration(time.Second)
		c.Limits.HeaderTimeout = duration(time.Second)
	})
	addr := g.listener.Addr().String()
	for _, tc := range []struct{ name, start string }{
		{"slow body", "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"},
		{"slow headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write([]byte(tc.start))
			start := time.Now()
			closed := make(chan struct{})
			go func() {
				io.Copy(io.Discard, conn) // ends when the server closes
				close(closed)
			}()
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-closed:
					return
				case <-tick.C:
					if time.Since(start) > 15*time.Second {
						t.Fatalf("the server still holds a %s after 15 s (read timeout 1 s)", tc.name)
					}
					conn.Write([]byte("a")) // one byte at a time, forever
				}
			}
		})
	}
}

// Under TLS the gateway speaks TLS 1.2 or later only, and says HSTS.
func TestTLSMinimumAndHSTS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testenv.SelfSigned(t, cert, key)
	g := demoGateway(t, filepath.Join(dir, "data"), func(c *config) { c.TLS = tlsConfig{Cert: cert, Key: key} })
	addr := g.listener.Addr().String()
	old, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
	if err == nil {
		old.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Get(g.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(h, "max-age=") {
		t.Errorf("HSTS header %q", h)
	}
}

// /metrics answers on its own loopback listener, and 404 on the public one.
func TestMetricsListener(t *testing.T) {
	g := demoGateway(t, t.TempDir(), nil)
	resp, err := http.Get(g.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics: %s, want 404", resp.Status)
	}
	if !strings.HasPrefix(g.MetricsURL(), "http://127.0.0.1:") {
		t.Errorf("metrics served at %s, want loopback", g.MetricsURL())
	}
	resp, err = http.Get(g.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "gateway_websockets_open") || !strings.Contains(string(body), `gateway_fail_closed_total{kind="redaction"} 0`) {
		t.Errorf("metrics listener lacks the gateway's metrics:\n%.500s", body)
	}
}

// A message whose redaction cannot finish is withheld, and counts as a
// fail-closed event in the metrics.
func TestFailClosedCountsInMetrics(t *testing.T) {
	g := demoGateway(t, t.TempDir(), func(c *config) {
		c.Redaction.Expressions = []string{`(a+)+$`} // catastrophic backtracking
		c.Redaction.Timeout = duration(time.Millisecond)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.URL(), "http")+"/api/v1/visitor/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","service":"support"}`))
	conn.Read(ctx)
	conn.Write(ctx, websocket.MessageText, []byte(`{"type":"message","client_id":"m1","text":"`+strings.Repeat("a", 40)+`!"}`))
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "redaction_failed") {
			break
		}
	}
	resp, err := http.Get(g.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `gateway_fail_closed_total{kind="redaction"} 1`) {
		t.Errorf("the withheld message did not count:\n%s", grepLines(string(body), "fail_closed"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A session survives a restart of the gateway.
func TestRestartKeepsSessions(t *testing.T) {
	data := t.TempDir()
	g := demoGateway(t, data, nil)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Post(g.URL()+"/api/v1/login", "application/json", strings.NewReader(`{"login":"demo","password":"demo"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", err, resp)
	}
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	g.Close()
	h := demoGateway(t, data, nil)
	req, _ := http.NewRequest("GET", h.URL()+"/api/v1/me", nil)
	req.Header.Set("Cookie", strings.SplitN(cookie, ";", 2)[0])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/me after a restart: %s, want 200", resp.Status)
	}
}

// users and audit on the data directory: add, a weak password refused,
// passwd, disable, unlock, list; every change recorded; verify holds, and
// fails once a record is changed.
func TestUsersAndAuditCommands(t *testing.T) {
	data := t.TempDir()
	run := func(stdin string, args ...string) (string, string, int) {
		return runGateway(t, stdin, append(args, "--data", data)...)
	}
	if _, errs, code := run("short1\n", "users", "add", "ann"); code != exitUsage || !strings.Contains(errs, "at least 12 characters") {
		t.Errorf("weak password: exit %d %q", code, errs)
	}
	if out, errs, code := run("a long pass 2025\n", "users", "add", "ann", "--name", "Ann", "--workgroups", "support", "--rights", "secure_input"); code != 0 {
		t.Fatalf("add: exit %d %q %q", code, out, errs)
	}
	if _, errs, code := run("a long pass 2025\n", "users", "add", "ann"); code != exitUsage || !strings.Contains(errs, "exists") {
		t.Errorf("add twice: exit %d %q", code, errs)
	}
	for _, args := range [][]string{{"users", "disable", "ann"}, {"users", "enable", "ann"}, {"users", "unlock", "ann"}} {
		if _, errs, code := run("", args...); code != 0 {
			t.Errorf("%v: exit %d %q", args, code, errs)
		}
	}
	if _, _, code := run("another pass 42\n", "users", "passwd", "ann"); code != 0 {
		t.Errorf("passwd: exit %d", code)
	}
	if _, errs, code := run("", "users", "unlock", "nobody"); code != exitUsage || !strings.Contains(errs, "no such account") {
		t.Errorf("unlock nobody: exit %d %q", code, errs)
	}
	out, _, code := run("", "users", "list")
	if code != 0 || !strings.Contains(out, "ann") || !strings.Contains(out, "support") || strings.Contains(out, "$2") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	// The account signs in on the gateway.
	g := demoGateway(t, data, nil)
	resp, err := http.Post(g.URL()+"/api/v1/login", "application/json", strings.NewReader(`{"login":"ann","password":"another pass 42"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ann signs in: %v %v", err, resp)
	}
	resp.Body.Close()
	g.Close()

	out, errs, code := run("", "audit", "verify")
	if code != 0 || !strings.Contains(out, "the chain holds") {
		t.Fatalf("audit verify: exit %d %q %q", code, out, errs)
	}
	out, _, _ = run("", "audit", "export")
	var actions []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		for _, a := range []string{"account_add", "account_disable", "account_enable", "account_unlock", "account_password", "sign_in"} {
			if strings.Contains(sc.Text(), `"action":"`+a+`"`) {
				actions = append(actions, a)
			}
		}
	}
	if got := strings.Join(actions, " "); got != "account_add account_disable account_enable account_unlock account_password sign_in" {
		t.Errorf("exported actions %q", got)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DROP TRIGGER audit_no_update"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit SET actor = 'someone else' WHERE seq = 2"); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := run("", "audit", "verify"); code != exitFailure || !strings.Contains(errs, "broken at record 2") {
		t.Errorf("verify of a changed record: exit %d %q", code, errs)
	}
}

// config check refuses plain http:// to another host, and keeps the
// demo's parts in the demo configuration.
func TestConfigCheckRefusesDemoPartsAndPlainHTTP(t *testing.T) {
	demoHash := "$2a$10$1g4uyuEZrGJXrRoFu/qRNes65C/UEyL4lzBIuTh3aVv0MptPr3zkq"
	for name, c := range map[string]struct{ yaml, want string }{
		"plain http validation": {"validation: {url: \"http://bank.example/validate\"}\n", "validation.url: \"http://bank.example/validate\": plain http is allowed only to a loopback address"},
		"plain http alerts":     {"alerts: {webhook_url: \"http://siem.example/hook\", secret_env: S}\n", "alerts.webhook_url: plain http:// to siem.example"},
		"plain http telephony":  {"forms: [{name: f, fields: [{id: a, kind: text}]}]\nvalidation: {url: \"https://v.example\"}\ntelephony: {api_key_env: K, webhook_url: \"http://pbx.example/\", webhook_secret_env: S}\n", "telephony.webhook_url: plain http:// to pbx.example"},
		"sample outside demo":   {"validation: {sample: true}\n", "the sample validation service is for the demo configuration only"},
		"demo account":          {"agents: [{login: demo, password_hash: \"" + demoHash + "\"}]\n", "the demo/demo account is for the demo configuration only"},
		"short lockout":         {"limits: {lockout: 5m}\n", "at least 30m"},
		"many failures":         {"limits: {login_failures: 50}\n", "at most 10"},
		"long idle":             {"limits: {session_idle: 1h}\n", "at most 15m"},
		"short retention":       {"audit: {retention: 720h}\n", "under 12 months"},
		"bad proxy":             {"trusted_proxies: [\"10.0.0.0/33\"]\n", "not an address or a CIDR prefix"},
	} {
		if _, err := parseConfig("c.yaml", []byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	for name, yaml := range map[string]string{
		"loopback http": "validation: {url: \"http://127.0.0.1:9000/validate\"}\n",
		"demo parts":    "demo: true\nvalidation: {sample: true}\nagents: [{login: demo, password_hash: \"" + demoHash + "\"}]\n",
		"proxies":       "trusted_proxies: [10.0.0.5, \"192.168.0.0/16\", \"::1\"]\n",
	} {
		if _, err := parseConfig("c.yaml", []byte(yaml)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
