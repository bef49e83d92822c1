package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

//go:embed demo.yaml
var demoConfig []byte

// config is the gateway's configuration file (docs in README.md). Parsing is
// strict: an unknown key or a bad value is an error naming file, line and
// the key's path (config_decode.go, config_check.go).
type config struct {
	Listen string `yaml:"listen"`
	// Demo marks the demo configuration: only it may use the sample
	// validation service, the demo phone's key and the demo/demo account.
	Demo           bool            `yaml:"demo"`
	Data           string          `yaml:"data"`
	Durability     string          `yaml:"durability"`
	TLS            tlsConfig       `yaml:"tls"`
	TrustedProxies []string        `yaml:"trusted_proxies"`
	AllowedOrigins []string        `yaml:"allowed_origins"`
	Metrics        metricsDef      `yaml:"metrics"`
	Audit          auditDef        `yaml:"audit"`
	Alerts         alertsDef       `yaml:"alerts"`
	Redaction      redactionConfig `yaml:"redaction"`
	Limits         limitsConfig    `yaml:"limits"`
	Workgroups     []workgroupDef  `yaml:"workgroups"`
	Services       []serviceDef    `yaml:"services"`
	Agents         []agentDef      `yaml:"agents"`
	Validation     validationDef   `yaml:"validation"`
	Forms          []formDef       `yaml:"forms"`
	Sites          []siteDef       `yaml:"sites"`
	Mailboxes      []mailboxDef    `yaml:"mailboxes"`
	Telephony      *telephonyDef   `yaml:"telephony"`
	Keys           keysDef         `yaml:"keys"`
	Retention      retentionDef    `yaml:"retention"`
	Vault          vaultDef        `yaml:"vault"`
	VaultServer    *vaultServerDef `yaml:"vault_server"`

	// warnings are what config check reports about a file that is valid
	// but risky, as FILE:LINE: warning: … lines.
	warnings []string
}

// retentionDef is how long transcripts are kept (none: for ever).
type retentionDef struct {
	Transcripts duration `yaml:"transcripts"`
	Interval    duration `yaml:"interval"`
}

// keysDef says where the key-encryption key (KEK) that wraps the data keys
// is, and how long a data key lives. With no kek the gateway keeps a key
// file in the data directory (config check warns; require_provider makes
// it an error).
type keysDef struct {
	KEK             *kekDef  `yaml:"kek"`
	Previous        []kekDef `yaml:"previous"`
	RequireProvider bool     `yaml:"require_provider"`
	RotateAfter     duration `yaml:"rotate_after"`
	RotateAfterUses int64    `yaml:"rotate_after_encryptions"`
}

// kekDef is one KEK: exactly one of file, env and pkcs11. The key itself is
// never in the file.
type kekDef struct {
	File   string     `yaml:"file"`
	Env    string     `yaml:"env"`
	PKCS11 *pkcs11Def `yaml:"pkcs11"`
}

// pkcs11Def is an AES-256 key in a PKCS#11 token; the PIN is read from the
// environment variable pin_env.
type pkcs11Def struct {
	Module   string `yaml:"module"`
	Token    string `yaml:"token"`
	PINEnv   string `yaml:"pin_env"`
	KeyLabel string `yaml:"key_label"`
	Create   bool   `yaml:"create"`
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
	WebhookTimeout   duration `yaml:"webhook_timeout"`
	MediaAddress     string   `yaml:"media_address"`
	MaxSessions      int      `yaml:"max_sessions"`
	FirstDigit       duration `yaml:"first_digit_timeout"`
	InterDigit       duration `yaml:"inter_digit_timeout"`
	MaxAttempts      int      `yaml:"max_attempts"`
}

// mailboxDef is a mailbox to ingest. Passwords never sit in the file:
// password_env names an environment variable, password_file a file; an
// account that logs in with OAuth2 reads its secrets the same way.
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
	Unparsable    string      `yaml:"unparsable"`
}

