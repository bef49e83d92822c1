package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/store"
)

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	r.Post("/v1/tokens", s.tokenize)
	r.Delete("/v1/tokens/{token}", s.drop)
	r.Post("/v1/detokenize", s.detokenize)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint (docs/vault.md)")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "bad_request", "method not allowed")
	})
	return r
}

// secret is a JSON string read into bytes the handler wipes, without an
// intermediate Go string; it may hold no escape.
type secret []byte

// UnmarshalJSON implements json.Unmarshaler.
func (p *secret) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || bytes.ContainsAny(b[1:len(b)-1], "\\\"") {
		return errors.New("want a JSON string of digits")
	}
	*p = append((*p)[:0], b[1:len(b)-1]...)
	return nil
}

type tokenizeRequest struct {
	Site   string `json:"site"`
	Number secret `json:"number"`
	Expiry secret `json:"expiry"`
}

type tokenReply struct {
	Token     string    `json:"token"`
	Brand     string    `json:"brand"`
	Last4     string    `json:"last4"`
	Created   bool      `json:"created"`
	ExpiresAt time.Time `json:"expires_at"`
}

// tokenize serves POST /v1/tokens.
func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) {
	c, ok := s.allow(w, r, RoleTokenize, "")
	if !ok {
		return
	}
	var req tokenizeRequest
	defer func() { clear(req.Number); clear(req.Expiry) }()
	if !readJSON(w, r, &req) {
		return
	}
	brand, err := checkCard(req.Site, req.Number, req.Expiry)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_card", err.Error())
		return
	}
	now := s.now()
	vc := store.VaultCard{Token: newToken(), Site: req.Site, Brand: brand, Last4: string(req.Number[len(req.Number)-4:]),
		Number: req.Number, Expiry: req.Expiry, Created: now, Expires: now.Add(s.cfg.Retention)}
	token, created, err := s.cfg.Store.KeepCard(r.Context(), vc, !s.cfg.PerUse)
	if err != nil {
		s.log.Error("vault: card not kept", slog.String("fail_closed", "vault"), slog.Any("err", err))
		writeError(w, http.StatusInternalServerError, "internal", "the card was not kept")
		return
	}
	detail := "site " + req.Site + ", existing token"
	if created {
		detail = "site " + req.Site + ", new token"
	}
	if err := s.record(r, c.Name, audit.ActionCardTokenize, audit.Success, token, detail); err != nil {
		// Kept but unrecorded: take back what this call made.
		if created {
			s.cfg.Store.DropCard(r.Context(), token)
		}
		writeError(w, http.StatusInternalServerError, "internal", "the audit trail could not record the call")
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, tokenReply{Token: token, Brand: brand, Last4: vc.Last4, Created: created, ExpiresAt: vc.Expires.UTC()})
}

// drop serves DELETE /v1/tokens/{token}.
func (s *Server) drop(w http.ResponseWriter, r *http.Request) {
	token := chi.URLParam(r, "token")
	c, ok := s.allow(w, r, RoleTokenize, token)
	if !ok {
		return
	}
	if !ValidToken(token) {
		writeError(w, http.StatusBadRequest, "bad_request", "not a token")
		return
	}
	err := s.cfg.Store.DropCard(r.Context(), token)
	switch {
	case errors.Is(err, store.ErrNoCard):
		s.record(r, c.Name, audit.ActionCardDelete, audit.Failure, token, "unknown token")
		writeError(w, http.StatusNotFound, "unknown_token", "no card has this token")
		return
	case err != nil:
		s.log.Error("vault: card not dropped", slog.Any("err", err))
		writeError(w, http.StatusInternalServerError, "internal", "the card was not dropped")
		return
	}
	s.record(r, c.Name, audit.ActionCardDelete, audit.Success, token, "")
	w.WriteHeader(http.StatusNoContent)
}

