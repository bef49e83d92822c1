package secure

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/card"
)

const (
	testKey     = "test-api-key"
	testDigits  = "4111111111111111"
	testCVV     = "737"
	testExpiry  = "12/27"
	declineBody = `<?xml version="1.0"?><outcome value="declined" details="insufficient funds"/>`
	acceptBody  = `<?xml version="1.0"?><outcome value="accepted" details="ok"/>`
)

// vaultCall is one request the fake vault received.
type vaultCall struct {
	Method, Path, Body string
	Client             string // the client certificate's common name
}

// fakeVault implements the vault's wire protocol (the common brief) for
// one site and records every request.
type fakeVault struct {
	mu     sync.Mutex
	calls  []vaultCall
	tokens map[string]string // site+number → token
	cards  map[string]bool   // live tokens: false pending, true kept
	expiry map[string]string // the expiry a token was confirmed with
	// answer, if set, answers POST /v1/tokens instead of the protocol.
	answer http.HandlerFunc
	// confirmFails answers a confirmation with a 500.
	confirmFails bool
}

func (f *fakeVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<10))
	call := vaultCall{Method: r.Method, Path: r.URL.Path, Body: string(body)}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		call.Client = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	if call.Client != "gateway" || r.Header.Get("Authorization") != "Bearer "+testKey {
		vaultFail(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/tokens":
		if f.answer != nil {
			f.answer(w, r)
			return
		}
		var req struct{ Site, Number, Expiry *string }
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if r.Header.Get("Content-Type") != "application/json" || dec.Decode(&req) != nil ||
			req.Site == nil || req.Number == nil || req.Expiry == nil {
			vaultFail(w, http.StatusBadRequest, "bad_request")
			return
		}
		n := *req.Number
		if len(n) < 12 || len(n) > 19 || card.Digits(n) != n || !card.Luhn(n) {
			vaultFail(w, http.StatusBadRequest, "invalid_card")
			return
		}
		b, _ := card.Detect(n)
		status, tok := http.StatusOK, f.tokens[*req.Site+"/"+n]
		if tok == "" {
			status, tok = http.StatusCreated, newTestToken()
			f.tokens[*req.Site+"/"+n], f.cards[tok] = tok, false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"token": tok, "brand": b.Name, "last4": card.Last4(n),
			"created": status == http.StatusCreated, "expires_at": "2027-01-01T00:00:00Z"})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/tokens/") && strings.HasSuffix(r.URL.Path, "/confirm"):
		tok := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/tokens/"), "/confirm")
		var req struct{ Expiry string }
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		_, live := f.cards[tok]
		switch {
		case f.confirmFails:
			vaultFail(w, http.StatusInternalServerError, "internal")
		case dec.Decode(&req) != nil:
			vaultFail(w, http.StatusBadRequest, "bad_request")
		case !live:
			vaultFail(w, http.StatusNotFound, "unknown_token")
		default:
			f.cards[tok] = true
			if req.Expiry != "" {
				f.expiry[tok] = req.Expiry
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": "2027-01-01T00:00:00Z"})
		}
	default:
		vaultFail(w, http.StatusNotFound, "not_found")
	}
}

func (f *fakeVault) recorded() []vaultCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]vaultCall(nil), f.calls...)
}

// kept reports whether the vault keeps tok for good (confirmed).
func (f *fakeVault) kept(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cards[tok]
}

func vaultFail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": "test"}})
}

func newTestToken() string {
	b := make([]byte, vaultTokenBytes)
	rand.Read(b)
	return tokenPrefix + tokenEncoding.EncodeToString(b)
}

// vaultEnv is a fake vault behind mutual TLS, a recording validation
// service and a pipeline using both, logging into logs.
type vaultEnv struct {
	vault    *fakeVault
	srv      *httptest.Server // the vault's
	cfg      VaultConfig      // of the pipeline's vault client
	posted   []string         // bodies the validation service received
	reply    string           // the validation service's reply
	logs     bytes.Buffer
	pipeline *Pipeline
	mu       sync.Mutex
}

