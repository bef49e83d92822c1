package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/redact"
)

// hashHelp ends every message about a password hash.
const hashHelp = `write a bcrypt hash ($2a$, $2b$ or $2y$) or an argon2id one ($argon2id$v=19$m=…,t=…,p=…$salt$hash); ` +
	`make a bcrypt hash with: htpasswd -nbBC 10 "" 'PASSWORD' | cut -d: -f2`

// TestConfigCheckMessages: broken files, as a new operator writes them, and
// every message `gateway config check` gives for each, in order.
func TestConfigCheckMessages(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
		secrets    []string // never in a message
	}{
		{"every error in one run, by line", `listen: "127.0.0.1:8080"
allowed_origins: ["https://shop.example/", "shop.example"]
limits:
  message_bytes: 4096
  max_chats_per_agent: four
  idle_timeout: 30
  burst: [1, 2]
redaction:
  expressions:
    - '(ab'
workgroups:
  - name: support
    rights: [secure_input, initiate_secure_inpt]
services:
  - name: support
    workgroup: suport
agents:
  - login: alice
    pasword_hash: "x"
    rights: [root]
mailboxes:
  - name: support
    source: {address: "127.0.0.1:143", tls: plain, username: a, password: hunter2}
    dest_folder: Clean
    after: archive
`, []string{
			`b.yaml:2: allowed_origins[0]: "https://shop.example/": an origin has no path, not even a final /: write "https://shop.example"`,
			`b.yaml:2: allowed_origins[1]: "shop.example" is not an origin: want scheme://host[:port] like https://shop.example, or *`,
			`b.yaml:5: limits.max_chats_per_agent: "four" is not a whole number`,
			`b.yaml:6: limits.idle_timeout: "30" is not a duration: add a unit, like 30s (units: ms, s, m, h)`,
			`b.yaml:7: limits.burst: a single value is wanted here (a number), not a list`,
			`b.yaml:10: redaction.expressions[0]: "(ab" does not compile: error parsing regexp: missing closing ) in ` + "`(ab`",
			`b.yaml:13: workgroups[0].rights[1]: unknown right "initiate_secure_inpt": did you mean "initiate_secure_input"?`,
			`b.yaml:16: services[0].workgroup: "suport" is not defined under workgroups: did you mean "support"?`,
			`b.yaml:19: agents[0]: unknown key "pasword_hash"; did you mean "password_hash"?`,
			`b.yaml:20: agents[0].rights[0]: unknown right "root": want one of secure_input, initiate_secure_input, supervisor`,
			`b.yaml:23: mailboxes[0].source: unknown key "password"; write the password in a file or the environment: password_file or password_env`,
			`b.yaml:25: mailboxes[0].after: must be move or delete, not "archive"`,
		}, []string{"hunter2"}},
		{"the line of the value at fault", "workgroups:\n  - name: support\n    rights:\n      - secure_input\n      - root\n", []string{
			`b.yaml:5: workgroups[0].rights[1]: unknown right "root": want one of secure_input, initiate_secure_input, supervisor`,
		}, nil},
		{"types in operator words", `redaction:
  default: maybe
limits:
  messages_per_second: fast
  idle_timeout: 5 minutes
  session_ttl: -1h
allowed_origins: "https://shop.example"
agents:
  login: demo
validation: [a]
`, []string{
			`b.yaml:2: redaction.default: "maybe" is not true or false`,
			`b.yaml:4: limits.messages_per_second: "fast" is not a number`,
			`b.yaml:5: limits.idle_timeout: "5 minutes" is not a duration like 30s or 5m (units: ms, s, m, h)`,
			`b.yaml:6: limits.session_ttl: "-1h" must not be negative`,
			`b.yaml:7: allowed_origins: a list is wanted here: write [https://shop.example], or one "- https://shop.example" a line`,
			`b.yaml:9: agents: a list is wanted here: start each entry with "- "`,
			`b.yaml:10: validation: keys are wanted here (like url: …), not a list`,
		}, nil},
		{"unknown keys", `telephony:
  api_key: sk-live-4f3c2
  secret: whsec-9a8b7
  demo: true
burst: 4
agents:
  - login: a
    password: hunter2
limits:
  colour: red
`, []string{
			`b.yaml:2: telephony: unknown key "api_key"; write the api key in a file or the environment: api_key_file or api_key_env`,
			`b.yaml:3: telephony: unknown key "secret"; write the webhook secret in the environment: webhook_secret_env`,
			`b.yaml:4: telephony.demo: the demo phone's key is for the demo configuration only (demo: true): set api_key_env or api_key_file`,
			`b.yaml:5: unknown key "burst" here: it is a key of limits (check the indentation)`,
			`b.yaml:8: agents[0]: unknown key "password"; an agent has a password_hash, never the password: ` + hashHelp,
			`b.yaml:10: limits: unknown key "colour" (keys here: message_bytes, messages_per_second, burst, max_connections, agent_connections, sockets_per_source, idle_timeout, session_ttl, session_idle, login_failures, lockout, logins_per_minute, login_burst, conversations_per_minute, conversation_burst, wait_timeout, header_timeout, read_timeout, write_timeout, max_chats_per_agent, offer_timeout)`,
		}, []string{"sk-live-4f3c2", "whsec-9a8b7", "hunter2"}},
		{"password hashes", `agents:
  - login: a
  - login: b
    password_hash: plain-hunter2
  - login: c
    password_hash: "$2a$10$short"
  - login: d
    password_hash: "$2y$10$1g4uyuEZrGJXrRoFu/qRNes65C/UEyL4lzBIuTh3aVv0MptPr3zkq"
  - login: d
    password_hash: "$2b$10$1g4uyuEZrGJXrRoFu/qRNes65C/UEyL4lzBIuTh3aVv0MptPr3zkq"
`, []string{
			`b.yaml:2: agents[0]: password_hash is missing: ` + hashHelp,
			`b.yaml:4: agents[1].password_hash: not a password hash: ` + hashHelp,
			`b.yaml:6: agents[2].password_hash: too short for a bcrypt hash (60 characters; was it cut?): ` + hashHelp,
			`b.yaml:9: agents[4].login: "d" is defined twice (first at line 7)`,
		}, []string{"hunter2", "1g4uyuEZ"}},
		{"keys set twice, forms, validation", `listen: ":8080"
listen: ":9090"
forms:
  - name: f
    fields:
      - {id: a, kind: text}
      - {id: a, kind: txt}
validation:
  url: "ftp://user:hunter2@v.example"
`, []string{
			`b.yaml:2: listen: set twice (first at line 1): keep one`,
			`b.yaml:7: forms[0].fields[1].kind: unknown kind "txt": did you mean "text"?`,
			`b.yaml:9: validation.url: "ftp://user:xxxxx@v.example": want http:// or https://`,
		}, []string{"hunter2"}},
		{"form attributes and lookup", `demo: true
forms:
  - name: f
    attributes: [{name: tenant, value: north}, {name: crm_token, value: tok-live-77}]
    secret_attributes:
      - {name: api, env: A, file: /a}
      - {name: "a b", env: B}
    interaction_attributes: [page, cookie]
    lookup: {url: "http://crm.example/lookup"}
    fields:
      - {id: a, kind: text, agent_fills: true, read_only: true}
      - {id: n, kind: secure_note}
validation: {sample: true}
`, []string{
			`b.yaml:4: forms[0].attributes[1].name: "crm_token" looks like a secret: never write it in the configuration; use secret_attributes (env or file)`,
			`b.yaml:6: forms[0].secret_attributes[0]: set env or file (the variable or the file that holds the secret), exactly one`,
			`b.yaml:7: forms[0].secret_attributes[1].name: want a name of 1 to 64 letters, digits, '_', '-' or '.'`,
		}, []string{"tok-live-77"}},
		{"sites", `sites:
  - {origin: "https://shop.example/path", secret_env: S}
  - {origin: "https://shop.example"}
`, []string{
			`b.yaml:2: sites[0].origin: "https://shop.example/path": want an origin like https://shop.example`,
			`b.yaml:3: sites[1]: set secret_env or secret_file (the variable or the file that holds the signing secret), exactly one`,
		}, nil},
		{"a lookup's URL", `demo: true
forms:
  - name: f
    interaction_attributes: [page, cookie]
    lookup: {url: "http://crm.example/lookup"}
    fields:
      - {id: n, kind: secure_note}
validation: {sample: true}
`, []string{
			`b.yaml:5: forms[0].lookup.url: "http://crm.example/lookup": plain http is allowed only to a loopback address`,
		}, nil},
		{"service hours", "workgroups: [{name: w}]\nservices:\n  - name: s\n    workgroup: w\n    hours: [\"mon-fri 09:00-17:00\", \"sat 9:00-12:00\"]\n    timezone: Europe/Pariss\n", []string{
			`b.yaml:5: services[0].hours[1]: "sat 9:00-12:00": time "9:00": want HH:MM`,
			`b.yaml:6: services[0].timezone: unknown time zone "Europe/Pariss": want an IANA name like Europe/Paris`,
		}, nil},
		{"a form's own rules", "demo: true\nforms:\n  - name: f\n    fields:\n      - {id: a, kind: text}\n      - {id: a, kind: ssn}\nvalidation: {sample: true}\n", []string{
			`b.yaml:6: forms[0].fields[1].id: field "a" defined twice`,
		}, nil},
		{"mailbox accounts", `mailboxes:
  - name: m
    source: {address: "mail.example.com:143", tls: plain, username: a}
    destination: {address: "127.0.0.1", tls: implicit, password_env: A, password_file: /a}
    dest_folder: INBOX
    after: move
`, []string{
			`b.yaml:3: mailboxes[0].source: no password: set password_env or password_file (the variable or the file that holds it; never the password itself), or oauth2`,
			`b.yaml:3: mailboxes[0].source.tls: plain is allowed only to a loopback address, not mail.example.com`,
			`b.yaml:4: mailboxes[0].destination: set password_env or password_file, not both`,
			`b.yaml:4: mailboxes[0].destination.address: "127.0.0.1": missing port in address`,
			`b.yaml:6: mailboxes[0].after: move needs move_to`,
		}, nil},
		{"mailbox oauth2", `mailboxes:
  - name: m
    source:
      address: "outlook.office365.com:993"
      tls: implicit
      username: a
      password_env: A
      oauth2:
        mechanism: cram
        token_url: "http://login.example.com/token"
        refresh_token_env: R
        refresh_token_file: /r
        scopes: ["a b"]
    destination:
      address: "127.0.0.1:993"
      tls: implicit
      oauth2: {token_url: "https://login.example.com/token", client_id: c}
    dest_folder: Clean
    after: delete
`, []string{
			`b.yaml:3: mailboxes[0].source: set a password (password_env, password_file) or oauth2, not both`,
			`b.yaml:8: mailboxes[0].source.oauth2: no client_id: the application (client) id registered with the provider`,
			`b.yaml:8: mailboxes[0].source.oauth2: set refresh_token_env or refresh_token_file, not both`,
			`b.yaml:9: mailboxes[0].source.oauth2.mechanism: must be xoauth2 or oauthbearer, not "cram"`,
			`b.yaml:10: mailboxes[0].source.oauth2.token_url: must be https (http is allowed only to a loopback address): it carries the client secret`,
			`b.yaml:13: mailboxes[0].source.oauth2.scopes[0]: a scope is one word without spaces, not "a b"`,
			`b.yaml:14: mailboxes[0].destination: no username: an OAuth2 login names the mailbox (support@example.com) beside the token`,
			`b.yaml:17: mailboxes[0].destination.oauth2: no grant: set client_secret_env or client_secret_file (client credentials, as Microsoft 365), refresh_token_env or refresh_token_file (a refresh token, as Gmail), or both`,
		}, nil},
		{"mailbox oauth2 secret in the file", `mailboxes:
  - name: m
    source:
      address: "127.0.0.1:993"
      tls: implicit
      username: a
      oauth2: {token_url: "https://login.example.com/token", client_id: c, client_secret: hunter2, refresh_token: tok-9c1e}
    dest_folder: Clean
    after: delete
`, []string{
			`b.yaml:7: mailboxes[0].source.oauth2: unknown key "client_secret"; write the client secret in a file or the environment: client_secret_file or client_secret_env`,
			`b.yaml:7: mailboxes[0].source.oauth2: unknown key "refresh_token"; write the refresh token in a file or the environment: refresh_token_file or refresh_token_env`,
		}, []string{"hunter2", "tok-9c1e"}},
		{"YAML syntax", "listen: \":8080\"\nlimits:\n\tburst: 3\n", []string{
			`b.yaml:3: YAML syntax: found character that cannot start any token (a tab: indent with spaces)`,
		}, nil},
		{"not a mapping", "- a\n- b\n", []string{
			`b.yaml:1: the file holds keys (like listen: …), not a list`,
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "b.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := runGateway(t, "", "config", "check", file)
			got := strings.ReplaceAll(stderr, file, "b.yaml")
			want := strings.Join(tc.want, "\n") + "\n"
			if code != exitUsage || stdout != "" || got != want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and stderr:\n%s", code, stdout, got, exitUsage, want)
			}
			for _, s := range tc.secrets {
				if strings.Contains(stderr, s) {
					t.Errorf("the secret %q of the file is in a message:\n%s", s, stderr)
				}
			}
		})
	}
}

