package mail

// OAuth2 login for mailboxes that refuse passwords (Microsoft 365, Gmail).
// The access token is short-lived: Tokens keeps one, fetches a new one a
// margin before it expires, and drops it when the server refuses it, so that
// the login is tried once more with a fresh token; a second refusal is an
// error (the grant was revoked or lacks the mail scope) and the ingest backs
// off. The token, the client secret and the refresh token never appear in
// an error or a log line: errors from the token endpoint keep only its
// OAuth2 error code.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// SASL mechanisms of an Endpoint that logs in with OAuth2 tokens.
const (
	// MechXOAUTH2 is Google's and Microsoft's XOAUTH2.
	MechXOAUTH2 = "XOAUTH2"
	// MechOAUTHBEARER is RFC 7628's OAUTHBEARER.
	MechOAUTHBEARER = "OAUTHBEARER"
)

// DefaultRefreshMargin is how long before its expiry a token is replaced
// when OAuth2Config.RefreshMargin is zero.
const DefaultRefreshMargin = 5 * time.Minute

// ErrTokenRefused is the error of a login whose bearer token the server
// refused even after a fresh one was fetched: the grant was revoked, or the
// application lacks the mail permission.
var ErrTokenRefused = errors.New("mail: the server refused the OAuth2 access token")

// TokenSource gives the access tokens an Endpoint logs in with; *Tokens is
// the one the gateway uses.
type TokenSource interface {
	// Token returns an access token that is not about to expire.
	Token(ctx context.Context) (string, error)
	// Refused tells the source that the server refused token (it expired
	// early or was revoked): the next Token call fetches a new one.
	Refused(token string)
}

// OAuth2Config says where and how tokens are fetched: with RefreshToken
// set, the refresh-token grant (Gmail and most providers); without it, the
// client-credentials grant (Microsoft 365 with an application permission).
type OAuth2Config struct {
	TokenURL     string
	ClientID     string
	ClientSecret string // may be empty for a public client with a refresh token
	RefreshToken string
	Scopes       []string
	// RefreshMargin is how long before its expiry a token is replaced
	// (DefaultRefreshMargin if zero).
	RefreshMargin time.Duration
	// Now is the clock (time.Now if nil): for tests.
	Now func() time.Time
}

// Tokens is a TokenSource that fetches tokens with golang.org/x/oauth2.
// Its methods are safe for concurrent use.
type Tokens struct {
	cfg OAuth2Config
	mu  sync.Mutex
	tok *oauth2.Token
	// refresh is the current refresh token: a provider may rotate it.
	refresh string
	// fetches counts the tokens fetched, for tests and the log.
	fetches int
}

