package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
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
