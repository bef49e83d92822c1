package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/identity"
	"github.com/secureinput/gateway/mail"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/web"
)

// validator reads and checks a file, collecting every error. Where a rule
// belongs to a package (origins, expressions, forms, mailboxes, the
// validation client), the check calls the package and places its error at
// the key it is about.
type validator struct {
	file     string
	root     *yaml.Node
	errs     configErrors
	warns    configErrors // valid but risky: reported by config check, not fatal
	reported []path       // where errors were reported
	bad      []path       // what did not decode: checks there would only repeat it
	budget   int          // nodes the walk may still visit
}

// report adds an error at line: "path: msg".
func (v *validator) report(line int, p path, msg string) {
	if s := p.String(); s != "" {
		msg = s + ": " + msg
	}
	v.reported = append(v.reported, p)
	v.errs = append(v.errs, &configError{file: v.file, line: line, msg: msg})
}

// failf reports an error at the key (or list item) at p, unless p is in a
// part of the file that did not decode, or holds one.
func (v *validator) failf(p path, format string, args ...any) {
	for _, q := range v.bad {
		if p.within(q) || q.within(p) {
			return
		}
	}
	v.report(lineOf(v.root, p), p, fmt.Sprintf(format, args...))
}

// warnf records a warning at the key (or section) at p.
func (v *validator) warnf(p path, format string, args ...any) {
	msg := "warning: " + fmt.Sprintf(format, args...)
	if s := p.String(); s != "" {
		msg = "warning: " + s + ": " + fmt.Sprintf(format, args...)
	}
	v.warns = append(v.warns, &configError{file: v.file, line: lineOf(v.root, p), msg: msg})
}

// failed reports whether an error was reported at or under p.
func (v *validator) failed(p path) bool {
	return slices.ContainsFunc(v.reported, func(q path) bool { return q.within(p) }) ||
		slices.ContainsFunc(v.bad, func(q path) bool { return q.within(p) || p.within(q) })
}

// either is p if the file has it, else alt: where to point when p is absent.
func (v *validator) either(p, alt path) path {
	if _, ok := find(v.root, p); ok {
		return p
	}
	return alt
}

// check runs the checks of each section.
func (v *validator) check(c *config) {
	v.checkListen(c.Listen)
	v.checkTLS(c.TLS)
	v.checkOrigins(c.AllowedOrigins)
	v.checkSites(c.Sites)
	v.checkRedaction(c)
	v.checkDurability(c.Durability)
	v.checkLimits(c.Limits)
	workgroups := v.checkWorkgroups(c.Workgroups)
	v.checkServices(c.Services, workgroups)
	v.checkForms(c, workgroups)
	v.checkValidation(c)
	v.checkMailboxes(c.Mailboxes)
	v.checkTelephony(c)
	v.checkAgents(c.Agents, workgroups)
	v.checkKeys(c)
	v.checkDemo(c)
	v.checkProxies(c.TrustedProxies)
	v.checkMetrics(c.Metrics)
	v.checkAudit(c.Audit)
	v.checkAlerts(c.Alerts)
	v.checkVault(c)
	v.checkVaultServer(c)
	for _, u := range []struct {
		p   path
		url string
	}{{path{"validation", "url"}, c.Validation.URL}, {path{"alerts", "webhook_url"}, c.Alerts.WebhookURL}, {path{"telephony", "webhook_url"}, telephonyWebhook(c)}} {
		v.checkOutboundURL(u.p, u.url)
	}
}

func (v *validator) checkListen(listen string) {
	if listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		why := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			why = ae.Err
		}
		v.failf(path{"listen"}, "%s is not host:port (%s): write e.g. :8080 or 127.0.0.1:8080", quoteValue(listen), why)
	}
}

func (v *validator) checkTLS(t tlsConfig) {
	switch {
	case t.Cert != "" && t.Key == "":
		v.failf(path{"tls"}, "set both cert and key, or neither: key is missing")
	case t.Cert == "" && t.Key != "":
		v.failf(path{"tls"}, "set both cert and key, or neither: cert is missing")
	}
	for _, f := range []struct{ key, file string }{{"cert", t.Cert}, {"key", t.Key}} {
		if f.file != "" {
			if _, err := os.Stat(f.file); err != nil {
				v.failf(path{"tls", f.key}, "%s", fileProblem(f.file, err))
			}
		}
	}
}

// fileProblem is why file cannot be used: "FILE: no such file or directory".
func fileProblem(file string, err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Sprintf("%s: %v", file, err)
}

