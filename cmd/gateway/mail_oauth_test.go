package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/secureinput/gateway/internal/testenv"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

// TestMailboxOAuth2FromConfig configures a mailbox that logs in with
// OAuth2, its client secret in a file and its refresh token in the
// environment, and ingests a message from a Dovecot that accepts only
// bearer tokens: the secrets reach the token endpoint and nowhere else.
func TestMailboxOAuth2FromConfig(t *testing.T) {
	const secret, refresh = "cs-71b2e0f4", "rt-5d0c9a13"
	var mu sync.Mutex
	issued := map[string]bool{}
	var grants []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		id, sec, ok := r.BasicAuth()
		if !ok {
			id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		mu.Lock()
		defer mu.Unlock()
		grants = append(grants, r.PostForm.Get("grant_type"))
		if id != "gw" || sec != secret || r.PostForm.Get("refresh_token") != refresh || r.PostForm.Get("grant_type") != "refresh_token" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		tok := fmt.Sprintf("at-%d", len(grants))
		issued[tok] = true
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, tok)
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		ok := issued[r.PostForm.Get("token")]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			fmt.Fprint(w, `{"active":false}`)
			return
		}
		fmt.Fprint(w, `{"active":true,"username":"alice"}`)
	})
	idp := httptest.NewServer(mux)
	defer idp.Close()
	d := testenv.StartDovecotOAuth2(t, idp.URL+"/introspect", "alice")

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "client-secret")
	os.WriteFile(secretFile, []byte(secret+"\n"), 0o600)
	t.Setenv("GW_TEST_REFRESH", refresh)
	conf := fmt.Sprintf(`mailboxes:
  - name: gmail
    source:
      address: %q
      tls: plain
      username: alice
      oauth2:
        mechanism: oauthbearer
        token_url: %q
        client_id: gw
        client_secret_file: %q
        refresh_token_env: GW_TEST_REFRESH
        scopes: ["https://mail.google.com/"]
    dest_folder: Redacted
    after: delete
`, d.Addr, idp.URL+"/token", secretFile)
	cfg, err := parseConfig("gw.yaml", []byte(conf))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	engine, err := redact.New(cfg.redactConfig())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	ings, err := mailIngesters(cfg, engine, testenv.Store(t, store.Config{}), logger)
	if err != nil {
		t.Fatalf("mailIngesters: %v", err)
	}

	mu.Lock()
	issued["seed"] = true
	mu.Unlock()
	c, err := imapclient.DialInsecure(d.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Authenticate(&seedClient{}); err != nil {
		t.Fatalf("seed login: %v", err)
	}
	msg := "Subject: pay\r\n\r\ncard 4111 1111 1111 1111\r\n"
	app := c.Append("INBOX", int64(len(msg)), nil)
	app.Write([]byte(msg))
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatal(err)
	}

	p, err := ings[0].RunOnce(context.Background())
	if err != nil || p.Done != 1 {
		t.Fatalf("RunOnce: %+v, %v; want one message delivered", p, err)
	}
	if n := imapCount(t, c, "Redacted"); n != 1 {
		t.Errorf("%d messages in Redacted, want 1", n)
	}
	for _, s := range []string{secret, refresh, "at-1"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log holds %q:\n%s", s, logs.String())
		}
	}
}

// seedClient logs in with the token "seed" over XOAUTH2, to put mail in.
type seedClient struct{}

func (seedClient) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=alice\x01auth=Bearer seed\x01\x01"), nil
}
func (seedClient) Next([]byte) ([]byte, error) { return []byte{}, nil }

// TestReadmeMailboxExampleChecks: the README's Microsoft 365 and Gmail
// example is a valid configuration.
func TestReadmeMailboxExampleChecks(t *testing.T) {
	src, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(src), "### Mailboxes\n")
	_, block, ok2 := strings.Cut(section, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no yaml block under ### Mailboxes")
	}
	cfg, err := parseConfig("README.md", []byte(block))
	if err != nil {
		t.Fatalf("the README's mailbox example: %v", err)
	}
	if len(cfg.Mailboxes) != 2 || cfg.Mailboxes[0].Source.OAuth2 == nil || cfg.Mailboxes[1].Source.OAuth2 == nil ||
		cfg.Mailboxes[1].Source.OAuth2.RefreshTokenFile == "" {
		t.Errorf("the README's example is not a client-credentials and a refresh-token mailbox: %+v", cfg.Mailboxes)
	}
}
