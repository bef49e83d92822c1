package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/secureinput/gateway/store"
)

// Session is a signed-in agent's session.
type Session struct {
	// Key is the SHA-256 of the cookie value: what the store keeps and
	// what names the session in memory.
	Key     [32]byte
	Login   string
	Created time.Time
	Expires time.Time // the absolute end
	// IdleUntil is when it ends without further activity.
	IdleUntil time.Time
}

// KeyOf is the key of a session's cookie value.
func KeyOf(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// StartSession starts a session for login (signed in just now) and returns
// its cookie value: 32 random bytes, a new one at every sign-in.
func (s *Service) StartSession(ctx context.Context, login, source string) (string, Session, error) {
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	se := Session{Key: KeyOf(token), Login: login, Created: now, Expires: now.Add(s.cfg.MaxAge), IdleUntil: now.Add(s.cfg.IdleTimeout)}
	err := s.st.Write(ctx, "start session", func(tx *store.Tx) error {
		return tx.CreateSession(store.Session{IDHash: se.Key[:], Login: login, Source: source, Created: now, Seen: now, Expires: se.Expires})
	})
	if err != nil {
		return "", Session{}, err
	}
	return token, se, nil
}

// Session returns the live session of a cookie value; active says the
// request is the agent's doing (not a background check), which restarts
// the idle time. A session ends when idle for IdleTimeout, MaxAge after
// sign-in, when its account is disabled or its password set, and at
// sign-out.
func (s *Service) Session(ctx context.Context, token string, active bool) (Session, error) {
	return s.SessionByKey(ctx, KeyOf(token), active)
}

// SessionByKey is Session for a session's key.
func (s *Service) SessionByKey(ctx context.Context, key [32]byte, active bool) (Session, error) {
	row, err := s.st.Session(ctx, key[:])
	if errors.Is(err, store.ErrNotFound) {
		return Session{}, ErrNoSession
	} else if err != nil {
		return Session{}, err
	}
	now := s.now()
	seen := row.Seen
	s.mu.Lock()
	if t, ok := s.touched[key]; ok && t.After(seen) {
		seen = t
	}
	s.mu.Unlock()
	se := Session{Key: key, Login: row.Login, Created: row.Created, Expires: row.Expires, IdleUntil: seen.Add(s.cfg.IdleTimeout)}
	if !now.Before(se.Expires) || !now.Before(se.IdleUntil) {
		s.forget(key)
		return Session{}, ErrNoSession
	}
	acct, err := s.st.Account(ctx, row.Login)
	if err != nil || acct.Disabled || acct.PasswordAt.After(row.Created) {
		s.forget(key)
		return Session{}, ErrNoSession
	}
	if active {
		s.Touch(key)
		se.IdleUntil = now.Add(s.cfg.IdleTimeout)
	}
	return se, nil
}

// Live returns the keys of the sessions alive now: two reads of the store
// whatever their number, for a sweep over the sessions of a process.
func (s *Service) Live(ctx context.Context) (map[[32]byte]bool, error) {
	rows, err := s.st.Sessions(ctx)
	if err != nil {
		return nil, err
	}
	accts, err := s.st.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	byLogin := make(map[string]store.Account, len(accts))
	for _, a := range accts {
		byLogin[a.Login] = a
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	live := make(map[[32]byte]bool, len(rows))
	for _, row := range rows {
		var key [32]byte
		copy(key[:], row.IDHash)
		seen := row.Seen
		if t, ok := s.touched[key]; ok && t.After(seen) {
			seen = t
		}
		a, ok := byLogin[row.Login]
		if ok && !a.Disabled && !a.PasswordAt.After(row.Created) && now.Before(row.Expires) && now.Before(seen.Add(s.cfg.IdleTimeout)) {
			live[key] = true
		}
	}
	return live, nil
}

// Touch records activity on a session: its idle time starts again. The
// time is kept in memory and written at the next Sweep.
func (s *Service) Touch(key [32]byte) {
	now := s.now()
	s.mu.Lock()
	s.touched[key] = now
	s.mu.Unlock()
}

func (s *Service) forget(key [32]byte) {
	s.mu.Lock()
	delete(s.touched, key)
	s.mu.Unlock()
}

// EndSession ends the session of a cookie value (sign-out).
func (s *Service) EndSession(ctx context.Context, token string) (string, error) {
	key := KeyOf(token)
	s.forget(key)
	row, err := s.st.Session(ctx, key[:])
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNoSession
	} else if err != nil {
		return "", err
	}
	return row.Login, s.st.Write(ctx, "end session", func(tx *store.Tx) error { return tx.DeleteSession(key[:]) })
}

// Sweep writes the activity of sessions since the last sweep, removes the
// sessions that ended and forgets the failures that no longer count. The
// gateway calls it every few seconds.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now()
	s.mu.Lock()
	touched := s.touched
	s.touched = map[[32]byte]time.Time{}
	s.pruneUnknownLocked(now)
	s.mu.Unlock()
	err := s.st.Write(ctx, "sweep sessions", func(tx *store.Tx) error {
		for k, t := range touched {
			if err := tx.TouchSession(k[:], t); err != nil {
				return err
			}
		}
		if err := tx.DeleteStaleSessions(now, now.Add(-s.cfg.IdleTimeout)); err != nil {
			return err
		}
		return tx.PruneLoginFailures(now.Add(-s.cfg.Lockout))
	})
	if err != nil {
		// Keep the activity for the next sweep.
		s.mu.Lock()
		for k, t := range touched {
			if t.After(s.touched[k]) {
				s.touched[k] = t
			}
		}
		s.mu.Unlock()
	}
	return err
}
