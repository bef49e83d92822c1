package main

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/identity"
)

// The checks of what a deployment exposes: outbound URLs, the demo's parts,
// trusted proxies, the metrics listener, audit retention and alerts.

func telephonyWebhook(c *config) string {
	if c.Telephony == nil {
		return ""
	}
	return c.Telephony.WebhookURL
}

// checkOutboundURL refuses a plain http:// URL the gateway would send to
// (card data, instructions, alerts) unless its host is the machine itself.
func (v *validator) checkOutboundURL(p path, raw string) {
	if raw == "" || v.failed(p) {
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		return // the owner's check says why
	}
	if strings.EqualFold(u.Scheme, "http") && !loopbackHost(u.Hostname()) {
		v.failf(p, "plain http:// to %s would send this in the clear: use https://, or a loopback address", u.Hostname())
	}
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// demoPassword is the demo account's password; a file that is not the
// demo configuration may not let anyone sign in with it.
const demoPassword = "demo"

// checkDemo keeps what is for demos in the demo configuration.
func (v *validator) checkDemo(c *config) {
	if c.Demo {
		return
	}
	if c.Validation.Sample {
		v.failf(path{"validation", "sample"}, "the sample validation service is for the demo configuration only (demo: true): set validation.url")
	}
	if c.Telephony != nil && c.Telephony.Demo {
		v.failf(path{"telephony", "demo"}, "the demo phone's key is for the demo configuration only (demo: true): set api_key_env or api_key_file")
	}
	for i, a := range c.Agents {
		if a.Login == "demo" && identity.CheckHash(a.PasswordHash) == nil && identity.VerifyPassword(a.PasswordHash, demoPassword) {
			v.failf(path{"agents", i, "password_hash"}, "the demo/demo account is for the demo configuration only (demo: true): give it a password of its own")
		}
	}
}

func (v *validator) checkProxies(proxies []string) {
	for i, s := range proxies {
		if _, err := parsePrefix(s); err != nil {
			v.failf(path{"trusted_proxies", i}, "%v", err)
		}
	}
}

func (v *validator) checkMetrics(m metricsDef) {
	if m.Listen != "" {
		if _, _, err := net.SplitHostPort(m.Listen); err != nil {
			v.failf(path{"metrics", "listen"}, "%s is not host:port: write e.g. 127.0.0.1:9464", quoteValue(m.Listen))
		}
	}
}

func (v *validator) checkAudit(a auditDef) {
	if a.Retention != 0 && time.Duration(a.Retention) < audit.MinRetention {
		v.failf(path{"audit", "retention"}, "%v is under 12 months (PCI DSS 10.5.1): at least 8760h", time.Duration(a.Retention))
	}
}

func (v *validator) checkAlerts(a alertsDef) {
	if a.WebhookURL == "" {
		return
	}
	if u, err := url.Parse(a.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		v.failf(path{"alerts", "webhook_url"}, "%s is not an http(s) URL", quoteValue(a.WebhookURL))
	}
	if a.SecretEnv == "" {
		v.failf(path{"alerts"}, "alerts are signed: set secret_env (the environment variable holding the secret)")
	}
}
