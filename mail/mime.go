// Package mail ingests mailboxes over IMAP and redacts every message before
// it is delivered: every text part (plain and HTML, any transfer encoding
// and charset), every text header (RFC 2047 encoded words included), text
// attachments and attached messages, recursively. The MIME structure is
// kept and other attachments pass through byte for byte. A message that
// cannot be parsed or redacted is never delivered unredacted.
package mail

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"

	"github.com/secureinput/gateway/redact"
)

// Limits of one message.
const (
	// DefaultMaxSize bounds a message (MaxSize if zero).
	DefaultMaxSize = 50 << 20
	// maxDepth bounds the nesting of multiparts and attached messages.
	maxDepth = 20
	// maxParts bounds the parts of one message.
	maxParts = 1000
)

// Errors of Redact. A message that fails with any of them must not be
// delivered. Their text never holds the message's content: the parsers'
// own errors quote the offending line, so they are not passed on.
var (
	ErrMalformed = errors.New("mail: malformed message")
	ErrTooLarge  = errors.New("mail: message too large")
	ErrRedact    = errors.New("mail: redaction failed")
)

// Report says what Redact did to one message.
type Report struct {
	Parts     int // MIME parts (leaves and containers)
	TextParts int // text parts scanned
	Headers   int // header fields changed
	Spans     int // matches masked, in bodies and headers
}

// Redactor redacts whole messages with one engine. It is safe for concurrent
// use.
type Redactor struct {
	Engine *redact.Engine
	// MaxSize bounds a message in bytes (DefaultMaxSize if zero).
	MaxSize int
}

// Redact returns the message src with every match of the engine masked in
// every text part and text header. The error wraps ErrMalformed, ErrTooLarge
// or ErrRedact and never quotes the message.
func (r *Redactor) Redact(src []byte) ([]byte, Report, error) {
	max := r.MaxSize
	if max <= 0 {
		max = DefaultMaxSize
	}
	var rep Report
	if len(src) > max {
		return nil, rep, ErrTooLarge
	}
	var out bytes.Buffer
	out.Grow(len(src) + 1024)
	if err := r.message(&out, src, 0, &rep); err != nil {
		return nil, rep, err
	}
	return out.Bytes(), rep, nil
}

// message redacts one message (a header and a body) into w.
func (r *Redactor) message(w *bytes.Buffer, src []byte, depth int, rep *Report) error {
	br := bufio.NewReader(bytes.NewReader(src))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return fmt.Errorf("%w: the header does not parse", ErrMalformed)
	}
	body, _ := io.ReadAll(br)
	return r.entity(w, h, body, depth, rep)
}

// entity redacts a header and its raw body into w.
func (r *Redactor) entity(w *bytes.Buffer, h textproto.Header, body []byte, depth int, rep *Report) error {
	rep.Parts++
	if depth > maxDepth || rep.Parts > maxParts {
		return fmt.Errorf("%w: more than %d levels or %d parts", ErrMalformed, maxDepth, maxParts)
	}
	mediaType, params := contentType(h)
	newBody, err := r.body(h, mediaType, params, body, depth, rep)
	if err != nil {
		return err
	}
	if err := r.header(w, &h, rep); err != nil {
		return err
	}
	w.Write(newBody)
	return nil
}

// contentType parses Content-Type; a missing or unparseable one is
// text/plain (RFC 2045 §5.2), so it is redacted as text.
func contentType(h textproto.Header) (string, map[string]string) {
	v := h.Get("Content-Type")
	if v == "" {
		return "text/plain", map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		if i := strings.IndexByte(v, ';'); i >= 0 {
			v = v[:i]
		}
		mt = strings.ToLower(strings.TrimSpace(v))
		if mt == "" || !strings.Contains(mt, "/") {
			mt = "text/plain"
		}
		return mt, map[string]string{}
	}
	return mt, params
}

// body returns the redacted body of an entity. It may change h (charset,
// transfer encoding) when it re-encodes a text.
func (r *Redactor) body(h textproto.Header, mediaType string, params map[string]string, body []byte, depth int, rep *Report) ([]byte, error) {
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		return r.multipart(params["boundary"], body, depth, rep)
	case mediaType == "message/rfc822" || mediaType == "message/global":
		decoded, err := decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
		if err != nil {
			return nil, err
		}
		var inner bytes.Buffer
		if err := r.message(&inner, decoded, depth+1, rep); err != nil {
			return nil, err
		}
		if bytes.Equal(inner.Bytes(), decoded) {
			return body, nil
		}
		return encodeTransfer(&h, inner.Bytes())
	case strings.HasPrefix(mediaType, "text/"):
		return r.text(&h, mediaType, params, body, rep)
	}
	return body, nil // other attachments pass through unchanged
}

// multipart redacts each part and writes them back with the same boundary.
// The preamble and epilogue (not shown by mail readers) are dropped.
func (r *Redactor) multipart(boundary string, body []byte, depth int, rep *Report) ([]byte, error) {
	if boundary == "" {
		return nil, fmt.Errorf("%w: multipart without boundary", ErrMalformed)
	}
	mr := textproto.NewMultipartReader(bytes.NewReader(body), boundary)
	var out bytes.Buffer
	n := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: a multipart body does not parse", ErrMalformed)
		}
		raw, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("%w: a multipart part does not parse", ErrMalformed)
		}
		if n == 0 {
			out.WriteString("--" + boundary + "\r\n")
		} else {
			out.WriteString("\r\n--" + boundary + "\r\n")
		}
		n++
		if err := r.entity(&out, p.Header, raw, depth+1, rep); err != nil {
			return nil, err
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: multipart with no part", ErrMalformed)
	}
	out.WriteString("\r\n--" + boundary + "--\r\n")
	return out.Bytes(), nil
}