type accountDef struct {
	Address      string `yaml:"address"`
	TLS          string `yaml:"tls"`
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	CAFile       string `yaml:"ca_file"`
	// OAuth2, instead of a password: for servers that refuse passwords.
	OAuth2 *oauth2Def `yaml:"oauth2"`
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
	// Attributes go to the lookup and validation services only; secrets
	// among them are SecretAttributes, read from the environment or a file.
	Attributes            []attrDef       `yaml:"attributes"`
	SecretAttributes      []secretAttrDef `yaml:"secret_attributes"`
	InteractionAttributes []string        `yaml:"interaction_attributes"`
	RequireVerified       bool            `yaml:"require_verified"`
	Lookup                *lookupDef      `yaml:"lookup"`
}

// attrDef is an attribute of a form: its name and its (not secret) value.
type attrDef struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// siteDef is a website that signs its visitors' attributes: its origin and
// the secret, from exactly one of secret_env and secret_file.
type siteDef struct {
	Origin     string `yaml:"origin"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
}

// secretAttrDef is an attribute whose value is a secret: exactly one of env
// and file holds it.
type secretAttrDef struct {
	Name string `yaml:"name"`
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// lookupDef is a form's lookup service, configured as the validation
// service is.
type lookupDef struct {
	URL        string   `yaml:"url"`
	Timeout    duration `yaml:"timeout"`
	CADir      string   `yaml:"ca_dir"`
	ClientCert string   `yaml:"client_cert"`
	ClientKey  string   `yaml:"client_key"`
}

type fieldDef struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	Kind       string   `yaml:"kind"`
	AgentFills bool     `yaml:"agent_fills"`
	Optional   bool     `yaml:"optional"`
	Brands     []string `yaml:"brands"` // card_number: accepted brand ids
	ReadOnly   bool     `yaml:"read_only"`
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
	Default     *bool      `yaml:"default"`
	Expressions []string   `yaml:"expressions"`
	Timeout     duration   `yaml:"timeout"`
	Display     displayDef `yaml:"display"`
}

// displayDef is how each channel shows a masked card: mask (every
// character '#') or last4 (its last four digits kept).
type displayDef struct {
	Chat string `yaml:"chat"`
	Mail string `yaml:"mail"`
}

type limitsConfig struct {
	MessageBytes           int      `yaml:"message_bytes"`
	MessagesPerSecond      float64  `yaml:"messages_per_second"`
	Burst                  int      `yaml:"burst"`
	MaxConnections         int      `yaml:"max_connections"`
	AgentConnections       int      `yaml:"agent_connections"`
	SocketsPerSource       int      `yaml:"sockets_per_source"`
	IdleTimeout            duration `yaml:"idle_timeout"`
	SessionTTL             duration `yaml:"session_ttl"`
	SessionIdle            duration `yaml:"session_idle"`
	LoginFailures          int      `yaml:"login_failures"`
	Lockout                duration `yaml:"lockout"`
	LoginsPerMinute        float64  `yaml:"logins_per_minute"`
	LoginBurst             int      `yaml:"login_burst"`
	ConversationsPerMinute float64  `yaml:"conversations_per_minute"`
	ConversationBurst      int      `yaml:"conversation_burst"`
	WaitTimeout            duration `yaml:"wait_timeout"`
	HeaderTimeout          duration `yaml:"header_timeout"`
	ReadTimeout            duration `yaml:"read_timeout"`
	WriteTimeout           duration `yaml:"write_timeout"`
	MaxChatsPerAgent       int      `yaml:"max_chats_per_agent"`
	OfferTimeout           duration `yaml:"offer_timeout"`
}

// metricsDef says where /metrics is served: on a listener of its own
// (loopback by default) and, with a token, on the public one too.
type metricsDef struct {
	Listen   string `yaml:"listen"`
	TokenEnv string `yaml:"token_env"`
}

type auditDef struct {
	Retention duration `yaml:"retention"`
}

// alertsDef is the webhook that hears of every fail-closed event.
type alertsDef struct {
	WebhookURL string `yaml:"webhook_url"`
	SecretEnv  string `yaml:"secret_env"`
}

type workgroupDef struct {
	Name   string      `yaml:"name"`
	Rights []string    `yaml:"rights"`
	Canned []cannedDef `yaml:"canned"`
}

type serviceDef struct {
	Name      string   `yaml:"name"`
	Title     string   `yaml:"title"`
	Workgroup string   `yaml:"workgroup"`
	Greeting  string   `yaml:"greeting"`
	Hours     []string `yaml:"hours"`
	Timezone  string   `yaml:"timezone"`
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
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// parseDuration reads a duration of the file; its error is the operator's
// reason.
func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	switch {
	case err == nil && v < 0:
		return 0, fmt.Errorf("%s must not be negative", quoteValue(s))
	case err == nil:
		return v, nil
	case s != "" && strings.Trim(s, "0123456789.") == "":
		return 0, fmt.Errorf("%s is not a duration: add a unit, like %ss (units: ms, s, m, h)", quoteValue(s), s)
	}
	return 0, fmt.Errorf("%s is not a duration like 30s or 5m (units: ms, s, m, h)", quoteValue(s))
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

// configErrors are all the errors of a file, sorted by line; Error gives
// one a line.
type configErrors []*configError

func (es configErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// loadConfig reads and validates a configuration file; name "" means the
// embedded demo configuration.
func loadConfig(name string) (*config, error) {
	data, label := demoConfig, "(embedded demo config)"
	if name != "" {
		b, err := os.ReadFile(name)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, configErrors{{file: name, msg: err.Error()}}
		}
		data, label = b, name
	}
	return parseConfig(label, data)
}

// parseConfig parses and validates data, naming it file in errors. The
// error, a configErrors, holds every problem of the file; only a YAML
// syntax error stops the reading early.
func parseConfig(file string, data []byte) (*config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, configErrors{syntaxError(file, data, err)}
	}
	v := &validator{file: file, root: &root}
	var cfg config
	v.decode(&cfg, data)
	v.check(&cfg)
	for _, w := range v.warns {
		cfg.warnings = append(cfg.warnings, w.Error())
	}
	if len(v.errs) > 0 {
		slices.SortStableFunc(v.errs, func(a, b *configError) int { return a.line - b.line })
		return nil, slices.CompactFunc(v.errs, func(a, b *configError) bool { return *a == *b })
	}
	return &cfg, nil
}

// syntaxError is a YAML syntax error: yaml.v3 says "yaml: line 3: …" (or
// no line, for bytes that are not text).
func syntaxError(file string, data []byte, err error) *configError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, after
			}
		}
	}
	if line == 0 {
		line = lineOfBadByte(data)
	}
	switch {
	case strings.Contains(msg, "found character that cannot start any token") && lineHasTab(data, line):
		msg += " (a tab: indent with spaces)"
	case msg == "mapping values are not allowed in this context":
		msg += " (a value holding \": \" must be quoted, or the indentation is off)"
	case strings.HasPrefix(msg, "did not find expected key"), strings.HasPrefix(msg, "did not find expected '-' indicator"):
		msg += " (check the indentation)"
	}
	return &configError{file: file, line: line, msg: "YAML syntax: " + msg}
}

// lineOfBadByte is the line of the first byte that is not text (invalid
// UTF-8 or a control character), 0 if none.
func lineOfBadByte(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == '\n' {
			line++
		} else if r == utf8.RuneError && size <= 1 || r < ' ' && r != '\t' && r != '\r' || r == 0x7f {
			return line
		}
		i += size
	}
	return 0
}

func lineHasTab(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	return line >= 1 && line <= len(lines) && bytes.Contains(lines[line-1], []byte("\t"))
}

// path is where a value sits in the file: map keys (string) and list
// indices (int), as in agents[1].password_hash.
type path []any

func (p path) String() string {
	var b strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", e)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e)
		}
	}
	return b.String()
}

// with is p followed by more keys or indices (a new slice).
func (p path) with(more ...any) path {
	return append(slices.Clip(p), more...)
}

// within reports whether p is q or lies under it.
func (p path) within(q path) bool {
	return len(p) >= len(q) && slices.Equal(p[:len(q)], q)
}

// lineOf finds the line of the node at path (map keys and sequence indices);
// it falls back to the deepest node found.
func lineOf(root *yaml.Node, p path) int {
	line, _ := find(root, p)
	return line
}

// find is the line of the key (or list item) at p, and whether p is in the
// file; when it is not, the line is that of the deepest part that is.
func find(root *yaml.Node, p path) (int, bool) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, e := range p {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch k := e.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content) && next == nil; i += 2 {
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
			return line, false
		}
		n = next
	}
	return line, true
}
