package mail

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

// Bounds of what an appender reads from a server.
const (
	// maxResponseLine bounds one response line (literals excluded).
	maxResponseLine = 64 << 10
	// maxResponseLiteral bounds a literal inside a response; the appender
	// reads and drops it.
	maxResponseLiteral = 1 << 20
	// nonSyncLimit is the largest literal LITERAL- lets a client send
	// without waiting for the server's "+" (RFC 7888).
	nonSyncLimit = 4096
	// maxQuoted is the longest string sent quoted; a longer one goes as a
	// literal (some servers bound quoted strings).
	maxQuoted = 1000
	// maxSASLRounds bounds the challenges of one AUTHENTICATE.
	maxSASLRounds = 8
	// idleCheck is how long an appender may sit unused before a batch
	// checks it is still logged in (servers log idle sessions out).
	idleCheck = 5 * time.Minute
)

// loginTimeout bounds connecting and logging in (a variable for tests).
var loginTimeout = time.Minute

// appender is a destination session of the gateway's own that only
// appends. go-imap's client waits for the server's "+" before every literal
// over 4 KiB and has no MULTIAPPEND (RFC 3502), so each copy costs a round
// trip and a transaction of its own on the server; with MULTIAPPEND a whole
// batch is one command, written in one go (LITERAL+ spares the round trips)
// and saved by the server as one transaction: every copy or none.
type appender struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	caps map[string]bool
	tag  int
	used time.Time // when a command last completed
	// pending holds the tags of pipelined commands not yet awaited, early
	// the answers of those that completed before the one awaited.
	pending map[string]bool
	early   map[string]error
}

// dialAppender connects to ep and logs in the way dial does. It returns
// nil, nil when the server has neither MULTIAPPEND nor LITERAL+: then
// go-imap's APPENDs are used.
func dialAppender(ctx context.Context, ep Endpoint, log *slog.Logger) (*appender, error) {
	a, err := connectAppender(ctx, ep)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", ep.Addr, err)
	}
	stop := context.AfterFunc(ctx, func() { a.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	a.conn.SetDeadline(time.Now().Add(loginTimeout))
	if ep.Mechanism != "" {
		err = authenticate(ctx, a.authenticate, ep, log)
	} else {
		err = a.login(ep.Username, ep.Password)
	}
	if err != nil {
		a.conn.Close()
		return nil, fmt.Errorf("login to %s as %s: %w", ep.Addr, ep.Username, err)
	}
	if err := a.simple("CAPABILITY"); err != nil {
		a.conn.Close()
		return nil, fmt.Errorf("capability of %s: %w", ep.Addr, err)
	}
	if !a.caps["MULTIAPPEND"] && !a.caps["LITERAL+"] {
		a.Close()
		return nil, nil
	}
	a.conn.SetDeadline(time.Time{})
	a.used = time.Now()
	return a, nil
}

// mode names how the appender sends a batch, for the log.
func (a *appender) mode() string {
	if a.caps["MULTIAPPEND"] {
		return "multiappend"
	}
	return "literal+"
}

// connectAppender dials, reads the greeting and upgrades to TLS as ep says.
func connectAppender(ctx context.Context, ep Endpoint) (*appender, error) {
	host, _, err := net.SplitHostPort(ep.Addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{}
	if ep.TLSConfig != nil {
		cfg = ep.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	d := &net.Dialer{Timeout: 30 * time.Second}
	var conn net.Conn
	if ep.TLS == TLSImplicit {
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		conn, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", ep.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", ep.Addr)
	}
	if err != nil {
		return nil, err
	}
	a := newAppender(conn)
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := a.greeting(); err != nil {
		conn.Close()
		return nil, err
	}
	if ep.TLS == TLSStartTLS {
		if err := a.simple("STARTTLS"); err != nil {
			conn.Close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
		if a.r.Buffered() > 0 {
			conn.Close()
			return nil, errors.New("starttls: the server sent data before the TLS handshake")
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("starttls: %w", err)
		}
		tagged := a.tag
		a = newAppender(tc)
		a.tag = tagged
		if err := a.simple("CAPABILITY"); err != nil {
			tc.Close()
			return nil, fmt.Errorf("capability: %w", err)
		}
	}
	conn.SetDeadline(time.Time{})
	return a, nil
}

func newAppender(conn net.Conn) *appender {
	return &appender{conn: conn, r: bufio.NewReaderSize(conn, 16<<10), w: bufio.NewWriterSize(conn, 64<<10), caps: map[string]bool{},
		pending: map[string]bool{}, early: map[string]error{}}
}

// Close logs out (without waiting long) and closes the connection.
func (a *appender) Close() error {
	a.conn.SetDeadline(time.Now().Add(2 * time.Second))
	a.simple("LOGOUT")
	return a.conn.Close()
}

// greeting reads the server's first line.
func (a *appender) greeting() error {
	line, err := a.readLine()
	if err != nil {
		return err
	}
	switch kind, rest, _ := strings.Cut(line, " "); {
	case kind != "*":
		return fmt.Errorf("unexpected greeting %q", clip(line))
	case strings.HasPrefix(strings.ToUpper(rest), "OK"), strings.HasPrefix(strings.ToUpper(rest), "PREAUTH"):
		a.noteCaps(rest)
		return nil
	default:
		return fmt.Errorf("server refused the connection: %s", clip(rest))
	}
}

// begin starts a command and returns its tag.
func (a *appender) begin(command string) string {
	a.tag++
	tag := "g" + strconv.Itoa(a.tag)
	a.w.WriteString(tag + " " + command)
	return tag
}

// send ends the command being written and sends it.
func (a *appender) send() error {
	a.w.WriteString("\r\n")
	return a.w.Flush()
}

// finish sends the command being written and waits for its completion.
func (a *appender) finish(tag string) error {
	if err := a.send(); err != nil {
		return err
	}
	return a.done(tag)
}

// simple sends command (no arguments that need quoting) and waits for its
// completion.
func (a *appender) simple(command string) error {
	tag := a.begin(command)
	return a.finish(tag)
}

// login sends LOGIN.
func (a *appender) login(user, pass string) error {
	tag := a.begin("LOGIN ")
	if err := a.astring(tag, user); err != nil {
		return err
	}
	a.w.WriteByte(' ')
	if err := a.astring(tag, pass); err != nil {
		return err
	}
	return a.finish(tag)
}

// authenticate runs one SASL exchange; it has the signature authenticate
// (oauth.go) drives.
func (a *appender) authenticate(sc sasl.Client) error {
	mech, ir, err := sc.Start()
	if err != nil {
		return err
	}
	tag := a.begin("AUTHENTICATE " + mech)
	if a.caps["SASL-IR"] {
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		a.w.WriteString(" " + enc)
		ir = nil
	}
	if err := a.send(); err != nil {
		return err
	}
	first := true
	for rounds := 0; ; rounds++ {
		line, err := a.readLine()
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "+") {
			if rounds == maxSASLRounds {
				// "*" cancels the exchange (RFC 3501 6.2.2); the server
				// then completes the command.
				a.w.WriteString("*\r\n")
				if err := a.w.Flush(); err != nil {
					return err
				}
				a.done(tag)
				return fmt.Errorf("authenticate: more than %d challenges", maxSASLRounds)
			}
			challenge := []byte(nil)
			resp := ir
			if !first || ir == nil {
				challenge, err = base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(line, "+")))
				if err != nil {
					return fmt.Errorf("authenticate: bad challenge: %w", err)
				}
				if resp, err = sc.Next(challenge); err != nil {
					return err
				}
			}
			first = false
			a.w.WriteString(base64.StdEncoding.EncodeToString(resp) + "\r\n")
			if err := a.w.Flush(); err != nil {
				return err
			}
			continue
		}
		if done, err := a.completion(tag, line); done {
			return err
		}
	}
}

