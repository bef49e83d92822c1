package secure

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/redact"
)

// Outcome statuses.
const (
	StatusAccepted = "accepted"
	StatusDeclined = "declined"
	StatusError    = "error"
)

// Outcome is what a secure session ends with: all an agent may learn.
type Outcome struct {
	TransactionID string `json:"transaction_id"`
	Status        string `json:"status"`            // accepted, declined or error
	Details       string `json:"details,omitempty"` // from the service ('|' removed), or the error
	Brand         string `json:"brand,omitempty"`   // of the card, if the form had one
	Last4         string `json:"last4,omitempty"`   // of the card, if the form had one
	// Token is the card's token in the vault, with a vault configured and a
	// card in the form. A token this session created for a card that was
	// not accepted is dropped from the vault, and Token is empty then.
	Token string `json:"token,omitempty"`
}

// Result is the result string reported to the agent side:
// "transactionId ApprovalValue ApprovalResult\n", every '|' removed.
func (o Outcome) Result() string {
	return fmt.Sprintf("%s %s %s\n", o.TransactionID, o.Status, o.Details)
}

// Request is one secure session's input: the form's fields, the values the
// customer typed, the values the agent filled in (or the lookup service
// filled for them), and the attributes of the form and of the interaction.
type Request struct {
	Form     string
	Fields   []Field
	Customer map[string]Value
	Agent    map[string]string
	// Attributes are posted as attr.NAME, after the fields and sorted by
	// name, so they never collide with a field id (CheckAttributes' rules).
	Attributes map[string]string
}

// ErrFields is wrapped by Validate's error when a field fails its rules;
// the caller asks the customer again; errors.As gives the FieldErrors.
var ErrFields = errors.New("secure: some fields are not valid")

// FieldErrors is the error of a request whose fields failed their rules.
type FieldErrors []*FieldError

func (e FieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, fe := range e {
		parts[i] = fe.Error()
	}
	return "secure: " + strings.Join(parts, "; ")
}

func (e FieldErrors) Unwrap() error { return ErrFields }

// Pipeline runs secure sessions against the validation web service. It is
// safe for concurrent use.
type Pipeline struct {
	client  *Client
	log     *slog.Logger
	now     func() time.Time
	details *redact.Engine
	vault   *Vault
}

// PipelineConfig configures a Pipeline.
type PipelineConfig struct {
	// Client posts to the validation web service (required).
	Client *Client
	// Logger receives the session events (transaction id, form, outcome),
	// never a value.
	Logger *slog.Logger
	// Details, if set, masks whatever the validation service put in its
	// details before they reach the agent and the transcript: a service
	// that echoes the card number must not leak it.
	Details *redact.Engine
	// Vault, if set, keeps every card in the card vault before the
	// validation call: its number and the form's expiry, never the
	// security code. If the vault cannot keep it, the session ends with an
	// error outcome and nothing is posted (fail closed). With
	// VaultConfig.SendToken the card number's param carries the token
	// instead of the number.
	Vault *Vault
}

// NewPipeline returns a pipeline posting to cfg.Client.
func NewPipeline(cfg PipelineConfig) *Pipeline {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{client: cfg.Client, log: logger, now: time.Now, details: cfg.Details, vault: cfg.Vault}
}

