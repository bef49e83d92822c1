package main

import (
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/vault"
)

// vaultDef is the gateway's side of the card vault (docs/vault.md): where
// it is, how the gateway proves who it is, and the site its tokens belong
// to. Unset, accepted cards are kept nowhere.
type vaultDef struct {
	URL        string   `yaml:"url"`
	CADir      string   `yaml:"ca_dir"`
	ClientCert string   `yaml:"client_cert"`
	ClientKey  string   `yaml:"client_key"`
	APIKeyEnv  string   `yaml:"api_key_env"`
	APIKeyFile string   `yaml:"api_key_file"`
	Site       string   `yaml:"site"`
	SendToken  bool     `yaml:"send_token"`
	Timeout    duration `yaml:"timeout"`
}

// vaultServerDef makes the process the card vault itself (`gateway vault
// serve`), with the file's listen, tls, data, keys and audit sections.
type vaultServerDef struct {
	ClientCA      string           `yaml:"client_ca"`
	Retention     duration         `yaml:"retention"`
	PurgeInterval duration         `yaml:"purge_interval"`
	Tokens        string           `yaml:"tokens"`
	Clients       []vaultClientDef `yaml:"clients"`
}

// vaultClientDef is one caller of the vault.
type vaultClientDef struct {
	Name         string   `yaml:"name"`
	Subject      string   `yaml:"subject"`
	APIKeySHA256 string   `yaml:"api_key_sha256"`
	Roles        []string `yaml:"roles"`
}

// Token policies of vault_server.tokens.
const (
	tokensPerCardPerSite = "per_card_per_site"
	tokensPerUse         = "per_use"
)

// defaultVaultPurge is how often the vault purges expired cards.
const defaultVaultPurge = time.Hour

// configured reports whether the vault section is set at all.
func (d vaultDef) configured() bool { return d != vaultDef{} }

// client is the secure package's configuration of the vault client, with
// the API key read by secret.
func (d vaultDef) client(secret func(env, file string) (string, error)) (secure.VaultConfig, error) {
	key, err := secret(d.APIKeyEnv, d.APIKeyFile)
	if err != nil {
		return secure.VaultConfig{}, fmt.Errorf("vault API key: %w", err)
	}
	return secure.VaultConfig{URL: d.URL, CADir: d.CADir, ClientCert: d.ClientCert, ClientKey: d.ClientKey, APIKey: key,
		Site: d.Site, SendToken: d.SendToken, Timeout: time.Duration(d.Timeout)}, nil
}

// checkVault checks the vault section: the client is built with a stand-in
// API key (the real one is read when the gateway starts).
func (v *validator) checkVault(c *config) {
	d := c.Vault
	if !d.configured() {
		return
	}
	p := path{"vault"}
	if (d.APIKeyEnv == "") == (d.APIKeyFile == "") {
		v.failf(v.either(p.with("api_key_env"), p), "set one of api_key_env and api_key_file: the vault's API key for this gateway")
	}
	if len(c.Forms) == 0 {
		v.warnf(p, "no forms are configured, so no card reaches the vault")
	}
	cfg, _ := d.client(func(string, string) (string, error) { return "stand-in", nil })
	if _, err := secure.NewVault(cfg); err != nil {
		msg := strings.TrimPrefix(err.Error(), "secure: ")
		q := p
		for _, k := range vaultClientKeys {
			if strings.Contains(msg, k.field) {
				q = v.either(p.with(k.key), p)
				msg = strings.ReplaceAll(msg, "VaultConfig."+k.field, k.key)
				break
			}
		}
		v.failf(q, "%s", msg)
	}
}

// vaultClientKeys place secure.NewVault's errors: the VaultConfig field a
// message names, and its key.
var vaultClientKeys = []struct{ field, key string }{
	{"URL", "url"}, {"CADir", "ca_dir"}, {"ClientCert", "client_cert"}, {"APIKey", "api_key_env"}, {"Site", "site"},
	{"client certificate", "client_cert"}, {"CA directory", "ca_dir"},
}

