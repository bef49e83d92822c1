package mail

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// Transfer encodings, as normalizeCTE names them.
const (
	cteIdentity = "" // 7bit, 8bit, binary, absent or unknown: the body is the text
	cteQP       = "quoted-printable"
	cteBase64   = "base64"
)

// normalizeCTE reads a Content-Transfer-Encoding token the way mail clients
// do: case, spaces, dashes and underscores do not matter, and "8bits" is
// "8bit". It returns the encoding, and the canonical token ("" when the
// token is unknown: then the body is read as it is, and scanned as such).
func normalizeCTE(token string) (kind, canonical string) {
	var b strings.Builder
	for _, c := range strings.ToLower(token) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	switch b.String() {
	case "":
		return cteIdentity, ""
	case "7bit", "7bits":
		return cteIdentity, "7bit"
	case "8bit", "8bits":
		return cteIdentity, "8bit"
	case "binary":
		return cteIdentity, "binary"
	case "quotedprintable", "quotedprintables", "qp":
		return cteQP, cteQP
	case "base64", "b64":
		return cteBase64, cteBase64
	}
	return cteIdentity, ""
}

// decodeQP undoes quoted-printable leniently, as mail readers do: "=XX" in
// either case is a byte, "=" before the line break (after optional
// whitespace) is a soft break, any other "=" is itself, and whitespace at
// the end of a line is dropped.
func decodeQP(body []byte) []byte {
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		next, brk := lineEnd(body, i)
		line := bytes.TrimRight(body[i:brk], " \t")
		soft := false
		for j := 0; j < len(line); j++ {
			c := line[j]
			if c != '=' {
				out = append(out, c)
				continue
			}
			if j+2 < len(line) && isHex(line[j+1]) && isHex(line[j+2]) {
				out = append(out, unhex(line[j+1])<<4|unhex(line[j+2]))
				j += 2
				continue
			}
			if j == len(line)-1 {
				soft = true
				continue
			}
			out = append(out, c)
		}
		if !soft && next > brk {
			out = append(out, body[brk:next]...)
		}
		i = next
	}
	return out
}

// decodeBase64 decodes base64 leniently: whitespace is ignored, padding may
// be missing, and decoding stops at the first line that is not base64 (a
// signature, a footer some server added): that rest is returned as trailer,
// to be read as text. It decodes in one pass, into one buffer.
func decodeBase64(body []byte) (data, trailer []byte) {
	data = make([]byte, 0, len(body)/4*3+3)
	var quantum uint32
	n := 0
	end := len(body)
lines:
	for i := 0; i < len(body); {
		next, brk := lineEnd(body, i)
		line := bytes.TrimSpace(body[i:brk])
		if !isBase64Line(line) {
			end = i
			break
		}
		i = next
		for _, c := range line {
			if c == '=' {
				if len(bytes.TrimSpace(body[i:])) > 0 {
					end = i // padding ends the data: what follows is not part of it
				}
				break lines
			}
			if c == ' ' || c == '\t' {
				continue
			}
			quantum = quantum<<6 | uint32(base64Value(c))
			n++
			if n == 4 {
				data = append(data, byte(quantum>>16), byte(quantum>>8), byte(quantum))
				quantum, n = 0, 0
			}
		}
	}
	switch n { // a lone sextet (n == 1) holds no byte
	case 2:
		data = append(data, byte(quantum>>4))
	case 3:
		data = append(data, byte(quantum>>10), byte(quantum>>2))
	}
	if end < len(body) {
		trailer = body[end:]
	}
	return data, trailer
}

func base64Value(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A'
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26
	case c >= '0' && c <= '9':
		return c - '0' + 52
	case c == '+':
		return 62
	}
	return 63
}

// isBase64Line reports whether line holds only base64 characters, with
// padding only at its end.
func isBase64Line(line []byte) bool {
	pad := false
	for _, c := range line {
		switch {
		case c == '=':
			pad = true
		case pad:
			return false
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		case c == ' ' || c == '\t':
		default:
			return false
		}
	}
	return true
}

// encodeQP encodes text as quoted-printable.
func encodeQP(w *bytes.Buffer, text []byte) {
	qw := quotedprintable.NewWriter(w)
	qw.Write(text)
	qw.Close()
}

// encodeBase64 encodes data as base64 in lines of 76 characters.
func encodeBase64(w *bytes.Buffer, data []byte) {
	const line = 57 // 76 characters of base64
	buf := make([]byte, base64.StdEncoding.EncodedLen(line))
	for len(data) > 0 {
		n := min(line, len(data))
		base64.StdEncoding.Encode(buf, data[:n])
		w.Write(buf[:base64.StdEncoding.EncodedLen(n)])
		w.WriteString("\r\n")
		data = data[n:]
	}
}

// toUTF8 converts text in the named charset to UTF-8. UTF-8 and ASCII are
// kept as they are (invalid bytes included); an unknown label, or a text
// that is not valid in its charset, is read as UTF-8 when it is valid UTF-8
// and as Windows-1252 otherwise, so it is scanned either way. converted
// says whether the result is not the input.
func toUTF8(cs string, text []byte) (out []byte, converted bool) {
	switch strings.ToLower(strings.Trim(cs, "\" ")) {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "us_ascii":
		return text, false
	}
	if isASCII(text) {
		return text, false
	}
	if r, err := charset.Reader(cs, bytes.NewReader(text)); err == nil {
		if out, err := io.ReadAll(r); err == nil {
			return out, true
		}
	}
	if utf8.Valid(text) {
		return text, false
	}
	out, err := charmap.Windows1252.NewDecoder().Bytes(text)
	if err != nil {
		return text, false
	}
	return out, true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
