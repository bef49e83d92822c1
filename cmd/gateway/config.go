package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/mail"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/store"
	"github.com/secureinput/gateway/web"
)

//go:embed demo.yaml
var demoConfig []byte

// config is the gateway's configuration file (docs in README.md). Parsing is
// strict: an unknown key or a bad value is an error naming file and line.
type config struct {
	Listen         string          `yaml:"listen"`
	Data           string          `yaml:"data"`
	Durability     string          `yaml:"durability"`
	TLS            tlsConfig       `yaml:"tls"`
	AllowedOrigins []string        `yaml:"allowed_origins"`
	Redaction      redactionConfig `yaml:"redaction"`
	Limits         limitsConfig    `yaml:"limits"`
	Workgroups     []workgroupDef  `yaml:"workgroups"`
	Services       []serviceDef    `yaml:"services"`
	Agents         []agentDef      `yaml:"agents"`
	Validation     validationDef   `yaml:"validation"`
	Forms          []formDef       `yaml:"forms"`
	Mailboxes      []mailboxDef    `yaml:"mailboxes"`
	Telephony      *telephonyDef   `yaml:"telephony"`
}

// telephonyDef enables secure IVR sessions for a telephony platform. Its
// secrets come from the environment or files, like mailbox passwords.
type telephonyDef struct {
	// Demo uses the fixed key of the /demo/phone page: for demos only.
	Demo             bool     `yaml:"demo"`
	APIKeyEnv        string   `yaml:"api_key_env"`
	APIKeyFile       string   `yaml:"api_key_file"`
	WebhookURL       string   `yaml:"webhook_url"`
	WebhookSecretEnv string   `yaml:"webhook_secret_env"`
	MediaAddress     string   `yaml:"media_address"`
	MaxSessions      int      `yaml:"max_sessions"`
	FirstDigit       duration `yaml:"first_digit_timeout"`
	InterDigit       duration `yaml:"inter_digit_timeout"`
	MaxAttempts      int      `yaml:"max_attempts"`
}

// mailboxDef is a mailbox to ingest. Passwords never sit in the file:
// password_env names an environment variable, password_file a file.
type mailboxDef struct {
	Name          string      `yaml:"name"`
	Source        accountDef  `yaml:"source"`
	SourceFolder  string      `yaml:"source_folder"`
	Destination   *accountDef `yaml:"destination"`
	DestFolder    string      `yaml:"dest_folder"`
	After         string      `yaml:"after"`
	MoveTo        string      `yaml:"move_to"`
	Poll          duration    `yaml:"poll"`
	FailedKeyword string      `yaml:"failed_keyword"`
}

type accountDef struct {
	Address      string `yaml:"address"`
	TLS          string `yaml:"tls"`
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	CAFile       string `yaml:"ca_file"`
}

type validationDef struct {
	URL        string   `yaml:"url"`
	Sample     bool     `yaml:"sample"`
	Timeout    duration `yaml:"timeout"`
	CADir      string   `yaml:"ca_dir"`
	ClientCert string   `yaml:"client_cert"`
	ClientKey  string   `yaml:"client_key"`
}

type formDef struct {
	Name        string     `yaml:"name"`
	Title       string     `yaml:"title"`
	Description string     `yaml:"description"`
	Workgroups  []string   `yaml:"workgroups"`
	Fields      []fieldDef `yaml:"fields"`
}

type fieldDef struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	Kind       string   `yaml:"kind"`
	AgentFills bool     `yaml:"agent_fills"`
	Optional   bool     `yaml:"optional"`
	Brands     []string `yaml:"brands"` // card_number: accepted brand ids
}

type cannedDef struct {
	Title string `yaml:"title"`
	Text  string `yaml:"text"`
	Form  string `yaml:"form"`
}

type tlsConfig struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

type redactionConfig struct {
	Default     *bool    `yaml:"default"`
	Expressions []string `yaml:"expressions"`
	Timeout     duration `yaml:"timeout"`
}