// astring writes s as a quoted string, or as a literal when it holds what
// a quoted string cannot.
func (a *appender) astring(tag, s string) error {
	quotable := len(s) <= maxQuoted
	for i := 0; quotable && i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 || c >= 0x80 {
			quotable = false
			break
		}
	}
	if quotable {
		a.w.WriteByte('"')
		a.w.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s))
		a.w.WriteByte('"')
		return nil
	}
	if err := a.literal(tag, len(s)); err != nil {
		return err
	}
	a.w.WriteString(s)
	return nil
}

// literal writes a literal's size: non-synchronizing where the server
// allows it, else it waits for the server's "+".
func (a *appender) literal(tag string, n int) error {
	if a.caps["LITERAL+"] || a.caps["LITERAL-"] && n <= nonSyncLimit {
		a.w.WriteString("{" + strconv.Itoa(n) + "+}\r\n")
		return nil
	}
	a.w.WriteString("{" + strconv.Itoa(n) + "}\r\n")
	if err := a.w.Flush(); err != nil {
		return err
	}
	for {
		line, err := a.readLine()
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "+") {
			return nil
		}
		if done, err := a.completion(tag, line); done {
			if err == nil {
				err = errors.New("the server completed the command before its literal")
			}
			return err
		}
	}
}

// appendAll sends copies to folder in one MULTIAPPEND command (or, without
// MULTIAPPEND, pipelined APPENDs) and waits for the server's answers: nil
// means it saved every one.
func (a *appender) appendAll(ctx context.Context, folder string, copies []Copy) error {
	if len(copies) == 0 {
		return nil
	}
	size := 0
	for _, c := range copies {
		size += len(c.Body)
	}
	a.conn.SetDeadline(time.Now().Add(appendTimeout(size)))
	defer a.conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { a.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if !a.caps["MULTIAPPEND"] {
		return a.appendEach(a.mailboxName(folder), copies)
	}
	tag := a.begin("APPEND ")
	if err := a.astring(tag, a.mailboxName(folder)); err != nil {
		return err
	}
	for _, c := range copies {
		if err := a.message(tag, c); err != nil {
			return err
		}
	}
	return a.finish(tag)
}

// appendEach pipelines one APPEND a copy, at most appendWindow in flight,
// for a server with LITERAL+ but no MULTIAPPEND: no copy waits for a round
// trip. The window bounds what a server may still carry out after the
// gateway died (see Delivered).
func (a *appender) appendEach(mailbox string, copies []Copy) error {
	return pipelined(len(copies), func(i int) (func() error, error) {
		tag := a.begin("APPEND ")
		if err := a.astring(tag, mailbox); err != nil {
			return nil, err
		}
		if err := a.message(tag, copies[i]); err != nil {
			return nil, err
		}
		if err := a.send(); err != nil {
			return nil, err
		}
		a.pending[tag] = true
		return func() error { return a.done(tag) }, nil
	})
}

// message writes one copy of an APPEND: flags, date and the literal.
func (a *appender) message(tag string, c Copy) error {
	a.w.WriteString(" (")
	for i, f := range c.Flags {
		if i > 0 {
			a.w.WriteByte(' ')
		}
		a.w.WriteString(string(f))
	}
	a.w.WriteString(")")
	if !c.Date.IsZero() {
		a.w.WriteString(` "` + c.Date.Format("_2-Jan-2006 15:04:05 -0700") + `"`)
	}
	a.w.WriteByte(' ')
	if err := a.literal(tag, len(c.Body)); err != nil {
		return err
	}
	a.w.Write(c.Body)
	return nil
}

// mailboxName is how a folder's name is sent: as go-imap's session on the
// same server sends it (it looks the folder up), UTF-8 to an IMAP4rev2
// server, modified UTF-7 to any other.
func (a *appender) mailboxName(name string) string {
	if a.caps["IMAP4REV2"] {
		return name
	}
	return encodeMailbox(name)
}

// check makes sure an appender that sat unused for idleCheck is still
// logged in (a NOOP), before a batch relies on it: a server that logged it
// out then fails the session before the batch is marked pending.
func (a *appender) check() error {
	if time.Since(a.used) < idleCheck {
		return nil
	}
	a.conn.SetDeadline(time.Now().Add(30 * time.Second))
	defer a.conn.SetDeadline(time.Time{})
	return a.simple("NOOP")
}

// appendTimeout is how long a batch of size bytes may take: a minute, and
// a second for every 64 KiB.
func appendTimeout(size int) time.Duration {
	return time.Minute + time.Duration(size/(64<<10))*time.Second
}

// done reads responses until tag completes; OK is nil, NO or BAD an error
// with the server's text.
func (a *appender) done(tag string) error {
	if err, ok := a.early[tag]; ok {
		delete(a.early, tag)
		return err
	}
	delete(a.pending, tag)
	for {
		line, err := a.readLine()
		if err != nil {
			return err
		}
		if strings.HasPrefix(line, "+") {
			return fmt.Errorf("unexpected continuation request %q", clip(line))
		}
		if done, err := a.completion(tag, line); done {
			return err
		}
	}
}

// completion handles one response line other than a continuation request:
// it reports whether the line completed tag, and the command's error.
func (a *appender) completion(tag, line string) (bool, error) {
	first, rest, _ := strings.Cut(line, " ")
	if first == "*" {
		word, tail, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(word) {
		case "CAPABILITY":
			a.setCaps(tail)
		case "BYE":
			return true, fmt.Errorf("the server ended the session (BYE): %s", clip(tail))
		case "OK":
			a.noteCaps(rest)
		}
		return false, nil
	}
	status, text, _ := strings.Cut(rest, " ")
	if first != tag {
		if !a.pending[first] {
			return true, fmt.Errorf("unexpected response %q", clip(line))
		}
		// A pipelined command completed before the one awaited.
		delete(a.pending, first)
		a.early[first] = statusError(status, text, line)
		return false, nil
	}
	err := statusError(status, text, line)
	if err == nil {
		a.noteCaps(rest)
	}
	a.used = time.Now()
	return true, err
}

// statusError is nil for OK, else the server's refusal.
func statusError(status, text, line string) error {
	switch strings.ToUpper(status) {
	case "OK":
		return nil
	case "NO", "BAD":
		return fmt.Errorf("%s %s", strings.ToUpper(status), clip(text))
	}
	return fmt.Errorf("unexpected response %q", clip(line))
}

// noteCaps takes a CAPABILITY response code in a status response.
func (a *appender) noteCaps(resp string) {
	_, after, ok := strings.Cut(strings.ToUpper(resp), "[CAPABILITY ")
	if !ok {
		return
	}
	list, _, _ := strings.Cut(after, "]")
	a.setCaps(list)
}

func (a *appender) setCaps(list string) {
	a.caps = map[string]bool{}
	for _, c := range strings.Fields(strings.ToUpper(list)) {
		a.caps[c] = true
	}
}
