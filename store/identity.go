package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Account is an agent's account: who may sign in to the console.
type Account struct {
	Login        string
	Name         string
	PasswordHash string
	// HashSource is where the password hash came from: "config" (seeded
	// from the configuration file) or "local" (set by gateway users).
	HashSource string
	Workgroups []string
	Rights     []string
	Disabled   bool
	Created    time.Time
	PasswordAt time.Time // when the password was last set
}

// Hash sources of Account.HashSource.
const (
	HashFromConfig = "config"
	HashLocal      = "local"
)

// LoginFailures counts the failed sign-ins of an account.
type LoginFailures struct {
	Login       string
	Failures    int
	Last        time.Time
	LockedUntil time.Time // zero: not locked
}

// Session is a console session, by the hash of its cookie value.
type Session struct {
	IDHash  []byte
	Login   string
	Source  string
	Created time.Time
	Seen    time.Time // the last activity written
	Expires time.Time // the absolute end
}

func joinList(xs []string) string { return strings.Join(xs, ",") }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

const accountColumns = `login, name, password_hash, hash_source, workgroups, rights, disabled, created_at, password_at`

func scanAccount(r scanner) (Account, error) {
	var a Account
	var wgs, rights string
	var disabled int
	var created, pwAt int64
	if err := r.Scan(&a.Login, &a.Name, &a.PasswordHash, &a.HashSource, &wgs, &rights, &disabled, &created, &pwAt); err != nil {
		return a, err
	}
	a.Workgroups, a.Rights, a.Disabled = splitList(wgs), splitList(rights), disabled != 0
	a.Created, a.PasswordAt = fromMillis(created), fromMillis(pwAt)
	return a, nil
}

