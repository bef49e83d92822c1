package mail

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/secureinput/gateway/internal/testenv"
)

// scriptedServer serves one connection with script and returns the
// address; what script returns is reported as a test error.
func scriptedServer(t *testing.T, script func(r *bufio.Reader, w io.Writer) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		done <- script(bufio.NewReader(conn), conn)
	}()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return ln.Addr().String()
}

// expect reads one command line and checks it against a regular expression
// (the tag excluded); it returns the tag and the submatches.
func expect(r *bufio.Reader, pattern string) (string, []string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	tag, rest, _ := strings.Cut(line, " ")
	m := regexp.MustCompile("^" + pattern + "$").FindStringSubmatch(rest)
	if m == nil {
		return tag, nil, fmt.Errorf("got %q, want %s", rest, pattern)
	}
	return tag, m, nil
}

// serveLogin plays a greeting with caps, a LOGIN and a CAPABILITY.
func serveLogin(r *bufio.Reader, w io.Writer, caps string) error {
	fmt.Fprintf(w, "* OK [CAPABILITY IMAP4rev1] ready\r\n")
	tag, _, err := expect(r, `LOGIN "u" "p\\"w"`)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s OK logged in\r\n", tag)
	if tag, _, err = expect(r, "CAPABILITY"); err != nil {
		return err
	}
	fmt.Fprintf(w, "* CAPABILITY %s\r\n%s OK done\r\n", caps, tag)
	return nil
}

func scriptedEndpoint(addr string) Endpoint {
	return Endpoint{Addr: addr, TLS: TLSPlain, Username: "u", Password: `p"w`}
}

func TestAppenderIsNotUsedWithoutMultiAppendOrLiteralPlus(t *testing.T) {
	addr := scriptedServer(t, func(r *bufio.Reader, w io.Writer) error {
		if err := serveLogin(r, w, "IMAP4rev1 LITERAL-"); err != nil {
			return err
		}
		tag, _, err := expect(r, "LOGOUT")
		if err == nil {
			fmt.Fprintf(w, "* BYE\r\n%s OK bye\r\n", tag)
		}
		return err
	})
	a, err := dialAppender(context.Background(), scriptedEndpoint(addr), nil)
	if err != nil || a != nil {
		t.Fatalf("dialAppender = %v, %v; want nil, nil for a server with neither MULTIAPPEND nor LITERAL+", a, err)
	}
}