// TestConfigCheckGoodFile: a good file (the demo's, with a webhook, and its
// key-encryption key away from the data) says so, on stdout, and nothing
// else.
func TestConfigCheckGoodFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "good.yaml")
	kek := writeKeyFile(t, filepath.Join(dir, "kek"))
	if err := os.WriteFile(file, []byte(demoWithWebhook+"\nkeys:\n  kek: {file: "+kek+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runGateway(t, "", "config", "check", file)
	if code != exitOK || stdout != file+": ok\n" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, file+": ok\n")
	}
}

// TestConfigCheckWarnsWithoutWebhook: telephony without webhook_url is
// valid (sessions collect at once) but config check says what it means.
func TestConfigCheckWarnsWithoutWebhook(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "demo.yaml")
	kek := writeKeyFile(t, filepath.Join(dir, "kek")) // no key warning
	if err := os.WriteFile(file, append(append([]byte{}, demoConfig...), "\nkeys:\n  kek: {file: "+kek+"}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runGateway(t, "", "config", "check", file)
	line := bytes.Count(demoConfig[:bytes.Index(demoConfig, []byte("\ntelephony:"))+1], []byte("\n")) + 1
	want := fmt.Sprintf("%s:%d: warning: telephony: no webhook_url: secure sessions collect digits at once", file, line)
	if code != exitOK || stdout != file+": ok\n" || !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0, ok and %q…", code, stdout, stderr, want)
	}
}

