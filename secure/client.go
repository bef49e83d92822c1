package secure

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultTimeout bounds a call to the validation web service when
// ClientConfig.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxReply bounds the validation service's reply.
const maxReply = 64 << 10

// ClientConfig configures the validation web service client.
type ClientConfig struct {
	// URL receives the POST: https, or http to a loopback address.
	URL string
	// Timeout bounds the whole call (DefaultTimeout if zero).
	Timeout time.Duration
	// CADir is a directory of PEM certificates (*.pem, *.crt) trusted for
	// HTTPS instead of the system roots; empty means the system roots.
	CADir string
	// ClientCert and ClientKey are PEM files of a client certificate for
	// mutual TLS; both or neither.
	ClientCert, ClientKey string
}

// Client posts secure sessions to the validation web service.
type Client struct {
	url  string
	http *http.Client
}

// NewClient checks cfg and loads its certificates. The URL is https, or
// plain http to a loopback address only.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := checkServiceURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("secure: validation URL %q: %w", redactURL(cfg.URL), err)
	}
	hc, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{url: cfg.URL, http: hc}, nil
}

// checkServiceURL is the rule of every outside service the values or the
// attributes go to: https, or http to a loopback address only.
func checkServiceURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("want http:// or https://")
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("plain http is allowed only to a loopback address")
		}
	}
	return nil
}

// redactURL drops a password from a URL before it is shown in an error.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// newHTTPClient is the HTTP client of an outside service: TLS 1.2 or later,
// the CA directory and client certificate of cfg, no proxy, no redirect
// (a redirect could carry the values elsewhere), the whole call bounded.
func newHTTPClient(cfg ClientConfig) (*http.Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CADir != "" {
		pool, err := loadCADir(cfg.CADir)
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
	}
	if (cfg.ClientCert == "") != (cfg.ClientKey == "") {
		return nil, errors.New("secure: set both client certificate and key, or neither")
	}
	if cfg.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("secure: client certificate: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	transport := &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil, MaxIdleConnsPerHost: 8}
	return &http.Client{
		Timeout:       cfg.Timeout,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

func loadCADir(dir string) (*x509.CertPool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("secure: CA directory: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".pem" && ext != ".crt") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("secure: CA directory: %w", err)
		}
		if pool.AppendCertsFromPEM(b) {
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("secure: CA directory %s holds no PEM certificate (*.pem, *.crt)", dir)
	}
	return pool, nil
}

// Param is one name and value sent to the validation web service.
type Param struct {
	Name   string
	Value  Value  // secure values
	Plain  string // agent-filled values and the transaction id
	secure bool
}

// encode writes the request body of docs/validation.md:
// <?xml version="1.0" encoding='UTF-8' ?><params><param name="…" value="…" />…</params>
func encode(params []Param) *bytes.Buffer {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding='UTF-8' ?><params>`)
	for _, p := range params {
		b.WriteString(`<param name="`)
		xml.EscapeText(&b, []byte(p.Name))
		b.WriteString(`" value="`)
		if p.secure {
			xml.EscapeText(&b, p.Value.b)
		} else {
			xml.EscapeText(&b, []byte(p.Plain))
		}
		b.WriteString(`" />`)
	}
	b.WriteString(`</params>`)
	return &b
}

// post sends params and parses the reply. Every failure is an error outcome,
// never an acceptance. The request body is wiped before post returns.
func (c *Client) post(ctx context.Context, params []Param) (status, details string, err error) {
	body := encode(params)
	defer clear(body.Bytes()[:body.Cap()])
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body.Bytes()))
	if err != nil {
		return "", "", fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("validation service unreachable: %w", scrubURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", "", fmt.Errorf("validation service answered HTTP %d", resp.StatusCode)
	}
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return "", "", fmt.Errorf("reading the reply: %w", scrubURLError(err))
	}
	if len(reply) > maxReply {
		return "", "", fmt.Errorf("reply larger than %d bytes", maxReply)
	}
	return parseReply(reply)
}

// scrubURLError keeps the cause of a transport error without the request
// (which url.Error would print; the URL holds no secret, but the habit is
// cheap).
func scrubURLError(err error) error {
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return errors.New("timeout")
	}
	if ue := errors.Unwrap(err); ue != nil {
		return ue
	}
	return err
}

// parseReply accepts exactly: an XML declaration, a well-formed document,
// and one outcome element whose value is accepted or declined.
func parseReply(reply []byte) (status, details string, err error) {
	trimmed := bytes.TrimLeft(reply, "\ufeff \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("<?xml")) {
		return "", "", errors.New("reply has no XML declaration")
	}
	dec := xml.NewDecoder(bytes.NewReader(trimmed))
	dec.Strict = true
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "utf-8") || strings.EqualFold(label, "us-ascii") {
			return r, nil
		}
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	outcomes, depth, roots := 0, 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", "", errors.New("malformed XML reply")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			if t.Name.Local != "outcome" {
				continue
			}
			outcomes++
			status, details = "", ""
			hasValue := false
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "value":
					status, hasValue = a.Value, true
				case "details":
					details = a.Value
				}
			}
			if !hasValue {
				return "", "", errors.New("outcome has no value")
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return "", "", errors.New("malformed XML reply: text outside the root element")
			}
		}
	}
	switch {
	case roots != 1:
		return "", "", errors.New("malformed XML reply: want one root element")
	case outcomes != 1:
		return "", "", fmt.Errorf("reply has %d outcome elements, want 1", outcomes)
	case status != StatusAccepted && status != StatusDeclined:
		return "", "", errors.New("outcome value is neither accepted nor declined")
	}
	return status, details, nil
}