// detokenize serves POST /v1/detokenize: the card of a token, to a payment
// processor, recorded before it is sent.
func (s *Server) detokenize(w http.ResponseWriter, r *http.Request) {
	c, ok := s.allow(w, r, RoleDetokenize, "")
	if !ok {
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if !ValidToken(req.Token) {
		writeError(w, http.StatusBadRequest, "bad_request", "not a token")
		return
	}
	vc, err := s.cfg.Store.Card(r.Context(), req.Token, s.now())
	defer func() { clear(vc.Number); clear(vc.Expiry) }()
	switch {
	case errors.Is(err, store.ErrNoCard):
		s.record(r, c.Name, audit.ActionCardDetokenize, audit.Failure, req.Token, "unknown or expired token")
		writeError(w, http.StatusNotFound, "unknown_token", "no card has this token (or it expired)")
		return
	case err != nil:
		s.log.Error("vault: card not read", slog.String("fail_closed", "vault"), slog.Any("err", err))
		writeError(w, http.StatusInternalServerError, "internal", "the card could not be read")
		return
	}
	if err := s.record(r, c.Name, audit.ActionCardDetokenize, audit.Success, req.Token, "site "+vc.Site); err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "the audit trail could not record the call")
		return
	}
	// Written by hand into a buffer wiped after, so the number is in no
	// string; checkCard allowed only digits and '/', ' ', '-' in them.
	var b bytes.Buffer
	defer func() { clear(b.Bytes()[:b.Cap()]) }()
	b.Grow(512 + len(vc.Number) + len(vc.Expiry)) // one buffer: no grown-out copy left unwiped
	meta, _ := json.Marshal(struct {
		Token     string    `json:"token"`
		Site      string    `json:"site"`
		Brand     string    `json:"brand"`
		Last4     string    `json:"last4"`
		ExpiresAt time.Time `json:"expires_at"`
	}{vc.Token, vc.Site, vc.Brand, vc.Last4, vc.Expires.UTC()})
	b.Write(meta[:len(meta)-1])
	b.WriteString(`,"number":"`)
	b.Write(vc.Number)
	b.WriteString(`","expiry":"`)
	b.Write(vc.Expiry)
	b.WriteString("\"}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
}

// allow authenticates r for role; a refusal is answered and recorded.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, role Role, target string) (*Client, bool) {
	c, who, err := s.authenticate(r, role)
	if err == nil {
		return c, true
	}
	s.record(r, who, audit.ActionDenied, audit.Denied, target, string(role)+": "+err.Error())
	if errors.Is(err, errForbidden) {
		writeError(w, http.StatusForbidden, "forbidden", err.Error())
	} else {
		writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
	}
	return nil, false
}

// record appends a record of a call to the audit trail.
func (s *Server) record(r *http.Request, actor, action, outcome, target, detail string) error {
	src := r.RemoteAddr
	if host, _, err := net.SplitHostPort(src); err == nil {
		src = host
	}
	return s.cfg.Audit.Record(r.Context(), audit.Event{Actor: actor, Action: action, Outcome: outcome, Source: src, Target: target, Detail: detail})
}

// checkCard checks what the gateway sends: a site name, a card number of
// digits only that passes Luhn, and an expiry of digits and separators. It
// returns the brand ("Unknown" for an unlisted range). Its errors never hold
// the number.
func checkCard(site string, number, expiry []byte) (string, error) {
	if !validSite(site) {
		return "", errors.New("site: want 1 to 64 letters, digits, '.', '_' or '-'")
	}
	if len(number) < 12 || len(number) > 19 {
		return "", fmt.Errorf("number: want 12 to 19 digits, got %d characters", len(number))
	}
	values := make([]byte, len(number))
	defer clear(values)
	for i, d := range number {
		if d < '0' || d > '9' {
			return "", errors.New("number: digits only")
		}
		values[i] = d - '0'
	}
	if !card.LuhnValues(values) {
		return "", errors.New("number: check digit is wrong")
	}
	if len(expiry) > 7 {
		return "", errors.New("expiry: want MM/YY or MM/YYYY")
	}
	for _, c := range expiry {
		if (c < '0' || c > '9') && c != '/' && c != ' ' && c != '-' {
			return "", errors.New("expiry: want MM/YY or MM/YYYY")
		}
	}
	if b, ok := card.DetectValues(values); ok {
		return b.Name, nil
	}
	return "Unknown", nil
}

func validSite(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// readJSON decodes a bounded JSON body into v, answering a bad one; the
// body's buffer is wiped after.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	defer clear(body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("a request body is at most %d bytes", maxBody))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_request", "the request body could not be read")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// The decoder's message may quote the input: say only what is wrong.
		writeError(w, http.StatusBadRequest, "bad_request", "the request body is not the JSON object docs/vault.md describes")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
