package mail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	message "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/redact"
)

type manifestEntry struct {
	Planted   []string `json:"planted"`
	Malformed bool     `json:"malformed"`
}

func loadManifest(t testing.TB) map[string]manifestEntry {
	t.Helper()
	b, err := os.ReadFile("testdata/corpus/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]manifestEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func newRedactor(t testing.TB) *Redactor {
	t.Helper()
	e, err := redact.New(redact.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &Redactor{Engine: e}
}

// part is a decoded MIME part: where it sits, its type, its decoded text
// (text parts) and its decoded headers.
type part struct {
	path    string
	typ     string
	text    string
	headers []string
}

// decodeAll parses a message with go-message (an independent parser) and
// returns every part, descending into attached messages.
func decodeAll(raw []byte, prefix string) ([]part, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		return nil, err
	}
	var parts []part
	var walk func(e *message.Entity, path string) error
	walk = func(e *message.Entity, path string) error {
		mt, _, _ := e.Header.ContentType()
		if mt == "" {
			mt = "text/plain"
		}
		p := part{path: path, typ: mt}
		fields := e.Header.Fields()
		for fields.Next() {
			v, err := fields.Text()
			if err != nil {
				v = fields.Value()
			}
			p.headers = append(p.headers, fields.Key()+": "+v)
		}
		if mr := e.MultipartReader(); mr != nil {
			parts = append(parts, p)
			for i := 0; ; i++ {
				c, err := mr.NextPart()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := walk(c, fmt.Sprintf("%s.%d", path, i)); err != nil {
					return err
				}
			}
		}
		body, err := io.ReadAll(e.Body)
		if err != nil {
			return err
		}
		switch {
		case mt == "message/rfc822":
			parts = append(parts, p)
			inner, err := decodeAll(body, path+".msg")
			if err != nil {
				return err
			}
			parts = append(parts, inner...)
			return nil
		case strings.HasPrefix(mt, "text/"):
			p.text = string(body)
			if mt == "text/html" {
				p.text = html.UnescapeString(p.text)
			}
		default:
			p.text = fmt.Sprintf("%x", body) // binary: compared byte for byte
		}
		parts = append(parts, p)
		return nil
	}
	return parts, walk(e, prefix)
}

func TestCorpus(t *testing.T) {
	r := newRedactor(t)
	for name, m := range loadManifest(t) {
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata/corpus", name+".eml"))
			if err != nil {
				t.Fatal(err)
			}
			out, rep, err := r.Redact(src)
			if m.Malformed {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("malformed message: err %v, want ErrMalformed", err)
				}
				if out != nil {
					t.Error("a malformed message produced output")
				}
				for _, p := range m.Planted {
					if strings.Contains(err.Error(), p) {
						t.Error("the error quotes the message")
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Planted) == 0 && !bytes.Equal(out, src) {
				t.Errorf("a message with nothing to redact changed:\n%s", out)
			}
			before, err := decodeAll(src, "0")
			if err != nil {
				t.Fatalf("the original does not parse: %v", err)
			}
			after, err := decodeAll(out, "0")
			if err != nil {
				t.Fatalf("the output does not parse: %v\n%s", err, out)
			}
			// The part tree is unchanged.
			if tree(before) != tree(after) {
				t.Errorf("part tree changed:\n before %s\n after  %s", tree(before), tree(after))
			}
			// Every planted number is gone from every decoded part and header.
			for _, p := range after {
				hay := p.text + "\n" + strings.Join(p.headers, "\n")
				for _, planted := range m.Planted {
					for _, form := range []string{planted, card.Digits(planted)} {
						if form != "" && strings.Contains(hay, form) {
							t.Errorf("part %s (%s) still holds %q", p.path, p.typ, planted)
						}
					}
				}
			}
			// The rest of the text is unchanged: equal but for '#'.
			for i := range before {
				if i >= len(after) {
					break
				}
				if err := sameButMasked(before[i].text, after[i].text); err != nil {
					t.Errorf("part %s (%s): %v", before[i].path, before[i].typ, err)
				}
			}
			if len(m.Planted) > 0 && rep.Spans < len(m.Planted) {
				t.Errorf("report %+v: fewer spans than planted numbers (%d)", rep, len(m.Planted))
			}
		})
	}
}

