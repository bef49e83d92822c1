package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secureinput/gateway/internal/testenv"
)

const (
	testClientID     = "gateway-app"
	testClientSecret = "client-secret-3f9a71c2"
	testRefreshToken = "refresh-token-0b8e44d1"
)

// idp is an identity provider for tests: a token endpoint with the
// client-credentials and refresh-token grants, and an RFC 7662
// introspection endpoint for Dovecot's oauth2 passdb.
type idp struct {
	t        *testing.T
	srv      *httptest.Server
	user     string
	expires  int // expires_in of the tokens issued, seconds
	mu       sync.Mutex
	n        int
	issued   []string
	inactive map[string]bool // expired or revoked tokens
	revoked  bool            // the grant: tokens come inactive, refresh tokens are refused
	refresh  string          // the refresh token it accepts (rotated on each use)
	grants   []string
}

func newIDP(t *testing.T, user string) *idp {
	p := &idp{t: t, user: user, expires: 3600, inactive: map[string]bool{}, refresh: testRefreshToken}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /introspect", p.introspect)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	grant := r.PostForm.Get("grant_type")
	p.grants = append(p.grants, grant)
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		// A careless provider echoes what it was sent.
		fmt.Fprintf(w, `{"error":%q,"error_description":"refused %s %s"}`, code, secret, r.PostForm.Get("refresh_token"))
	}
	if id != testClientID {
		fail("invalid_client")
		return
	}
	var next string
	switch grant {
	case "client_credentials":
		if secret != testClientSecret {
			fail("invalid_client")
			return
		}
	case "refresh_token":
		if p.revoked || r.PostForm.Get("refresh_token") != p.refresh {
			fail("invalid_grant")
			return
		}
		p.refresh = fmt.Sprintf("%s-r%d", testRefreshToken, p.n+1)
		next = p.refresh
	default:
		fail("unsupported_grant_type")
		return
	}
	p.n++
	tok := fmt.Sprintf("access-%d-%x", p.n, time.Now().UnixNano())
	p.issued = append(p.issued, tok)
	if p.revoked {
		p.inactive[tok] = true
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": p.expires, "refresh_token": next})
}

func (p *idp) introspect(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	tok := r.PostForm.Get("token")
	p.mu.Lock()
	known := false
	for _, s := range p.issued {
		known = known || s == tok
	}
	active := known && !p.inactive[tok]
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !active {
		fmt.Fprint(w, `{"active":false}`)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"active": true, "username": p.user, "scope": "mail"})
}

// expireAll marks every token issued so far inactive, as their expiry
// would.
func (p *idp) expireAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.issued {
		p.inactive[s] = true
	}
}

func (p *idp) secrets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string{testClientSecret, testRefreshToken, p.refresh}, p.issued...)
}

func (p *idp) tokens(t *testing.T, refresh bool) *Tokens {
	t.Helper()
	cfg := OAuth2Config{TokenURL: p.srv.URL + "/token", ClientID: testClientID, ClientSecret: testClientSecret, Scopes: []string{"mail"}}
	if refresh {
		cfg.RefreshToken = testRefreshToken
	}
	ts, err := NewTokens(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func assertNoSecret(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q:\n%s", where, s, text)
		}
	}
}

// TestOAuth2IngestAgainstDovecot logs in to a Dovecot that accepts only
// bearer tokens, checked at the provider's introspection endpoint, with
// each mechanism and each grant; it then lets the token expire and checks
// that the ingest fetches a new one and goes on.
func TestOAuth2IngestAgainstDovecot(t *testing.T) {
	for _, tc := range []struct {
		name, mech string
		refresh    bool
	}{
		{"xoauth2 client credentials", MechXOAUTH2, false},
		{"oauthbearer refresh token", MechOAUTHBEARER, true},
		{"xoauth2 refresh token", MechXOAUTH2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newIDP(t, "alice")
			d := testenv.StartDovecotOAuth2(t, p.srv.URL+"/introspect", "alice")
			ts := p.tokens(t, tc.refresh)
			ep := Endpoint{Addr: d.Addr, TLS: TLSPlain, Username: "alice", Mechanism: tc.mech, Tokens: ts}
			c, err := dial(context.Background(), ep, nil, nil)
			if err != nil {
				t.Fatalf("login with a valid token: %v\n%s", err, d.Log())
			}
			defer c.Close()
			appendMsg(t, c, "INBOX", []byte("Subject: one\r\n\r\ncard 4111 1111 1111 1111\r\n"), nil, time.Now())

			g, _, logs := newIngester(t, MailboxConfig{Name: "m365", Source: ep, DestFolder: "Redacted", After: "delete"})
			if _, err := g.RunOnce(context.Background()); err != nil {
				t.Fatalf("first pass: %v", err)
			}
			if got := ts.Fetches(); got != 1 {
				t.Errorf("%d tokens fetched for four logins with a valid token, want 1", got)
			}

			p.expireAll()
			appendMsg(t, c, "INBOX", []byte("Subject: two\r\n\r\ncard 5555 5555 5555 4444\r\n"), nil, time.Now())
			if _, err := g.RunOnce(context.Background()); err != nil {
				t.Fatalf("pass after the token expired: %v", err)
			}
			if got := ts.Fetches(); got != 2 {
				t.Errorf("%d tokens fetched, want 2: one more after the server refused the expired one", got)
			}
			if !strings.Contains(logs.String(), "refused the OAuth2 token (expired or revoked); logging in again with a new one") {
				t.Errorf("the log does not say the token was refused and replaced:\n%s", logs.String())
			}
			got := folder(t, c, "Redacted")
			if len(got) != 2 {
				t.Fatalf("%d messages delivered, want 2", len(got))
			}
			for _, m := range got {
				if strings.Contains(string(m.body), "4111 1111") || strings.Contains(string(m.body), "5555 5555 5555 4444") {
					t.Errorf("delivered copy not redacted:\n%s", m.body)
				}
			}
			if src := folder(t, c, "INBOX"); len(src) != 0 {
				t.Errorf("%d originals left in INBOX, want 0", len(src))
			}
			if tc.refresh && p.refresh == testRefreshToken {
				t.Error("the provider's rotated refresh token was not used")
			}
			assertNoSecret(t, "the log", logs.String(), p.secrets())
			assertNoSecret(t, "Dovecot's log", d.Log(), p.secrets())
		})
	}
}

