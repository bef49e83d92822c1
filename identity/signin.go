package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"time"

	"github.com/secureinput/gateway/store"
)

// SignInResult says what a sign-in attempt did, for the audit trail and
// the log; what the client is told depends only on the error.
type SignInResult struct {
	Login string
	// Known: the login is an enabled account. Never tell the client.
	Known bool
	// Failures is the count of failures in a row after this attempt.
	Failures int
	// JustLocked: this failure locked the login.
	JustLocked bool
	// LockedUntil is when a locked login may try again (an administrator
	// may unlock it sooner).
	LockedUntil time.Time
}

// loginLock serialises the sign-ins of one login, so that concurrent
// guesses cannot slip past the count.
type loginLock struct {
	ch   chan struct{}
	refs int
}

// unknownFailures counts the failures of a login with no account.
type unknownFailures struct {
	failures    int
	last        time.Time
	lockedUntil time.Time
}

// SignIn checks a login and password. It answers ErrBadCredentials for a
// wrong password, an unknown login or a disabled account alike, and
// ErrLocked once MaxFailures attempts in a row failed, for Lockout, even
// with the right password; unknown logins count and lock the same way.
// Every attempt runs exactly one password check, so that the answer takes
// as long whether the login exists or not.
func (s *Service) SignIn(ctx context.Context, login, password string) (SignInResult, error) {
	res := SignInResult{Login: login}
	if err := checkLogin(login); err != nil {
		s.verify(s.dummyHash(ctx), password)
		return res, ErrBadCredentials
	}
	unlock, err := s.lockLogin(ctx, login)
	if err != nil {
		return res, err
	}
	defer unlock()

	now := s.now()
	acct, err := s.st.Account(ctx, login)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return res, err
	default:
		res.Known = !acct.Disabled
	}
	var fails store.LoginFailures
	if res.Known {
		if fails, err = s.st.LoginFailures(ctx, login); err != nil {
			return res, err
		}
	} else {
		fails = s.unknownFailures(login)
	}
	if !fails.Last.IsZero() && now.Sub(fails.Last) >= s.cfg.Lockout && !fails.LockedUntil.After(now) {
		fails = store.LoginFailures{Login: login} // the old failures no longer count
	}
	if fails.LockedUntil.After(now) {
		s.verify(s.dummyHash(ctx), password)
		res.Failures, res.LockedUntil = fails.Failures, fails.LockedUntil
		return res, ErrLocked
	}
	hash := s.dummyHash(ctx)
	if res.Known {
		hash = acct.PasswordHash
	}
	if s.verify(hash, password) && res.Known {
		if fails.Failures > 0 {
			if err := s.st.Write(ctx, "sign-in success", func(tx *store.Tx) error { return tx.ClearLoginFailures(login) }); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	fails.Failures++
	fails.Last = now
	if fails.Failures >= s.cfg.MaxFailures {
		fails.LockedUntil = now.Add(s.cfg.Lockout)
		res.JustLocked, res.LockedUntil = true, fails.LockedUntil
	}
	res.Failures = fails.Failures
	if res.Known {
		if err := s.st.Write(ctx, "sign-in failure", func(tx *store.Tx) error { return tx.PutLoginFailures(fails) }); err != nil {
			return res, err
		}
	} else {
		s.putUnknown(login, fails)
		// A write like a known login's, so that the store's commit is in
		// the time of both answers.
		if err := s.st.Write(ctx, "sign-in failure", func(tx *store.Tx) error { return tx.TouchLoginFailures(login) }); err != nil {
			return res, err
		}
	}
	return res, ErrBadCredentials
}

// verify runs one password check.
func (s *Service) verify(hash, password string) bool {
	s.hashRuns.Add(1)
	return VerifyPassword(hash, password)
}

// dummyHash is a hash with the parameters most accounts' hashes have,
// checked when there is no account's hash to check against.
func (s *Service) dummyHash(ctx context.Context) string {
	s.mu.Lock()
	d := s.dummy
	s.mu.Unlock()
	if d != "" {
		return d
	}
	like := ""
	if all, err := s.st.Accounts(ctx); err == nil {
		counts := map[string]int{}
		best := 0
		for _, a := range all {
			k := hashParams(a.PasswordHash)
			if counts[k]++; counts[k] > best {
				best, like = counts[k], a.PasswordHash
			}
		}
	}
	d = dummyLike(like)
	s.mu.Lock()
	if s.dummy == "" {
		s.dummy = d
	}
	d = s.dummy
	s.mu.Unlock()
	return d
}

// lockLogin waits for the other sign-ins of login to finish.
func (s *Service) lockLogin(ctx context.Context, login string) (func(), error) {
	s.mu.Lock()
	l := s.locks[login]
	if l == nil {
		l = &loginLock{ch: make(chan struct{}, 1)}
		s.locks[login] = l
	}
	l.refs++
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, login)
		}
		s.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

func unknownKey(login string) [32]byte { return sha256.Sum256([]byte(login)) }

func (s *Service) unknownFailures(login string) store.LoginFailures {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := store.LoginFailures{Login: login}
	if u := s.unknown[unknownKey(login)]; u != nil {
		f.Failures, f.Last, f.LockedUntil = u.failures, u.last, u.lockedUntil
	}
	return f
}

func (s *Service) putUnknown(login string, f store.LoginFailures) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := unknownKey(login)
	if _, ok := s.unknown[k]; !ok && len(s.unknown) >= maxUnknown {
		s.pruneUnknownLocked(s.now())
		if len(s.unknown) >= maxUnknown {
			var oldest [32]byte
			var at time.Time
			for k, u := range s.unknown {
				if at.IsZero() || u.last.Before(at) {
					oldest, at = k, u.last
				}
			}
			delete(s.unknown, oldest)
			s.log.Warn("identity: too many unknown logins failing: forgetting the oldest", slog.Int("kept", maxUnknown))
		}
	}
	s.unknown[k] = &unknownFailures{failures: f.Failures, last: f.Last, lockedUntil: f.LockedUntil}
}

// pruneUnknownLocked forgets unknown logins whose failures no longer
// count. s.mu held.
func (s *Service) pruneUnknownLocked(now time.Time) {
	for k, u := range s.unknown {
		if now.Sub(u.last) >= s.cfg.Lockout && !u.lockedUntil.After(now) {
			delete(s.unknown, k)
		}
	}
}