func (v *validator) checkOrigins(origins []string) {
	for i, o := range origins {
		if err := web.CheckOrigin(o); err != nil {
			v.failf(path{"allowed_origins", i}, "%v", err)
		}
	}
}

func (v *validator) checkRedaction(c *config) {
	for i, e := range c.Redaction.Expressions {
		p := path{"redaction", "expressions", i}
		if e == "" {
			v.failf(p, "empty: write an expression, or remove the entry")
			continue
		}
		if _, err := redact.New(redact.Config{Additional: []string{e}, Timeout: time.Second}); err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner // without redact's "expression 1 …:" prefix
			}
			v.failf(p, "%s does not compile: %v", quoteValue(e), err)
			continue
		}
		// Refuse an expression that can backtrack catastrophically, on
		// inputs built from its own structure, within the per-text budget.
		if err := redact.ProbeExpression(e, c.redactConfig().Timeout); errors.Is(err, redact.ErrCatastrophic) {
			v.failf(p, "%s can backtrack catastrophically (nested quantifiers or overlapping alternatives?): %s",
				quoteValue(e), strings.TrimPrefix(err.Error(), fmt.Sprintf("redact: expression %q ", e)))
		}
	}
	for key, d := range map[string]string{"chat": c.Redaction.Display.Chat, "mail": c.Redaction.Display.Mail} {
		if _, err := redact.ParseDisplay(d); err != nil {
			v.failf(path{"redaction", "display", key}, "%s is not a display style: %s", quoteValue(d), oneOf(d, []string{"mask", "last4"}))
		}
	}
	if v.failed(path{"redaction"}) {
		return
	}
	if _, err := redact.New(c.redactConfig()); errors.Is(err, redact.ErrNoDetector) {
		v.failf(path{"redaction"}, "nothing would be redacted: set default: true, or add expressions")
	} else if err != nil {
		v.failf(path{"redaction"}, "%s", strings.TrimPrefix(err.Error(), "redact: "))
	}
}

func (v *validator) checkDurability(d string) {
	if _, ok := durabilities[d]; !ok {
		v.failf(path{"durability"}, "%s is not a durability: %s", quoteValue(d), oneOf(d, []string{"power_loss", "process_crash"}))
	}
}

func (v *validator) checkLimits(l limitsConfig) {
	for _, n := range []struct {
		key string
		val float64
	}{
		{"message_bytes", float64(l.MessageBytes)}, {"messages_per_second", l.MessagesPerSecond}, {"burst", float64(l.Burst)},
		{"max_connections", float64(l.MaxConnections)}, {"max_chats_per_agent", float64(l.MaxChatsPerAgent)},
	} {
		if n.val < 0 {
			v.failf(path{"limits", n.key}, "must not be negative")
		}
	}
	if l.MessageBytes > 1<<20 {
		v.failf(path{"limits", "message_bytes"}, "%d is too large: at most 1048576", l.MessageBytes)
	}
	for _, n := range []struct {
		key string
		val float64
	}{
		{"agent_connections", float64(l.AgentConnections)}, {"sockets_per_source", float64(l.SocketsPerSource)},
		{"login_failures", float64(l.LoginFailures)}, {"logins_per_minute", l.LoginsPerMinute}, {"login_burst", float64(l.LoginBurst)},
		{"conversations_per_minute", l.ConversationsPerMinute}, {"conversation_burst", float64(l.ConversationBurst)},
	} {
		if n.val < 0 {
			v.failf(path{"limits", n.key}, "must not be negative")
		}
	}
	if l.LoginFailures > identity.DefaultMaxFailures {
		v.failf(path{"limits", "login_failures"}, "%d is too many: at most %d (PCI DSS 8.3.4)", l.LoginFailures, identity.DefaultMaxFailures)
	}
	if l.Lockout != 0 && time.Duration(l.Lockout) < identity.DefaultLockout {
		v.failf(path{"limits", "lockout"}, "%v is too short: at least 30m (PCI DSS 8.3.4)", time.Duration(l.Lockout))
	}
	if time.Duration(l.SessionIdle) > identity.DefaultIdleTimeout {
		v.failf(path{"limits", "session_idle"}, "%v is too long: at most 15m (PCI DSS 8.2.8)", time.Duration(l.SessionIdle))
	}
	if l.MaxConnections > 0 && l.AgentConnections > l.MaxConnections {
		v.failf(path{"limits", "agent_connections"}, "%d is more than max_connections (%d)", l.AgentConnections, l.MaxConnections)
	}
}