type limitsConfig struct {
	MessageBytes      int      `yaml:"message_bytes"`
	MessagesPerSecond float64  `yaml:"messages_per_second"`
	Burst             int      `yaml:"burst"`
	MaxConnections    int      `yaml:"max_connections"`
	IdleTimeout       duration `yaml:"idle_timeout"`
	SessionTTL        duration `yaml:"session_ttl"`
	MaxChatsPerAgent  int      `yaml:"max_chats_per_agent"`
	OfferTimeout      duration `yaml:"offer_timeout"`
}

type workgroupDef struct {
	Name   string      `yaml:"name"`
	Rights []string    `yaml:"rights"`
	Canned []cannedDef `yaml:"canned"`
}

type serviceDef struct {
	Name      string `yaml:"name"`
	Title     string `yaml:"title"`
	Workgroup string `yaml:"workgroup"`
}

type agentDef struct {
	Login        string   `yaml:"login"`
	Name         string   `yaml:"name"`
	PasswordHash string   `yaml:"password_hash"`
	Workgroups   []string `yaml:"workgroups"`
	Rights       []string `yaml:"rights"`
}

// duration is a time.Duration written as "100ms", "30s", "12h".
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration (write e.g. 100ms, 30s, 12h)", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

// configError is a bad configuration: file, line and reason.
type configError struct {
	file string
	line int
	msg  string
}

func (e *configError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.file, e.line, e.msg)
	}
	return fmt.Sprintf("%s: %s", e.file, e.msg)
}

// loadConfig reads and validates a configuration file; name "" means the
// embedded demo configuration.
func loadConfig(name string) (*config, error) {
	data, label := demoConfig, "(embedded demo config)"
	if name != "" {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, &configError{file: name, msg: err.Error()}
		}
		data, label = b, name
	}
	return parseConfig(label, data)
}

// parseConfig parses and validates data, naming it file in errors.
func parseConfig(file string, data []byte) (*config, error) {
	var cfg config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	v := validator{file: file, root: &root}
	v.check(&cfg)
	if v.err != nil {
		return nil, v.err
	}
	return &cfg, nil
}

// yamlError turns yaml.v3's "yaml: line 3: …" or "yaml: unmarshal errors:\n
// line 3: …" into file:line: reason (the first error).
func yamlError(file string, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0])
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, after
			}
		}
	}
	msg = strings.Replace(msg, "in type main.", "in section ", 1)
	return &configError{file: file, line: line, msg: msg}
}

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

// lineOf finds the line of the node at path (map keys and sequence indices);
// it falls back to the deepest node found.
func lineOf(root *yaml.Node, path []any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						line = n.Content[i].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
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

// formsConfig is the chatforms configuration of the file.
func (c *config) formsConfig() chatforms.Config {
	fc := chatforms.Config{
		WorkgroupRights: map[string][]chatforms.Right{},
		AgentRights:     map[string][]chatforms.Right{},
		AgentWorkgroups: map[string][]string{},
		Canned:          map[string][]chatforms.Canned{},
	}
	for _, f := range c.Forms {
		form := chatforms.Form{Name: f.Name, Title: f.Title, Description: f.Description, Workgroups: f.Workgroups}
		if form.Title == "" {
			form.Title = f.Name
		}
		for _, fl := range f.Fields {
			name := fl.Name
			if name == "" {
				name = fl.ID
			}
			form.Fields = append(form.Fields, secure.Field{ID: fl.ID, Name: name, Kind: secure.Kind(fl.Kind), AgentFills: fl.AgentFills,
				Optional: fl.Optional, Brands: fl.Brands})
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
	return fc
}

// ingestConfig is the mail configuration of a mailbox; secret resolves a
// password (nil leaves them empty, for checks).
func (m mailboxDef) ingestConfig(secret func(accountDef) (string, error)) mail.MailboxConfig {
	ep := func(a accountDef) mail.Endpoint {
		e := mail.Endpoint{Addr: a.Address, TLS: a.TLS, Username: a.Username}
		if secret != nil {
			e.Password, _ = secret(a)
		}
		return e
	}
	mc := mail.MailboxConfig{Name: m.Name, Source: ep(m.Source), SourceFolder: m.SourceFolder, DestFolder: m.DestFolder,
		After: m.After, MoveTo: m.MoveTo, Poll: time.Duration(m.Poll), FailedKeyword: m.FailedKeyword}
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
