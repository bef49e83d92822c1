package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/identity"
	"github.com/secureinput/gateway/mail"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/store"
	"github.com/secureinput/gateway/web"
)

// formsConfig is the chatforms configuration of the file; engine redacts
// the lookup answers, and secret reads a secret attribute (nil leaves them
// empty, for checks).
func (c *config) formsConfig(engine *redact.Engine, secret func(env, file string) (string, error)) (chatforms.Config, error) {
	fc := chatforms.Config{
		WorkgroupRights: map[string][]chatforms.Right{},
		AgentRights:     map[string][]chatforms.Right{},
		AgentWorkgroups: map[string][]string{},
		Canned:          map[string][]chatforms.Canned{},
	}
	for _, f := range c.Forms {
		form, err := f.form(engine, secret)
		if err != nil {
			return fc, err
		}
		fc.Forms = append(fc.Forms, form)
	}
	for _, w := range c.Workgroups {
		for _, r := range w.Rights {
			fc.WorkgroupRights[w.Name] = append(fc.WorkgroupRights[w.Name], chatforms.Right(r))
		}
		for _, cr := range w.Canned {
			fc.Canned[w.Name] = append(fc.Canned[w.Name], chatforms.Canned{Title: cr.Title, Text: cr.Text, Form: cr.Form})
		}
	}
	for _, a := range c.Agents {
		fc.AgentWorkgroups[a.Login] = a.Workgroups
		for _, r := range a.Rights {
			fc.AgentRights[a.Login] = append(fc.AgentRights[a.Login], chatforms.Right(r))
		}
	}
	return fc, nil
}

// form is the chatforms form of a form of the file, with its lookup client
// (redacting with engine) and its secret attributes read by secret (left
// empty if secret is nil).
func (f formDef) form(engine *redact.Engine, secret func(env, file string) (string, error)) (chatforms.Form, error) {
	form := chatforms.Form{Name: f.Name, Title: f.Title, Description: f.Description, Workgroups: f.Workgroups,
		InteractionAttributes: f.InteractionAttributes, RequireVerified: f.RequireVerified}
	if len(f.Attributes) > 0 || len(f.SecretAttributes) > 0 {
		form.Attributes = map[string]string{}
	}
	for _, a := range f.Attributes {
		form.Attributes[a.Name] = a.Value
	}
	for _, sa := range f.SecretAttributes {
		v := ""
		if secret != nil {
			var err error
			if v, err = secret(sa.Env, sa.File); err != nil {
				return form, fmt.Errorf("form %q: secret attribute %q: %w", f.Name, sa.Name, err)
			}
		}
		form.Attributes[sa.Name] = v
	}
	if l := f.Lookup; l != nil {
		lk, err := secure.NewLookup(secure.LookupConfig{Redact: engine, ClientConfig: secure.ClientConfig{URL: l.URL,
			Timeout: time.Duration(l.Timeout), CADir: l.CADir, ClientCert: l.ClientCert, ClientKey: l.ClientKey}})
		if err != nil {
			return form, fmt.Errorf("form %q: lookup: %w", f.Name, err)
		}
		form.Lookup = lk
	}
	if form.Title == "" {
		form.Title = f.Name
	}
	for _, fl := range f.Fields {
		name := fl.Name
		if name == "" {
			name = fl.ID
		}
		form.Fields = append(form.Fields, secure.Field{ID: fl.ID, Name: name, Kind: secure.Kind(fl.Kind), AgentFills: fl.AgentFills,
			Optional: fl.Optional, Brands: fl.Brands, ReadOnly: fl.ReadOnly})
	}
	return form, nil
}