// checkWorkgroups returns the workgroups defined.
func (v *validator) checkWorkgroups(wgs []workgroupDef) []string {
	var names []string
	for i, w := range wgs {
		p := path{"workgroups", i}
		v.unique(p, "name", w.Name, slices.Index(names, w.Name))
		names = append(names, w.Name)
		for j, r := range w.Rights {
			v.checkRight(p.with("rights", j), r)
		}
	}
	return names
}

// unique checks the name (under key) of the list item at p: present and not
// defined before, at item first (-1: not before).
func (v *validator) unique(p path, key, name string, first int) {
	switch {
	case name == "":
		v.failf(p, "%s is required", key)
	case first >= 0:
		other := append(slices.Clip(p[:len(p)-1]), first, key)
		v.failf(p.with(key), "%s is defined twice (first at line %d)", quoteValue(name), lineOf(v.root, other))
	}
}

func (v *validator) checkRight(p path, r string) {
	rights := make([]string, len(chatforms.AllRights))
	for i, r := range chatforms.AllRights {
		rights[i] = string(r)
	}
	if !slices.Contains(rights, r) {
		v.failf(p, "unknown right %s: %s", quoteValue(r), oneOf(r, rights))
	}
}

// checkWorkgroup checks a reference to a workgroup, at p.
func (v *validator) checkWorkgroup(p path, w string, workgroups []string) {
	if !slices.Contains(workgroups, w) {
		v.failf(p, "%s is not defined under workgroups: %s", quoteValue(w), oneOf(w, workgroups))
	}
}

func (v *validator) checkServices(services []serviceDef, workgroups []string) {
	var names []string
	for i, s := range services {
		p := path{"services", i}
		v.unique(p, "name", s.Name, slices.Index(names, s.Name))
		names = append(names, s.Name)
		if s.Workgroup == "" {
			v.failf(p, "workgroup is required: %s", oneOf("", workgroups))
		} else {
			v.checkWorkgroup(p.with("workgroup"), s.Workgroup, workgroups)
		}
		for j, h := range s.Hours {
			if _, err := chat.ParseHours([]string{h}, ""); err != nil {
				v.failf(p.with("hours", j), "%s: %v", quoteValue(h), errors.Unwrap(err))
			}
		}
		if len(s.Hours) > chat.MaxSpans {
			v.failf(p.with("hours"), "%d spans, at most %d", len(s.Hours), chat.MaxSpans)
		}
		if s.Timezone != "" {
			if _, err := time.LoadLocation(s.Timezone); err != nil {
				v.failf(p.with("timezone"), "unknown time zone %s: want an IANA name like Europe/Paris", quoteValue(s.Timezone))
			}
		}
		if len(s.Greeting) > maxGreeting {
			v.failf(p.with("greeting"), "%d bytes, at most %d", len(s.Greeting), maxGreeting)
		}
	}
}

// maxGreeting bounds a service's greeting.
const maxGreeting = 500

func (v *validator) checkForms(c *config, workgroups []string) {
	var names []string
	for i, f := range c.Forms {
		p := path{"forms", i}
		v.unique(p, "name", f.Name, slices.Index(names, f.Name))
		names = append(names, f.Name)
		for j, w := range f.Workgroups {
			v.checkWorkgroup(p.with("workgroups", j), w, workgroups)
		}
		for j, fl := range f.Fields {
			fp := p.with("fields", j)
			if kinds := stringsOf(secure.Kinds); !slices.Contains(kinds, fl.Kind) {
				v.failf(v.either(fp.with("kind"), fp), "unknown kind %s: %s", quoteValue(fl.Kind), oneOf(fl.Kind, kinds))
			}
			for k, b := range fl.Brands {
				if !slices.ContainsFunc(card.Brands, func(x card.Brand) bool { return x.ID == b }) {
					var ids []string
					for _, x := range card.Brands {
						ids = append(ids, x.ID)
					}
					v.failf(fp.with("brands", k), "unknown brand %s: %s", quoteValue(b), oneOf(b, ids))
				}
			}
		}
		v.checkFormAttributes(p, f)
		if v.failed(p) {
			continue
		}
		form, err := f.form(checkEngine, nil)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), fmt.Sprintf("form %q: lookup: secure: ", f.Name))
			lp := p.with("lookup")
			for _, k := range lookupKeys {
				if rest, ok := strings.CutPrefix(msg, k.prefix); ok {
					lp, msg = v.either(lp.with(k.key), lp), strings.TrimPrefix(rest, ": ")
					break
				}
			}
			v.failf(lp, "%s", msg)
			continue
		}
		if _, err := chatforms.New(chatforms.Config{Forms: []chatforms.Form{form}}); err != nil {
			msg := strings.TrimPrefix(err.Error(), "chatforms: ")
			msg = strings.TrimPrefix(msg, fmt.Sprintf("form %q: ", f.Name))
			at := p
			for j := len(f.Fields) - 1; j >= 0; j-- {
				if id := f.Fields[j].ID; strings.HasPrefix(msg, fmt.Sprintf("field %q", id)) || strings.HasPrefix(msg, fmt.Sprintf("field id %q", id)) {
					at = v.either(p.with("fields", j, "id"), p.with("fields", j))
					break
				}
			}
			v.failf(at, "%s", msg)
		}
	}
	for i, w := range c.Workgroups {
		for k, cr := range w.Canned {
			if cr.Form != "" && !slices.Contains(names, cr.Form) {
				v.failf(path{"workgroups", i, "canned", k, "form"}, "no form %s: %s", quoteValue(cr.Form), oneOf(cr.Form, names))
			}
		}
	}
	if len(c.Forms) > 0 && !v.failed(path{"forms"}) && !v.failed(path{"workgroups"}) && !v.failed(path{"agents"}) {
		fc, err := c.formsConfig(checkEngine, nil)
		if err == nil {
			_, err = chatforms.New(fc)
		}
		if err != nil {
			v.failf(path{"forms"}, "%s", strings.TrimPrefix(err.Error(), "chatforms: "))
		}
	}
}

