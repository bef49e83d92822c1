// Package identity owns the console's accounts, sign-in and sessions: the
// password rules, the lockout of a login after repeated failures (known
// logins and unknown ones alike, so that no answer tells which accounts
// exist), and sessions that expire when idle, at an absolute end and when
// the password changes. Everything that must hold across processes (an
// administrator's `gateway users unlock` while the gateway runs) lives in
// the store; the rest (unknown logins, the activity of a session since the
// last write) in memory.
//
// identity knows no HTTP: web reads the cookie and the source address and
// calls SignIn, StartSession and Session.
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secureinput/gateway/store"
)

// Defaults of Config.
const (
	DefaultMaxFailures = 10               // PCI DSS 8.3.4: at most 10
	DefaultLockout     = 30 * time.Minute // PCI DSS 8.3.4: at least 30 minutes
	DefaultIdleTimeout = 15 * time.Minute // PCI DSS 8.2.8
	DefaultMaxAge      = 12 * time.Hour
	// maxUnknown bounds the unknown logins whose failures are kept in
	// memory; past it the oldest are forgotten first.
	maxUnknown = 100_000
	// MaxLogin bounds a login's length.
	MaxLogin = 128
)

// Errors of sign-in and sessions.
var (
	ErrBadCredentials = errors.New("identity: wrong login or password")
	ErrLocked         = errors.New("identity: too many failed sign-ins: locked")
	ErrNoSession      = errors.New("identity: no such session, or it ended")
	ErrUnknownAccount = errors.New("identity: no such account")
	ErrAccountExists  = errors.New("identity: the account exists")
	ErrBadLogin       = errors.New("identity: bad login")
)

// Store is what identity needs of a store; *store.Store is one.
type Store interface {
	Write(ctx context.Context, name string, fn func(*store.Tx) error) error
	Account(ctx context.Context, login string) (store.Account, error)
	Accounts(ctx context.Context) ([]store.Account, error)
	LoginFailures(ctx context.Context, login string) (store.LoginFailures, error)
	Session(ctx context.Context, idHash []byte) (store.Session, error)
	Sessions(ctx context.Context) ([]store.Session, error)
}