func newVaultEnv(t *testing.T, configure func(*VaultConfig)) *vaultEnv {
	t.Helper()
	env := &vaultEnv{vault: &fakeVault{tokens: map[string]string{}, cards: map[string]bool{}, expiry: map[string]string{}}, reply: acceptBody}
	ca, certFile, keyFile := clientPKI(t)
	env.srv = httptest.NewUnstartedServer(env.vault)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	env.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	env.srv.StartTLS()
	t.Cleanup(env.srv.Close)
	env.cfg = VaultConfig{URL: env.srv.URL, CADir: serverCADir(t, env.srv), ClientCert: certFile, ClientKey: keyFile,
		APIKey: testKey, Site: "shop", Timeout: 2 * time.Second}
	if configure != nil {
		configure(&env.cfg)
	}
	v, err := NewVault(env.cfg)
	if err != nil {
		t.Fatal(err)
	}
	validation := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		env.mu.Lock()
		env.posted = append(env.posted, string(b))
		reply := env.reply
		env.mu.Unlock()
		io.WriteString(w, reply)
	}))
	t.Cleanup(validation.Close)
	c, err := NewClient(ClientConfig{URL: validation.URL})
	if err != nil {
		t.Fatal(err)
	}
	env.pipeline = NewPipeline(PipelineConfig{Client: c, Vault: v, Logger: slog.New(slog.NewTextHandler(&env.logs, nil))})
	env.pipeline.now = func() time.Time { return now }
	return env
}

// validate runs a card form with a security code; it fails the test if a
// value shows in the outcome or the log.
func (env *vaultEnv) validate(t *testing.T) Outcome {
	t.Helper()
	req := cardRequest()
	// The security code before the expiry: it must still not be taken for one.
	req.Fields = slices.Insert(req.Fields, 2, Field{ID: "cvv", Kind: KindSecurityCode})
	req.Customer["cvv"] = NewValue(testCVV)
	out, err := env.pipeline.Validate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{out.Details, out.Result(), env.logs.String()} {
		if strings.Contains(s, testDigits) || strings.Contains(s, testCard) || strings.Contains(s, "4111 1111") {
			t.Errorf("the card number shows: %q", s)
		}
	}
	return out
}

func (env *vaultEnv) postedBodies() []string {
	env.mu.Lock()
	defer env.mu.Unlock()
	return append([]string(nil), env.posted...)
}

func TestVaultKeepsAcceptedCard(t *testing.T) {
	env := newVaultEnv(t, nil)
	out := env.validate(t)
	if out.Status != StatusAccepted || !validToken(out.Token) || out.Brand != "Visa" || out.Last4 != "1111" {
		t.Fatalf("outcome %+v, want accepted with a token, Visa, 1111", out)
	}
	calls := env.vault.recorded()
	if len(calls) != 2 || calls[0].Method != http.MethodPost || calls[0].Path != "/v1/tokens" || calls[0].Client != "gateway" {
		t.Fatalf("vault calls %+v, want POST /v1/tokens with the client certificate, then the confirmation", calls)
	}
	want := `{"site":"shop","number":"` + testDigits + `","expiry":"` + testExpiry + `"}`
	if calls[0].Body != want {
		t.Errorf("vault request\n got %s\nwant %s", calls[0].Body, want)
	}
	if calls[1].Path != "/v1/tokens/"+out.Token+"/confirm" || calls[1].Body != `{"expiry":"`+testExpiry+`"}` {
		t.Errorf("confirmation %+v, want POST /v1/tokens/%s/confirm with the expiry", calls[1], out.Token)
	}
	for _, c := range calls {
		if strings.Contains(c.Body, testCVV) || strings.Contains(c.Body, "cvv") {
			t.Errorf("the security code reached the vault: %s", c.Body)
		}
	}
	if !env.vault.kept(out.Token) {
		t.Error("the vault does not keep the outcome's token")
	}
	posted := env.postedBodies()
	if len(posted) != 1 || !strings.Contains(posted[0], `<param name="card_number" value="`+testCard+`" />`) ||
		strings.Contains(posted[0], out.Token) {
		t.Errorf("the validation service got %q, want the number and no token", posted)
	}
	// The same card again: the vault's existing token, still kept.
	if again := env.validate(t); again.Token != out.Token || again.Status != StatusAccepted {
		t.Errorf("second outcome %+v, want token %s", again, out.Token)
	}
}