// literalServer answers one MULTIAPPEND of want, checking each literal's
// marker: {n+} where the server allows it, else {n} with a "+" sent
// before the bytes are read.
func literalServer(caps string, want []Copy, nonSync func(n int) bool) func(r *bufio.Reader, w io.Writer) error {
	return func(r *bufio.Reader, w io.Writer) error {
		if err := serveLogin(r, w, caps); err != nil {
			return err
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		tag, rest, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(rest, `APPEND "Clean Copies" `) {
			return fmt.Errorf("got %q", line)
		}
		marker := regexp.MustCompile(`\{(\d+)(\+?)\}\r\n$`)
		for i, c := range want {
			m := marker.FindStringSubmatch(line)
			if m == nil {
				return fmt.Errorf("copy %d: no literal in %q", i, line)
			}
			if n, _ := strconv.Atoi(m[1]); n != len(c.Body) {
				return fmt.Errorf("copy %d: literal of %d bytes, want %d", i, n, len(c.Body))
			}
			if got, want := m[2] == "+", nonSync(len(c.Body)); got != want {
				return fmt.Errorf("copy %d (%d bytes): non-synchronizing %v, want %v", i, len(c.Body), got, want)
			}
			if m[2] == "" {
				fmt.Fprintf(w, "+ go ahead\r\n")
			}
			body := make([]byte, len(c.Body))
			if _, err := io.ReadFull(r, body); err != nil {
				return err
			}
			if !bytes.Equal(body, c.Body) {
				return fmt.Errorf("copy %d: body differs", i)
			}
			if line, err = r.ReadString('\n'); err != nil {
				return err
			}
		}
		if line != "\r\n" {
			return fmt.Errorf("after the last copy: %q", line)
		}
		// An unsolicited response with a literal comes before the answer.
		fmt.Fprintf(w, "* 1 FETCH (BODY[] {6}\r\nA\r\nB)} FLAGS ())\r\n%s OK [APPENDUID 1 1:%d] done\r\n", tag, len(want))
		tag, _, err = expect(r, "LOGOUT")
		if err == nil {
			fmt.Fprintf(w, "* BYE\r\n%s OK bye\r\n", tag)
		}
		return err
	}
}

func TestAppenderLiterals(t *testing.T) {
	small := []byte("Subject: small\r\n\r\nhi\r\n")
	large := append([]byte("Subject: large\r\n\r\n"), bytes.Repeat([]byte("x"), 5000)...)
	copies := []Copy{
		{Body: small, Flags: []imap.Flag{imap.FlagSeen, "$Label1"}, Date: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)},
		{Body: large},
		{Body: small},
	}
	for _, tc := range []struct {
		caps    string
		nonSync func(n int) bool
	}{
		{"IMAP4rev1 MULTIAPPEND LITERAL+", func(int) bool { return true }},
		{"IMAP4rev1 MULTIAPPEND LITERAL-", func(n int) bool { return n <= nonSyncLimit }},
		{"IMAP4rev1 MULTIAPPEND", func(int) bool { return false }},
	} {
		t.Run(tc.caps, func(t *testing.T) {
			addr := scriptedServer(t, literalServer(tc.caps, copies, tc.nonSync))
			a, err := dialAppender(context.Background(), scriptedEndpoint(addr), nil)
			if err != nil || a == nil {
				t.Fatalf("dialAppender = %v, %v", a, err)
			}
			defer a.Close()
			if err := a.appendAll(context.Background(), "Clean Copies", copies); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAppenderReportsRefusals(t *testing.T) {
	for name, answer := range map[string]string{
		"NO":  "TAG NO [TRYCREATE] no such mailbox\r\n",
		"BAD": "TAG BAD bad command\r\n",
		"BYE": "* BYE server shutting down\r\n",
		// The text of a status response may end in what looks like a
		// literal's size: it is text, not a literal.
		"NO [LIMIT] at most {35651584}": "* OK [ALERT] quota {10}\r\nTAG NO [LIMIT] at most {35651584}\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			addr := scriptedServer(t, func(r *bufio.Reader, w io.Writer) error {
				if err := serveLogin(r, w, "IMAP4rev1 MULTIAPPEND LITERAL+"); err != nil {
					return err
				}
				tag, _, err := expect(r, `APPEND "Clean" \(\) \{4\+\}`)
				if err != nil {
					return err
				}
				if _, err := io.ReadFull(r, make([]byte, 4+2)); err != nil {
					return err
				}
				io.WriteString(w, strings.ReplaceAll(answer, "TAG", tag))
				r.ReadString('\n') // LOGOUT, if it comes
				return nil
			})
			a, err := dialAppender(context.Background(), scriptedEndpoint(addr), nil)
			if err != nil || a == nil {
				t.Fatalf("dialAppender = %v, %v", a, err)
			}
			defer a.Close()
			err = a.appendAll(context.Background(), "Clean", []Copy{{Body: []byte("abcd")}})
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("appendAll = %v, want the server's %s", err, name)
			}
		})
	}
}

func TestEncodeMailbox(t *testing.T) {
	for in, want := range map[string]string{
		"INBOX":              "INBOX",
		"Clean Copies":       "Clean Copies",
		"R&D":                "R&-D",
		"~peter/mail/台北/日本語": "~peter/mail/&U,BTFw-/&ZeVnLIqe-", // RFC 3501 5.1.3
		"Entwürfe":           "Entw&APw-rfe",
		"😀":                  "&2D3eAA-",
	} {
		if got := encodeMailbox(in); got != want {
			t.Errorf("encodeMailbox(%q) = %q, want %q", in, got, want)
		}
	}
	// As go-imap's session on the same server names it: UTF-8 to IMAP4rev2.
	rev1 := &appender{caps: map[string]bool{"IMAP4REV1": true}}
	rev2 := &appender{caps: map[string]bool{"IMAP4REV1": true, "IMAP4REV2": true}}
	if got := rev1.mailboxName("Entwürfe"); got != "Entw&APw-rfe" {
		t.Errorf("IMAP4rev1: %q", got)
	}
	if got := rev2.mailboxName("Entwürfe"); got != "Entwürfe" {
		t.Errorf("IMAP4rev2: %q", got)
	}
}

