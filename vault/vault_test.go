package vault

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

const (
	testCard    = "4012888888881881"
	testExpiry  = "12/40"
	gatewayKey  = "gateway-api-key-0123456789"
	paymentsKey = "payments-api-key-0123456789"
)

// clock is a settable time for the retention tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// testVault is a vault behind a real mutual-TLS listener, with a real
// store on disk and its audit trail.
type testVault struct {
	srv   *Server
	st    *store.Store
	dir   string
	url   string
	ca    *testenv.CA
	log   *testenv.LogBuffer
	clock *clock
	pool  *x509.CertPool
}

func newTestVault(t *testing.T, tweak func(*Config)) *testVault {
	t.Helper()
	dir := t.TempDir()
	tv := &testVault{dir: filepath.Join(dir, "data"), ca: testenv.NewCA(t, filepath.Join(dir, "pki"), "clients"),
		log: &testenv.LogBuffer{}, clock: &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}}
	os.Mkdir(tv.dir, 0o700)
	tv.st = testenv.Store(t, store.Config{Path: filepath.Join(tv.dir, "gateway.db")})
	logger := slog.New(slog.NewTextHandler(tv.log, nil))
	engine, err := redact.New(redact.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.New(audit.Config{Store: tv.st, Engine: engine, Now: tv.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: tv.st, Audit: trail, Logger: logger, Now: tv.clock.Now, Clients: []Client{
		{Name: "contact-center", Subject: "gateway.internal", APIKeyHash: HashAPIKey(gatewayKey), Roles: []Role{RoleTokenize}},
		{Name: "payments", Subject: "payments.internal", APIKeyHash: HashAPIKey(paymentsKey), Roles: []Role{RoleDetokenize}},
	}}
	if tweak != nil {
		tweak(&cfg)
	}
	if tv.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(tv.srv)
	tv.pool = x509.NewCertPool()
	pem, _ := os.ReadFile(tv.ca.CertPEM)
	tv.pool.AppendCertsFromPEM(pem)
	hs.TLS = &tls.Config{ClientCAs: tv.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	tv.url = hs.URL
	// The test's server certificate is httptest's own.
	tv.pool.AddCert(hs.Certificate())
	return tv
}

// caller is an HTTPS client with the certificate of common name cn (none
// if cn is ""), issued by ca.
func (tv *testVault) caller(t *testing.T, ca *testenv.CA, cn string) *http.Client {
	cfg := &tls.Config{RootCAs: tv.pool, MinVersion: tls.VersionTLS12}
	if cn != "" {
		certFile, keyFile := ca.Client(t, cn)
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// call sends a request and returns the status and the decoded reply.
func call(t *testing.T, c *http.Client, method, url, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, map[string]any{"transport": err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// confirmCall confirms token as the gateway, with expiry ("" for none).
func confirmCall(t *testing.T, tv *testVault, c *http.Client, token, expiry string) (int, map[string]any) {
	body := "{}"
	if expiry != "" {
		body = `{"expiry":"` + expiry + `"}`
	}
	return call(t, c, "POST", tv.url+"/v1/tokens/"+token+"/confirm", gatewayKey, body)
}

func keep(site string) string {
	return `{"site":"` + site + `","number":"` + testCard + `","expiry":"` + testExpiry + `"}`
}

// TestTokenizeDetokenize: the gateway keeps a card and gets a token (the
// same one for the same card and site, another for another site); the
// payment processor reads it back; each role is refused the other's call.
func TestTokenizeDetokenize(t *testing.T) {
	tv := newTestVault(t, nil)
	gw, pay := tv.caller(t, tv.ca, "gateway.internal"), tv.caller(t, tv.ca, "payments.internal")

	if resp, err := gw.Get(tv.url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %v %v", resp, err)
	}
	code, m := call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("shop"))
	token, _ := m["token"].(string)
	if code != http.StatusCreated || !ValidToken(token) || m["brand"] != "Visa" || m["last4"] != "1881" || m["created"] != true {
		t.Fatalf("tokenize: %d %v", code, m)
	}
	if exp, _ := time.Parse(time.RFC3339, m["expires_at"].(string)); !exp.Equal(tv.clock.Now().Add(PendingTTL)) {
		t.Errorf("expires_at %v, want now + %v (pending)", m["expires_at"], PendingTTL)
	}
	code, m = confirmCall(t, tv, gw, token, testExpiry)
	if exp, _ := time.Parse(time.RFC3339, fmt.Sprint(m["expires_at"])); code != http.StatusOK || !exp.Equal(tv.clock.Now().Add(DefaultRetention)) {
		t.Errorf("confirm: %d %v, want 200 and now + %v", code, m, DefaultRetention)
	}
	if strings.Contains(token, testCard[len(testCard)-4:]) && strings.Contains(token, testCard[:6]) {
		t.Errorf("token %s looks derived from the number", token)
	}
	code, m = call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("shop"))
	if code != http.StatusOK || m["token"] != token || m["created"] != false {
		t.Errorf("same card, same site: %d %v, want 200 and token %s", code, m, token)
	}
	code, m = call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("other-shop"))
	if code != http.StatusCreated || m["token"] == token {
		t.Errorf("same card, other site: %d %v, want a new token", code, m)
	}

	code, m = call(t, pay, "POST", tv.url+"/v1/detokenize", paymentsKey, `{"token":"`+token+`"}`)
	if code != http.StatusOK || m["number"] != testCard || m["expiry"] != testExpiry || m["site"] != "shop" || m["brand"] != "Visa" {
		t.Fatalf("detokenize: %d %v", code, m)
	}

	// Each role only its own calls.
	if code, m := call(t, gw, "POST", tv.url+"/v1/detokenize", gatewayKey, `{"token":"`+token+`"}`); code != http.StatusForbidden || m["number"] != nil {
		t.Errorf("gateway detokenizes: %d %v, want 403", code, m)
	}
	if code, _ := call(t, pay, "POST", tv.url+"/v1/tokens", paymentsKey, keep("shop")); code != http.StatusForbidden {
		t.Errorf("payments tokenizes: %d, want 403", code)
	}
	if code, _ := confirmCall(t, tv, pay, token, ""); code != http.StatusUnauthorized {
		t.Errorf("payments confirms with the gateway's key: %d, want 401", code)
	}
	if code, _ := call(t, pay, "POST", tv.url+"/v1/tokens/"+token+"/confirm", paymentsKey, "{}"); code != http.StatusForbidden {
		t.Errorf("payments confirms: %d, want 403", code)
	}
	if code, m := confirmCall(t, tv, gw, "tok_"+strings.Repeat("a", 26), ""); code != http.StatusNotFound || errCode(m) != "unknown_token" {
		t.Errorf("confirm an unknown token: %d %v", code, m)
	}

	// Erased on request, then the token is unknown.
	if err := tv.srv.Erase(context.Background(), token, audit.ActorCLI); err != nil {
		t.Fatalf("erase: %v", err)
	}
	if code, m := call(t, pay, "POST", tv.url+"/v1/detokenize", paymentsKey, `{"token":"`+token+`"}`); code != http.StatusNotFound || errCode(m) != "unknown_token" {
		t.Errorf("detokenize an erased token: %d %v", code, m)
	}
	if err := tv.srv.Erase(context.Background(), token, audit.ActorCLI); !errors.Is(err, store.ErrNoCard) {
		t.Errorf("erase twice: %v, want ErrNoCard", err)
	}
	if tv.log.String() != "" && strings.Contains(tv.log.String(), testCard) {
		t.Errorf("the log holds the number:\n%s", tv.log)
	}
}

// TestRefusedWithoutCertificateOrKey: without the client's certificate
// the handshake fails; with it but without its key, with another
// client's key, or with a certificate of another CA, nothing is revealed.
func TestRefusedWithoutCertificateOrKey(t *testing.T) {
	tv := newTestVault(t, nil)
	gw, pay := tv.caller(t, tv.ca, "gateway.internal"), tv.caller(t, tv.ca, "payments.internal")
	_, m := call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("shop"))
	token := m["token"].(string)
	detok := `{"token":"` + token + `"}`

	if code, m := call(t, tv.caller(t, tv.ca, ""), "POST", tv.url+"/v1/detokenize", paymentsKey, detok); code != 0 {
		t.Errorf("no certificate: %d %v, want the handshake refused", code, m)
	}
	rogue := testenv.NewCA(t, filepath.Join(t.TempDir(), "rogue"), "rogue")
	if code, m := call(t, tv.caller(t, rogue, "payments.internal"), "POST", tv.url+"/v1/detokenize", paymentsKey, detok); code != 0 {
		t.Errorf("another CA's certificate: %d %v, want the handshake refused", code, m)
	}
	for name, c := range map[string]struct {
		client *http.Client
		key    string
	}{
		"no key":                       {pay, ""},
		"wrong key":                    {pay, "not-the-key-at-all-0123"},
		"the gateway's key":            {pay, gatewayKey},
		"payments' key, other subject": {tv.caller(t, tv.ca, "someone.else"), paymentsKey},
	} {
		code, m := call(t, c.client, "POST", tv.url+"/v1/detokenize", c.key, detok)
		if m["number"] != nil || (code != http.StatusUnauthorized && code != http.StatusForbidden) {
			t.Errorf("%s: %d %v, want 401 or 403 and no number", name, code, m)
		}
	}
	// Every refusal is recorded as denied; none names the number.
	recs, err := tv.st.AuditRecords(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, r := range recs {
		if r.Action == audit.ActionDenied {
			denied++
		}
		if strings.Contains(r.Actor+r.Target+r.Detail, testCard) {
			t.Errorf("a record holds the number: %+v", r)
		}
	}
	if denied != 4 {
		t.Errorf("%d denied records, want 4 (one per refused request past the handshake)", denied)
	}
}

// TestBadRequests: what the vault refuses, with its codes, and never the
// number in a reply.
func TestBadRequests(t *testing.T) {
	tv := newTestVault(t, nil)
	gw := tv.caller(t, tv.ca, "gateway.internal")
	for name, c := range map[string]struct {
		body, code string
		status     int
	}{
		"not Luhn":      {`{"site":"shop","number":"4012888888881882"}`, "invalid_card", 400},
		"short":         {`{"site":"shop","number":"40128888"}`, "invalid_card", 400},
		"separators":    {`{"site":"shop","number":"4012 8888 8888 1881"}`, "invalid_card", 400},
		"bad site":      {`{"site":"a b","number":"` + testCard + `"}`, "invalid_card", 400},
		"bad expiry":    {`{"site":"shop","number":"` + testCard + `","expiry":"<script>"}`, "invalid_card", 400},
		"unknown field": {`{"site":"shop","number":"` + testCard + `","cvv":"123"}`, "bad_request", 400},
		"escaped":       {`{"site":"shop","number":"\u0034012888888881881"}`, "bad_request", 400},
		"not JSON":      {`number=` + testCard, "bad_request", 400},
		"too large":     {`{"site":"shop","number":"` + strings.Repeat("4", maxBody) + `"}`, "too_large", 413},
	} {
		code, m := call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, c.body)
		if code != c.status || errCode(m) != c.code {
			t.Errorf("%s: %d %v, want %d %s", name, code, m, c.status, c.code)
		}
		if b, _ := json.Marshal(m); bytes.Contains(b, []byte("88888")) {
			t.Errorf("%s: the reply echoes the number: %s", name, b)
		}
	}
	if n, _ := tv.st.CardCount(context.Background()); n != 0 {
		t.Errorf("%d cards kept after bad requests, want 0", n)
	}
	// Each refusal is in the audit trail, without the number.
	recs, _ := tv.st.AuditRecords(context.Background(), 0, 100)
	failures := 0
	for _, r := range recs {
		if r.Action == audit.ActionCardTokenize && r.Outcome == audit.Failure && r.Actor == "contact-center" {
			failures++
		}
		if strings.Contains(r.Detail+r.Target, "88888") {
			t.Errorf("a record holds the number: %+v", r)
		}
	}
	if failures != 9 {
		t.Errorf("%d refusals recorded, want 9", failures)
	}
}

// TestRetentionAndPurge: a card tokenised and never confirmed (declined,
// or its session never ended) is forgotten after PendingTTL; a confirmed
// one after the retention time from its last confirmation; a tokenisation
// alone moves nothing; the purge removes what expired and records it.
func TestRetentionAndPurge(t *testing.T) {
	tv := newTestVault(t, func(c *Config) { c.Retention = 48 * time.Hour })
	gw, pay := tv.caller(t, tv.ca, "gateway.internal"), tv.caller(t, tv.ca, "payments.internal")
	_, m := call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("shop"))
	token := m["token"].(string)
	confirmCall(t, tv, gw, token, testExpiry)
	_, m = call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, `{"site":"shop","number":"5555555555554444"}`)
	declined := m["token"].(string)
	if code, m := call(t, pay, "POST", tv.url+"/v1/detokenize", paymentsKey, `{"token":"`+declined+`"}`); code != http.StatusOK || m["kept"] != false {
		t.Errorf("a pending card (send_token: the processor reads it while it validates): %d %v", code, m)
	}

	tv.clock.add(PendingTTL)
	if code, _ := call(t, pay, "POST", tv.url+"/v1/detokenize", paymentsKey, `{"token":"`+declined+`"}`); code != http.StatusNotFound {
		t.Errorf("a card never confirmed, after %v: %d, want 404", PendingTTL, code)
	}
	if n, err := tv.srv.Purge(context.Background(), audit.ActorCLI); err != nil || n != 1 {
		t.Errorf("purge of the pending card: %d, %v; want 1", n, err)
	}

	tv.clock.add(24 * time.Hour)
	// A declined session of the kept card, with another expiry: nothing moves.
	call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, `{"site":"shop","number":"`+testCard+`","expiry":"01/31"}`)
	tv.clock.add(24 * time.Hour)
	if code, _ := call(t, pay, "POST", tv.url+"/v1/detokenize", paymentsKey, `{"token":"`+token+`"}`); code != http.StatusNotFound {
		t.Errorf("a card past its retention: %d, want 404 (an unconfirmed tokenisation must not keep it)", code)
	}

	// Confirmed again in time, it is kept on, with the new expiry.
	_, m = call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("shop"))
	again := m["token"].(string)
	confirmCall(t, tv, gw, again, "01/31")
	tv.clock.add(47 * time.Hour)
	if code, m := call(t, pay, "POST", tv.url+"/v1/detokenize", paymentsKey, `{"token":"`+again+`"}`); code != http.StatusOK || m["expiry"] != "01/31" || m["kept"] != true {
		t.Errorf("a card confirmed again: %d %v, want it kept with expiry 01/31", code, m)
	}
	n, err := tv.srv.Purge(context.Background(), audit.ActorCLI)
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v; want 1 (the first card)", n, err)
	}
	if c, _ := tv.st.CardCount(context.Background()); c != 1 {
		t.Errorf("%d cards after the purge, want 1", c)
	}
	recs, _ := tv.st.AuditRecords(context.Background(), 0, 100)
	if last := recs[len(recs)-1]; last.Action != audit.ActionCardPurge || last.Actor != audit.ActorCLI || !strings.Contains(last.Detail, "1 cards") {
		t.Errorf("last record %+v, want the purge", last)
	}
	before := len(recs)
	if n, err := tv.srv.Purge(context.Background(), audit.ActorCLI); err != nil || n != 0 {
		t.Errorf("a purge with nothing to do: %d, %v", n, err)
	}
	if recs, _ := tv.st.AuditRecords(context.Background(), 0, 100); len(recs) != before {
		t.Error("a purge that removed nothing was recorded")
	}
}

