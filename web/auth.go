package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// sessionCookie is the console's session cookie: HttpOnly, SameSite=Strict,
// Secure under TLS.
const sessionCookie = "gateway_session"

// dummyHash is compared against when the login is unknown, so that an
// unknown login takes as long as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)

// session is one agent login. Its context ends at logout or expiry, which
// closes the agent's websockets.
type session struct {
	login   string
	expires time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	timer   *time.Timer
}

type sessions struct {
	ttl  time.Duration
	mu   sync.Mutex
	byID map[[32]byte]*session // key: sha256 of the cookie value
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, byID: map[[32]byte]*session{}}
}

func (ss *sessions) create(login string) (token string, s *session) {
	b := make([]byte, 32)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	ctx, cancel := context.WithCancel(context.Background())
	s = &session{login: login, expires: time.Now().Add(ss.ttl), ctx: ctx, cancel: cancel}
	key := sha256.Sum256([]byte(token))
	ss.mu.Lock()
	ss.byID[key] = s
	ss.mu.Unlock()
	s.timer = time.AfterFunc(ss.ttl, func() { ss.drop(key) })
	return token, s
}

func (ss *sessions) get(token string) *session {
	key := sha256.Sum256([]byte(token))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[key]
	if s == nil || time.Now().After(s.expires) {
		return nil
	}
	return s
}

func (ss *sessions) drop(key [32]byte) {
	ss.mu.Lock()
	s := ss.byID[key]
	delete(ss.byID, key)
	ss.mu.Unlock()
	if s != nil {
		s.timer.Stop()
		s.cancel()
	}
}

func (ss *sessions) closeAll() {
	ss.mu.Lock()
	all := ss.byID
	ss.byID = map[[32]byte]*session{}
	ss.mu.Unlock()
	for _, s := range all {
		s.timer.Stop()
		s.cancel()
	}
}

// sessionOf returns the request's live session, or nil.
func (s *Server) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return s.sessions.get(c.Value)
}

type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Login == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "body must be {\"login\": …, \"password\": …}")
		return
	}
	cred, known := s.cfg.Agents[req.Login]
	hash := string(dummyHash)
	if known {
		hash = cred.PasswordHash
	}
	if !VerifyPassword(hash, req.Password) || !known {
		s.log.Info("web: login failed", slog.Bool("known_login", known))
		writeError(w, http.StatusUnauthorized, "bad_credentials", "wrong login or password")
		return
	}
	token, _ := s.sessions.create(req.Login)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS,
		MaxAge: int(s.cfg.SessionTTL.Seconds()),
	})
	s.log.Info("web: login", slog.String("agent", req.Login))
	writeJSON(w, http.StatusOK, map[string]string{"login": req.Login})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.drop(sha256.Sum256([]byte(c.Value)))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.TLS})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	sess := s.sessionOf(r)
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
	writeJSON(w, http.StatusOK, map[string]any{"login": sess.login, "expires": sess.expires.UnixMilli(),
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
