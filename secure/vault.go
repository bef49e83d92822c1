package secure

// The client of the card vault (`gateway vault serve`): when a secure form or
// IVR session has a card number, the pipeline keeps the number and expiry in
// the vault before the validation call and hands on only the token, brand
// and last four. The wire protocol is HTTP/1.1 + JSON over mutual TLS,
// with an API key besides the client certificate.
//
// The number leaves this package only in the request body of keep, built in
// a buffer that is zeroed when the call returns; it is never in an error or
// a log line, and an error names at most the vault's error code.

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secureinput/gateway/card"
)

// Limits of the vault protocol.
const (
	maxVaultReply   = 16 << 10 // the vault's reply
	maxVaultSite    = 64       // bytes of VaultConfig.Site
	maxVaultCode    = 32       // bytes of an error code shown in an error
	vaultTokenBytes = 16       // random bytes of a token
)

// tokenPrefix starts every token; base32 of vaultTokenBytes bytes follows.
const tokenPrefix = "tok_"

// tokenEncoding is the tokens' base32: RFC 4648 alphabet, lower-case, no
// padding.
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tokenLen is the length of a token: the prefix and 26 characters.
var tokenLen = len(tokenPrefix) + tokenEncoding.EncodedLen(vaultTokenBytes)

// VaultConfig configures the client of the card vault.
type VaultConfig struct {
	// URL is https://host:port of `gateway vault serve`. It must be https:
	// the vault speaks mutual TLS only.
	URL string
	// CADir is a directory of PEM certificates (*.pem, *.crt) trusted for
	// the vault's server certificate (required).
	CADir string
	// ClientCert and ClientKey are PEM files of the gateway's client
	// certificate (required: mutual TLS).
	ClientCert, ClientKey string
	// APIKey is sent as Authorization: Bearer (required).
	APIKey string
	// Site is the site tokens are unique per (required, e.g. "shop"): 1 to
	// 64 letters, digits, '_', '-' or '.'.
	Site string
	// SendToken posts the token to the validation service, in the card
	// number's param, instead of the number.
	SendToken bool
	// Timeout bounds each call to the vault (DefaultTimeout if zero).
	Timeout time.Duration
}

// Vault is the client of the card vault. Safe for concurrent use.
type Vault struct {
	base      string // the URL without a trailing '/'
	apiKey    string
	site      []byte // the site as a JSON string
	sendToken bool
	http      *http.Client
}

// NewVault checks cfg and loads its certificates. Its errors name the
// field at fault, never the API key.
func NewVault(cfg VaultConfig) (*Vault, error) {
	if err := checkServiceURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("secure: vault URL %q: %w", redactURL(cfg.URL), err)
	}
	u, _ := url.Parse(cfg.URL)
	switch {
	case u.Scheme != "https":
		return nil, fmt.Errorf("secure: vault URL %q: want https:// (the vault speaks mutual TLS only)", redactURL(cfg.URL))
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return nil, fmt.Errorf("secure: vault URL %q: want https://host:port, no user, path or query", redactURL(cfg.URL))
	case cfg.CADir == "":
		return nil, errors.New("secure: VaultConfig.CADir is required")
	case cfg.ClientCert == "" || cfg.ClientKey == "":
		return nil, errors.New("secure: VaultConfig.ClientCert and ClientKey are required (mutual TLS)")
	case cfg.APIKey == "":
		return nil, errors.New("secure: VaultConfig.APIKey is required")
	case !printableASCII(cfg.APIKey):
		return nil, errors.New("secure: VaultConfig.APIKey: want printable ASCII without spaces")
	case len(cfg.Site) > maxVaultSite || !ValidAttributeName(cfg.Site):
		return nil, fmt.Errorf("secure: VaultConfig.Site %q: want 1 to %d letters, digits, '_', '-' or '.'", truncate(cfg.Site), maxVaultSite)
	}
	hc, err := newHTTPClient(ClientConfig{URL: cfg.URL, Timeout: cfg.Timeout, CADir: cfg.CADir,
		ClientCert: cfg.ClientCert, ClientKey: cfg.ClientKey})
	if err != nil {
		return nil, fmt.Errorf("secure: vault: %w", err)
	}
	site, _ := json.Marshal(cfg.Site)
	return &Vault{base: strings.TrimSuffix(cfg.URL, "/"), apiKey: cfg.APIKey, site: site, sendToken: cfg.SendToken, http: hc}, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// vaultToken is what the vault answers for a kept card.
