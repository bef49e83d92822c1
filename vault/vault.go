// Package vault is the card vault: a process of its own (`gateway vault
// serve`) that keeps the card numbers and expiry dates a business must keep
// after a secure input, sealed in its own store under its own keys, and
// gives the contact center a random token in their place. Only configured
// payment-processor clients may turn a token back into the card, and every
// call is recorded in the vault's audit trail without the number
// (docs/vault.md).
//
// The HTTP API (JSON over mutual TLS, an API key on every request):
//
//	POST /v1/tokens                 tokenize   {site, number, expiry} → {token, brand, last4, created, expires_at}: pending
//	POST /v1/tokens/{token}/confirm tokenize   {expiry} → {token, expires_at}: kept for the retention time
//	POST /v1/detokenize             detokenize {token} → {token, site, number, expiry, brand, last4, kept, expires_at}
//	GET  /healthz
package vault

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/store"
)

// DefaultRetention is how long a card is kept after it was last tokenised
// when Config.Retention is zero.
const DefaultRetention = 30 * 24 * time.Hour

// maxBody bounds a request body.
const maxBody = 16 << 10

// PendingTTL is how long a card tokenised before its validation is kept
// unless the gateway confirms it (its validation accepted it): long enough
// for any validation call, short enough that a declined card, or one of a
// session that never ended, is soon forgotten.
const PendingTTL = 15 * time.Minute

// Store is what the vault needs of a store; *store.Store is one.
type Store interface {
	KeepCard(ctx context.Context, c store.VaultCard, unique bool, record store.CardRecord) (token string, created bool, err error)
	ConfirmCard(ctx context.Context, token string, expiry []byte, expires, now time.Time, record *store.AuditRecord) error
	Card(ctx context.Context, token string, now time.Time) (store.VaultCard, error)
	DropCard(ctx context.Context, token string, record *store.AuditRecord) error
	PurgeCards(ctx context.Context, cutoff time.Time) (int64, error)
}

// Config configures a Server.
type Config struct {
	Store   Store      // required
	Audit   *audit.Log // required: every call is recorded
	Clients []Client   // who may call; at least one
	// Retention is how long a card is kept after it was last tokenised
	// (DefaultRetention if zero).
	Retention time.Duration
	// PerUse gives every tokenisation a new token; by default a card has
	// one token per site while it is kept.
	PerUse bool
	Logger *slog.Logger
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// Server is the vault's HTTP API. It is safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	router http.Handler
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Audit == nil {
		return nil, errors.New("vault: Config.Store and Config.Audit are required")
	}
	if err := checkClients(cfg.Clients); err != nil {
		return nil, err
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Retention < time.Hour {
		return nil, fmt.Errorf("vault: Config.Retention %v: want at least an hour", cfg.Retention)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.router = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Purge removes every card whose retention ended (or that stayed pending
// past PendingTTL) and records that it did, when it removed any or failed.
func (s *Server) Purge(ctx context.Context, actor string) (int64, error) {
	n, err := s.cfg.Store.PurgeCards(ctx, s.now())
	if n == 0 && err == nil {
		return 0, nil
	}
	outcome := audit.Success
	if err != nil {
		outcome = audit.Failure
	}
	if rerr := s.cfg.Audit.Record(ctx, audit.Event{Actor: actor, Action: audit.ActionCardPurge, Outcome: outcome,
		Source: audit.SourceLocal, Detail: fmt.Sprintf("%d cards", n)}); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return n, fmt.Errorf("vault: purge: %w", err)
	}
	s.log.Info("vault: expired cards purged", slog.Int64("cards", n))
	return n, nil
}

// Erase removes the card of token at once, on request (a customer's
// erasure), recorded in the same transaction.
func (s *Server) Erase(ctx context.Context, token, actor string) error {
	if !ValidToken(token) {
		return fmt.Errorf("vault: %q is not a token", token)
	}
	rec := s.cfg.Audit.Prepare(audit.Event{Actor: actor, Action: audit.ActionCardDelete, Outcome: audit.Success,
		Source: audit.SourceLocal, Target: token})
	if err := s.cfg.Store.DropCard(ctx, token, &rec); err != nil {
		return fmt.Errorf("vault: erase %s: %w", token, err)
	}
	return nil
}

// RunPurge purges expired cards, and audit records past their retention,
// every interval until ctx ends.
func (s *Server) RunPurge(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Purge(ctx, audit.ActorSystem); err != nil && ctx.Err() == nil {
			s.log.Error("vault: purge failed", slog.Any("err", err))
		}
		if err := s.cfg.Audit.Prune(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("vault: audit prune failed", slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// tokenPrefix starts every token.
const tokenPrefix = "tok_"

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newToken is tok_ and 26 lower-case base32 characters of 16 random bytes:
// drawn at random, never derived from the number.
func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return tokenPrefix + strings.ToLower(tokenEncoding.EncodeToString(b))
}

// ValidToken reports whether s has the syntax of a token.
func ValidToken(s string) bool {
	if len(s) != len(tokenPrefix)+26 || !strings.HasPrefix(s, tokenPrefix) {
		return false
	}
	for _, c := range s[len(tokenPrefix):] {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