// ingestConfig is the mail configuration of a mailbox; secret resolves a
// password (nil leaves them empty, for checks).
func (m mailboxDef) ingestConfig(secret func(accountDef) (string, error)) mail.MailboxConfig {
	ep := func(a accountDef) mail.Endpoint {
		e := mail.Endpoint{Addr: a.Address, TLS: a.TLS, Username: a.Username}
		if a.OAuth2 != nil {
			// A wrong mechanism is reported by checkAccountLogin, at its key.
			e.Mechanism = mail.MechXOAUTH2
			if a.OAuth2.mechanism() == mail.MechOAUTHBEARER {
				e.Mechanism = mail.MechOAUTHBEARER
			}
		} else if secret != nil {
			e.Password, _ = secret(a)
		}
		return e
	}
	mc := mail.MailboxConfig{Name: m.Name, Source: ep(m.Source), SourceFolder: m.SourceFolder, DestFolder: m.DestFolder,
		After: m.After, MoveTo: m.MoveTo, Poll: time.Duration(m.Poll), FailedKeyword: m.FailedKeyword, Unparsable: m.Unparsable}
	if m.Destination != nil {
		d := ep(*m.Destination)
		mc.Dest = &d
	}
	return mc
}

// durabilities maps the durability key's values to the store's setting.
var durabilities = map[string]store.Durability{
	"":              store.SurvivesPowerLoss,
	"power_loss":    store.SurvivesPowerLoss,
	"process_crash": store.SurvivesProcessCrash,
}

// displays are the display styles of chat and mail (checked already).
func (c *config) displays() (chat, mail redact.Display) {
	chat, _ = redact.ParseDisplay(c.Redaction.Display.Chat)
	mail, _ = redact.ParseDisplay(c.Redaction.Display.Mail)
	return chat, mail
}

// redactConfig is the engine configuration of the redaction section.
func (c *config) redactConfig() redact.Config {
	rc := redact.DefaultConfig()
	if c.Redaction.Default != nil {
		rc.Default = *c.Redaction.Default
	}
	rc.Additional = c.Redaction.Expressions
	if c.Redaction.Timeout > 0 {
		rc.Timeout = time.Duration(c.Redaction.Timeout)
	}
	return rc
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// chatServices are the services of the configuration, as the hub takes them.
func (c *config) chatServices() []chat.Service {
	var out []chat.Service
	for _, s := range c.Services {
		hours, _ := chat.ParseHours(s.Hours, s.Timezone) // checked by check
		out = append(out, chat.Service{Name: s.Name, Title: s.Title, Workgroup: s.Workgroup, Greeting: s.Greeting, Hours: hours})
	}
	return out
}

// chatAgents are the agents of the configuration, as the hub takes them; an
// agent without a name is shown by login.
func (c *config) chatAgents() []chat.Agent {
	var out []chat.Agent
	for _, a := range c.Agents {
		name := a.Name
		if name == "" {
			name = a.Login
		}
		out = append(out, chat.Agent{Login: a.Login, Name: name, Workgroups: a.Workgroups})
	}
	return out
}

// bootstrap are the file's agents, as identity seeds accounts from them.
func (c *config) bootstrap() []identity.Bootstrap {
	var out []identity.Bootstrap
	for _, a := range c.Agents {
		out = append(out, identity.Bootstrap{Login: a.Login, Name: a.Name, PasswordHash: a.PasswordHash, Workgroups: a.Workgroups, Rights: a.Rights})
	}
	return out
}

// useAccounts makes the agents those of the store (the file's, seeded by
// bootstrap, and those added with gateway users), for the hub and the
// forms' rights. A right the gateway does not know is dropped.
func (c *config) useAccounts(accts []identity.Account) {
	c.Agents = nil
	for _, a := range accts {
		var rights []string
		for _, r := range a.Rights {
			if slices.Contains(chatforms.AllRights, chatforms.Right(r)) {
				rights = append(rights, r)
			}
		}
		c.Agents = append(c.Agents, agentDef{Login: a.Login, Name: a.Name, Workgroups: a.Workgroups, Rights: rights})
	}
}

// trustedProxies are the trusted_proxies entries as prefixes: an address
// is a prefix of one.
func (c *config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%s is not an address or a CIDR prefix (like 10.0.0.0/8)", quoteValue(s))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s is not an address or a CIDR prefix (like 10.0.0.0/8)", quoteValue(s))
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// webLimits are the abuse limits of the limits section.
func (l limitsConfig) webLimits() web.Limits {
	return web.Limits{LoginsPerMinute: l.LoginsPerMinute, LoginBurst: l.LoginBurst,
		ConversationsPerMinute: l.ConversationsPerMinute, ConversationBurst: l.ConversationBurst,
		SocketsPerSource: l.SocketsPerSource}
}