func TestVaultSendToken(t *testing.T) {
	env := newVaultEnv(t, func(c *VaultConfig) { c.SendToken = true })
	out := env.validate(t)
	if out.Status != StatusAccepted || out.Token == "" {
		t.Fatalf("outcome %+v", out)
	}
	posted := env.postedBodies()
	if len(posted) != 1 || !strings.Contains(posted[0], `<param name="card_number" value="`+out.Token+`" />`) {
		t.Fatalf("the validation service got %q, want the token in card_number", posted)
	}
	if strings.Contains(posted[0], "4111") {
		t.Errorf("the validation service got the number: %s", posted[0])
	}
	if !strings.Contains(posted[0], `<param name="expiry" value="12/27" />`) || !strings.Contains(posted[0], `<param name="cvv" value="737" />`) {
		t.Errorf("the other fields are not posted as they are: %s", posted[0])
	}
}

// TestVaultDeclinedCard: a card the service did not accept is never
// confirmed (the vault forgets a pending card by itself) and its outcome
// has no token; a card kept before stays as it was, its expiry too.
func TestVaultDeclinedCard(t *testing.T) {
	t.Run("new card left pending", func(t *testing.T) {
		env := newVaultEnv(t, nil)
		env.reply = declineBody
		out := env.validate(t)
		if out.Status != StatusDeclined || out.Token != "" {
			t.Errorf("outcome %+v, want declined without a token", out)
		}
		calls := env.vault.recorded()
		if len(calls) != 1 || calls[0].Path != "/v1/tokens" {
			t.Fatalf("vault calls %+v, want only the POST /v1/tokens", calls)
		}
	})
	t.Run("kept card untouched", func(t *testing.T) {
		env := newVaultEnv(t, nil)
		first := env.validate(t)
		env.reply = declineBody
		out := env.validate(t)
		if out.Status != StatusDeclined || out.Token != "" {
			t.Errorf("outcome %+v, want declined without a token", out)
		}
		if calls := env.vault.recorded(); len(calls) != 3 || !env.vault.kept(first.Token) {
			t.Errorf("vault calls %+v: want keep, confirm, keep; the first card still kept", calls)
		}
	})
	t.Run("validation error", func(t *testing.T) {
		env := newVaultEnv(t, nil)
		env.reply = "not xml"
		if out := env.validate(t); out.Status != StatusError || out.Token != "" || len(env.vault.recorded()) != 1 {
			t.Errorf("outcome %+v, vault calls %+v: want error, no token, no confirmation", out, env.vault.recorded())
		}
	})
	t.Run("confirmation failure logged", func(t *testing.T) {
		env := newVaultEnv(t, nil)
		env.vault.confirmFails = true
		out := env.validate(t)
		if out.Status != StatusAccepted || out.Token != "" {
			t.Errorf("outcome %+v, want accepted (the service said so) without a token", out)
		}
		logs := env.logs.String()
		if !strings.Contains(logs, "could not be kept") || !strings.Contains(logs, "fail_closed=vault") || !strings.Contains(logs, "HTTP 500 internal") {
			t.Errorf("the failed confirmation is not logged: %s", logs)
		}
	})
}

