// Package chatforms owns the secure forms of the chat: their definitions,
// who may send which form into which conversation (rights), canned responses
// that carry a form, and the lifecycle of a form request inside a chat
// (waiting, submitted, accepted, declined, error, cancelled). The values a
// customer types never pass through here: they go straight to the secure
// pipeline.
package chatforms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/secureinput/gateway/secure"
)

// Right is a permission of a user, granted directly or through a workgroup.
type Right string

// Rights, as in the contact-center products this replaces.
const (
	RightSecureInput   Right = "secure_input"          // the /form command is offered
	RightInitiate      Right = "initiate_secure_input" // may start a secure input
	RightSupervisor    Right = "supervisor"            // sees the workgroup's conversations and secure-input counts
	maxFieldsPerForm         = 20
	maxFormsPerCatalog       = 200
)

// AllRights lists every right, for configuration checks.
var AllRights = []Right{RightSecureInput, RightInitiate, RightSupervisor}

// Errors of authorisation and of the request lifecycle. They name what is
// missing, never a value.
var (
	ErrNoSecureInput  = errors.New("chatforms: you do not have the secure input right")
	ErrNoInitiate     = errors.New("chatforms: you do not have the initiate secure input right")
	ErrNoAccess       = errors.New("chatforms: the form belongs to a workgroup you have no access to")
	ErrNotForService  = errors.New("chatforms: the form is not assigned to this conversation's workgroup")
	ErrUnknownForm    = errors.New("chatforms: no such form")
	ErrUnknownRequest = errors.New("chatforms: no such form request")
	ErrState          = errors.New("chatforms: the form request is not in a state that allows this")
	ErrBusy           = errors.New("chatforms: a form request is already open in this conversation")
)

