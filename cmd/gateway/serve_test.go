package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEmbeddedDemoConfigIsValid(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Agents) == 0 || len(cfg.Services) == 0 || cfg.Agents[0].Login != "demo" {
		t.Errorf("demo config = %+v", cfg)
	}
}

func TestConfigErrorsNameFileLineAndReason(t *testing.T) {
	good := string(demoConfig)
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", "listen: \":8080\"\nlisten_port: 8080\n", `cfg.yaml:2: unknown key "listen_port"`},
		{"unknown nested key", "limits:\n  message_bytes: 10\n  colour: red\n", `cfg.yaml:3: limits: unknown key "colour"`},
		{"bad duration", "limits:\n  idle_timeout: soon\n", `cfg.yaml:2: limits.idle_timeout: "soon" is not a duration`},
		{"bad number", "limits:\n  burst: many\n", "cfg.yaml:2:"},
		{"bad listen", "listen: localhost\n", `cfg.yaml:1: listen: "localhost" is not host:port`},
		{"undefined workgroup", strings.Replace(good, "    workgroup: support", "    workgroup: nobody", 1), `services[0].workgroup: "nobody" is not defined under workgroups`},
		{"bad expression", "redaction:\n  expressions:\n    - '(ab'\n", `cfg.yaml:3: redaction.expressions[0]: "(ab" does not compile: error parsing regexp`},
		{"bad hash", strings.Replace(good, `password_hash: "$2a$10$`, `password_hash: "plain`, 1), "agents[0].password_hash: not a password hash: write a bcrypt hash"},
		{"bad origin", "allowed_origins: [shop.example]\n", `cfg.yaml:1: allowed_origins[0]: "shop.example" is not an origin`},
		{"tls half", "tls:\n  cert: /nonexistent.pem\n", "cfg.yaml:1: tls: set both"},
		{"unknown field kind", strings.Replace(good, "kind: ssn}", "kind: blood_type}", 1), `unknown kind "blood_type"`},
		{"unknown right", strings.Replace(good, "rights: [supervisor]", "rights: [root]", 1), `unknown right "root"`},
		{"forms without validation", strings.Replace(good, "sample: true", "sample: false", 1), "set validation.url"},
		{"bad durability", "listen: \":8080\"\ndurability: eventually\n", `cfg.yaml:2: durability: "eventually" is not a durability: want one of power_loss, process_crash`},
		{"canned form missing", strings.Replace(good, "form: credit_card", "form: nope", 1), `no form "nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig("cfg.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := parseConfig("cfg.yaml", demoConfig); err != nil {
		t.Errorf("demo config: %v", err)
	}
	for _, d := range []string{"power_loss", "process_crash"} {
		if _, err := parseConfig("cfg.yaml", []byte(good+"durability: "+d+"\n")); err != nil {
			t.Errorf("durability %s: %v", d, err)
		}
	}
}

func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, demoConfig, 0o600)
	os.WriteFile(bad, []byte("listen: \":8080\"\nlimitz: {}\n"), 0o600)
	out, _, code := runGateway(t, "", "config", "check", good)
	if code != exitOK || !strings.Contains(out, "ok") {
		t.Errorf("check of a good file: %d %q", code, out)
	}
	_, errs, code := runGateway(t, "", "config", "check", bad)
	if code != exitUsage || !strings.Contains(errs, bad+":2:") {
		t.Errorf("check of a bad file: %d %q, want exit 2 and file:line", code, errs)
	}
	if _, _, code := runGateway(t, "", "serve", "--config", bad); code != exitUsage {
		t.Errorf("serve with a bad config exited %d, want 2", code)
	}
}

func TestServeRunsTheDemo(t *testing.T) {
	cfg, _ := loadConfig("")
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = filepath.Join(t.TempDir(), "data")
	g, err := startGateway(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for path, want := range map[string]string{
		"/healthz":               "ok",
		"/widget.js":             "data-service",
		"/demo/":                 `src="/widget.js" data-service="support"`,
		"/console/":              "login-form",
		"/chat/?service=support": "composer",
	} {
		resp, err := http.Get(g.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, body lacks %q", path, resp.Status, want)
		}
	}
	resp, _ := http.Post(g.URL()+"/api/v1/login", "application/json", strings.NewReader(`{"login":"demo","password":"demo"}`))
	if resp.StatusCode != 200 {
		t.Errorf("demo login: %s", resp.Status)
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, "gateway.db")); err != nil {
		t.Errorf("no database in the data directory: %v", err)
	}
}

func TestMailboxConfig(t *testing.T) {
	base := "mailboxes:\n  - name: support\n    source: {address: \"127.0.0.1:143\", tls: plain, username: a, password_env: X}\n    dest_folder: Clean\n    after: move\n    move_to: Done\n"
	if _, err := parseConfig("m.yaml", []byte(base)); err != nil {
		t.Fatalf("a good mailbox: %v", err)
	}
	for name, c := range map[string]struct{ yaml, want string }{
		"password in the file": {strings.Replace(base, "password_env: X", "password: hunter2", 1), `mailboxes[0].source: unknown key "password"; write the password in a file or the environment`},
		"no password source":   {strings.Replace(base, ", password_env: X", "", 1), "password_env or password_file"},
		"plain to remote":      {strings.Replace(base, "127.0.0.1:143", "mail.example.com:143", 1), "loopback"},
		"bad after":            {strings.Replace(base, "after: move", "after: archive", 1), "move or delete"},
	} {
		if _, err := parseConfig("m.yaml", []byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}