// Config configures a Service.
type Config struct {
	Store Store // required
	// MaxFailures failed sign-ins in a row lock a login for Lockout
	// (DefaultMaxFailures, DefaultLockout if zero); a failure older than
	// Lockout no longer counts.
	MaxFailures int
	Lockout     time.Duration
	// IdleTimeout ends a session without activity for that long;
	// MaxAge ends any session that long after sign-in (DefaultIdleTimeout,
	// DefaultMaxAge if zero).
	IdleTimeout time.Duration
	MaxAge      time.Duration
	Logger      *slog.Logger
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// Service signs agents in and keeps their sessions. It is safe for
// concurrent use.
type Service struct {
	cfg Config
	st  Store
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	locks    map[string]*loginLock         // sign-ins in progress, by login
	unknown  map[[32]byte]*unknownFailures // failures of logins with no account
	touched  map[[32]byte]time.Time        // session activity not yet written
	dummy    string                        // a hash like the accounts'
	hashRuns atomic.Int64                  // password checks run, for tests
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("identity: Config.Store is required")
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.Lockout <= 0 {
		cfg.Lockout = DefaultLockout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	s := &Service{cfg: cfg, st: cfg.Store, log: cfg.Logger, now: cfg.Now,
		locks: map[string]*loginLock{}, unknown: map[[32]byte]*unknownFailures{}, touched: map[[32]byte]time.Time{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Lockout is how long a login stays locked after MaxFailures failures.
func (s *Service) Lockout() time.Duration { return s.cfg.Lockout }

// IdleTimeout is how long a session lasts without activity.
func (s *Service) IdleTimeout() time.Duration { return s.cfg.IdleTimeout }

// MaxAge is how long a session lasts at most.
func (s *Service) MaxAge() time.Duration { return s.cfg.MaxAge }

// Account is an account as Accounts lists it: never its password hash.
type Account struct {
	Login       string
	Name        string
	Workgroups  []string
	Rights      []string
	Disabled    bool
	Locked      bool // too many failed sign-ins, until LockedUntil
	LockedUntil time.Time
	FromConfig  bool // its password hash was seeded from the configuration file
	PasswordAt  time.Time
}

// NewAccount is an account to add.
type NewAccount struct {
	Login      string
	Name       string
	Workgroups []string
	Rights     []string
}

// checkLogin refuses an empty, overlong or unprintable login.
func checkLogin(login string) error {
	if login == "" || len(login) > MaxLogin {
		return fmt.Errorf("%w: 1 to %d bytes", ErrBadLogin, MaxLogin)
	}
	for _, r := range login {
		if r <= ' ' || r == 0x7f || r == ',' {
			return fmt.Errorf("%w: no spaces, commas or control characters", ErrBadLogin)
		}
	}
	return nil
}

// Add creates an account with password (which must follow the rules).
func (s *Service) Add(ctx context.Context, a NewAccount, password string) error {
	if err := checkLogin(a.Login); err != nil {
		return err
	}
	if err := CheckPassword(a.Login, password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	now := s.now()
	return s.st.Write(ctx, "add account", func(tx *store.Tx) error {
		if _, err := tx.AccountIn(a.Login); err == nil {
			return ErrAccountExists
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.PutAccount(store.Account{Login: a.Login, Name: a.Name, PasswordHash: hash, HashSource: store.HashLocal,
			Workgroups: a.Workgroups, Rights: a.Rights, Created: now, PasswordAt: now})
	})
}

// SetPassword gives an account a new password (which must follow the
// rules) and ends every session of it.
func (s *Service) SetPassword(ctx context.Context, login, password string) error {
	if err := CheckPassword(login, password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	now := s.now()
	return s.update(ctx, "set password", login, func(a *store.Account) {
		a.PasswordHash, a.HashSource, a.PasswordAt = hash, store.HashLocal, now
	}, true)
}

// SetDisabled disables (or enables again) an account; disabling ends its
// sessions.
func (s *Service) SetDisabled(ctx context.Context, login string, disabled bool) error {
	return s.update(ctx, "disable account", login, func(a *store.Account) { a.Disabled = disabled }, disabled)
}

// Unlock forgets an account's failed sign-ins: it may sign in at once.
func (s *Service) Unlock(ctx context.Context, login string) error {
	if _, err := s.st.Account(ctx, login); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrUnknownAccount, login)
	} else if err != nil {
		return err
	}
	return s.st.Write(ctx, "unlock account", func(tx *store.Tx) error { return tx.ClearLoginFailures(login) })
}

func (s *Service) update(ctx context.Context, name, login string, change func(*store.Account), endSessions bool) error {
	return s.st.Write(ctx, name, func(tx *store.Tx) error {
		a, err := tx.AccountIn(login)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrUnknownAccount, login)
		} else if err != nil {
			return err
		}
		change(&a)
		if err := tx.PutAccount(a); err != nil {
			return err
		}
		if endSessions {
			return tx.DeleteSessionsOf(login)
		}
		return nil
	})
}

// Accounts lists every account, by login.
func (s *Service) Accounts(ctx context.Context) ([]Account, error) {
	all, err := s.st.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]Account, 0, len(all))
	for _, a := range all {
		f, err := s.st.LoginFailures(ctx, a.Login)
		if err != nil {
			return nil, err
		}
		out = append(out, Account{Login: a.Login, Name: a.Name, Workgroups: a.Workgroups, Rights: a.Rights, Disabled: a.Disabled,
			Locked: f.LockedUntil.After(now), LockedUntil: f.LockedUntil, FromConfig: a.HashSource == store.HashFromConfig, PasswordAt: a.PasswordAt})
	}
	return out, nil
}

// Bootstrap is an account of the configuration file.
type Bootstrap struct {
	Login        string
	Name         string
	PasswordHash string
	Workgroups   []string
	Rights       []string
}

// Bootstrap brings the configuration file's accounts into the store: a
// new one is added; an existing one takes the file's name, workgroups and
// rights, and the file's hash unless its password was since set with
// gateway users (a hash changed in the file is a password change: the
// sessions end). One seeded from the file and no longer in it is disabled.
func (s *Service) Bootstrap(ctx context.Context, accounts []Bootstrap) error {
	now := s.now()
	for _, b := range accounts {
		if err := CheckHash(b.PasswordHash); err != nil {
			return fmt.Errorf("identity: account %q: %w", b.Login, err)
		}
		err := s.st.Write(ctx, "bootstrap account", func(tx *store.Tx) error {
			a, err := tx.AccountIn(b.Login)
			switch {
			case errors.Is(err, store.ErrNotFound):
				a = store.Account{Login: b.Login, HashSource: store.HashFromConfig, PasswordHash: b.PasswordHash, Created: now, PasswordAt: now}
			case err != nil:
				return err
			}
			a.Name, a.Workgroups, a.Rights = b.Name, slices.Clone(b.Workgroups), slices.Clone(b.Rights)
			if a.HashSource == store.HashFromConfig && a.PasswordHash != b.PasswordHash {
				a.PasswordHash, a.PasswordAt = b.PasswordHash, now
				if err := tx.DeleteSessionsOf(b.Login); err != nil {
					return err
				}
			}
			return tx.PutAccount(a)
		})
		if err != nil {
			return fmt.Errorf("identity: account %q: %w", b.Login, err)
		}
	}
	// An account seeded from the file and since removed from it is
	// disabled, not kept signing in.
	all, err := s.st.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range all {
		if a.HashSource == store.HashFromConfig && !a.Disabled &&
			!slices.ContainsFunc(accounts, func(b Bootstrap) bool { return b.Login == a.Login }) {
			if err := s.SetDisabled(ctx, a.Login, true); err != nil {
				return err
			}
			s.log.Warn("identity: account no longer in the configuration file: disabled", slog.String("login", a.Login))
		}
	}
	return nil
}