func tree(parts []part) string {
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = p.path + "=" + p.typ
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// sameButMasked reports how b differs from a other than by characters of a
// replaced with '#'.
func sameButMasked(a, b string) error {
	ra, rb := []rune(a), []rune(b)
	if len(ra) != len(rb) {
		return fmt.Errorf("text length changed: %d runes, now %d", len(ra), len(rb))
	}
	for i := range ra {
		if ra[i] != rb[i] && rb[i] != '#' {
			return fmt.Errorf("text changed at rune %d: %q became %q", i, ra[i], rb[i])
		}
	}
	return nil
}

func TestHTMLRedaction(t *testing.T) {
	e, _ := redact.New(redact.DefaultConfig())
	cases := []struct{ in, want string }{
		{`<p>card <b>4111</b> 1111 1111 1111</p>`, `<p>card <b>####</b>###############</p>`},
		{`<p>4111&nbsp;1111&nbsp;1111&nbsp;1111</p>`, `<p>###################</p>`},
		{`<p>&#52;111 1111 1111 1111 ok</p>`, `<p>################### ok</p>`},
		// A card split over two blocks is a card split over two lines.
		{`<p>order 4111 1111</p><p>1111 1111 thanks</p>`, `<p>order #########</p><p>######### thanks</p>`},
		{`<a href="https://x.example/?card=4111111111111111">link</a>`, `<a href="https://x.example/?card=4111111111111111">link</a>`},
		{`<td>4111 1111</td><td>1111 1111</td>`, `<td>#########</td><td>#########</td>`},
		{`<td>4111 1111</td><td>1111 1112</td>`, `<td>4111 1111</td><td>1111 1112</td>`},
	}
	for _, tc := range cases {
		got, _, err := redactHTML(e, []byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("redactHTML(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestHeadersAndEncodedWords(t *testing.T) {
	r := newRedactor(t)
	subject := mime.QEncoding.Encode("utf-8", "Karte 4111 1111 1111 1111 für Jürgen")
	src := "From: =?utf-8?q?J=C3=BCrgen_4111_1111_1111_1111?= <j@example.com>, Ann <ann@example.com>\r\n" +
		"Subject: " + subject + "\r\nMessage-ID: <4111111111111111@example.com>\r\n\r\nhello\r\n"
	out, rep, err := r.Redact([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e, err := message.Read(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	from, _ := e.Header.Text("From")
	subj, _ := e.Header.Text("Subject")
	if strings.Contains(from, "4111") || !strings.Contains(from, "ann@example.com") || !strings.Contains(from, "j@example.com") {
		t.Errorf("From = %q", from)
	}
	if subj != "Karte ################### für Jürgen" {
		t.Errorf("Subject = %q", subj)
	}
	if e.Header.Get("Message-Id") != "<4111111111111111@example.com>" {
		t.Errorf("a structural field changed: %q", e.Header.Get("Message-Id"))
	}
	if rep.Headers != 2 {
		t.Errorf("report %+v, want 2 headers changed", rep)
	}
	if !utf8.Valid(out) {
		t.Error("output is not valid UTF-8")
	}
}

func TestRedactionFailureIsAnError(t *testing.T) {
	e, _ := redact.New(redact.Config{Default: true, Additional: []string{`(.+)+z`}, Timeout: 20 * 1e6})
	r := &Redactor{Engine: e}
	_, _, err := r.Redact([]byte("Subject: hi\r\n\r\n4111 1111 1111 1111 " + strings.Repeat("a", 40) + "\r\n"))
	if !errors.Is(err, ErrRedact) {
		t.Errorf("err = %v, want ErrRedact", err)
	}
	r.MaxSize = 10
	if _, _, err := r.Redact([]byte("Subject: hi\r\n\r\nlonger than ten\r\n")); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}

// BenchmarkRedactMail redacts every message of the corpus (the malformed
// ones excepted) per iteration; messages/s is reported.
func BenchmarkRedactMail(b *testing.B) {
	r := newRedactor(b)
	var msgs [][]byte
	size := 0
	for name, m := range loadManifest(b) {
		if m.Malformed {
			continue
		}
		src, _ := os.ReadFile(filepath.Join("testdata/corpus", name+".eml"))
		msgs = append(msgs, src)
		size += len(src)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, m := range msgs {
			if _, _, err := r.Redact(m); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}

// TestErrorsHoldNoContent: the parsers' own errors quote the offending
// line; none of that may reach Redact's error (it goes to logs and stderr).
func TestErrorsHoldNoContent(t *testing.T) {
	r := newRedactor(t)
	for name, src := range map[string]string{
		"bad header line":  "Subject: hi\r\nnot a header 4111111111111111\r\n\r\nbody\r\n",
		"bad multipart":    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nbroken 4111111111111111\r\n",
		"unknown encoding": "Content-Transfer-Encoding: x-4111111111111111\r\n\r\nbody\r\n",
		"unknown charset":  "Content-Type: text/plain; charset=x-4111111111111111\r\n\r\nbody\r\n",
		"bad base64":       "Content-Transfer-Encoding: base64\r\n\r\n!!!4111111111111111!!!\r\n",
	} {
		_, _, err := r.Redact([]byte(src))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), "4111") {
			t.Errorf("%s: the error quotes the message: %v", name, err)
		}
	}
}
