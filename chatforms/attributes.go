package chatforms

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secureinput/gateway/secure"
)

// Names of the interaction attributes a form may pass
// (Form.InteractionAttributes). Website attributes are named SitePrefix+name
// when their signature is good, UnverifiedPrefix+name otherwise.
const (
	AttrService   = "service"   // the chat's service, or the call's
	AttrWorkgroup = "workgroup" // the conversation's workgroup
	AttrPage      = "page"      // the page the visitor is on (no query, no fragment)
	AttrCaller    = "caller"    // a call's caller number, as the telephony platform registered it
	AttrAccount   = "account"   // a call's account, as the telephony platform registered it
	SitePrefix    = "site."
	// UnverifiedPrefix marks website attributes without a good signature:
	// kept apart, never under a site. name.
	UnverifiedPrefix = "unverified."
	// InteractionPrefix starts the name of every interaction attribute in a
	// lookup or validation request, so it never collides with the form's
	// own attributes.
	InteractionPrefix = "interaction."
)

// MaxSignatureAge bounds how far in the future a website may set the expiry
// of signed attributes.
const MaxSignatureAge = 24 * time.Hour

// Errors of website attributes. They say what is wrong, never a value.
var (
	ErrSiteSignature = errors.New("chatforms: the website attributes' signature does not match")
	ErrSiteExpired   = errors.New("chatforms: the website attributes' signature has expired")
	ErrSiteUnsigned  = errors.New("chatforms: the website attributes are not signed")
	ErrUnverified    = errors.New("chatforms: the form requires verified website attributes")
)

// Interaction is what a form may learn of the chat or call it is used in:
// attributes by the names above, and the website attributes whose signature
// did not verify, kept apart.
type Interaction struct {
	Attributes map[string]string
	Unverified map[string]string
}

// SiteSigningString is what a website's server signs for attrs expiring at
// expires (Unix seconds): "v1", the expiry, then name=value for each
// attribute sorted by name, one a line. Names have no '=' and values no
// control character (secure.CheckAttributes), so the string is unambiguous.
func SiteSigningString(attrs map[string]string, expires int64) string {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("v1\n")
	b.WriteString(strconv.FormatInt(expires, 10))
	b.WriteByte('\n')
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(attrs[n])
		b.WriteByte('\n')
	}
	return b.String()
}

// SignSite is the signature a website's server computes: lower-case hex of
// HMAC-SHA256 under the site's secret of SiteSigningString.
func SignSite(secret []byte, attrs map[string]string, expires int64) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(SiteSigningString(attrs, expires)))
	return hex.EncodeToString(m.Sum(nil))
}

// VerifySite checks website attributes and their signature as of now: the
// attribute rules, a signature that matches under secret (compared in
// constant time), and an expiry not past and at most MaxSignatureAge ahead.
func VerifySite(secret []byte, attrs map[string]string, expires int64, signature string, now time.Time) error {
	if err := secure.CheckAttributes(attrs); err != nil {
		return fmt.Errorf("chatforms: website attributes: %w", err)
	}
	if signature == "" || len(secret) == 0 {
		return ErrSiteUnsigned
	}
	want := SignSite(secret, attrs, expires)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(signature))) {
		return ErrSiteSignature
	}
	exp := time.Unix(expires, 0)
	if !now.Before(exp) {
		return ErrSiteExpired
	}
	if exp.Sub(now) > MaxSignatureAge {
		return fmt.Errorf("%w: expiry more than %v ahead", ErrSiteSignature, MaxSignatureAge)
	}
	return nil
}

// SiteInteraction adds website attributes to in: under SitePrefix if
// VerifySite accepts them, else under Unverified. It returns VerifySite's
// error (nil when attrs is empty).
func SiteInteraction(in *Interaction, secret []byte, attrs map[string]string, expires int64, signature string, now time.Time) error {
	if len(attrs) == 0 {
		return nil
	}
	if in.Attributes == nil {
		in.Attributes = map[string]string{}
	}
	if in.Unverified == nil {
		in.Unverified = map[string]string{}
	}
	err := VerifySite(secret, attrs, expires, signature, now)
	if errors.Is(err, secure.ErrAttribute) {
		return err // nothing is kept of attributes that break the rules
	}
	for n, v := range attrs {
		if err == nil {
			in.Attributes[SitePrefix+n] = v
		} else {
			in.Unverified[n] = v
		}
	}
	return err
}

// attributes are what a form passes on of an interaction: its own
// Attributes, and each of InteractionAttributes the interaction has, under
// InteractionPrefix. A website attribute the form names that is only
// unverified goes as interaction.unverified.NAME, or refuses the form with
// ErrUnverified if the form requires verified ones.
func (f Form) attributes(in Interaction) (map[string]string, error) {
	out := map[string]string{}
	for n, v := range f.Attributes {
		out[n] = v
	}
	for _, name := range f.InteractionAttributes {
		if v, ok := in.Attributes[name]; ok {
			out[InteractionPrefix+name] = v
			continue
		}
		site, isSite := strings.CutPrefix(name, SitePrefix)
		if !isSite {
			continue
		}
		v, ok := in.Unverified[site]
		switch {
		case f.RequireVerified:
			return nil, fmt.Errorf("%w: %s is missing or not verified", ErrUnverified, name)
		case ok:
			out[InteractionPrefix+UnverifiedPrefix+site] = v
		}
	}
	if err := secure.CheckAttributes(out); err != nil {
		return nil, fmt.Errorf("chatforms: form %q: %w", f.Name, err)
	}
	return out, nil
}