// Form is a secure form: its fields in order, the workgroups it is
// assigned to, and what it passes to its lookup and validation services.
type Form struct {
	Name        string         `json:"name"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Fields      []secure.Field `json:"fields"`
	Workgroups  []string       `json:"workgroups"`
	// Attributes are the administrator's key/values of the form, handed
	// to the lookup and the validation service only.
	Attributes map[string]string `json:"-"`
	// InteractionAttributes name the attributes of the chat or call to
	// pass (AttrService, AttrWorkgroup, AttrPage, AttrCaller, AttrAccount,
	// SitePrefix+name).
	InteractionAttributes []string `json:"-"`
	// RequireVerified refuses the form when a website attribute it names
	// is missing or its signature did not verify.
	RequireVerified bool `json:"-"`
	// Lookup, if set, fills the agent fields before the form may be sent.
	Lookup Looker `json:"-"`
}

// Looker asks a lookup service for the agent fields of a form.
// secure.Lookup implements it; its answer is already redacted.
type Looker interface {
	Do(ctx context.Context, fields []secure.Field, req secure.LookupRequest) (secure.LookupResult, error)
}

// CustomerFields are the fields the customer fills, in order.
func (f Form) CustomerFields() []secure.Field {
	var out []secure.Field
	for _, fl := range f.Fields {
		if !fl.AgentFills {
			out = append(out, fl)
		}
	}
	return out
}

// AgentFields are the fields the agent fills, in order.
func (f Form) AgentFields() []secure.Field {
	var out []secure.Field
	for _, fl := range f.Fields {
		if fl.AgentFills {
			out = append(out, fl)
		}
	}
	return out
}

// Canned is a canned response of a workgroup; Form, if set, is requested
// when it is used.
type Canned struct {
	Title string `json:"title"`
	Text  string `json:"text"`
	Form  string `json:"form,omitempty"`
}

// Config is the forms part of the configuration.
type Config struct {
	Forms []Form
	// WorkgroupRights are granted to every member of a workgroup.
	WorkgroupRights map[string][]Right
	// AgentRights are granted to one agent.
	AgentRights map[string][]Right
	// AgentWorkgroups are the workgroups each agent belongs to.
	AgentWorkgroups map[string][]string
	// Canned are the canned responses of each workgroup.
	Canned map[string][]Canned
}

// Catalog answers who may send which form where. It is read-only after New
// and safe for concurrent use.
type Catalog struct {
	cfg   Config
	forms map[string]Form
}

// New checks cfg: unique form names, unique field ids of known kinds, at
// least one customer field a form, known rights, canned responses that name
// existing forms.
func New(cfg Config) (*Catalog, error) {
	if len(cfg.Forms) > maxFormsPerCatalog {
		return nil, fmt.Errorf("chatforms: %d forms; at most %d", len(cfg.Forms), maxFormsPerCatalog)
	}
	c := &Catalog{cfg: cfg, forms: map[string]Form{}}
	for _, f := range cfg.Forms {
		if err := checkForm(f); err != nil {
			return nil, err
		}
		if _, dup := c.forms[f.Name]; dup {
			return nil, fmt.Errorf("chatforms: form %q defined twice", f.Name)
		}
		c.forms[f.Name] = f
	}
	for who, rights := range cfg.WorkgroupRights {
		if err := checkRights(rights); err != nil {
			return nil, fmt.Errorf("chatforms: workgroup %q: %w", who, err)
		}
	}
	for who, rights := range cfg.AgentRights {
		if err := checkRights(rights); err != nil {
			return nil, fmt.Errorf("chatforms: agent %q: %w", who, err)
		}
	}
	for wg, canned := range cfg.Canned {
		for _, cr := range canned {
			if cr.Form != "" {
				if _, ok := c.forms[cr.Form]; !ok {
					return nil, fmt.Errorf("chatforms: canned response %q of workgroup %q: no form %q", cr.Title, wg, cr.Form)
				}
			}
		}
	}
	return c, nil
}

func checkForm(f Form) error {
	if f.Name == "" {
		return errors.New("chatforms: a form has no name")
	}
	if len(f.Fields) == 0 || len(f.Fields) > maxFieldsPerForm {
		return fmt.Errorf("chatforms: form %q: want 1 to %d fields", f.Name, maxFieldsPerForm)
	}
	ids := map[string]bool{}
	customer := 0
	for _, fl := range f.Fields {
		switch {
		case fl.ID == "" || fl.ID == "transactionId" || fl.ID == "form" || strings.HasPrefix(fl.ID, secure.AttributePrefix):
			return fmt.Errorf("chatforms: form %q: field id %q is empty or reserved", f.Name, fl.ID)
		case ids[fl.ID]:
			return fmt.Errorf("chatforms: form %q: field %q defined twice", f.Name, fl.ID)
		case !slices.Contains(secure.Kinds, fl.Kind):
			return fmt.Errorf("chatforms: form %q: field %q: unknown kind %q (kinds: %v)", f.Name, fl.ID, fl.Kind, secure.Kinds)
		}
		ids[fl.ID] = true
		if !fl.AgentFills {
			customer++
		}
		if fl.ReadOnly && (!fl.AgentFills || f.Lookup == nil) {
			return fmt.Errorf("chatforms: form %q: field %q: read_only is for an agent field the lookup fills", f.Name, fl.ID)
		}
	}
	if customer == 0 {
		return fmt.Errorf("chatforms: form %q: no field for the customer to fill", f.Name)
	}
	if err := secure.CheckAttributes(f.Attributes); err != nil {
		return fmt.Errorf("chatforms: form %q: %w", f.Name, err)
	}
	for _, name := range f.InteractionAttributes {
		if !knownInteraction(name) {
			return fmt.Errorf("chatforms: form %q: unknown interaction attribute %q (want %s, %s, %s, %s, %s or %sNAME)",
				f.Name, name, AttrService, AttrWorkgroup, AttrPage, AttrCaller, AttrAccount, SitePrefix)
		}
	}
	return nil
}

func knownInteraction(name string) bool {
	switch name {
	case AttrService, AttrWorkgroup, AttrPage, AttrCaller, AttrAccount:
		return true
	}
	site, ok := strings.CutPrefix(name, SitePrefix)
	return ok && secure.ValidAttributeName(site)
}

func checkRights(rights []Right) error {
	for _, r := range rights {
		if !slices.Contains(AllRights, r) {
			return fmt.Errorf("unknown right %q (rights: %v)", r, AllRights)
		}
	}
	return nil
}

// Rights returns an agent's rights: the union of their own and those of
// each of their workgroups.
func (c *Catalog) Rights(agent string) map[Right]bool {
	out := map[Right]bool{}
	for _, r := range c.cfg.AgentRights[agent] {
		out[r] = true
	}
	for _, wg := range c.cfg.AgentWorkgroups[agent] {
		for _, r := range c.cfg.WorkgroupRights[wg] {
			out[r] = true
		}
	}
	return out
}

// Offered returns the forms an agent may send into a conversation or call
// of the workgroups given (a chat has one, a call all of the agent's), in
// configuration order and each once; none without the secure input right.
func (c *Catalog) Offered(agent string, workgroups ...string) []Form {
	if !c.Rights(agent)[RightSecureInput] {
		return nil
	}
	var out []Form
	for _, f := range c.cfg.Forms {
		if c.allowedIn(agent, f, workgroups) == nil {
			out = append(out, f)
		}
	}
	return out
}

// Authorize checks that agent may request form in a conversation or call
// of the workgroups given and returns the form.
func (c *Catalog) Authorize(agent, form string, workgroups ...string) (Form, error) {
	rights := c.Rights(agent)
	if !rights[RightSecureInput] {
		return Form{}, ErrNoSecureInput
	}
	if !rights[RightInitiate] {
		return Form{}, ErrNoInitiate
	}
	f, ok := c.forms[form]
	if !ok {
		return Form{}, ErrUnknownForm
	}
	if err := c.allowedIn(agent, f, workgroups); err != nil {
		return Form{}, err
	}
	return f, nil
}

// allowedIn reports whether f may be used in one of workgroups: the error
// of the last one tried if none allows it.
func (c *Catalog) allowedIn(agent string, f Form, workgroups []string) error {
	err := ErrNoAccess
	for _, wg := range workgroups {
		if err = c.allowed(agent, f, wg); err == nil {
			return nil
		}
	}
	return err
}

func (c *Catalog) allowed(agent string, f Form, workgroup string) error {
	if !slices.Contains(f.Workgroups, workgroup) {
		return ErrNotForService
	}
	for _, wg := range f.Workgroups {
		if slices.Contains(c.cfg.AgentWorkgroups[agent], wg) {
			return nil
		}
	}
	return ErrNoAccess
}

// Canned returns the canned responses an agent may use in a conversation
// of workgroup: those of the workgroup, without the ones whose form the
// agent may not request.
func (c *Catalog) Canned(agent, workgroup string) []Canned {
	var out []Canned
	for _, cr := range c.cfg.Canned[workgroup] {
		if cr.Form != "" {
			if _, err := c.Authorize(agent, cr.Form, workgroup); err != nil {
				continue
			}
		}
		out = append(out, cr)
	}
	return out
}

// Supervised returns the workgroups an agent supervises.
func (c *Catalog) Supervised(agent string) []string {
	out := []string{}
	if c.Rights(agent)[RightSupervisor] {
		out = append(out, c.cfg.AgentWorkgroups[agent]...)
	}
	return out
}

// Supervises reports whether an agent supervises workgroup.
func (c *Catalog) Supervises(agent, workgroup string) bool {
	return c.Rights(agent)[RightSupervisor] && slices.Contains(c.cfg.AgentWorkgroups[agent], workgroup)
}