// PutAccount inserts a, or replaces the account of the same login.
func (tx *Tx) PutAccount(a Account) error {
	disabled := 0
	if a.Disabled {
		disabled = 1
	}
	_, err := tx.exec(`INSERT INTO accounts (`+accountColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(login) DO UPDATE SET name = excluded.name, password_hash = excluded.password_hash,
		  hash_source = excluded.hash_source, workgroups = excluded.workgroups, rights = excluded.rights,
		  disabled = excluded.disabled, password_at = excluded.password_at`,
		a.Login, a.Name, a.PasswordHash, a.HashSource, joinList(a.Workgroups), joinList(a.Rights), disabled,
		millis(a.Created), millis(a.PasswordAt))
	if err != nil {
		return fmt.Errorf("store: put account: %w", err)
	}
	return nil
}

// AccountIn reads one account inside the transaction (ErrNotFound if none).
func (tx *Tx) AccountIn(login string) (Account, error) {
	a, err := scanAccount(tx.tx.QueryRowContext(tx.ctx, `SELECT `+accountColumns+` FROM accounts WHERE login = ?`, login))
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

// DeleteSessionsOf ends every session of a login.
func (tx *Tx) DeleteSessionsOf(login string) error {
	if _, err := tx.exec(`DELETE FROM sessions WHERE login = ?`, login); err != nil {
		return fmt.Errorf("store: delete sessions: %w", err)
	}
	return nil
}

// Account reads one account (ErrNotFound if none).
func (s *Store) Account(ctx context.Context, login string) (Account, error) {
	return queryOne(ctx, s, "account", `SELECT `+accountColumns+` FROM accounts WHERE login = ?`, scanAccount, login)
}

// Accounts returns every account, by login.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	return queryAll(ctx, s, "accounts", `SELECT `+accountColumns+` FROM accounts ORDER BY login`, scanAccount)
}

// LoginFailuresIn reads the failures of a login inside the transaction; a
// login with none gives a zero count.
func (tx *Tx) LoginFailuresIn(login string) (LoginFailures, error) {
	f := LoginFailures{Login: login}
	var last, locked int64
	err := tx.tx.QueryRowContext(tx.ctx, `SELECT failures, last_at, locked_until FROM login_failures WHERE login = ?`, login).
		Scan(&f.Failures, &last, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("store: login failures: %w", err)
	}
	f.Last, f.LockedUntil = fromMillis(last), fromMillis(locked)
	return f, nil
}

// LoginFailures reads the failures of a login; none gives a zero count.
func (s *Store) LoginFailures(ctx context.Context, login string) (LoginFailures, error) {
	f := LoginFailures{Login: login}
	var last, locked int64
	err := s.db.QueryRowContext(ctx, `SELECT failures, last_at, locked_until FROM login_failures WHERE login = ?`, login).
		Scan(&f.Failures, &last, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("store: login failures: %w", err)
	}
	f.Last, f.LockedUntil = fromMillis(last), fromMillis(locked)
	return f, nil
}

// PutLoginFailures records f.
func (tx *Tx) PutLoginFailures(f LoginFailures) error {
	_, err := tx.exec(`INSERT INTO login_failures (login, failures, last_at, locked_until) VALUES (?, ?, ?, ?)
		ON CONFLICT(login) DO UPDATE SET failures = excluded.failures, last_at = excluded.last_at, locked_until = excluded.locked_until`,
		f.Login, f.Failures, millis(f.Last), millis(f.LockedUntil))
	if err != nil {
		return fmt.Errorf("store: put login failures: %w", err)
	}
	return nil
}

// TouchLoginFailures writes what PutLoginFailures writes for a login with
// no account, and changes nothing: an unknown login's failed sign-in costs
// the same commit as a known one's.
func (tx *Tx) TouchLoginFailures(login string) error {
	if _, err := tx.exec(`INSERT INTO login_failures (login, failures, last_at, locked_until) VALUES (?, 0, 0, 0)
		ON CONFLICT(login) DO UPDATE SET failures = failures`, login); err != nil {
		return fmt.Errorf("store: touch login failures: %w", err)
	}
	_, err := tx.exec(`DELETE FROM login_failures WHERE login = ? AND failures = 0`, login)
	if err != nil {
		return fmt.Errorf("store: touch login failures: %w", err)
	}
	return nil
}

// ClearLoginFailures forgets the failures of a login (a success, or an
// administrator's unlock).
func (tx *Tx) ClearLoginFailures(login string) error {
	if _, err := tx.exec(`DELETE FROM login_failures WHERE login = ?`, login); err != nil {
		return fmt.Errorf("store: clear login failures: %w", err)
	}
	return nil
}

// PruneLoginFailures forgets the failures last seen before and not locked
// past it.
func (tx *Tx) PruneLoginFailures(before time.Time) error {
	if _, err := tx.exec(`DELETE FROM login_failures WHERE last_at < ? AND locked_until < ?`, millis(before), millis(before)); err != nil {
		return fmt.Errorf("store: prune login failures: %w", err)
	}
	return nil
}

const sessionColumns = `id_hash, login, source, created_at, seen_at, expires_at`

func scanSession(r scanner) (Session, error) {
	var s Session
	var created, seen, expires int64
	if err := r.Scan(&s.IDHash, &s.Login, &s.Source, &created, &seen, &expires); err != nil {
		return s, err
	}
	s.Created, s.Seen, s.Expires = fromMillis(created), fromMillis(seen), fromMillis(expires)
	return s, nil
}

// CreateSession inserts a session.
func (tx *Tx) CreateSession(s Session) error {
	_, err := tx.exec(`INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		s.IDHash, s.Login, s.Source, millis(s.Created), millis(s.Seen), millis(s.Expires))
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// TouchSession records a session's latest activity.
func (tx *Tx) TouchSession(idHash []byte, seen time.Time) error {
	if _, err := tx.exec(`UPDATE sessions SET seen_at = MAX(seen_at, ?) WHERE id_hash = ?`, millis(seen), idHash); err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// DeleteSession ends one session.
func (tx *Tx) DeleteSession(idHash []byte) error {
	if _, err := tx.exec(`DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteStaleSessions ends the sessions past their absolute end or idle
// since idleBefore or earlier.
func (tx *Tx) DeleteStaleSessions(now, idleBefore time.Time) error {
	if _, err := tx.exec(`DELETE FROM sessions WHERE expires_at <= ? OR seen_at <= ?`, millis(now), millis(idleBefore)); err != nil {
		return fmt.Errorf("store: delete stale sessions: %w", err)
	}
	return nil
}

// Session reads one session by the hash of its cookie (ErrNotFound if
// none).
func (s *Store) Session(ctx context.Context, idHash []byte) (Session, error) {
	return queryOne(ctx, s, "session", `SELECT `+sessionColumns+` FROM sessions WHERE id_hash = ?`, scanSession, idHash)
}

// Sessions returns every session.
func (s *Store) Sessions(ctx context.Context) ([]Session, error) {
	return queryAll(ctx, s, "sessions", `SELECT `+sessionColumns+` FROM sessions`, scanSession)
}

// queryOne runs query with args and scans its row with scan: ErrNotFound
// if there is none; what names the row in errors.
func queryOne[T any](ctx context.Context, s *Store, what, query string, scan func(scanner) (T, error), args ...any) (T, error) {
	v, err := scan(s.db.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, ErrNotFound
	}
	if err != nil {
		return v, fmt.Errorf("store: %s: %w", what, err)
	}
	return v, nil
}

// queryAll runs query and scans every row with scan; what names the rows
// in errors.
func queryAll[T any](ctx context.Context, s *Store, what, query string, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