type vaultToken struct {
	Token, Brand, Last4 string
	Created             bool // new; false: the card's existing token for the site
}

// tokenReply is the JSON of POST /v1/tokens' answer; other fields are
// ignored.
type tokenReply struct {
	Token   string `json:"token"`
	Brand   string `json:"brand"`
	Last4   string `json:"last4"`
	Created *bool  `json:"created"`
}

// keep stores number (and expiry, if not empty) in the vault: POST
// /v1/tokens. The number is sent as its ASCII digits and the expiry as
// MM/YY. The request body is zeroed before keep returns; its errors hold no
// value.
func (v *Vault) keep(ctx context.Context, number, expiry Value) (vaultToken, error) {
	const head, mid, tail = `{"site":`, `,"number":"`, `","expiry":"`
	// Sized so that no append reallocates: no copy of the number is left
	// behind unzeroed.
	body := make([]byte, 0, len(head)+len(v.site)+len(mid)+number.Len()+len(tail)+len("MM/YY")+len(`"}`))
	defer func() { clear(body[:cap(body)]) }()
	body = append(append(append(body, head...), v.site...), mid...)
	n := len(body)
	body = appendDigits(body, number.b)
	digits := body[n:]
	if len(digits) < 12 || len(digits) > 19 {
		return vaultToken{}, errors.New("card vault: the card number does not have 12 to 19 digits")
	}
	last4 := string(digits[len(digits)-4:])
	body = append(body, tail...)
	if !expiry.IsZero() {
		var ok bool
		if body, ok = appendExpiry(body, expiry.b); !ok {
			return vaultToken{}, errors.New("card vault: the expiry is not MM/YY")
		}
	}
	body = append(body, `"}`...)

	status, reply, err := v.do(ctx, http.MethodPost, "/v1/tokens", body)
	if err != nil {
		return vaultToken{}, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		return vaultToken{}, vaultError(status, reply)
	}
	var r tokenReply
	dec := json.NewDecoder(bytes.NewReader(reply))
	if err := dec.Decode(&r); err != nil || dec.More() {
		return vaultToken{}, errors.New("card vault: malformed reply")
	}
	switch {
	case !validToken(r.Token):
		return vaultToken{}, errors.New("card vault: the reply's token is not tok_ and 26 base32 characters")
	case r.Created == nil || *r.Created != (status == http.StatusCreated):
		return vaultToken{}, fmt.Errorf("card vault: HTTP %d does not agree with the reply's created", status)
	case r.Last4 != last4:
		return vaultToken{}, errors.New("card vault: the reply's last four are not the card's")
	case len(r.Brand) > 64 || !utf8.ValidString(r.Brand):
		return vaultToken{}, errors.New("card vault: the reply's brand is malformed")
	}
	return vaultToken{Token: r.Token, Brand: r.Brand, Last4: r.Last4, Created: *r.Created}, nil
}

// confirm keeps the pending card of token for good after its acceptance:
// POST /v1/tokens/{token}/confirm, with the expiry (MM/YY) if not empty.
func (v *Vault) confirm(ctx context.Context, token string, expiry Value) error {
	if !validToken(token) {
		return errors.New("card vault: not a token")
	}
	const head = `{"expiry":"`
	body := make([]byte, 0, len(head)+len("MM/YY")+len(`"}`))
	defer func() { clear(body[:cap(body)]) }()
	if expiry.IsZero() {
		body = append(body, `{}`...)
	} else {
		var ok bool
		if body, ok = appendExpiry(append(body, head...), expiry.b); !ok {
			return errors.New("card vault: the expiry is not MM/YY")
		}
		body = append(body, `"}`...)
	}
	status, reply, err := v.do(ctx, http.MethodPost, "/v1/tokens/"+token+"/confirm", body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return vaultError(status, reply)
	}
	return nil
}

