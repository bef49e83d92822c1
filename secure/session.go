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
}

// NewPipeline returns a pipeline posting to cfg.Client.
func NewPipeline(cfg PipelineConfig) *Pipeline {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{client: cfg.Client, log: logger, now: time.Now, details: cfg.Details}
}

// Validate runs one secure session: Begin (a transaction id), Info Insert
// (the agent's values), the checks of every field (the browser is never
// trusted), Info Validate (the POST) and End. It wipes the customer's values
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
	params = append(params, AttributeParams(req.Attributes)...)
	p.log.Info("secure: session begin", slog.String("transaction", out.TransactionID), slog.String("form", req.Form))
	status, details, err := p.client.post(ctx, params)
	if err != nil {
		out.Status, out.Details = StatusError, err.Error()
	} else {
		out.Status, out.Details = status, details
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
