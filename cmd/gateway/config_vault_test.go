package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secureinput/gateway/internal/testenv"
)

// TestConfigCheckVault: the vault sections' mistakes are reported with
// their key; a vault's file may not configure a contact center, and
// gateway serve refuses one.
func TestConfigCheckVault(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, filepath.Join(dir, "pki"), "v")
	cert, key := ca.Client(t, "gateway.internal")
	caDir := filepath.Join(dir, "ca")
	os.Mkdir(caDir, 0o700)
	pem, _ := os.ReadFile(ca.CertPEM)
	os.WriteFile(filepath.Join(caDir, "ca.pem"), pem, 0o600)
	hash := strings.Repeat("ab", 32)
	client := "vault:\n  url: https://vault.example:8443\n  ca_dir: " + caDir + "\n  client_cert: " + cert + "\n  client_key: " + key + "\n  api_key_env: K\n  site: shop\n"
	server := "data: " + filepath.Join(dir, "vault-data") + "\ntls: {cert: " + cert + ", key: " + key + "}\nvault_server:\n  client_ca: " + ca.CertPEM +
		"\n  clients: [{name: cc, subject: gateway.internal, api_key_sha256: " + hash + ", roles: [tokenize]}]\n"
	for name, yaml := range map[string]string{"client": client, "server": server} {
		if _, err := parseConfig("c.yaml", []byte(yaml)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, c := range map[string]struct{ yaml, want string }{
		"plain http":       {strings.Replace(client, "https://", "http://", 1), "c.yaml:2: vault.url: "},
		"no API key":       {strings.Replace(client, "  api_key_env: K\n", "", 1), "set one of api_key_env and api_key_file"},
		"no CA":            {strings.Replace(client, "  ca_dir: "+caDir+"\n", "", 1), "c.yaml:1: vault: ca_dir is required"},
		"bad site":         {strings.Replace(client, "site: shop", "site: \"a b\"", 1), "vault.site: "},
		"missing cert":     {strings.Replace(client, cert, filepath.Join(dir, "nope.pem"), 1), "vault.client_cert: "},
		"no client CA":     {strings.Replace(server, "  client_ca: "+ca.CertPEM+"\n", "", 1), "set client_ca"},
		"no TLS":           {strings.Replace(server, "tls: {cert: "+cert+", key: "+key+"}\n", "", 1), "the vault serves mutual TLS only"},
		"bad hash":         {strings.Replace(server, hash, "abc", 1), "api_key_sha256: want the SHA-256"},
		"bad role":         {strings.Replace(server, "[tokenize]", "[read]", 1), "\"read\": want tokenize or detokenize"},
		"bad tokens":       {server + "  tokens: always\n", "vault_server.tokens: \"always\""},
		"no data":          {strings.Replace(server, "data: "+filepath.Join(dir, "vault-data")+"\n", "", 1), "set data: the vault's own data directory"},
		"short retention":  {server + "  retention: 10m\n", "vault_server.retention: at least 1h"},
		"no clients":       {strings.Replace(server, "  clients: [{name: cc, subject: gateway.internal, api_key_sha256: "+hash+", roles: [tokenize]}]\n", "", 1), "set clients"},
		"contact center":   {server + "forms: [{name: f, fields: [{id: a, kind: text}]}]\n", "forms: a vault's file configures the vault only"},
		"the client, too":  {server + client, "vault: a vault's file configures the vault only"},
		"duplicate client": {strings.Replace(server, "roles: [tokenize]}]", "roles: [tokenize]}, {name: cc, subject: x, api_key_sha256: "+strings.Repeat("cd", 32)+", roles: [detokenize]}]", 1), "\"cc\" is defined twice"},
	} {
		if _, err := parseConfig("c.yaml", []byte(c.yaml)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}

	both, err := parseConfig("c.yaml", []byte(strings.Replace(server, "roles: [tokenize]", "roles: [tokenize, detokenize]", 1)))
	if err != nil || len(both.warnings) != 1 || !strings.Contains(both.warnings[0], "both tokenizes and detokenizes") {
		t.Errorf("a client with both roles: %v %q, want a warning", err, both.warnings)
	}

	file := filepath.Join(dir, "vault.yaml")
	os.WriteFile(file, []byte(server), 0o600)
	if _, stderr, code := runGateway(t, "", "serve", "--config", file); code != exitUsage || !strings.Contains(stderr, "run it with gateway vault serve") {
		t.Errorf("serve of a vault's file: exit %d, %q", code, stderr)
	}
	if _, stderr, code := runGateway(t, "", "vault", "serve"); code != exitUsage || !strings.Contains(stderr, "--config is required") {
		t.Errorf("vault serve without a file: exit %d, %q", code, stderr)
	}
	want := fmt.Sprintf("%x\n", sha256.Sum256([]byte("0123456789abcdef0123")))
	if stdout, _, code := runGateway(t, "0123456789abcdef0123\n", "vault", "hash-key"); code != exitOK || stdout != want {
		t.Errorf("hash-key: exit %d, %q, want %q", code, stdout, want)
	}
	if _, _, code := runGateway(t, "short\n", "vault", "hash-key"); code != exitUsage {
		t.Errorf("hash-key of a short key: exit %d, want %d", code, exitUsage)
	}
}
