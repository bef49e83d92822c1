package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	message "github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"

	"github.com/secureinput/gateway/card"
	"github.com/secureinput/gateway/redact"
)

// manifestEntry describes one corpus message: the numbers planted in it (as
// written), its part tree and the SHA-256 of each binary part's payload as
// Python's email package (an independent, lenient parser) reads them when
// gencorpus.py writes the corpus, and whether it is beyond what Redact reads
// (then Degrade's copy is checked).
type manifestEntry struct {
	Planted  []string          `json:"planted"`
	Tree     []string          `json:"tree"`
	Binary   map[string]string `json:"binary"`
	Degraded bool              `json:"degraded"`
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
// (text-like parts), the SHA-256 of its payload (binary parts) and its
// decoded headers.
type part struct {
	path    string
	typ     string
	text    string
	sum     string
	cte     string
	headers []string
}

// testTextTypes are the types the test reads as text besides text/*.
var testTextTypes = map[string]bool{
	"application/json": true, "application/xml": true, "application/x-www-form-urlencoded": true,
	"application/csv": true, "message/delivery-status": true, "message/disposition-notification": true,
}

// decodeAll parses a message with go-message (an independent parser) and
// returns every part, descending into attached messages. An mbox envelope
// line is skipped; a multipart body without its delimiter is read as text.
func decodeAll(raw []byte, prefix string) ([]part, error) {
	if bytes.HasPrefix(raw, []byte("From ")) {
		_, raw, _ = bytes.Cut(raw, []byte("\n"))
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, err
	}
	var parts []part
	var walk func(e *message.Entity, path string) error
	walk = func(e *message.Entity, path string) error {
		mt, params, _ := e.Header.ContentType()
		if mt == "" {
			mt = "text/plain"
		}
		p := part{path: path, typ: mt, cte: e.Header.Get("Content-Transfer-Encoding")}
		fields := e.Header.Fields()
		for fields.Next() {
			v, err := fields.Text()
			if err != nil {
				v = fields.Value()
			}
			p.headers = append(p.headers, fields.Key()+": "+v)
		}
		body, err := io.ReadAll(e.Body)
		if err != nil && !message.IsUnknownEncoding(err) {
			return err
		}
		if strings.HasPrefix(mt, "multipart/") && bytes.Contains(body, []byte("--"+params["boundary"])) {
			parts = append(parts, p)
			mr, err := message.New(e.Header, bytes.NewReader(body))
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return err
			}
			r := mr.MultipartReader()
			for i := 0; ; i++ {
				c, err := r.NextPart()
				if err == io.EOF {
					return nil
				}
				if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
					return err
				}
				if err := walk(c, fmt.Sprintf("%s.%d", path, i)); err != nil {
					return err
				}
			}
		}
		_, disp, _ := e.Header.ContentDisposition()
		switch {
		case mt == "message/rfc822":
			parts = append(parts, p)
			inner, err := decodeAll(body, path+".msg")
			if err != nil {
				return err
			}
			parts = append(parts, inner...)
			return nil
		case strings.HasPrefix(mt, "text/") || strings.HasPrefix(mt, "multipart/") || testTextTypes[mt] ||
			strings.HasSuffix(disp["filename"], ".ics"):
			p.text = string(body)
			if mt == "text/html" {
				p.text = html.UnescapeString(p.text)
			}
		default:
			sum := sha256.Sum256(body)
			p.sum = hex.EncodeToString(sum[:])
		}
		parts = append(parts, p)
		return nil
	}
	return parts, walk(e, prefix)
}

var (
	tags    = regexp.MustCompile(`(?s)<!--|-->|<[^>]*>`)
	squeeze = regexp.MustCompile(`[\s\x{a0}\-.+_=]|%20`)
)