// TestVaultFailsClosed: whatever goes wrong with the vault, the outcome is
// an error and the validation service is never called.
func TestVaultFailsClosed(t *testing.T) {
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(status); io.WriteString(w, body) }
	}
	good := newTestToken()
	cases := []struct {
		name      string
		configure func(*VaultConfig)
		answer    http.HandlerFunc
		down      bool
		log       string // in the log line's err
	}{
		{name: "down", down: true, log: "card vault unreachable"},
		{name: "HTTP 500", answer: answer(500, `{"error":{"code":"internal","message":"`+testDigits+`"}}`), log: "HTTP 500 internal"},
		{name: "wrong API key", configure: func(c *VaultConfig) { c.APIKey = "wrong" }, log: "HTTP 401 unauthorized"},
		{name: "odd error code", answer: answer(400, `{"error":{"code":"`+testDigits+`"}}`), log: "HTTP 400\""},
		{name: "upper-case token", answer: answer(201, `{"token":"`+strings.ToUpper(good)+`","last4":"1111","created":true}`), log: "token is not"},
		{name: "short token", answer: answer(201, `{"token":"`+good[:len(good)-1]+`","last4":"1111","created":true}`), log: "token is not"},
		{name: "padded token", answer: answer(201, `{"token":"`+good[:len(good)-2]+`==","last4":"1111","created":true}`), log: "token is not"},
		{name: "trailing bits", answer: answer(201, `{"token":"`+good[:len(good)-1]+`b","last4":"1111","created":true}`), log: "token is not"},
		{name: "no prefix", answer: answer(201, `{"token":"tik_`+good[4:]+`","last4":"1111","created":true}`), log: "token is not"},
		{name: "the number as token", answer: answer(201, `{"token":"`+testDigits+`","last4":"1111","created":true}`), log: "token is not"},
		{name: "created disagrees", answer: answer(200, `{"token":"`+good+`","last4":"1111","created":true}`), log: "does not agree"},
		{name: "no created", answer: answer(201, `{"token":"`+good+`","last4":"1111"}`), log: "does not agree"},
		{name: "another card", answer: answer(201, `{"token":"`+good+`","last4":"0002","created":true}`), log: "last four"},
		{name: "malformed", answer: answer(201, `{"token":`), log: "malformed reply"},
		{name: "two objects", answer: answer(201, `{"token":"`+good+`","last4":"1111","created":true}{}`), log: "malformed reply"},
		{name: "too large", answer: answer(201, `{"token":"`+good+`","pad":"`+strings.Repeat("x", 17<<10)+`"}`), log: "larger than"},
		{name: "redirect", answer: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://example.com/", http.StatusTemporaryRedirect)
		}, log: "HTTP 307"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newVaultEnv(t, tc.configure)
			env.vault.answer = tc.answer
			if tc.down {
				env.srv.Close()
			}
			out := env.validate(t)
			if out.Status != StatusError || out.Details != "card vault unavailable" || out.Token != "" || out.Brand != "Visa" || out.Last4 != "1111" {
				t.Errorf("outcome %+v, want error \"card vault unavailable\" with brand and last four, without a token", out)
			}
			if posted := env.postedBodies(); len(posted) != 0 {
				t.Errorf("the validation service was called: %q", posted)
			}
			logs := env.logs.String()
			if !strings.Contains(logs, "fail_closed=vault") || !strings.Contains(logs, tc.log) {
				t.Errorf("log %q, want fail_closed=vault and %q", logs, tc.log)
			}
		})
	}
}

func TestVaultWithoutCard(t *testing.T) {
	env := newVaultEnv(t, nil)
	out, err := env.pipeline.Validate(context.Background(), Request{Form: "SSN", Fields: []Field{{ID: "ssn", Kind: KindSSN}},
		Customer: map[string]Value{"ssn": NewValue(testSSN)}})
	if err != nil || out.Status != StatusAccepted || out.Token != "" {
		t.Errorf("outcome %+v %v, want accepted without a token", out, err)
	}
	if calls := env.vault.recorded(); len(calls) != 0 {
		t.Errorf("a form without a card called the vault: %+v", calls)
	}
}