// demoWithWebhook is the demo configuration with a webhook and its timeout.
var demoWithWebhook = strings.Replace(string(demoConfig), "\ntelephony:\n",
	"\ntelephony:\n  webhook_url: https://pbx.example/hook\n  webhook_secret_env: HOOK_SECRET\n  webhook_timeout: 3s\n", 1)

// TestServeReportsEveryConfigError: serve prints the same errors, a line
// each.
func TestServeReportsEveryConfigError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "b.yaml")
	if err := os.WriteFile(file, []byte("listen: x\nlimits: {burst: many}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runGateway(t, "", "serve", "--config", file)
	want := "gateway serve: " + file + `:1: listen: "x" is not host:port (missing port in address): write e.g. :8080 or 127.0.0.1:8080` + "\n" +
		"gateway serve: " + file + `:2: limits.burst: "many" is not a whole number` + "\n"
	if code != exitUsage || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant exit %d and:\n%s", code, stderr, exitUsage, want)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"burst", "burst", 0}, {"pasword", "password", 1}, {"brust", "burst", 1}, {"colour", "color", 1}, {"abc", "", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestFormAttributesFromTheFile(t *testing.T) {
	t.Setenv("GW_TEST_CRM_TOKEN", "tok-from-env")
	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte("tok-from-file\n"), 0o600)
	c, err := parseConfig("f.yaml", []byte(`demo: true
forms:
  - name: bill
    workgroups: []
    attributes: [{name: tenant, value: north}]
    secret_attributes:
      - {name: crm_token, env: GW_TEST_CRM_TOKEN}
      - {name: other_token, file: `+file+`}
    interaction_attributes: [page, site.customer_id]
    require_verified: true
    lookup: {url: "http://127.0.0.1:9/lookup", timeout: 2s}
    fields:
      - {id: amount, kind: amount, agent_fills: true, read_only: true}
      - {id: card, kind: card_number}
validation: {sample: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := redact.New(redact.DefaultConfig())
	f, err := c.Forms[0].form(e, readSecret)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tenant": "north", "crm_token": "tok-from-env", "other_token": "tok-from-file"}
	if fmt.Sprint(f.Attributes) != fmt.Sprint(want) {
		t.Errorf("attributes %v, want %v", f.Attributes, want)
	}
	if f.Lookup == nil || !f.RequireVerified || !f.Fields[0].ReadOnly || fmt.Sprint(f.InteractionAttributes) != "[page site.customer_id]" {
		t.Errorf("form %+v: want its lookup, require_verified, the read-only amount and the interaction attributes", f)
	}
	if _, err := chatforms.New(chatforms.Config{Forms: []chatforms.Form{f}}); err != nil {
		t.Errorf("the catalog refuses the form: %v", err)
	}
	os.Unsetenv("GW_TEST_CRM_TOKEN")
	if _, err := c.Forms[0].form(e, readSecret); err == nil || strings.Contains(err.Error(), "tok-") {
		t.Errorf("an unset variable: err = %v, want an error naming no secret", err)
	}
}
