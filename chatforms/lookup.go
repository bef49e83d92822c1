package chatforms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/secureinput/gateway/secure"
)

// Errors of a form with a lookup service.
var (
	ErrLookupPending = errors.New("chatforms: the form's lookup has not answered; open the form again")
	ErrReadOnly      = errors.New("chatforms: a read-only field differs from the looked-up value")
)

// LookupAttributePrefix starts the names of the attributes a lookup
// service answered, in the validation request.
const LookupAttributePrefix = "lookup."

// Interactions gives the attributes of a live conversation: its page and
// the website's attributes (chat.Hub's side of the wiring).
type Interactions interface {
	Interaction(conversation string) Interaction
}

// Draft is a form the agent is about to send: the agent fields as the
// lookup filled them, which of them are read-only, and whether it may be
// sent. When it may not, Reasons say why, for the agent (never a value).
type Draft struct {
	Form     string            `json:"form"`
	Values   map[string]string `json:"values"`
	ReadOnly []string          `json:"read_only"`
	Ready    bool              `json:"ready"`
	Reasons  []string          `json:"reasons,omitempty"`
}

// draft is what the Desk keeps of a successful lookup until the request.
type draft struct {
	form   string
	values map[string]string // looked up, redacted
	attrs  map[string]string // the lookup's attributes
}

// interaction is the interaction of a live conversation of workgroup.
func (d *Desk) interaction(conversation, workgroup string) Interaction {
	var in Interaction
	if d.cfg.Interactions != nil {
		in = d.cfg.Interactions.Interaction(conversation)
	}
	in.Attributes = maps.Clone(in.Attributes)
	if in.Attributes == nil {
		in.Attributes = map[string]string{}
	}
	d.mu.Lock()
	site := d.sites[conversation]
	d.mu.Unlock()
	maps.Copy(in.Attributes, site.Attributes)
	if len(site.Unverified) > 0 {
		in.Unverified = maps.Clone(site.Unverified)
	}
	if _, ok := in.Attributes[AttrWorkgroup]; !ok {
		in.Attributes[AttrWorkgroup] = workgroup
	}
	return in
}

// Identify attaches the attributes a website gave its visitor to a
// conversation: verified with the secret of the site page is on (its
// origin), they are site.NAME attributes; without a good signature they are
// kept apart as unverified, and Identify says why. Attributes that break
// the attribute rules are dropped.
func (d *Desk) Identify(conversation, page string, attrs map[string]string, expires int64, signature string) error {
	var in Interaction
	err := SiteInteraction(&in, d.cfg.SiteSecrets[siteOrigin(page)], attrs, expires, signature, d.cfg.Now())
	if errors.Is(err, secure.ErrAttribute) {
		return err
	}
	d.mu.Lock()
	d.sites[conversation] = in
	d.mu.Unlock()
	if err != nil {
		d.log.Warn("chatforms: website attributes not verified", slog.String("conversation", conversation), slog.Any("err", err))
	}
	return err
}

