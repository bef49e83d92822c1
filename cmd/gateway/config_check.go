package main

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/mail"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/web"
)

// validator checks the values; the first error wins.
type validator struct {
	file string
	root *yaml.Node
	err  error
}

func (v *validator) failf(path []any, format string, args ...any) {
	if v.err == nil {
		v.err = &configError{file: v.file, line: lineOf(v.root, path), msg: fmt.Sprintf(format, args...)}
	}
}

func (v *validator) check(c *config) {
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			v.failf([]any{"listen"}, "listen %q: want host:port (e.g. :8080 or 127.0.0.1:8080)", c.Listen)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		v.failf([]any{"tls"}, "tls: set both cert and key, or neither")
	}
	for _, f := range []struct{ key, path string }{{"cert", c.TLS.Cert}, {"key", c.TLS.Key}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				v.failf([]any{"tls", f.key}, "tls %s: %v", f.key, err)
			}
		}
	}
	for i, o := range c.AllowedOrigins {
		if o != "*" && (!strings.Contains(o, "://") || strings.HasSuffix(o, "/")) {
			v.failf([]any{"allowed_origins", i}, "allowed origin %q: want scheme://host[:port] (no path) or *", o)
		}
	}
	for i, e := range c.Redaction.Expressions {
		if _, err := redact.New(redact.Config{Additional: []string{e}, Timeout: time.Second}); err != nil {
			v.failf([]any{"redaction", "expressions", i}, "expression %d: %v", i+1, err)
		}
	}
	if _, err := redact.New(c.redactConfig()); err != nil {
		v.failf([]any{"redaction"}, "redaction: %v", err)
	}
	if _, ok := durabilities[c.Durability]; !ok {
		v.failf([]any{"durability"}, "durability %q: want power_loss or process_crash", c.Durability)
	}
	l := c.Limits
	for _, n := range []struct {
		key string
		val float64
	}{
		{"message_bytes", float64(l.MessageBytes)}, {"messages_per_second", l.MessagesPerSecond}, {"burst", float64(l.Burst)},
		{"max_connections", float64(l.MaxConnections)}, {"max_chats_per_agent", float64(l.MaxChatsPerAgent)},
	} {
		if n.val < 0 {
			v.failf([]any{"limits", n.key}, "limits %s: must not be negative", n.key)
		}
	}
	if l.MessageBytes > 1<<20 {
		v.failf([]any{"limits", "message_bytes"}, "limits message_bytes: at most 1048576")
	}

	workgroups := map[string]bool{}
	for i, w := range c.Workgroups {
		switch {
		case w.Name == "":
			v.failf([]any{"workgroups", i}, "workgroup %d: name is required", i+1)
		case workgroups[w.Name]:
			v.failf([]any{"workgroups", i, "name"}, "workgroup %q: defined twice", w.Name)
		}
		workgroups[w.Name] = true
	}
	services := map[string]bool{}
	for i, s := range c.Services {
		switch {
		case s.Name == "":
			v.failf([]any{"services", i}, "service %d: name is required", i+1)
		case services[s.Name]:
			v.failf([]any{"services", i, "name"}, "service %q: defined twice", s.Name)
		case !workgroups[s.Workgroup]:
			v.failf([]any{"services", i, "workgroup"}, "service %q: workgroup %q is not defined under workgroups", s.Name, s.Workgroup)
		}
		services[s.Name] = true
	}
	for i, w := range c.Workgroups {
		for j, r := range w.Rights {
			if !slices.Contains(chatforms.AllRights, chatforms.Right(r)) {
				v.failf([]any{"workgroups", i, "rights", j}, "workgroup %q: unknown right %q (rights: %v)", w.Name, r, chatforms.AllRights)
			}
		}
	}
	for i, f := range c.Forms {
		for j, w := range f.Workgroups {
			if !workgroups[w] {
				v.failf([]any{"forms", i, "workgroups", j}, "form %q: workgroup %q is not defined under workgroups", f.Name, w)
			}
		}
		for j, fl := range f.Fields {
			if !slices.Contains(secure.Kinds, secure.Kind(fl.Kind)) {
				v.failf([]any{"forms", i, "fields", j, "kind"}, "form %q field %q: unknown kind %q (kinds: %v)", f.Name, fl.ID, fl.Kind, secure.Kinds)
			}
			for k, b := range fl.Brands {
				if !slices.ContainsFunc(card.Brands, func(x card.Brand) bool { return x.ID == b }) {
					v.failf([]any{"forms", i, "fields", j, "brands", k}, "form %q field %q: unknown brand %q", f.Name, fl.ID, b)
				}
			}
		}
	}
	if v.err == nil {
		if _, err := chatforms.New(c.formsConfig()); err != nil {
			v.failf([]any{"forms"}, "%v", err)
		}
	}
	val := c.Validation
	if len(c.Forms) > 0 && val.URL == "" && !val.Sample {
		v.failf([]any{"validation"}, "validation: forms are configured: set validation.url (or sample: true for a demo)")
	}
	if val.URL != "" {
		if _, err := secure.NewClient(secure.ClientConfig{URL: val.URL, CADir: val.CADir, ClientCert: val.ClientCert, ClientKey: val.ClientKey}); err != nil {
			v.failf([]any{"validation"}, "validation: %v", err)
		}
	}
	names := map[string]bool{}
	for i, m := range c.Mailboxes {
		if names[m.Name] {
			v.failf([]any{"mailboxes", i, "name"}, "mailbox %q: defined twice", m.Name)
		}
		names[m.Name] = true
		for _, acc := range []struct {
			key string
			a   *accountDef
		}{{"source", &m.Source}, {"destination", m.Destination}} {
			if acc.a == nil {
				continue
			}
			if (acc.a.PasswordEnv == "") == (acc.a.PasswordFile == "") {
				v.failf([]any{"mailboxes", i, acc.key}, "mailbox %q %s: set password_env or password_file (exactly one; never the password itself)", m.Name, acc.key)
			}
		}
		if _, err := mail.NewIngester(m.ingestConfig(nil), &mail.Redactor{}, nil, nil); err != nil {
			v.failf([]any{"mailboxes", i}, "%v", err)
		}
	}
	if t := c.Telephony; t != nil {
		if n := btoi(t.APIKeyEnv != "") + btoi(t.APIKeyFile != "") + btoi(t.Demo); n != 1 {
			v.failf([]any{"telephony"}, "telephony: set exactly one of api_key_env, api_key_file, demo")
		}
		if t.WebhookURL != "" && t.WebhookSecretEnv == "" {
			v.failf([]any{"telephony", "webhook_url"}, "telephony: webhook_url needs webhook_secret_env (webhooks are signed)")
		}
		if len(c.Forms) == 0 {
			v.failf([]any{"telephony"}, "telephony: secure IVR sessions use the forms: configure forms")
		}
		if t.MediaAddress != "" && net.ParseIP(t.MediaAddress) == nil {
			v.failf([]any{"telephony", "media_address"}, "telephony: media_address %q is not an IP address", t.MediaAddress)
		}
	}
	logins := map[string]bool{}
	for i, a := range c.Agents {
		switch {
		case a.Login == "":
			v.failf([]any{"agents", i}, "agent %d: login is required", i+1)
		case logins[a.Login]:
			v.failf([]any{"agents", i, "login"}, "agent %q: defined twice", a.Login)
		}
		logins[a.Login] = true
		if err := web.CheckHash(a.PasswordHash); err != nil {
			v.failf([]any{"agents", i, "password_hash"}, "agent %q: %v", a.Login, err)
		}
		for j, w := range a.Workgroups {
			if !workgroups[w] {
				v.failf([]any{"agents", i, "workgroups", j}, "agent %q: workgroup %q is not defined under workgroups", a.Login, w)
			}
		}
		for j, r := range a.Rights {
			if !slices.Contains(chatforms.AllRights, chatforms.Right(r)) {
				v.failf([]any{"agents", i, "rights", j}, "agent %q: unknown right %q (rights: %v)", a.Login, r, chatforms.AllRights)
			}
		}
	}
}
