package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/secureinput/gateway/mail"
)

// oauth2Def is an account's OAuth2 login, for servers that refuse
// passwords (Microsoft 365, Gmail). The client secret and the refresh
// token come from the environment or files, never from the config.
type oauth2Def struct {
	// Mechanism is the SASL mechanism: xoauth2 (the default) or
	// oauthbearer.
	Mechanism        string   `yaml:"mechanism"`
	TokenURL         string   `yaml:"token_url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecretEnv  string   `yaml:"client_secret_env"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	RefreshTokenEnv  string   `yaml:"refresh_token_env"`
	RefreshTokenFile string   `yaml:"refresh_token_file"`
	Scopes           []string `yaml:"scopes"`
	RefreshMargin    duration `yaml:"refresh_margin"`
}

// mechanism is the mail package's name of the SASL mechanism.
func (o *oauth2Def) mechanism() string {
	if o.Mechanism == "" {
		return mail.MechXOAUTH2
	}
	return strings.ToUpper(o.Mechanism)
}

// tokens reads the secrets and makes the account's token source.
func (o *oauth2Def) tokens() (*mail.Tokens, error) {
	cfg := mail.OAuth2Config{TokenURL: o.TokenURL, ClientID: o.ClientID, Scopes: o.Scopes, RefreshMargin: time.Duration(o.RefreshMargin)}
	var err error
	if o.ClientSecretEnv != "" || o.ClientSecretFile != "" {
		if cfg.ClientSecret, err = readSecret(o.ClientSecretEnv, o.ClientSecretFile); err != nil {
			return nil, fmt.Errorf("oauth2 client secret: %w", err)
		}
	}
	if o.RefreshTokenEnv != "" || o.RefreshTokenFile != "" {
		if cfg.RefreshToken, err = readSecret(o.RefreshTokenEnv, o.RefreshTokenFile); err != nil {
			return nil, fmt.Errorf("oauth2 refresh token: %w", err)
		}
	}
	return mail.NewTokens(cfg)
}

// checkAccountLogin checks how an account logs in: a password from the
// environment or a file, or OAuth2.
func (v *validator) checkAccountLogin(ap path, a *accountDef) {
	hasPassword := a.PasswordEnv != "" || a.PasswordFile != ""
	if a.OAuth2 == nil {
		switch {
		case !hasPassword:
			v.failf(ap, "no password: set password_env or password_file (the variable or the file that holds it; never the password itself), or oauth2")
		case a.PasswordEnv != "" && a.PasswordFile != "":
			v.failf(ap, "set password_env or password_file, not both")
		}
		return
	}
	if hasPassword {
		v.failf(ap, "set a password (password_env, password_file) or oauth2, not both")
	}
	o := a.OAuth2
	op := ap.with("oauth2")
	if a.Username == "" {
		v.failf(ap, "no username: an OAuth2 login names the mailbox (support@example.com) beside the token")
	}
	switch o.mechanism() {
	case mail.MechXOAUTH2, mail.MechOAUTHBEARER:
	default:
		v.failf(op.with("mechanism"), "must be xoauth2 or oauthbearer, not %s", quoteValue(o.Mechanism))
	}
	if o.TokenURL == "" {
		v.failf(op, "no token_url: the provider's token endpoint (Microsoft 365: https://login.microsoftonline.com/TENANT/oauth2/v2.0/token, Google: https://oauth2.googleapis.com/token)")
	} else if msg := checkTokenURL(o.TokenURL); msg != "" {
		v.failf(op.with("token_url"), "%s", msg)
	}
	if o.ClientID == "" {
		v.failf(op, "no client_id: the application (client) id registered with the provider")
	}
	if o.ClientSecretEnv != "" && o.ClientSecretFile != "" {
		v.failf(op, "set client_secret_env or client_secret_file, not both")
	}
	if o.RefreshTokenEnv != "" && o.RefreshTokenFile != "" {
		v.failf(op, "set refresh_token_env or refresh_token_file, not both")
	}
	hasSecret := o.ClientSecretEnv != "" || o.ClientSecretFile != ""
	hasRefresh := o.RefreshTokenEnv != "" || o.RefreshTokenFile != ""
	if !hasSecret && !hasRefresh {
		v.failf(op, "no grant: set client_secret_env or client_secret_file (client credentials, as Microsoft 365), "+
			"refresh_token_env or refresh_token_file (a refresh token, as Gmail), or both")
	}
	if o.RefreshMargin < 0 {
		v.failf(op.with("refresh_margin"), "must not be negative")
	}
	for i, s := range o.Scopes {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\r\n") {
			v.failf(op.with("scopes", i), "a scope is one word without spaces, not %s", quoteValue(s))
		}
	}
}

// checkTokenURL says what is wrong with a token endpoint's address: it must
// be https, or http to a loopback address only.
func checkTokenURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "not an address: want https://host/path"
	}
	if u.User != nil {
		return "must not hold a user name or password"
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "must be https (http is allowed only to a loopback address): it carries the client secret"
		}
	default:
		return fmt.Sprintf("must be https, not %s", quoteValue(u.Scheme))
	}
	return ""
}