// checkVaultServer checks a vault's file: the vault section and what the
// vault uses of the rest, and that it configures nothing of a contact
// center (the vault runs apart from it).
func (v *validator) checkVaultServer(c *config) {
	s := c.VaultServer
	if s == nil {
		return
	}
	p := path{"vault_server"}
	for _, other := range []struct {
		key string
		set bool
	}{{"services", len(c.Services) > 0}, {"workgroups", len(c.Workgroups) > 0}, {"agents", len(c.Agents) > 0},
		{"forms", len(c.Forms) > 0}, {"mailboxes", len(c.Mailboxes) > 0}, {"telephony", c.Telephony != nil},
		{"vault", c.Vault.configured()}, {"sites", len(c.Sites) > 0}, {"validation", c.Validation != validationDef{}}} {
		if other.set {
			v.failf(path{other.key}, "a vault's file configures the vault only: keep the contact center's %s in the gateway's own file", other.key)
		}
	}
	if c.TLS.Cert == "" || c.TLS.Key == "" {
		v.failf(v.either(path{"tls"}, p), "the vault serves mutual TLS only: set tls.cert and tls.key")
	}
	if c.Data == "" {
		v.failf(p, "set data: the vault's own data directory (never a gateway's: the default ./data is the gateway's)")
	}
	if s.ClientCA == "" {
		v.failf(p, "set client_ca: the CA file that signs the certificates of the vault's clients")
	} else if _, err := pemPool(s.ClientCA); err != nil {
		v.failf(p.with("client_ca"), "%s", err)
	}
	if s.Tokens != "" && s.Tokens != tokensPerCardPerSite && s.Tokens != tokensPerUse {
		v.failf(p.with("tokens"), "%q: want %s or %s", s.Tokens, tokensPerCardPerSite, tokensPerUse)
	}
	if r := time.Duration(s.Retention); r != 0 && r < time.Hour {
		v.failf(p.with("retention"), "at least 1h")
	}
	if i := time.Duration(s.PurgeInterval); i != 0 && i < time.Second {
		v.failf(p.with("purge_interval"), "at least 1s")
	}
	if len(s.Clients) == 0 {
		v.failf(p, "set clients: nobody could call the vault")
	}
	var names []string
	for i, cl := range s.Clients {
		cp := p.with("clients", i)
		v.unique(cp, "name", cl.Name, slices.Index(names, cl.Name))
		names = append(names, cl.Name)
		if cl.Subject == "" {
			v.failf(cp, "set subject: the common name the client's certificate carries")
		}
		if b, err := hex.DecodeString(cl.APIKeySHA256); err != nil || len(b) != 32 {
			v.failf(v.either(cp.with("api_key_sha256"), cp), "want the SHA-256 of the client's API key, 64 hex digits (gateway vault hash-key)")
		}
		if len(cl.Roles) == 0 {
			v.failf(cp, "set roles: tokenize (the gateway) or detokenize (a payment processor)")
		}
		for j, r := range cl.Roles {
			if r != string(vault.RoleTokenize) && r != string(vault.RoleDetokenize) {
				v.failf(cp.with("roles", j), "%q: want tokenize or detokenize", r)
			}
		}
		if slices.Contains(cl.Roles, string(vault.RoleTokenize)) && slices.Contains(cl.Roles, string(vault.RoleDetokenize)) {
			v.warnf(cp.with("roles"), "one client both tokenizes and detokenizes: a contact center that can read cards back is in scope again")
		}
	}
}

// vaultConfig is the vault package's configuration of the file's
// vault_server section.
func (s *vaultServerDef) vaultConfig() vault.Config {
	cfg := vault.Config{Retention: time.Duration(s.Retention), PerUse: s.Tokens == tokensPerUse}
	for _, cl := range s.Clients {
		c := vault.Client{Name: cl.Name, Subject: cl.Subject}
		hex.Decode(c.APIKeyHash[:], []byte(cl.APIKeySHA256))
		for _, r := range cl.Roles {
			c.Roles = append(c.Roles, vault.Role(r))
		}
		cfg.Clients = append(cfg.Clients, c)
	}
	return cfg
}

// vaultTLS is the vault's listener's TLS: its certificate, and only
// clients whose certificate the client CA signed.
func (c *config) vaultTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pool, err := pemPool(c.VaultServer.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("vault_server.client_ca: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12}, nil
}