// siteOrigin is the origin (scheme://host[:port]) of a page's address.
func siteOrigin(page string) string {
	scheme, rest, ok := strings.Cut(page, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	return strings.ToLower(scheme + "://" + host)
}

// Prepare is the agent opening form in the conversation they handle, with
// the values they have typed so far: it runs the form's lookup (if any),
// fills the agent fields from the answer and says whether the form may be
// sent. A failed lookup fills nothing and gives its reason. Prepare errs
// only when the agent may not use the form at all.
func (d *Desk) Prepare(ctx context.Context, agent, conversation, form string, agentValues map[string]string) (Draft, error) {
	wg, err := d.handling(conversation, agent)
	if err != nil {
		return Draft{}, err
	}
	f, err := d.cfg.Catalog.Authorize(agent, form, wg)
	if err != nil {
		return Draft{}, err
	}
	dr := Draft{Form: f.Name, Values: map[string]string{}, ReadOnly: []string{}}
	for _, fl := range f.AgentFields() {
		if fl.ReadOnly {
			dr.ReadOnly = append(dr.ReadOnly, fl.ID)
		} else {
			dr.Values[fl.ID] = agentValues[fl.ID]
		}
	}
	d.forgetDraft(conversation)
	attrs, err := f.attributes(d.interaction(conversation, wg))
	if err != nil {
		dr.Reasons = append(dr.Reasons, reason(err))
		return dr, nil
	}
	if f.Lookup != nil {
		res, err := f.Lookup.Do(ctx, f.Fields, secure.LookupRequest{Form: f.Name, Attributes: attrs, Values: maps.Clone(dr.Values)})
		if err != nil {
			d.log.Warn("chatforms: lookup failed", slog.String("conversation", conversation), slog.String("form", f.Name),
				slog.Any("err", err))
			dr.Reasons = append(dr.Reasons, reason(err))
			return dr, nil
		}
		if res.Masked > 0 {
			d.log.Info("chatforms: lookup answer masked", slog.String("conversation", conversation), slog.String("form", f.Name),
				slog.Int("masked", res.Masked))
		}
		for id, v := range res.Values {
			dr.Values[id] = v
		}
		d.mu.Lock()
		d.drafts[conversation] = draft{form: f.Name, values: res.Values, attrs: res.Attributes}
		d.mu.Unlock()
	}
	for _, fe := range secure.Check(f.AgentFields(), nil, dr.Values, d.cfg.Now()) {
		dr.Reasons = append(dr.Reasons, fe.Error())
	}
	dr.Ready = len(dr.Reasons) == 0
	return dr, nil
}

// reason is an error as the agent reads it.
func reason(err error) string {
	if errors.Is(err, ErrNotReady) {
		_, msg, _ := strings.Cut(err.Error(), ErrNotReady.Error()+": ")
		return msg
	}
	var fe *secure.FieldError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	msg := err.Error()
	for _, p := range []string{"chatforms: ", "secure: "} {
		if len(msg) > len(p) && msg[:len(p)] == p {
			msg = msg[len(p):]
		}
	}
	return msg
}

// completeRequest gives a request of f its attributes, and, for a form
// with a lookup, the looked-up values: a read-only field keeps the
// looked-up value (an agent's other value is refused), an editable one the
// agent's value or else the looked-up one. Without a successful lookup the
// form cannot be sent.
func (d *Desk) completeRequest(conversation, workgroup string, f Form, agentValues map[string]string) (map[string]string, map[string]string, error) {
	attrs, err := f.attributes(d.interaction(conversation, workgroup))
	if err != nil {
		return nil, nil, err
	}
	if f.Lookup == nil {
		return agentValues, attrs, nil
	}
	d.mu.Lock()
	dr, ok := d.drafts[conversation]
	d.mu.Unlock()
	if !ok || dr.form != f.Name {
		return nil, nil, ErrLookupPending
	}
	values := map[string]string{}
	for _, fl := range f.AgentFields() {
		looked, has := dr.values[fl.ID]
		v := agentValues[fl.ID]
		switch {
		case fl.ReadOnly && v != "" && v != looked:
			return nil, nil, fmt.Errorf("%w: %s", ErrReadOnly, fl.ID)
		case fl.ReadOnly || (v == "" && has):
			v = looked
		}
		if v != "" {
			values[fl.ID] = v
		}
	}
	for n, v := range dr.attrs {
		attrs[LookupAttributePrefix+n] = v
	}
	if err := secure.CheckAttributes(attrs); err != nil {
		return nil, nil, fmt.Errorf("chatforms: form %q: %w", f.Name, err)
	}
	return values, attrs, nil
}

func (d *Desk) forgetDraft(conversation string) {
	d.mu.Lock()
	delete(d.drafts, conversation)
	d.mu.Unlock()
}

// ErrNotReady is wrapped by Ready's error when a form's lookup fails; the
// error's text is the reason, for the agent.
var ErrNotReady = errors.New("chatforms: the form is not ready to send")

// Ready is what a form sent outside a chat (a secure session on a call)
// starts with, with no state kept between opening and sending: it runs
// f's lookup, if any, for the interaction, and returns the agent values
// (read-only fields as looked up, an empty editable one filled) and the
// attributes. A failed lookup is ErrNotReady with its reason, a changed
// read-only field ErrReadOnly, an unfilled or invalid field FieldErrors.
func Ready(ctx context.Context, f Form, in Interaction, agentValues map[string]string, now time.Time) (values, attrs map[string]string, err error) {
	attrs, err = f.attributes(in)
	if err != nil {
		return nil, nil, err
	}
	values = map[string]string{}
	for _, fl := range f.AgentFields() {
		if v := agentValues[fl.ID]; v != "" {
			values[fl.ID] = v
		}
	}
	if f.Lookup != nil {
		res, err := f.Lookup.Do(ctx, f.Fields, secure.LookupRequest{Form: f.Name, Attributes: attrs, Values: maps.Clone(values)})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s", ErrNotReady, reason(err))
		}
		for _, fl := range f.AgentFields() {
			looked, has := res.Values[fl.ID]
			v := values[fl.ID]
			switch {
			case fl.ReadOnly && v != "" && v != looked:
				return nil, nil, fmt.Errorf("%w: %s", ErrReadOnly, fl.ID)
			case has && (fl.ReadOnly || v == ""):
				values[fl.ID] = looked
			}
		}
		for n, v := range res.Attributes {
			attrs[LookupAttributePrefix+n] = v
		}
		if err := secure.CheckAttributes(attrs); err != nil {
			return nil, nil, fmt.Errorf("%w: %s", ErrNotReady, reason(err))
		}
	}
	if errs := secure.Check(f.AgentFields(), nil, values, now); len(errs) > 0 {
		return values, attrs, secure.FieldErrors(errs)
	}
	return values, attrs, nil
}

// Preview is Ready as the agent sees it before sending: the agent fields
// as the lookup filled them, the read-only ones, and the reasons the form
// may not be sent yet. It keeps nothing; Ready runs again when it is sent.
func Preview(ctx context.Context, f Form, in Interaction, agentValues map[string]string, now time.Time) Draft {
	dr := Draft{Form: f.Name, Values: map[string]string{}, ReadOnly: []string{}}
	for _, fl := range f.AgentFields() {
		if fl.ReadOnly {
			dr.ReadOnly = append(dr.ReadOnly, fl.ID)
		}
	}
	values, _, err := Ready(ctx, f, in, agentValues, now)
	var fe secure.FieldErrors
	switch {
	case err == nil:
		dr.Values, dr.Ready = values, true
	case errors.As(err, &fe):
		dr.Values = values
		for _, e := range fe {
			dr.Reasons = append(dr.Reasons, e.Error())
		}
	default:
		dr.Reasons = []string{reason(err)}
	}
	return dr
}