func stringsOf[S ~string](xs []S) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// secureClientKeys place secure.NewClient's errors: message prefix, key.
var secureClientKeys = []struct{ prefix, key string }{
	{"validation URL ", "url"}, {"CA directory", "ca_dir"}, {"client certificate: ", "client_cert"}, {"set both client", "client_cert"},
}

func (v *validator) checkValidation(c *config) {
	val := c.Validation
	if len(c.Forms) > 0 && val.URL == "" && !val.Sample {
		v.failf(v.either(path{"validation"}, path{"forms"}),
			"forms are configured, so they need the validation service: set validation.url (or validation.sample: true, for a demo)")
	}
	if val.URL == "" {
		return
	}
	_, err := secure.NewClient(secure.ClientConfig{URL: val.URL, CADir: val.CADir, ClientCert: val.ClientCert, ClientKey: val.ClientKey})
	if err == nil {
		return
	}
	msg := strings.TrimPrefix(err.Error(), "secure: ")
	if u, perr := url.Parse(val.URL); perr == nil && u.User != nil {
		msg = strings.ReplaceAll(msg, val.URL, u.Redacted()) // never print a password
	}
	p := path{"validation"}
	for _, k := range secureClientKeys {
		if rest, ok := strings.CutPrefix(msg, k.prefix); ok {
			p, msg = v.either(p.with(k.key), p), strings.TrimPrefix(rest, ": ")
			break
		}
	}
	v.failf(p, "%s", msg)
}

// mailKeys place mail.NewIngester's errors about a mailbox: message prefix,
// key.
var mailKeys = []struct{ prefix, key string }{
	{"mailbox has no name", "name"}, {"no destination folder", "dest_folder"}, {"after", "after"}, {"unparsable", "unparsable"},
	{"destination is the source folder", "dest_folder"}, {"address", "address"}, {"tls", "tls"},
}

// goodEndpoint stands in for a mailbox's accounts when its other settings
// are checked.
var goodEndpoint = mail.Endpoint{Addr: "127.0.0.1:143", TLS: mail.TLSPlain}

func (v *validator) checkMailboxes(mailboxes []mailboxDef) {
	var names []string
	for i, m := range mailboxes {
		p := path{"mailboxes", i}
		if m.Name != "" {
			v.unique(p, "name", m.Name, slices.Index(names, m.Name))
		}
		names = append(names, m.Name)
		mc := m.ingestConfig(nil)
		for _, acc := range []struct {
			key string
			a   *accountDef
			ep  *mail.Endpoint
		}{{"source", &m.Source, &mc.Source}, {"destination", m.Destination, mc.Dest}} {
			if acc.a == nil {
				continue
			}
			ap := p.with(acc.key)
			v.checkAccountLogin(ap, acc.a)
			probe := mail.MailboxConfig{Name: "probe", Source: *acc.ep, DestFolder: "probe", After: "delete"}
			if _, err := mail.NewIngester(probe, &mail.Redactor{}, nil, nil); err != nil {
				msg := strings.TrimPrefix(err.Error(), "mail: mailbox probe: ")
				v.mailError(ap, strings.Replace(msg, "address "+acc.ep.Addr+": ", "", 1)) // net's error repeats it
			}
			*acc.ep = goodEndpoint
		}
		if _, err := mail.NewIngester(mc, &mail.Redactor{}, nil, nil); err != nil {
			msg := strings.TrimPrefix(err.Error(), "mail: ")
			v.mailError(p, strings.TrimPrefix(msg, "mailbox "+m.Name+": "))
		}
	}
}