// TestMultiAppendToDovecot sends one batch to a real Dovecot, over plain,
// STARTTLS and implicit TLS sessions, and reads it back with go-imap:
// every copy once, byte for byte, with its flags and date, in a folder
// whose name needs modified UTF-7.
func TestMultiAppendToDovecot(t *testing.T) {
	d := testenv.StartDovecotTLS(t, "alice")
	trust := trustDovecot(t, d)
	date := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	for i, ep := range []Endpoint{
		{Addr: d.Addr, TLS: TLSPlain, Username: "alice", Password: "secret"},
		{Addr: d.Addr, TLS: TLSStartTLS, Username: "alice", Password: "secret", TLSConfig: trust},
		{Addr: d.TLSAddr, TLS: TLSImplicit, Username: "alice", Password: "secret", TLSConfig: trust},
	} {
		t.Run(ep.TLS, func(t *testing.T) {
			name := fmt.Sprintf("Geschützt & sauber %d", i)
			c, err := dial(context.Background(), ep, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := ensureFolder(c, name); err != nil {
				t.Fatal(err)
			}
			a, err := dialAppender(context.Background(), ep, nil)
			if err != nil || a == nil {
				t.Fatalf("dialAppender = %v, %v; Dovecot has MULTIAPPEND", a, err)
			}
			defer a.Close()
			var copies []Copy
			for j := 0; j < 5; j++ {
				body := fmt.Appendf(nil, "Subject: copy %d\r\n\r\n%s\r\n", j, bytes.Repeat([]byte("line\r\n"), j*2000))
				copies = append(copies, Copy{Body: body, Flags: []imap.Flag{imap.FlagSeen, imap.Flag(fmt.Sprintf("$K%d", j))}, Date: date})
			}
			if err := a.appendAll(context.Background(), name, copies); err != nil {
				t.Fatal(err)
			}
			got := folder(t, c, name)
			if len(got) != len(copies) {
				t.Fatalf("%d messages in %q, want %d", len(got), name, len(copies))
			}
			for j, m := range got {
				if !bytes.Equal(m.body, copies[j].Body) {
					t.Errorf("copy %d differs", j)
				}
				if !m.date.Equal(date) {
					t.Errorf("copy %d dated %v, want %v", j, m.date, date)
				}
				flags := fmt.Sprint(m.flags)
				if !strings.Contains(flags, `\Seen`) || !strings.Contains(flags, fmt.Sprintf("$K%d", j)) {
					t.Errorf("copy %d flags %s", j, flags)
				}
			}
			// A folder that does not exist fails the whole batch.
			if err := a.appendAll(context.Background(), name+" missing", copies); err == nil || !strings.Contains(err.Error(), "NO") {
				t.Errorf("append to a missing folder: %v", err)
			}
		})
	}
}

// TestAppenderPipelinesWithoutMultiAppend plays a server with LITERAL+ but
// no MULTIAPPEND (as Microsoft 365's): the copies come as APPENDs sent
// without waiting, at most appendWindow unanswered, and the server may
// answer them out of order; a refusal of one fails the batch.
func TestAppenderPipelinesWithoutMultiAppend(t *testing.T) {
	const n = 20
	var copies []Copy
	for i := range n {
		copies = append(copies, Copy{Body: fmt.Appendf(nil, "Subject: %d\r\n\r\n%s", i, bytes.Repeat([]byte("x"), 5000))})
	}
	for _, refuse := range []int{-1, 13} {
		t.Run(fmt.Sprint("refuse ", refuse), func(t *testing.T) {
			addr := scriptedServer(t, func(r *bufio.Reader, w io.Writer) error {
				if err := serveLogin(r, w, "IMAP4rev1 LITERAL+"); err != nil {
					return err
				}
				var unanswered []string
				answer := func() {
					// The newest first: an order the client must accept.
					tag := unanswered[len(unanswered)-1]
					unanswered = unanswered[:len(unanswered)-1]
					if tag == fmt.Sprintf("g%d", 3+refuse) {
						fmt.Fprintf(w, "%s NO [OVERQUOTA] full\r\n", tag)
					} else {
						fmt.Fprintf(w, "%s OK appended\r\n", tag)
					}
				}
				for i := 0; ; i++ {
					tag, m, err := expect(r, `(LOGOUT|APPEND "Inbox/Clean" \(\) \{(\d+)\+\})`)
					if err != nil {
						return err
					}
					if m[1] == "LOGOUT" {
						fmt.Fprintf(w, "* BYE\r\n%s OK bye\r\n", tag)
						return nil
					}
					if len(unanswered) >= appendWindow {
						return fmt.Errorf("copy %d sent with %d unanswered", i, len(unanswered))
					}
					size, _ := strconv.Atoi(m[2])
					body := make([]byte, size+2)
					if _, err := io.ReadFull(r, body); err != nil {
						return err
					}
					if want := append(copies[i].Body, "\r\n"...); !bytes.Equal(body, want) {
						return fmt.Errorf("copy %d differs", i)
					}
					unanswered = append(unanswered, tag)
					if len(unanswered) == appendWindow || i == n-1 {
						for len(unanswered) > 0 {
							answer()
						}
					}
				}
			})
			a, err := dialAppender(context.Background(), scriptedEndpoint(addr), nil)
			if err != nil || a == nil || a.mode() != "literal+" {
				t.Fatalf("dialAppender = %v, %v", a, err)
			}
			defer a.Close()
			err = a.appendAll(context.Background(), "Inbox/Clean", copies)
			if refuse < 0 && err != nil || refuse >= 0 && (err == nil || !strings.Contains(err.Error(), "OVERQUOTA")) {
				t.Errorf("appendAll = %v", err)
			}
		})
	}
}

// FuzzAppenderResponses feeds a server's answers to an APPEND's wait:
// whatever the bytes, it ends (the input runs out), never panics, and
// takes only its own tag's OK as success.
func FuzzAppenderResponses(f *testing.F) {
	f.Add([]byte("g1 OK [APPENDUID 1 1:3] done\r\n"))
	f.Add([]byte("* 1 FETCH (BODY[] {6}\r\nA\r\nB)} FLAGS ())\r\ng1 OK done\r\n"))
	f.Add([]byte("* CAPABILITY IMAP4rev1 MULTIAPPEND\r\n* OK [CAPABILITY LITERAL+] x\r\ng2 OK early\r\ng1 NO [OVERQUOTA] full\r\n"))
	f.Add([]byte("+ go ahead\r\n"))
	f.Add([]byte("* BYE going\r\n"))
	f.Add([]byte("* x {99999999999999999999}\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := &appender{r: bufio.NewReaderSize(bytes.NewReader(data), 16<<10), w: bufio.NewWriter(io.Discard),
			caps: map[string]bool{}, pending: map[string]bool{"g2": true}, early: map[string]error{}}
		err := a.done("g1")
		if err == nil && !bytes.Contains(bytes.ToUpper(data), []byte("G1 OK")) {
			t.Errorf("success without the tag's OK in %q", data)
		}
	})
}