// text redacts a text part: decode the transfer encoding and the charset,
// mask, and if anything was masked encode it back (as UTF-8).
func (r *Redactor) text(h *textproto.Header, mediaType string, params map[string]string, body []byte, rep *Report) ([]byte, error) {
	rep.TextParts++
	decoded, err := decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return nil, err
	}
	cs := strings.ToLower(params["charset"])
	utf8Text := decoded
	if cs != "" && cs != "utf-8" && cs != "us-ascii" && cs != "utf8" {
		cr, err := charset.Reader(cs, bytes.NewReader(decoded))
		if err != nil {
			return nil, fmt.Errorf("%w: unknown charset", ErrMalformed)
		}
		if utf8Text, err = io.ReadAll(cr); err != nil {
			return nil, fmt.Errorf("%w: text not in its charset", ErrMalformed)
		}
	}
	var masked []byte
	var n int
	if mediaType == "text/html" {
		masked, n, err = redactHTML(r.Engine, utf8Text)
	} else {
		var spans []redact.Span
		masked, spans, err = r.Engine.AppendRedact(nil, utf8Text, nil)
		n = len(spans)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRedact, err)
	}
	if n == 0 {
		return body, nil // nothing to mask: the part stays byte for byte
	}
	rep.Spans += n
	if cs != "" && cs != "utf-8" && cs != "us-ascii" {
		params["charset"] = "utf-8"
		h.Set("Content-Type", mime.FormatMediaType(mediaType, params))
	}
	return encodeTransfer(h, masked)
}

// decodeTransfer undoes a Content-Transfer-Encoding.
func decodeTransfer(cte string, body []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return body, nil
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return nil, fmt.Errorf("%w: bad quoted-printable", ErrMalformed)
		}
		return out, nil
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, body)
		out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean))+3)
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			// Tolerate missing padding, as mail readers do.
			n, err = base64.RawStdEncoding.Decode(out, bytes.TrimRight(clean, "="))
			if err != nil {
				return nil, fmt.Errorf("%w: bad base64", ErrMalformed)
			}
		}
		return out[:n], nil
	}
	return nil, fmt.Errorf("%w: unknown transfer encoding", ErrMalformed)
}

// encodeTransfer encodes text in h's Content-Transfer-Encoding, switching a
// 7bit part that now holds non-ASCII to quoted-printable.
func encodeTransfer(h *textproto.Header, text []byte) ([]byte, error) {
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	if (cte == "" || cte == "7bit") && !isASCII(text) {
		cte = "quoted-printable"
		h.Set("Content-Transfer-Encoding", cte)
	}
	var out bytes.Buffer
	switch cte {
	case "quoted-printable":
		qw := quotedprintable.NewWriter(&out)
		qw.Write(text)
		qw.Close()
	case "base64":
		enc := base64.StdEncoding.EncodeToString(text)
		for len(enc) > 76 {
			out.WriteString(enc[:76])
			out.WriteString("\r\n")
			enc = enc[76:]
		}
		out.WriteString(enc)
		out.WriteString("\r\n")
	default:
		out.Write(text)
	}
	return out.Bytes(), nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// structural are header fields that carry no free text.
var structural = map[string]bool{
	"Content-Type": true, "Content-Transfer-Encoding": true, "Mime-Version": true, "Content-Id": true,
	"Message-Id": true, "In-Reply-To": true, "References": true, "Date": true, "Received": true,
	"Dkim-Signature": true, "Arc-Seal": true, "Arc-Message-Signature": true, "Arc-Authentication-Results": true,
	"Authentication-Results": true, "Return-Path": true,
}

// addressFields hold address lists: their display names are redacted, and
// the list is written back as addresses.
var addressFields = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true, "Sender": true,
	"Resent-From": true, "Resent-To": true, "Resent-Cc": true, "Resent-Sender": true,
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// header writes h to w with every text field redacted. Fields keep their
// order; a field with nothing to mask is written as it came.
func (r *Redactor) header(w *bytes.Buffer, h *textproto.Header, rep *Report) error {
	fields := h.Fields()
	for fields.Next() {
		raw, err := fields.Raw()
		if err != nil {
			return fmt.Errorf("%w: a header field does not parse", ErrMalformed)
		}
		key := fields.Key()
		if structural[key] {
			w.Write(raw)
			continue
		}
		value := fields.Value()
		decoded, err := wordDecoder.DecodeHeader(value)
		if err != nil {
			decoded = value // undecodable words stay as they are, and are scanned as such
		}
		res, err := r.Engine.Redact(decoded)
		if err != nil {
			return fmt.Errorf("%w: header %s: %w", ErrRedact, key, err)
		}
		if len(res.Spans) == 0 {
			w.Write(raw)
			continue
		}
		rep.Headers++
		rep.Spans += len(res.Spans)
		w.WriteString(key + ": " + r.encodeHeader(key, value, res.Text) + "\r\n")
	}
	w.WriteString("\r\n")
	return nil
}

// encodeHeader writes a redacted header value back: address lists as
// addresses with redacted names, other fields as UTF-8 encoded words when
// they need them.
func (r *Redactor) encodeHeader(key, value, masked string) string {
	if addressFields[key] {
		parser := mail.AddressParser{WordDecoder: wordDecoder}
		if list, err := parser.ParseList(value); err == nil {
			parts := make([]string, len(list))
			for i, a := range list {
				name, _ := r.Engine.Redact(a.Name)
				addr, _ := r.Engine.Redact(a.Address)
				parts[i] = (&mail.Address{Name: name.Text, Address: addr.Text}).String()
			}
			return strings.Join(parts, ", ")
		}
	}
	return mime.QEncoding.Encode("utf-8", masked)
}
