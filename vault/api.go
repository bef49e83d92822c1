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
	"reflect"
	"strings"
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
	r.Post("/v1/tokens/{token}/confirm", s.confirm)
	r.Post("/v1/detokenize", s.detokenize)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint (docs/vault.md)")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
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
	clear(*p) // a key given twice: the first value is wiped too
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

// tokenize serves POST /v1/tokens: the card is kept pending (PendingTTL)
// until confirm, or its existing token is given; the record is written in
// the same transaction as the card.
func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) {
	c, ok := s.allow(w, r, RoleTokenize, "")
	if !ok {
		return
	}
	var req tokenizeRequest
	defer func() { clear(req.Number); clear(req.Expiry) }()
	if !s.readJSON(w, r, c, audit.ActionCardTokenize, &req) {
		return
	}
	brand, err := checkCard(req.Site, req.Number, req.Expiry)
	if err != nil {
		s.record(r, c.Name, audit.ActionCardTokenize, audit.Failure, "", "invalid card: "+err.Error())
		writeError(w, http.StatusBadRequest, "invalid_card", err.Error())
		return
	}
	now := s.now()
	vc := store.VaultCard{Token: newToken(), Site: req.Site, Brand: brand, Last4: string(req.Number[len(req.Number)-4:]),
		Number: req.Number, Expiry: req.Expiry, Created: now, Expires: now.Add(PendingTTL)}
	src := source(r)
	token, created, err := s.cfg.Store.KeepCard(r.Context(), vc, !s.cfg.PerUse, func(token string, created bool) store.AuditRecord {
		detail := "site " + req.Site + ", existing token"
		if created {
			detail = "site " + req.Site + ", new token, pending"
		}
		return s.cfg.Audit.Prepare(audit.Event{Actor: c.Name, Action: audit.ActionCardTokenize, Outcome: audit.Success,
			Source: src, Target: token, Detail: detail})
	})
	if err != nil {
		s.fail(w, r, c.Name, audit.ActionCardTokenize, "", "the card was not kept", err)
		return
	}
	status, expires := http.StatusOK, vc.Expires
	if created {
		status = http.StatusCreated
	} else if kept, err := s.cfg.Store.Card(r.Context(), token, now); err == nil {
		expires = kept.Expires
		clear(kept.Number)
		clear(kept.Expiry)
	}
	writeJSON(w, status, tokenReply{Token: token, Brand: brand, Last4: vc.Last4, Created: created, ExpiresAt: expires.UTC()})
}

// confirm serves POST /v1/tokens/{token}/confirm: the validation accepted
// the card, which is kept from now for the retention time, with the expiry
// of this session if it has one.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	token := chi.URLParam(r, "token")
	c, ok := s.allow(w, r, RoleTokenize, "")
	if !ok {
		return
	}
	var req struct {
		Expiry secret `json:"expiry"`
	}
	defer func() { clear(req.Expiry) }()
	if !s.readJSON(w, r, c, audit.ActionCardConfirm, &req) {
		return
	}
	if !ValidToken(token) {
		s.record(r, c.Name, audit.ActionCardConfirm, audit.Failure, "", "not a token")
		writeError(w, http.StatusBadRequest, "bad_request", "not a token")
		return
	}
	if err := checkExpiry(req.Expiry); err != nil {
		s.record(r, c.Name, audit.ActionCardConfirm, audit.Failure, token, err.Error())
		writeError(w, http.StatusBadRequest, "invalid_card", err.Error())
		return
	}
	now := s.now()
	expires := now.Add(s.cfg.Retention)
	rec := s.cfg.Audit.Prepare(audit.Event{Actor: c.Name, Action: audit.ActionCardConfirm, Outcome: audit.Success,
		Source: source(r), Target: token, Detail: "kept until " + expires.UTC().Format(time.RFC3339)})
	err := s.cfg.Store.ConfirmCard(r.Context(), token, req.Expiry, expires, now, &rec)
	switch {
	case errors.Is(err, store.ErrNoCard):
		s.record(r, c.Name, audit.ActionCardConfirm, audit.Failure, token, "unknown or expired token")
		writeError(w, http.StatusNotFound, "unknown_token", "no card has this token (or it expired)")
		return
	case err != nil:
		s.fail(w, r, c.Name, audit.ActionCardConfirm, token, "the card was not confirmed", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "expires_at": expires.UTC()})
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
	if !s.readJSON(w, r, c, audit.ActionCardDetokenize, &req) {
		return
	}
	if !ValidToken(req.Token) {
		s.record(r, c.Name, audit.ActionCardDetokenize, audit.Failure, "", "not a token")
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
		s.fail(w, r, c.Name, audit.ActionCardDetokenize, req.Token, "the card could not be read", err)
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
		Kept      bool      `json:"kept"`
		ExpiresAt time.Time `json:"expires_at"`
	}{vc.Token, vc.Site, vc.Brand, vc.Last4, vc.Kept, vc.Expires.UTC()})
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
	return s.cfg.Audit.Record(r.Context(), audit.Event{Actor: actor, Action: action, Outcome: outcome, Source: source(r), Target: target, Detail: detail})
}