// TestPerUseTokens: with PerUse, every tokenisation is a new token.
func TestPerUseTokens(t *testing.T) {
	tv := newTestVault(t, func(c *Config) { c.PerUse = true })
	gw := tv.caller(t, tv.ca, "gateway.internal")
	_, a := call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("shop"))
	_, b := call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("shop"))
	if a["token"] == nil || a["token"] == b["token"] || b["created"] != true {
		t.Errorf("per use: %v then %v, want two new tokens", a, b)
	}
}

// TestAuditNamesWhoWhenWhich: every call is a record with the client's
// name, the token and the outcome; the chain verifies; no record holds the
// number or the expiry.
func TestAuditNamesWhoWhenWhich(t *testing.T) {
	tv := newTestVault(t, nil)
	gw, pay := tv.caller(t, tv.ca, "gateway.internal"), tv.caller(t, tv.ca, "payments.internal")
	_, m := call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("shop"))
	token := m["token"].(string)
	confirmCall(t, tv, gw, token, testExpiry)
	call(t, pay, "POST", tv.url+"/v1/detokenize", paymentsKey, `{"token":"`+token+`"}`)

	recs, err := tv.st.AuditRecords(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ actor, action string }{{"contact-center", audit.ActionCardTokenize}, {"contact-center", audit.ActionCardConfirm},
		{"payments", audit.ActionCardDetokenize}}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, w := range want {
		r := recs[i]
		if r.Actor != w.actor || r.Action != w.action || r.Outcome != audit.Success || r.Target != token || !r.At.Equal(tv.clock.Now()) {
			t.Errorf("record %d: %+v, want %s %s on %s", i, r, w.actor, w.action, token)
		}
		if strings.Contains(r.Detail+r.Target, testCard) || strings.Contains(r.Detail, testExpiry) {
			t.Errorf("record %d holds the card: %+v", i, r)
		}
	}
	if rep, err := audit.Verify(context.Background(), tv.st); err != nil || !rep.OK() {
		t.Errorf("the chain does not verify: %+v, %v", rep, err)
	}
}

// TestRunPurgeOnSchedule: the purge loop removes expired cards without
// being asked, and stops with its context.
func TestRunPurgeOnSchedule(t *testing.T) {
	tv := newTestVault(t, func(c *Config) { c.Retention = time.Hour })
	gw := tv.caller(t, tv.ca, "gateway.internal")
	if code, _ := call(t, gw, "POST", tv.url+"/v1/tokens", gatewayKey, keep("shop")); code != http.StatusCreated {
		t.Fatalf("tokenize: %d", code)
	}
	tv.clock.add(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tv.srv.RunPurge(ctx, 10*time.Millisecond) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, err := tv.st.CardCount(context.Background()); err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduled purge never removed the expired card")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("RunPurge: %v", err)
	}
}
