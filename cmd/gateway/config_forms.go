package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/secure"
)

// checkSites checks the websites that sign visitor attributes.
func (v *validator) checkSites(sites []siteDef) {
	seen := map[string]bool{}
	for i, st := range sites {
		p := path{"sites", i}
		u, err := url.Parse(st.Origin)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
			v.failf(v.either(p.with("origin"), p), "%s: want an origin like https://shop.example", quoteValue(st.Origin))
		case seen[strings.ToLower(strings.TrimSuffix(st.Origin, "/"))]:
			v.failf(p.with("origin"), "%s defined twice", quoteValue(st.Origin))
		}
		seen[strings.ToLower(strings.TrimSuffix(st.Origin, "/"))] = true
		if (st.SecretEnv == "") == (st.SecretFile == "") {
			v.failf(p, "set secret_env or secret_file (the variable or the file that holds the signing secret), exactly one")
		}
	}
}

// siteSecrets reads the websites' signing secrets, by origin.
func siteSecrets(sites []siteDef) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, st := range sites {
		secret, err := readSecret(st.SecretEnv, st.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("sites: %s: %w", st.Origin, err)
		}
		if len(secret) < 16 {
			return nil, fmt.Errorf("sites: %s: the signing secret is shorter than 16 bytes", st.Origin)
		}
		out[strings.ToLower(strings.TrimSuffix(st.Origin, "/"))] = []byte(secret)
	}
	return out, nil
}

// lookupKeys place secure.NewLookup's errors: message prefix, key.
var lookupKeys = []struct{ prefix, key string }{
	{"lookup URL ", "url"}, {"CA directory", "ca_dir"}, {"client certificate: ", "client_cert"}, {"set both client", "client_cert"},
}

// checkEngine redacts nothing during checks; it only lets a lookup client
// be built.
var checkEngine, _ = redact.New(redact.DefaultConfig())

// checkFormAttributes checks the attributes of form f at p: a secret is a
// secret attribute (from the environment or a file), never in the text.
func (v *validator) checkFormAttributes(p path, f formDef) {
	seen := map[string]bool{}
	for i, a := range f.Attributes {
		ap := p.with("attributes", i)
		switch {
		case !secure.ValidAttributeName(a.Name):
			v.failf(v.either(ap.with("name"), ap), "want a name of 1 to %d letters, digits, '_', '-' or '.'", secure.MaxAttributeName)
		case secretKey(path{a.Name}):
			v.failf(ap.with("name"), "%s looks like a secret: never write it in the configuration; use secret_attributes (env or file)", quoteValue(a.Name))
		case seen[a.Name]:
			v.failf(ap.with("name"), "attribute %s defined twice", quoteValue(a.Name))
		}
		seen[a.Name] = true
	}
	for i, sa := range f.SecretAttributes {
		sp := p.with("secret_attributes", i)
		switch {
		case !secure.ValidAttributeName(sa.Name):
			v.failf(v.either(sp.with("name"), sp), "want a name of 1 to %d letters, digits, '_', '-' or '.'", secure.MaxAttributeName)
		case seen[sa.Name]:
			v.failf(sp.with("name"), "attribute %s defined twice", quoteValue(sa.Name))
		case (sa.Env == "") == (sa.File == ""):
			v.failf(sp, "set env or file (the variable or the file that holds the secret), exactly one")
		}
		seen[sa.Name] = true
	}
}