// NewTokens checks cfg.
func NewTokens(cfg OAuth2Config) (*Tokens, error) {
	if cfg.TokenURL == "" {
		return nil, errors.New("mail: oauth2: no token_url")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("mail: oauth2: no client_id")
	}
	if cfg.RefreshToken == "" && cfg.ClientSecret == "" {
		return nil, errors.New("mail: oauth2: neither a refresh token nor a client secret: set one")
	}
	if cfg.RefreshMargin <= 0 {
		cfg.RefreshMargin = DefaultRefreshMargin
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tokens{cfg: cfg, refresh: cfg.RefreshToken}, nil
}

// Token returns the token held unless it expires within the margin, and a
// newly fetched one otherwise.
func (s *Tokens) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && (s.tok.Expiry.IsZero() || s.cfg.Now().Add(s.cfg.RefreshMargin).Before(s.tok.Expiry)) {
		return s.tok.AccessToken, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	if tok.AccessToken == "" {
		return "", errors.New("mail: oauth2: the token endpoint answered without an access token")
	}
	if !tok.Expiry.IsZero() { // on our clock, which tests set
		tok.Expiry = s.cfg.Now().Add(time.Until(tok.Expiry))
	}
	s.tok = tok
	s.fetches++
	if tok.RefreshToken != "" && s.refresh != "" {
		s.refresh = tok.RefreshToken
	}
	return tok.AccessToken, nil
}

// Refused drops token if it is the one held.
func (s *Tokens) Refused(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok != nil && s.tok.AccessToken == token {
		s.tok = nil
	}
}

// Fetches returns how many tokens were fetched so far.
func (s *Tokens) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// fetch asks the token endpoint for a new token.
func (s *Tokens) fetch(ctx context.Context) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var tok *oauth2.Token
	var err error
	grant := "client_credentials"
	if s.refresh != "" {
		grant = "refresh_token"
		c := &oauth2.Config{ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, Scopes: s.cfg.Scopes,
			Endpoint: oauth2.Endpoint{TokenURL: s.cfg.TokenURL}}
		tok, err = c.TokenSource(ctx, &oauth2.Token{RefreshToken: s.refresh}).Token()
	} else {
		c := &clientcredentials.Config{ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, TokenURL: s.cfg.TokenURL, Scopes: s.cfg.Scopes}
		tok, err = c.Token(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("mail: oauth2: %s grant at %s: %s", grant, s.cfg.TokenURL, tokenError(err))
	}
	return tok, nil
}

// tokenError describes a token endpoint's failure without its response
// body, which may echo what was sent.
func tokenError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := "refused"
		if re.Response != nil {
			msg = "refused with HTTP " + strconv.Itoa(re.Response.StatusCode)
		}
		if re.ErrorCode != "" && safeCode(re.ErrorCode) {
			msg += " (" + re.ErrorCode + ")"
		}
		if re.ErrorCode == "invalid_grant" {
			msg += ": the refresh token was revoked or has expired; issue a new one"
		}
		return msg
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return "cannot reach it"
	}
	return "failed"
}

// safeCode reports whether an OAuth2 error code is the plain word RFC 6749
// allows (and so cannot carry a secret back).
func safeCode(code string) bool {
	if len(code) > 40 {
		return false
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r == '_') {
			return false
		}
	}
	return true
}

// bearerClient is a SASL client of XOAUTH2 or OAUTHBEARER. On failure the
// server sends a JSON challenge; the client answers it as the mechanism
// requires and keeps its status.
type bearerClient struct {
	mech, user, token, host string
	port                    int
	status                  string
}

var _ sasl.Client = (*bearerClient)(nil)

func (c *bearerClient) Start() (string, []byte, error) {
	if c.mech == MechXOAUTH2 {
		return c.mech, []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
	}
	s := "n,a=" + strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.user) + ","
	if c.host != "" {
		s += "\x01host=" + c.host
	}
	if c.port != 0 {
		s += "\x01port=" + strconv.Itoa(c.port)
	}
	return c.mech, []byte(s + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *bearerClient) Next(challenge []byte) ([]byte, error) {
	var e struct {
		Status string `json:"status"`
	}
	if json.Unmarshal(challenge, &e) == nil && safeStatus(e.Status) {
		c.status = e.Status
	} else {
		c.status = "?"
	}
	// RFC 7628 3.2.3: the client answers the error with a lone 0x01, and
	// the server fails the exchange. XOAUTH2 asks for an empty answer, but
	// go-imap sends an empty one as "=", which Dovecot rejects as bad
	// base64 (BAD instead of NO); any answer ends the exchange, so 0x01
	// serves both.
	return []byte{0x01}, nil
}

func safeStatus(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// tokenRefused reports whether a failed AUTHENTICATE says the token was
// refused (rather than a broken connection): a JSON error challenge came,
// or the server answered NO.
func tokenRefused(c *bearerClient, err error) bool {
	if c.status != "" {
		return true
	}
	msg := err.Error()
	for _, w := range []string{"AUTHENTICATIONFAILED", "Authentication failed", "AUTHENTICATE failed", "expired", "invalid"} {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

// mechanismName checks an Endpoint's mechanism.
func mechanismName(m string) (string, error) {
	switch strings.ToUpper(m) {
	case "":
		return "", nil
	case MechXOAUTH2:
		return MechXOAUTH2, nil
	case MechOAUTHBEARER:
		return MechOAUTHBEARER, nil
	}
	return "", fmt.Errorf("mechanism must be %s or %s, not %q", MechXOAUTH2, MechOAUTHBEARER, m)
}
