package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/identity"
)

// sessionCookie is the console's session cookie: HttpOnly, SameSite=Strict,
// Secure whenever the client reached the gateway over HTTPS (directly or
// through a trusted proxy).
const sessionCookie = "gateway_session"

// Auditor records what the audit trail must hold; *audit.Log is one.
type Auditor interface {
	// Record appends e and returns once it is committed.
	Record(ctx context.Context, e audit.Event) error
	// Redact redacts a client string for a record or a log line.
	Redact(s string) string
}

// session is a live console session in this process: its context ends at
// sign-out, expiry or revocation, which closes the agent's websockets. The
// session itself lives in the store (identity).
type session struct {
	key    [32]byte
	login  string
	ctx    context.Context
	cancel context.CancelFunc
}

type sessions struct {
	mu    sync.Mutex
	byKey map[[32]byte]*session
}

func newSessions() *sessions { return &sessions{byKey: map[[32]byte]*session{}} }

// live returns the process's session for key, made if need be.
func (ss *sessions) live(key [32]byte, login string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byKey[key]
	if s == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s = &session{key: key, login: login, ctx: ctx, cancel: cancel}
		ss.byKey[key] = s
	}
	return s
}

// drop ends the process's session for key: its websockets close.
func (ss *sessions) drop(key [32]byte) {
	ss.mu.Lock()
	s := ss.byKey[key]
	delete(ss.byKey, key)
	ss.mu.Unlock()
	if s != nil {
		s.cancel()
	}
}

func (ss *sessions) all() []*session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]*session, 0, len(ss.byKey))
	for _, s := range ss.byKey {
		out = append(out, s)
	}
	return out
}

func (ss *sessions) closeAll() {
	for _, s := range ss.all() {
		ss.drop(s.key)
	}
}

// sessionOf returns the request's live session, or nil; active says the
// request is the agent's doing, which restarts the session's idle time.
func (s *Server) sessionOf(r *http.Request, active bool) (*session, identity.Session) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) > 128 {
		return nil, identity.Session{}
	}
	se, err := s.cfg.Identity.Session(r.Context(), c.Value, active)
	if err != nil {
		if !errors.Is(err, identity.ErrNoSession) {
			s.log.Error("web: session lookup", slog.Any("err", err))
		}
		s.sessions.drop(identity.KeyOf(c.Value))
		return nil, identity.Session{}
	}
	return s.sessions.live(se.Key, se.Login), se
}

// Sweep ends, in this process, the sessions that ended in the store
// (expired, revoked by a password change, disabled, signed out elsewhere),
// closing their websockets; writes the sessions' activity; forgets the
// sources whose limits are full again; and expires the waiting
// conversations no visitor wrote in. The gateway calls it every few
// seconds.
func (s *Server) Sweep(ctx context.Context) error {
	err := s.cfg.Identity.Sweep(ctx)
	// The process's sessions first: each is in the store before it is in
	// memory, so none started meanwhile is taken for one that ended.
	mine := s.sessions.all()
	if live, lerr := s.cfg.Identity.Live(ctx); lerr != nil {
		err = errors.Join(err, lerr)
	} else {
		for _, se := range mine {
			if !live[se.key] {
				s.sessions.drop(se.key)
				s.cfg.Audit.Record(ctx, audit.Event{Actor: se.login, Action: audit.ActionSessionEnd, Outcome: audit.Success,
					Source: audit.SourceLocal, Detail: "expired or revoked"})
			}
		}
	}
	now := time.Now()
	for _, l := range []*sourceLimiter{s.loginLimit, s.openLimit, s.sampleLimit} {
		l.prune(now)
	}
	s.hub.ExpireWaiting(ctx)
	return err
}

