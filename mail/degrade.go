package mail

import (
	"bytes"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/secureinput/gateway/redact"
)

// DegradedHeader names the header a degraded copy carries; its value says
// why the message was degraded (never what it holds).
const DegradedHeader = "X-Gateway-Degraded"

// minBlob is the shortest line of base64 characters without a space that a
// degraded copy withholds as encoded data.
const minBlob = 16

// Degrade renders a message that Redact could not read (ErrMalformed) as a
// copy that is safe to deliver: every header field redacted (the Content-*
// fields dropped, since the body is no longer what they describe), a
// DegradedHeader field giving reason, and the body as plain UTF-8 text with
// quoted-printable soft breaks joined, every line that looks like encoded
// data (base64) masked whole and every digit masked, so no number of any
// kind survives. If the engine fails on a header field, that field is fully
// masked.
func (r *Redactor) Degrade(src []byte, reason string) ([]byte, Report, error) {
	var rep Report
	if len(src) > r.maxSize() {
		return nil, rep, ErrTooLarge
	}
	var w bytes.Buffer
	w.Grow(len(src) + 256)
	if bytes.HasPrefix(src, []byte("From ")) {
		next, _ := lineEnd(src, 0)
		src = src[next:]
	}
	fields, _, bodyStart := parseHeader(src)
	fmt.Fprintf(&w, "%s: %s\r\n", DegradedHeader, mimeSafe(reason))
	for _, f := range fields {
		if f.key == "" || f.key == "Mime-Version" || len(f.key) > 8 && f.key[:8] == "Content-" {
			continue
		}
		out, n, err := r.field(f)
		if err != nil {
			_, brk := lastBreak(f.raw)
			out = append(redact.MaskAll(append([]byte(nil), f.raw[:f.vOff]...), f.value), f.raw[brk:]...)
		}
		if n > 0 || err != nil {
			rep.Headers++
		}
		rep.Spans += n
		w.Write(bytes.TrimRight(out, "\r\n"))
		w.WriteString("\r\n")
	}
	w.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	text, _ := toUTF8("", decodeQP(src[bodyStart:]))
	encodeQP(&w, maskDegraded(text))
	rep.Parts, rep.TextParts = 1, 1
	return w.Bytes(), rep, nil
}

// maskDegraded masks every digit (of any script) of text and every line
// that looks like encoded data.
func maskDegraded(text []byte) []byte {
	out := make([]byte, 0, len(text))
	for i := 0; i < len(text); {
		next, brk := lineEnd(text, i)
		line := text[i:brk]
		if len(line) >= minBlob && !bytes.ContainsAny(line, " \t") && isBase64Line(line) {
			out = redact.MaskAll(out, line)
			out = append(out, text[brk:next]...)
			i = next
			continue
		}
		for k := i; k < next; {
			c, size := utf8.DecodeRune(text[k:next])
			if unicode.IsDigit(c) {
				out = append(out, redact.MaskChar)
			} else {
				out = append(out, text[k:k+size]...)
			}
			k += size
		}
		i = next
	}
	return out
}

// mimeSafe keeps a reason printable ASCII on one line.
func mimeSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < ' ' || c >= 0x7f {
			b[i] = ' '
		}
	}
	return string(b)
}
