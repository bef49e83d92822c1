package secure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/secureinput/gateway/redact"
)

// maxLookupReply bounds the lookup service's answer.
const maxLookupReply = 64 << 10

// ErrLookup is wrapped by every error of a lookup; its text is a reason an
// agent may read (it names no value).
var ErrLookup = errors.New("lookup failed")

// LookupConfig configures the client of a form's lookup service: the same
// URL rule, timeout, CA directory and mutual TLS as the validation service.
type LookupConfig struct {
	ClientConfig
	// Redact masks everything the service answers before anyone sees it
	// (required): a CRM can hold a card number.
	Redact *redact.Engine
}

// Lookup asks a form's lookup service for the values of its agent fields
// before a secure session starts (docs/validation.md#the-lookup-service).
// It is safe for concurrent use.
type Lookup struct {
	url    string
	http   *http.Client
	redact *redact.Engine
}

// NewLookup checks cfg and loads its certificates.
func NewLookup(cfg LookupConfig) (*Lookup, error) {
	if err := checkServiceURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("secure: lookup URL %q: %w", redactURL(cfg.URL), err)
	}
	if cfg.Redact == nil {
		return nil, errors.New("secure: LookupConfig.Redact is required")
	}
	hc, err := newHTTPClient(cfg.ClientConfig)
	if err != nil {
		return nil, err
	}
	return &Lookup{url: cfg.URL, http: hc, redact: cfg.Redact}, nil
}

// LookupRequest is what the lookup service is sent: the form, the
// attributes of the form and of the interaction, and the values the agent
// has typed so far.
type LookupRequest struct {
	Form       string            `json:"form"`
	Attributes map[string]string `json:"attributes"`
	Values     map[string]string `json:"values"`
}

// LookupResult is the lookup service's answer, redacted: values of the
// form's agent fields (by field id) and further attributes for the
// validation request.
type LookupResult struct {
	Values     map[string]string
	Attributes map[string]string
	// Masked counts the values and attributes the redaction engine masked.
	Masked int
}

// lookupReply is the answer's JSON.
type lookupReply struct {
	Values     map[string]string `json:"values"`
	Attributes map[string]string `json:"attributes"`
}

// Do posts req and returns the answer for fields (the form's agent fields),
// every value and attribute passed through the redaction engine. Every
// failure wraps ErrLookup with a reason for the agent; nothing half-read is
// returned. A value that cannot be redacted fails the lookup (fail closed).
func (l *Lookup) Do(ctx context.Context, fields []Field, req LookupRequest) (LookupResult, error) {
	if err := CheckAttributes(req.Attributes); err != nil {
		return LookupResult{}, fmt.Errorf("%w: %w", ErrLookup, err)
	}
	if req.Attributes == nil {
		req.Attributes = map[string]string{}
	}
	if req.Values == nil {
		req.Values = map[string]string{}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return LookupResult{}, fmt.Errorf("%w: encoding the request: %w", ErrLookup, err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return LookupResult{}, fmt.Errorf("%w: request: %w", ErrLookup, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	resp, err := l.http.Do(hr)
	if err != nil {
		return LookupResult{}, fmt.Errorf("%w: lookup service unreachable: %w", ErrLookup, scrubURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return LookupResult{}, fmt.Errorf("%w: lookup service answered HTTP %d", ErrLookup, resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxLookupReply+1))
	if err != nil {
		return LookupResult{}, fmt.Errorf("%w: reading the answer: %w", ErrLookup, scrubURLError(err))
	}
	if len(raw) > maxLookupReply {
		return LookupResult{}, fmt.Errorf("%w: answer larger than %d bytes", ErrLookup, maxLookupReply)
	}
	var reply lookupReply
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&reply); err != nil || dec.More() {
		return LookupResult{}, fmt.Errorf("%w: malformed answer: want a JSON object of string values and attributes", ErrLookup)
	}
	known := map[string]bool{}
	for _, f := range fields {
		known[f.ID] = f.AgentFills
	}
	res := LookupResult{Values: map[string]string{}, Attributes: map[string]string{}}
	for id, v := range reply.Values {
		if !known[id] {
			return LookupResult{}, fmt.Errorf("%w: malformed answer: a value for a field the agent does not fill", ErrLookup)
		}
		masked, n, err := l.mask(v)
		if err != nil {
			return LookupResult{}, err
		}
		res.Values[id], res.Masked = masked, res.Masked+n
	}
	for name, v := range reply.Attributes {
		masked, n, err := l.mask(v)
		if err != nil {
			return LookupResult{}, err
		}
		res.Attributes[name], res.Masked = masked, res.Masked+n
	}
	if err := CheckAttributes(res.Attributes); err != nil {
		return LookupResult{}, fmt.Errorf("%w: malformed answer: %w", ErrLookup, err)
	}
	return res, nil
}

// mask redacts one answered string; 1 if anything was masked.
func (l *Lookup) mask(v string) (string, int, error) {
	if len(v) > MaxAttributeValue {
		return "", 0, fmt.Errorf("%w: malformed answer: a value longer than %d bytes", ErrLookup, MaxAttributeValue)
	}
	res, err := l.redact.Redact(v)
	if err != nil {
		return "", 0, fmt.Errorf("%w: the answer could not be redacted", ErrLookup)
	}
	if len(res.Spans) > 0 {
		return res.Text, 1, nil
	}
	return strings.Clone(res.Text), 0, nil
}