type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	src := s.sourceOf(r)
	if !s.loginLimit.allow(src.addr, time.Now()) {
		s.log.Warn("web: sign-in refused: too many attempts from the source", slog.String("source", src.String()))
		tooMany(w, "too many sign-in attempts from your address; wait a minute and retry")
		return
	}
	var req loginRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Login == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "body must be {\"login\": …, \"password\": …}")
		return
	}
	ctx := r.Context()
	res, err := s.cfg.Identity.SignIn(ctx, req.Login, req.Password)
	who := s.cfg.Audit.Redact(req.Login)
	switch {
	case errors.Is(err, identity.ErrLocked):
		s.log.Warn("web: sign-in refused: locked", slog.String("login", who), slog.String("source", src.String()))
		s.cfg.Audit.Record(ctx, audit.Event{Actor: req.Login, Action: audit.ActionSignIn, Outcome: audit.Denied, Source: src.String(),
			Detail: "locked until " + res.LockedUntil.UTC().Format(time.RFC3339)})
		writeError(w, http.StatusLocked, "locked",
			"too many failed sign-ins: sign-in is locked for "+s.lockoutText()+", or until an administrator unlocks it")
		return
	case errors.Is(err, identity.ErrBadCredentials):
		s.log.Warn("web: sign-in failed", slog.String("login", who), slog.String("source", src.String()),
			slog.Int("failures", res.Failures))
		s.cfg.Audit.Record(ctx, audit.Event{Actor: req.Login, Action: audit.ActionSignIn, Outcome: audit.Failure, Source: src.String(),
			Detail: "failures in a row: " + strconv.Itoa(res.Failures)})
		if res.JustLocked {
			s.log.Warn("web: sign-in locked", slog.String("login", who), slog.String("source", src.String()))
			s.cfg.Audit.Record(ctx, audit.Event{Actor: req.Login, Action: audit.ActionLockout, Outcome: audit.Success, Source: src.String(),
				Detail: "locked until " + res.LockedUntil.UTC().Format(time.RFC3339)})
		}
		writeError(w, http.StatusUnauthorized, "bad_credentials", "wrong login or password")
		return
	case err != nil:
		s.log.Error("web: sign-in", slog.String("login", who), slog.Any("err", err))
		writeError(w, http.StatusServiceUnavailable, "unavailable", "sign-in is not available; retry later")
		return
	}
	// A sign-in that cannot be recorded does not happen.
	if err := s.cfg.Audit.Record(ctx, audit.Event{Actor: req.Login, Action: audit.ActionSignIn, Outcome: audit.Success, Source: src.String()}); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "sign-in is not available; retry later")
		return
	}
	// A new session id at every sign-in; the one the client held ends.
	if old, err := r.Cookie(sessionCookie); err == nil && len(old.Value) <= 128 {
		s.cfg.Identity.EndSession(ctx, old.Value)
		s.sessions.drop(identity.KeyOf(old.Value))
	}
	token, se, err := s.cfg.Identity.StartSession(ctx, req.Login, src.String())
	if err != nil {
		s.log.Error("web: start session", slog.String("login", who), slog.Any("err", err))
		writeError(w, http.StatusServiceUnavailable, "unavailable", "sign-in is not available; retry later")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureRequest(r),
		MaxAge: int(time.Until(se.Expires).Seconds()),
	})
	s.log.Info("web: sign-in", slog.String("agent", who), slog.String("source", src.String()))
	writeJSON(w, http.StatusOK, map[string]string{"login": req.Login})
}

// lockoutText says how long a lockout lasts, for the client.
func (s *Server) lockoutText() string {
	d := s.cfg.Identity.Lockout()
	if d >= time.Hour && d%time.Hour == 0 {
		return strconv.Itoa(int(d/time.Hour)) + " hours"
	}
	return strconv.Itoa(int(d.Round(time.Minute)/time.Minute)) + " minutes"
}

// tooMany answers 429 with a Retry-After.
func tooMany(w http.ResponseWriter, message string) {
	w.Header().Set("Retry-After", "60")
	writeError(w, http.StatusTooManyRequests, "rate_limited", message)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && len(c.Value) <= 128 {
		s.sessions.drop(identity.KeyOf(c.Value))
		if login, err := s.cfg.Identity.EndSession(r.Context(), c.Value); err == nil {
			s.cfg.Audit.Record(r.Context(), audit.Event{Actor: login, Action: audit.ActionSignOut, Outcome: audit.Success, Source: s.sourceOf(r).String()})
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureRequest(r)})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	sess, se := s.sessionOf(r, true)
	if sess == nil {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "log in first")
		return
	}
	supervises := []string{}
	rights := []string{}
	if s.cfg.Desk != nil {
		for r, ok := range s.cfg.Desk.Catalog().Rights(sess.login) {
			if ok {
				rights = append(rights, string(r))
			}
		}
		slices.Sort(rights)
		supervises = s.cfg.Desk.Catalog().Supervised(sess.login)
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": sess.login, "expires": se.Expires.UnixMilli(), "idle_until": se.IdleUntil.UnixMilli(),
		"rights": rights, "supervises": supervises})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"error": code, "message": message})
}