// leaks returns the planted numbers that can still be read in hay: as
// written, or as digits once markup, encoded words, separators and line
// breaks are taken out.
func leaks(hay string, planted []string) []string {
	var words []string
	for _, line := range strings.Split(hay, "\n") {
		if d, err := (&mime.WordDecoder{}).DecodeHeader(line); err == nil {
			line = d
		}
		words = append(words, line)
	}
	decoded := strings.Join(words, "\n")
	flat := squeeze.ReplaceAllString(html.UnescapeString(tags.ReplaceAllString(hay+"\n"+decoded, "")), "")
	var out []string
	for _, p := range planted {
		digits := card.Digits(p)
		if strings.Contains(hay, p) || strings.Contains(decoded, p) || strings.Contains(flat, digits) {
			out = append(out, p)
		}
	}
	return out
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
			if m.Degraded {
				checkDegraded(t, r, src, out, err, m)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Planted) == 0 && !bytes.Equal(out, src) {
				t.Errorf("a message with nothing to redact changed:\n%s", out)
			}
			after, err := decodeAll(out, "0")
			if err != nil {
				t.Fatalf("the output does not parse: %v\n%s", err, out)
			}
			// The part tree is the one the independent parser reads in the
			// original.
			if got, want := tree(after), strings.Join(m.Tree, " "); got != want {
				t.Errorf("part tree changed:\n original %s\n output   %s", want, got)
			}
			// Every planted number is gone from every decoded part and header.
			for _, p := range after {
				if l := leaks(p.text+"\n"+strings.Join(p.headers, "\n"), m.Planted); len(l) > 0 {
					t.Errorf("part %s (%s) still holds %q", p.path, p.typ, l)
				}
				if want, ok := m.Binary[p.path]; ok && p.sum != want {
					t.Errorf("binary part %s (%s) changed", p.path, p.typ)
				}
			}
			if n := len(m.Binary); n > 0 {
				sums := 0
				for _, p := range after {
					if p.sum != "" && m.Binary[p.path] == p.sum {
						sums++
					}
				}
				if sums != n {
					t.Errorf("%d of %d binary parts byte-identical", sums, n)
				}
			}
			// The rest of the text is unchanged: equal but for '#'.
			if before, err := decodeAll(src, "0"); err == nil && len(before) == len(after) {
				for i := range before {
					if !utf8.ValidString(before[i].text) || before[i].typ != after[i].typ || before[i].cte != after[i].cte ||
						before[i].typ == "text/rfc822-headers" {
						// An unknown charset (the output is UTF-8), a transfer
						// encoding only the gateway reads, or encoded words
						// (each masked as one character).
						continue
					}
					if err := sameButMasked(before[i].text, after[i].text); err != nil {
						t.Errorf("part %s (%s): %v", before[i].path, before[i].typ, err)
					}
				}
			}
			if len(m.Planted) > 0 && rep.Spans < len(m.Planted) {
				t.Errorf("report %+v: fewer spans than planted numbers (%d)", rep, len(m.Planted))
			}
		})
	}
}