// fail answers a failure of the store or the audit trail (nothing was
// done: fail closed), logs it and records it as far as it can.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, actor, action, target, msg string, err error) {
	s.log.Error("vault: "+msg, slog.String("action", action), slog.String("fail_closed", "vault"), slog.Any("err", err))
	s.record(r, actor, action, audit.Failure, target, msg)
	writeError(w, http.StatusInternalServerError, "internal", msg)
}

// source is the address a request came from.
func source(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
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
	if err := checkExpiry(expiry); err != nil {
		return "", err
	}
	if b, ok := card.DetectValues(values); ok {
		return b.Name, nil
	}
	return "Unknown", nil
}

// checkExpiry allows an empty expiry or one of digits and separators.
func checkExpiry(expiry []byte) error {
	if len(expiry) > 7 {
		return errors.New("expiry: want MM/YY or MM/YYYY")
	}
	for _, c := range expiry {
		if (c < '0' || c > '9') && c != '/' && c != ' ' && c != '-' {
			return errors.New("expiry: want MM/YY or MM/YYYY")
		}
	}
	return nil
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

// readJSON decodes a bounded JSON body into v, answering and recording a
// bad one. The body is read into one buffer of the largest size allowed
// and decoded in place (json.Unmarshal keeps no copy), then wiped.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, c *Client, action string, v any) bool {
	buf := make([]byte, maxBody+1)
	defer clear(buf)
	n, err := io.ReadFull(r.Body, buf)
	switch {
	case n > maxBody:
		s.record(r, c.Name, action, audit.Failure, "", "request body too large")
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("a request body is at most %d bytes", maxBody))
		return false
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "bad_request", "the request body could not be read")
		return false
	}
	body := buf[:n]
	if err := json.Unmarshal(body, v); err != nil || !knownFields(body, v) {
		// The decoder's message may quote the input: say only what is wrong.
		s.record(r, c.Name, action, audit.Failure, "", "malformed request body")
		writeError(w, http.StatusBadRequest, "bad_request", "the request body is not the JSON object docs/vault.md describes")
		return false
	}
	return true
}

// knownFields reports whether every key of the JSON object body is a
// field of the struct v points to (only the keys are decoded: no value is
// copied).
func knownFields(body []byte, v any) bool {
	var keys map[string]skip
	if json.Unmarshal(body, &keys) != nil {
		return false
	}
	t := reflect.TypeOf(v).Elem()
	for k := range keys {
		found := false
		for i := 0; i < t.NumField(); i++ {
			if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name == k {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// skip decodes any JSON value into nothing.
type skip struct{}

// UnmarshalJSON implements json.Unmarshaler.
func (*skip) UnmarshalJSON([]byte) error { return nil }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