// Validate runs one secure session: Begin (a transaction id), Info Insert
// (the agent's values), the checks of every field (the browser is never
// trusted), the card kept in the vault (if one is configured), Info
// Validate (the POST) and End. It wipes the customer's values
// before it returns, whatever happens. A request whose fields fail their
// rules returns FieldErrors and no outcome, so the customer can correct it;
// every other failure is an outcome with status error.
func (p *Pipeline) Validate(ctx context.Context, req Request) (Outcome, error) {
	defer func() {
		for k, v := range req.Customer {
			v.Wipe()
			delete(req.Customer, k)
		}
	}()
	if errs := Check(req.Fields, req.Customer, req.Agent, p.now()); len(errs) > 0 {
		return Outcome{}, FieldErrors(errs)
	}
	if err := CheckAttributes(req.Attributes); err != nil {
		// A bad attribute is the gateway's fault, not the customer's: an
		// error outcome, nothing posted.
		out := Outcome{TransactionID: newTransactionID(), Status: StatusError, Details: err.Error()}
		p.log.Warn("secure: session refused", slog.String("transaction", out.TransactionID), slog.String("form", req.Form),
			slog.Any("err", err))
		return out, nil
	}
	out := Outcome{TransactionID: newTransactionID()}
	params := []Param{{Name: "transactionId", Plain: out.TransactionID}, {Name: "form", Plain: req.Form}}
	for _, f := range req.Fields {
		if f.AgentFills {
			params = append(params, Param{Name: f.ID, Plain: req.Agent[f.ID]})
			continue
		}
		v := req.Customer[f.ID]
		params = append(params, Param{Name: f.ID, Value: v, secure: true})
		if f.Kind == KindCardNumber && !v.IsZero() {
			digits := card.Digits(v.text())
			if b, ok := card.Detect(digits); ok {
				out.Brand = b.Name
			}
			out.Last4 = card.Last4(digits)
		}
	}
	kept, keptField, expiry, err := p.keep(ctx, req)
	if err != nil {
		out.Status, out.Details = StatusError, "card vault unavailable"
		p.log.Warn("secure: session refused: card vault unavailable", slog.String("transaction", out.TransactionID),
			slog.String("form", req.Form), slog.String("fail_closed", "vault"), slog.Any("err", err))
		return out, nil
	}
	out.Token = kept.Token
	if kept.Token != "" && p.vault.sendToken {
		for i := range params {
			if params[i].secure && params[i].Name == keptField {
				params[i] = Param{Name: keptField, Plain: kept.Token}
			}
		}
	}
	params = append(params, AttributeParams(req.Attributes)...)
	p.log.Info("secure: session begin", slog.String("transaction", out.TransactionID), slog.String("form", req.Form))
	status, details, err := p.client.post(ctx, params)
	if err != nil {
		out.Status, out.Details = StatusError, err.Error()
	} else {
		out.Status, out.Details = status, details
	}
	if out.Token != "" {
		p.confirm(ctx, &out, expiry)
	}
	out.Details = cleanDetails(out.Details)
	if p.details != nil {
		res, _ := p.details.Redact(out.Details) // fails closed: fully masked
		out.Details = res.Text
	}
	p.log.Info("secure: session end", slog.String("transaction", out.TransactionID), slog.String("form", req.Form),
		slog.String("status", out.Status))
	return out, nil
}

// keep keeps the request's card in the vault, pending until confirm: the
// first card number field with a value (its id is returned) and the first
// expiry field with a value (none: zero), which is returned for confirm. No
// vault or no card: nothing to keep, no error.
func (p *Pipeline) keep(ctx context.Context, req Request) (kept vaultToken, field string, expiry Value, err error) {
	if p.vault == nil {
		return vaultToken{}, "", Value{}, nil
	}
	var number Value
	for _, f := range req.Fields {
		switch {
		case f.Kind == KindCardNumber && !f.AgentFills && number.IsZero():
			number, field = req.Customer[f.ID], f.ID
		case f.Kind == KindExpiry && expiry.IsZero():
			if f.AgentFills {
				expiry = NewValue(req.Agent[f.ID]) // plain already
			} else {
				expiry = req.Customer[f.ID]
			}
		}
	}
	if number.IsZero() {
		return vaultToken{}, "", Value{}, nil
	}
	if kept, err = p.vault.keep(ctx, number, expiry); err != nil {
		return vaultToken{}, "", Value{}, err
	}
	return kept, field, expiry, nil
}

// confirm ends the vault's part of a session: an accepted card is kept for
// good (its expiry as the customer gave it this time); any other outcome
// leaves the card pending, and the vault forgets it after a few minutes
// unless another session confirms it (docs/vault.md). The token is in the
// outcome only when the card is kept. A failed confirmation runs even when
// ctx is done (the vault call has its own timeout) and is logged; the
// outcome stays accepted, without a token.
func (p *Pipeline) confirm(ctx context.Context, out *Outcome, expiry Value) {
	if out.Status != StatusAccepted {
		out.Token = ""
		return
	}
	if err := p.vault.confirm(context.WithoutCancel(ctx), out.Token, expiry); err != nil {
		out.Token = ""
		p.log.Error("secure: an accepted card could not be kept in the vault", slog.String("transaction", out.TransactionID),
			slog.String("fail_closed", "vault"), slog.Any("err", err))
	}
}

// cleanDetails removes '|' (the result string's reserved character) and
// keeps the details on one line.
func cleanDetails(s string) string {
	s = strings.ReplaceAll(s, "|", "")
	return strings.Join(strings.Fields(s), " ")
}

func newTransactionID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "T" + strings.ToUpper(hex.EncodeToString(b))
}