func TestValidFlag(t *testing.T) {
	for f, want := range map[string]bool{
		`\Seen`: true, "$Label1": true, "Junk": true, "NonJunk": true, "a.b-c_d+e": true,
		"": false, `\`: false, "two words": false, "x)": false, "{5+}": false, "a\r\nb": false,
		`\*`: false, "100%": false, `"q"`: false, "x]": false, "caf\xc3\xa9": false, `a\b`: false,
	} {
		if got := validFlag(f); got != want {
			t.Errorf("validFlag(%q) = %v, want %v", f, got, want)
		}
	}
}

// TestAppenderLoginIsBounded: a server that goes quiet after its greeting
// does not hold the ingest forever, nor does one that challenges without
// end.
func TestAppenderLoginIsBounded(t *testing.T) {
	defer func(d time.Duration) { loginTimeout = d }(loginTimeout)
	loginTimeout = 300 * time.Millisecond
	addr := scriptedServer(t, func(r *bufio.Reader, w io.Writer) error {
		fmt.Fprintf(w, "* OK ready\r\n")
		r.ReadString('\n') // LOGIN, never answered
		r.ReadString('\n') // the client gives up and closes
		return nil
	})
	if _, err := dialAppender(context.Background(), scriptedEndpoint(addr), nil); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("a silent server: %v, want a time-out", err)
	}

	loginTimeout = time.Minute
	addr = scriptedServer(t, func(r *bufio.Reader, w io.Writer) error {
		fmt.Fprintf(w, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
		var tag string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return nil
			}
			if t, rest, _ := strings.Cut(line, " "); strings.HasPrefix(rest, "AUTHENTICATE ") {
				tag = t
			} else if line == "*\r\n" {
				fmt.Fprintf(w, "%s BAD cancelled\r\n", tag)
				continue
			}
			fmt.Fprintf(w, "+ \r\n")
		}
	})
	ep := scriptedEndpoint(addr)
	ep.Mechanism, ep.Tokens = MechXOAUTH2, fixedToken("tok")
	if _, err := dialAppender(context.Background(), ep, nil); err == nil || !strings.Contains(err.Error(), "challenges") {
		t.Errorf("endless challenges: %v, want them cut off", err)
	}
}

// fixedToken is a TokenSource of one token.
type fixedToken string

func (f fixedToken) Token(context.Context) (string, error) { return string(f), nil }
func (f fixedToken) Refused(string)                        {}