// checkDegraded: a message beyond what Redact reads is an error that quotes
// nothing, and Degrade's copy parses as one text part, says it is degraded
// and holds no planted number.
func checkDegraded(t *testing.T, r *Redactor, src, out []byte, err error, m manifestEntry) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) || out != nil {
		t.Fatalf("err %v (output %d bytes), want ErrMalformed and no output", err, len(out))
	}
	if l := leaks(err.Error(), m.Planted); len(l) > 0 {
		t.Errorf("the error quotes the message: %v", err)
	}
	deg, _, err := r.Degrade(src, err.Error())
	if err != nil {
		t.Fatal(err)
	}
	parts, err := decodeAll(deg, "0")
	if err != nil {
		t.Fatalf("the degraded copy does not parse: %v\n%s", err, deg)
	}
	if len(parts) != 1 || parts[0].typ != "text/plain" {
		t.Errorf("degraded copy: %d parts, first %s; want one text/plain", len(parts), parts[0].typ)
	}
	hay := parts[0].text + "\n" + strings.Join(parts[0].headers, "\n")
	if l := leaks(hay, m.Planted); len(l) > 0 {
		t.Errorf("the degraded copy holds %q", l)
	}
	if !strings.Contains(hay, DegradedHeader+": ") || !strings.Contains(hay, "From: Deep <deep@example.com>") {
		t.Errorf("degraded copy without its header or the sender:\n%s", deg)
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
	cases := []struct{ name, in, want string }{
		{"inline tag", `<p>card <b>4111</b> 1111 1111 1111</p>`, `<p>card <b>####</b>###############</p>`},
		{"nbsp", `<p>4111&nbsp;1111&nbsp;1111&nbsp;1111</p>`, `<p>###################</p>`},
		{"numeric reference", `<p>&#52;111 1111 1111 1111 ok</p>`, `<p>################### ok</p>`},
		// A card split over two blocks is a card split over two lines.
		{"paragraphs separate groups", `<p>order 4111 1111</p><p>1111 1111 thanks</p>`, `<p>order #########</p><p>######### thanks</p>`},
		{"cells separate groups", `<td>4111 1111</td><td>1111 1111</td>`, `<td>#########</td><td>#########</td>`},
		{"cells, not Luhn", `<td>4111 1111</td><td>1111 1112</td>`, `<td>4111 1111</td><td>1111 1112</td>`},
		{"br separates groups", `4111 1111<br>1111 1111`, `#########<br>#########`},
		{"spans join", `<span>4111</span><span>1111</span><span>1111</span><span>1111</span>`,
			`<span>####</span><span>####</span><span>####</span><span>####</span>`},
		{"comment joins", `4111<!-- a -->1111<!---->1111<!-- b -->1111`, `####<!-- a -->####<!---->####<!-- b -->####`},
		{"wbr adds no gap", `4111<wbr>1111<wbr>1111<wbr>1111`, `####<wbr>####<wbr>####<wbr>####`},
		{"references between groups", `4111&#32;1111&#x20;1111&#160;1111`, `###################`},
		{"white space collapses", "4111\n    1111\n    1111\n    1111", "####\n    ####\n    ####\n    ####"},
		{"href", `<a href="https://x.example/?card=4111111111111111">link</a>`, `<a href="https://x.example/?card=################">link</a>`},
		{"href escapes", `<a href="/?c=4111%201111%201111%201111">x</a>`, `<a href="/?c=#########################">x</a>`},
		{"alt title value data", `<img alt='4111 1111 1111 1111' title=5555555555554444><input value="378282246310005" data-x="6011 1111 1111 1117">`,
			`<img alt='###################' title=################><input value="###############" data-x="###################">`},
		{"comment text", `<!-- card 4111 1111 1111 1111 -->ok`, `<!-- card ################### -->ok`},
		{"title", `<title>4111 1111 1111 1111</title>`, `<title>###################</title>`},
		{"attribute reference", `<a title="4111&#32;1111 1111 1111">x</a>`, `<a title="###################">x</a>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := maskView(e, []byte(tc.in), htmlView([]byte(tc.in)))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
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
	if e.Header.Get("Message-Id") != "<################@example.com>" {
		t.Errorf("Message-ID = %q, want it masked in place", e.Header.Get("Message-Id"))
	}
	if rep.Headers != 3 {
		t.Errorf("report %+v, want 3 headers changed", rep)
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
		if m.Degraded {
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

// TestLenientInputs: what strict parsers refuse is read the way mail
// clients show it, and what the reader shows is redacted.
func TestLenientInputs(t *testing.T) {
	r := newRedactor(t)
	for name, src := range map[string]string{
		"line without colon": "Subject: hi\r\nnot a header 4111111111111111\r\n\r\nbody\r\n",
		"part without body":  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nbroken 4111111111111111\r\n",
		"unknown encoding":   "Content-Transfer-Encoding: x-4111111111111111\r\n\r\nbody 4111 1111 1111 1111\r\n",
		"unknown charset":    "Content-Type: text/plain; charset=x-4111111111111111\r\n\r\nbody 4111 1111 1111 1111\r\n",
		"junk base64":        "Content-Transfer-Encoding: base64\r\n\r\n!!!4111111111111111!!!\r\n",
		"bare LF":            "Subject: x\n\n4111 1111 1111 1111\n",
		"no blank line":      "Subject: 4111 1111 1111 1111",
		"QP bad escape":      "Content-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ 4111 1111 =\r\n1111 1111 =\r\n",
	} {
		out, _, err := r.Redact([]byte(src))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if strings.Contains(string(out), "4111 1111 1111 1111") || strings.Contains(string(out), "4111111111111111") {
			t.Errorf("%s: output holds the number:\n%s", name, out)
		}
	}
}

func TestFinalNewlineKept(t *testing.T) {
	r := newRedactor(t)
	for _, src := range []string{
		"Subject: a\r\n\r\ncard 4111 1111 1111 1111\r\n",
		"Subject: a\r\n\r\ncard 4111 1111 1111 1111",
		"Subject: a\n\ncard 4111 1111 1111 1111\n\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n4111 1111 1111 1111\r\n--b--\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n4111 1111 1111 1111\r\n--b--",
	} {
		out, _, err := r.Redact([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll(src, "4111 1111 1111 1111", "###################")
		if string(out) != want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", src, out, want)
		}
	}
}

// TestErrorsHoldNoContent: an error goes to logs and stderr; it never quotes
// the message.
func TestErrorsHoldNoContent(t *testing.T) {
	r := newRedactor(t)
	deep := ""
	for i := range 30 {
		deep += fmt.Sprintf("Content-Type: multipart/mixed; boundary=x4111111111111111-%d\r\n\r\n--x4111111111111111-%d\r\n", i, i)
	}
	_, _, err := r.Redact([]byte("Subject: 4111111111111111\r\n" + deep))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if strings.Contains(err.Error(), "4111") {
		t.Errorf("the error quotes the message: %v", err)
	}
}

// TestMemoryBound: redacting a large message (a long text part, a long HTML
// part, both with cards, and a large attachment, as big messages are)
// allocates within about three times its size (bytes allocated, which bound
// the peak).
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 25 MiB message")
	}
	r := newRedactor(t)
	var b bytes.Buffer
	b.WriteString("From: a@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=big\r\n\r\n")
	line := "Some text of the message, and a card 4111 1111 1111 1111 now and then.\n" + strings.Repeat("Just text, no card, some words to read.\n", 9)
	text := []byte(strings.Repeat(line, (6<<20)/len(line)))
	b.WriteString("--big\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	encodeBase64(&b, text)
	b.WriteString("--big\r\nContent-Type: text/html; charset=utf-8\r\n\r\n")
	b.WriteString(strings.Repeat("<p>Dear <b>customer</b>, card <span>4111</span> 1111 1111 1111.</p>\r\n"+
		strings.Repeat("<p>Some <i>text</i> of the page, no card.</p>\r\n", 9), (3<<20)/450))
	bin := make([]byte, 12<<20)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	b.WriteString("--big\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	encodeBase64(&b, bin)
	b.WriteString("--big--\r\n")
	src := b.Bytes()
	r.MaxSize = len(src)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, rep, err := r.Redact(src)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("4111 1111")) || rep.Spans < 10000 {
		t.Fatalf("not redacted: %+v", rep)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("message %d MiB, allocated %d MiB (%.2f×)", len(src)>>20, alloc>>20, float64(alloc)/float64(len(src)))
	if alloc > uint64(len(src))*7/2 {
		t.Errorf("allocated %d bytes for a %d-byte message (%.2f×), want at most 3.5×", alloc, len(src), float64(alloc)/float64(len(src)))
	}
}