// mailError reports a mail error at the key of section p it names.
func (v *validator) mailError(p path, msg string) {
	for _, k := range mailKeys {
		if strings.HasPrefix(msg, k.prefix) {
			if _, ok := find(v.root, p.with(k.key)); ok {
				p = p.with(k.key)
				if rest, ok := strings.CutPrefix(msg, k.key); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, ": ")) {
					msg = strings.TrimPrefix(strings.TrimPrefix(rest, ":"), " ")
				}
			}
			break
		}
	}
	v.failf(p, "%s", msg)
}

func (v *validator) checkTelephony(c *config) {
	t := c.Telephony
	if t == nil {
		return
	}
	switch btoi(t.APIKeyEnv != "") + btoi(t.APIKeyFile != "") + btoi(t.Demo) {
	case 0:
		v.failf(path{"telephony"}, "no API key: set api_key_env or api_key_file (or demo: true, for the demo phone)")
	case 2, 3:
		v.failf(path{"telephony"}, "set only one of api_key_env, api_key_file and demo")
	}
	if t.WebhookURL != "" && t.WebhookSecretEnv == "" {
		v.failf(path{"telephony", "webhook_url"}, "webhooks are signed: set webhook_secret_env too")
	}
	if t.WebhookURL == "" {
		v.warnf(path{"telephony"}, "no webhook_url: secure sessions collect digits at once, without the platform confirming "+
			"that recording is paused and the agent held or the tones masked; set webhook_url unless the platform does that itself")
	}
	if t.WebhookTimeout < 0 {
		v.failf(path{"telephony", "webhook_timeout"}, "must not be negative")
	}
	if len(c.Forms) == 0 {
		v.failf(path{"telephony"}, "secure IVR sessions use the forms: configure forms")
	}
	if t.MediaAddress != "" && net.ParseIP(t.MediaAddress) == nil {
		v.failf(path{"telephony", "media_address"}, "%s is not an IP address", quoteValue(t.MediaAddress))
	}
}

// hashHowTo says what password hashes web.CheckHash accepts, and how to
// make one.
const hashHowTo = `write a bcrypt hash ($2a$, $2b$ or $2y$) or an argon2id one ($argon2id$v=19$m=…,t=…,p=…$salt$hash); ` +
	`make a bcrypt hash with: htpasswd -nbBC 10 "" 'PASSWORD' | cut -d: -f2`

func (v *validator) checkAgents(agents []agentDef, workgroups []string) {
	var logins []string
	for i, a := range agents {
		p := path{"agents", i}
		v.unique(p, "login", a.Login, slices.Index(logins, a.Login))
		logins = append(logins, a.Login)
		if a.PasswordHash == "" {
			v.failf(p, "password_hash is missing: %s", hashHowTo)
		} else if err := identity.CheckHash(a.PasswordHash); err != nil {
			why := "not a password hash"
			if detail := strings.TrimPrefix(err.Error(), identity.ErrBadHash.Error()); strings.Contains(detail, "too short") {
				why = "too short for a bcrypt hash (60 characters; was it cut?)"
			} else if strings.Contains(detail, "cost") {
				why = strings.TrimPrefix(strings.TrimPrefix(detail, ": "), "crypto/bcrypt: ")
			}
			v.failf(p.with("password_hash"), "%s: %s", why, hashHowTo)
		}
		for j, w := range a.Workgroups {
			v.checkWorkgroup(p.with("workgroups", j), w, workgroups)
		}
		for j, r := range a.Rights {
			v.checkRight(p.with("rights", j), r)
		}
	}
}

// oneOf says what got should be: a likely typo's fix, or the choices.
func oneOf(got string, choices []string) string {
	if got != "" {
		if c, ok := closest(strings.ToLower(got), choices); ok {
			return fmt.Sprintf("did you mean %q?", c)
		}
	}
	if len(choices) == 0 {
		return "there are none"
	}
	return "want one of " + strings.Join(choices, ", ")
}