// TestOAuth2RevokedFailsWithBackoff revokes the grant: the login fails with
// an error that says so, the ingest backs off between attempts instead of
// hammering the provider, and no token or secret reaches the log.
func TestOAuth2RevokedFailsWithBackoff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refresh bool
		want    string
	}{
		{"client credentials", false, "the server refused the OAuth2 access token"},
		{"refresh token", true, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newIDP(t, "alice")
			d := testenv.StartDovecotOAuth2(t, p.srv.URL+"/introspect", "alice")
			p.revoked = true
			ts := p.tokens(t, tc.refresh)
			ep := Endpoint{Addr: d.Addr, TLS: TLSPlain, Username: "alice", Mechanism: MechXOAUTH2, Tokens: ts}
			_, err := dial(context.Background(), ep, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("login with a revoked grant: error %v, want one saying %q", err, tc.want)
			}
			if !tc.refresh && !errors.Is(err, ErrTokenRefused) {
				t.Errorf("error %v is not ErrTokenRefused", err)
			}
			assertNoSecret(t, "the error", err.Error(), p.secrets())

			g, _, logs := newIngester(t, MailboxConfig{Name: "m365", Source: ep, DestFolder: "Redacted", After: "delete"})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { g.Run(ctx); close(done) }()
			deadline := time.Now().Add(20 * time.Second)
			for strings.Count(logs.String(), "reconnecting") < 2 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			<-done
			out := logs.String()
			if !strings.Contains(out, "in=1s") || !strings.Contains(out, "in=2s") {
				t.Errorf("log shows no growing backoff (in=1s, then in=2s):\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("log does not say %q:\n%s", tc.want, out)
			}
			p.mu.Lock()
			grants := len(p.grants)
			p.mu.Unlock()
			sessions := strings.Count(out, "reconnecting") + 2 // the dial above, and one maybe in flight
			if grants > 2*sessions {
				t.Errorf("%d token requests for %d logins: want at most two a login", grants, sessions)
			}
			assertNoSecret(t, "the log", out, p.secrets())
		})
	}
}

// TestTokensRefreshBeforeExpiry checks that a token is kept while it has
// more than the margin left, and replaced once it has less.
func TestTokensRefreshBeforeExpiry(t *testing.T) {
	p := newIDP(t, "alice")
	p.expires = 600
	now := time.Now()
	ts, err := NewTokens(OAuth2Config{TokenURL: p.srv.URL + "/token", ClientID: testClientID, ClientSecret: testClientSecret,
		RefreshMargin: 5 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	first, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(4 * time.Minute)
	if tok, _ := ts.Token(context.Background()); tok != first {
		t.Errorf("token replaced with 6 minutes left; want it kept until 5 remain")
	}
	now = now.Add(2 * time.Minute)
	second, _ := ts.Token(context.Background())
	if second == first || second == "" {
		t.Errorf("token kept with 4 minutes left; want it replaced before it expires")
	}
	ts.Refused("not the token held")
	if tok, err := ts.Token(context.Background()); tok != second {
		t.Errorf("Refused of another token dropped the one held: got %q (%v), want %q", tok, err, second)
	}
	ts.Refused(second)
	if tok, _ := ts.Token(context.Background()); tok == second {
		t.Error("Refused token handed out again")
	}
}

// TestTokenErrorsHoldNoSecret checks that a token endpoint echoing the
// client secret and refresh token in its error cannot carry them into an
// error.
func TestTokenErrorsHoldNoSecret(t *testing.T) {
	p := newIDP(t, "alice")
	for name, cfg := range map[string]OAuth2Config{
		"wrong client secret": {ClientID: testClientID, ClientSecret: testClientSecret + "x"},
		"wrong refresh token": {ClientID: testClientID, ClientSecret: testClientSecret, RefreshToken: testRefreshToken + "x"},
	} {
		cfg.TokenURL = p.srv.URL + "/token"
		ts, err := NewTokens(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ts.Token(context.Background())
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		assertNoSecret(t, name, err.Error(), []string{cfg.ClientSecret, cfg.RefreshToken})
		if !strings.Contains(err.Error(), "HTTP 400") {
			t.Errorf("%s: error %q does not say what the endpoint answered", name, err)
		}
	}
}

func TestNewTokensChecksConfig(t *testing.T) {
	for name, cfg := range map[string]OAuth2Config{
		"no token url": {ClientID: "a", ClientSecret: "b"},
		"no client id": {TokenURL: "http://x", ClientSecret: "b"},
		"no secret":    {TokenURL: "http://x", ClientID: "a"},
	} {
		if _, err := NewTokens(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