// do makes one call with the API key and returns the status and the
// bounded reply.
func (v *Vault) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.base+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("card vault: request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+v.apiKey)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("card vault unreachable: %w", scrubURLError(err))
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxVaultReply+1))
	if err != nil {
		return 0, nil, fmt.Errorf("card vault: reading the reply: %w", scrubURLError(err))
	}
	if len(reply) > maxVaultReply {
		return 0, nil, fmt.Errorf("card vault: reply larger than %d bytes", maxVaultReply)
	}
	return resp.StatusCode, reply, nil
}

// vaultError is the error of an unexpected status: the HTTP status and the
// vault's error code, never its message (which is not ours to trust).
func vaultError(status int, reply []byte) error {
	if code := errorCode(reply); code != "" {
		return fmt.Errorf("card vault answered HTTP %d %s", status, code)
	}
	return fmt.Errorf("card vault answered HTTP %d", status)
}

// errorCode is the code of an error reply {"error":{"code":"…"}} if it is
// 1 to 32 of a-z and '_', "" otherwise.
func errorCode(reply []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(reply, &e) != nil || e.Error.Code == "" || len(e.Error.Code) > maxVaultCode {
		return ""
	}
	for i := 0; i < len(e.Error.Code); i++ {
		if c := e.Error.Code[i]; (c < 'a' || c > 'z') && c != '_' {
			return ""
		}
	}
	return e.Error.Code
}

// validToken reports whether s is tok_ followed by the lower-case base32 of
// vaultTokenBytes bytes: exactly what encoding them gives, so the bits
// after the last byte are zero too.
func validToken(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, tokenPrefix) {
		return false
	}
	var b [vaultTokenBytes + 1]byte
	n, err := tokenEncoding.Decode(b[:], []byte(s[len(tokenPrefix):]))
	return err == nil && n == vaultTokenBytes && tokenEncoding.EncodeToString(b[:n]) == s[len(tokenPrefix):]
}

// appendDigits appends the decimal digits of a typed card number to dst as
// ASCII (card.Digits without the intermediate string).
func appendDigits(dst, typed []byte) []byte {
	for i := 0; i < len(typed); {
		r, size := utf8.DecodeRune(typed[i:])
		i += size
		if d := card.DigitValue(r); d >= 0 {
			dst = append(dst, byte('0'+d))
		}
	}
	return dst
}

// appendExpiry appends an expiry that passed the field rules (MM/YY,
// MM/YYYY, M/YY, MM-YY, MMYY, spaces allowed) to dst as MM/YY.
func appendExpiry(dst, typed []byte) ([]byte, bool) {
	var d [6]byte
	n, slash := 0, -1
	for _, c := range typed {
		switch {
		case c == ' ':
		case c == '/' || c == '-':
			if slash >= 0 {
				return dst, false
			}
			slash = n
		case '0' <= c && c <= '9' && n < len(d):
			d[n] = c
			n++
		default:
			return dst, false
		}
	}
	defer clear(d[:])
	var mm, yy []byte
	switch {
	case slash < 0 && n == 4:
		mm, yy = d[:2], d[2:4]
	case slash == 1 || slash == 2:
		mm, yy = d[:slash], d[slash:n]
	default:
		return dst, false
	}
	if len(yy) == 4 {
		yy = yy[2:]
	}
	if len(yy) != 2 {
		return dst, false
	}
	if len(mm) == 1 {
		dst = append(dst, '0')
	}
	dst = append(dst, mm...)
	dst = append(dst, '/')
	return append(dst, yy...), true
}