func TestVaultConfirmUnknownToken(t *testing.T) {
	env := newVaultEnv(t, nil)
	if err := env.pipeline.vault.confirm(context.Background(), newTestToken(), Value{}); err == nil || !strings.Contains(err.Error(), "unknown_token") {
		t.Errorf("confirming an unknown token: %v, want unknown_token", err)
	}
	if err := env.pipeline.vault.confirm(context.Background(), "../v1/detokenize", Value{}); err == nil {
		t.Error("confirm sent a string that is not a token")
	}
	if calls := env.vault.recorded(); len(calls) != 1 || calls[0].Body != "{}" {
		t.Errorf("vault calls %+v, want 1 with an empty object", calls)
	}
}

func TestNewVault(t *testing.T) {
	env := newVaultEnv(t, nil)
	cases := []struct {
		name   string
		change func(*VaultConfig)
		want   string // in the error
	}{
		{"http", func(c *VaultConfig) { c.URL = "http://127.0.0.1:8443" }, "https"},
		{"no URL", func(c *VaultConfig) { c.URL = "" }, "vault URL"},
		{"path", func(c *VaultConfig) { c.URL += "/v1" }, "no user, path"},
		{"user", func(c *VaultConfig) { c.URL = "https://u:secretpw@127.0.0.1:1" }, "no user, path"},
		{"no CA", func(c *VaultConfig) { c.CADir = "" }, "CADir"},
		{"empty CA dir", func(c *VaultConfig) { c.CADir = t.TempDir() }, "no PEM certificate"},
		{"no certificate", func(c *VaultConfig) { c.ClientCert = "" }, "ClientCert"},
		{"no key", func(c *VaultConfig) { c.ClientKey = "" }, "ClientKey"},
		{"key of another file", func(c *VaultConfig) { c.ClientKey = c.ClientCert }, "client certificate"},
		{"no API key", func(c *VaultConfig) { c.APIKey = "" }, "APIKey"},
		{"API key with a space", func(c *VaultConfig) { c.APIKey = "secret key" }, "APIKey"},
		{"no site", func(c *VaultConfig) { c.Site = "" }, "Site"},
		{"site with a quote", func(c *VaultConfig) { c.Site = `sh"op` }, "Site"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := env.cfg
			tc.change(&cfg)
			_, err := NewVault(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secretpw") || strings.Contains(err.Error(), "secret key") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
	if _, err := NewVault(env.cfg); err != nil {
		t.Errorf("the good configuration: %v", err)
	}
}

func TestAppendExpiry(t *testing.T) {
	for in, want := range map[string]string{
		"12/27": "12/27", "1/27": "01/27", "12/2027": "12/27", "1227": "12/27", "12-27": "12/27", " 12 / 27 ": "12/27",
		"12/7": "", "123/27": "", "12//27": "", "ab/cd": "", "122027": "", "12/27/1": "", "/1227": "",
	} {
		got, ok := appendExpiry(nil, []byte(in))
		if ok != (want != "") || string(got) != want {
			t.Errorf("appendExpiry(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

func TestVaultExpiryAsMMYY(t *testing.T) {
	env := newVaultEnv(t, nil)
	req := cardRequest()
	req.Customer["expiry"] = NewValue("1/2028")
	if out, _ := env.pipeline.Validate(context.Background(), req); out.Status != StatusAccepted {
		t.Fatalf("outcome %+v", out)
	}
	if calls := env.vault.recorded(); len(calls) != 2 || !strings.Contains(calls[0].Body, `"expiry":"01/28"`) || calls[1].Body != `{"expiry":"01/28"}` {
		t.Errorf("vault calls %+v, want expiry 01/28 kept and confirmed", calls)
	}
	// An optional expiry left empty: "" to the vault, and a confirmation
	// that leaves the kept expiry as it is.
	req = cardRequest()
	req.Fields[2].Optional = true
	delete(req.Customer, "expiry")
	env.pipeline.Validate(context.Background(), req)
	if calls := env.vault.recorded(); len(calls) != 4 || !strings.Contains(calls[2].Body, `"expiry":""`) || calls[3].Body != "{}" {
		t.Errorf("vault calls %+v, want an empty expiry and an empty confirmation", calls)
	}
}
