// Package mail ingests mailboxes over IMAP and redacts every message before
// it is delivered: every text part and text-like attachment (plain, HTML,
// calendar, JSON, XML, CSV, delivery reports …, any transfer encoding and
// charset), every header field (RFC 2047 encoded words and RFC 2231
// parameters included), attached messages, recursively, and the multipart
// preamble and epilogue. The MIME structure is kept and binary attachments
// pass through byte for byte.
//
// Messages are read the way mail clients display them, not the way a strict
// parser would: an mbox envelope line, transfer-encoding tokens as written
// in the wild, a missing closing boundary, an unknown charset, base64 with
// junk after the data. What still cannot be read (beyond the nesting and
// part limits) is an ErrMalformed error; Degrade then renders a copy that is
// safe to deliver. A message whose redaction fails is never delivered.
package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

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

// Errors of Redact. A message that fails with any of them is not delivered
// as it is (ErrMalformed may be delivered as Degrade's copy). Their text
// never holds the message's content.
var (
	ErrMalformed = errors.New("mail: malformed message")
	ErrTooLarge  = errors.New("mail: message too large")
	ErrRedact    = errors.New("mail: redaction failed")
)

// Report says what Redact did to one message.
type Report struct {
	Parts     int // MIME parts (leaves and containers)
	TextParts int // text and text-like parts scanned
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
// every text part and header field. A message with nothing to mask comes out
// byte for byte, and so does every part with nothing to mask. The error
// wraps ErrMalformed, ErrTooLarge or ErrRedact and never quotes the message.
func (r *Redactor) Redact(src []byte) ([]byte, Report, error) {
	var rep Report
	if len(src) > r.maxSize() {
		return nil, rep, ErrTooLarge
	}
	var out bytes.Buffer
	out.Grow(len(src) + 1024)
	if err := r.message(&out, src, 0, nil, &rep); err != nil {
		return nil, rep, err
	}
	return out.Bytes(), rep, nil
}

func (r *Redactor) maxSize() int {
	if r.MaxSize <= 0 {
		return DefaultMaxSize
	}
	return r.MaxSize
}

// message redacts one message (an optional mbox envelope line, a header and
// a body) into w.
func (r *Redactor) message(w *bytes.Buffer, src []byte, depth int, outer []string, rep *Report) error {
	if bytes.HasPrefix(src, []byte("From ")) {
		next, _ := lineEnd(src, 0)
		if err := r.plain(w, src[:next], rep); err != nil {
			return err
		}
		src = src[next:]
	}
	return r.entity(w, src, "text/plain", depth, outer, rep)
}

// entity redacts one entity (header, blank line, body) into w.
// defaultType is the type of an entity without Content-Type (message/rfc822
// inside multipart/digest); outer are the boundaries of the multiparts it
// sits in.
func (r *Redactor) entity(w *bytes.Buffer, src []byte, defaultType string, depth int, outer []string, rep *Report) error {
	rep.Parts++
	if depth > maxDepth || rep.Parts > maxParts {
		return fmt.Errorf("%w: more than %d levels or %d parts", ErrMalformed, maxDepth, maxParts)
	}
	fields, headerEnd, bodyStart := parseHeader(src)
	sep, body := src[headerEnd:bodyStart], src[bodyStart:]
	h := &header{fields: fields}
	h.mediaType, h.params = parseParams(get(fields, "Content-Type"))
	if !strings.Contains(h.mediaType, "/") {
		h.mediaType, h.params = defaultType, nil
	}
	cteRaw := get(fields, "Content-Transfer-Encoding")
	var canon string
	h.cte, canon = normalizeCTE(cteRaw)
	if canon != "" && canon != strings.ToLower(cteRaw) {
		h.set("Content-Transfer-Encoding", canon) // "7-bit", "quoted printable": written as the token clients know
	}

	switch {
	case strings.HasPrefix(h.mediaType, "multipart/"):
		boundary := paramValue(h.params, "boundary")
		if mp, ok := splitMultipart(body, boundary); ok {
			return r.multipart(w, h, sep, mp, depth, outer, rep)
		}
		// A multipart type whose body has no delimiter: read it as text.
		return r.leaf(w, h, sep, body, "text/plain", rep)
	case h.mediaType == "message/rfc822" || h.mediaType == "message/global":
		return r.attached(w, h, sep, body, depth, outer, rep)
	}
	return r.leaf(w, h, sep, body, h.mediaType, rep)
}

// multipart writes a multipart entity: its header, the preamble (scanned as
// text), each part redacted, the closing delimiter (added when the message
// had none) and the epilogue (scanned as text). A boundary that holds a
// match, or that starts with the boundary of a multipart around it (or is
// the start of one), is replaced by a fresh one: the gateway reads such a
// message by whole delimiter lines, but many parsers downstream do not.
func (r *Redactor) multipart(w *bytes.Buffer, h *header, sep []byte, mp *multipartBody, depth int, outer []string, rep *Report) error {
	boundary := paramValue(h.params, "boundary")
	newBoundary := boundary
	spans, err := r.Engine.Find([]byte(boundary), nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRedact, err)
	}
	rep.Spans += len(spans)
	clash := false
	for _, o := range outer {
		clash = clash || strings.HasPrefix(boundary, o) || strings.HasPrefix(o, boundary)
	}
	if len(spans) > 0 || clash {
		newBoundary = freshBoundary()
		h.setParam("boundary", newBoundary)
	}
	outer = append(outer[:len(outer):len(outer)], newBoundary)
	if err := r.writeHeader(w, h, rep); err != nil {
		return err
	}
	w.Write(sep)
	if err := r.plain(w, mp.preamble, rep); err != nil {
		return err
	}
	childType := "text/plain"
	if h.mediaType == "multipart/digest" {
		childType = "message/rfc822"
	}
	for i, p := range mp.parts {
		w.Write(rebound(mp.delims[i], boundary, newBoundary))
		if err := r.entity(w, p, childType, depth+1, outer, rep); err != nil {
			return err
		}
	}
	if mp.closing == nil {
		w.WriteString("\r\n--" + newBoundary + "--\r\n")
		return nil
	}
	w.Write(rebound(mp.closing, boundary, newBoundary))
	return r.plain(w, mp.epilogue, rep)
}

func rebound(delim []byte, old, new string) []byte {
	if old == new {
		return delim
	}
	return bytes.Replace(delim, []byte("--"+old), []byte("--"+new), 1)
}

func freshBoundary() string {
	var b [12]byte
	rand.Read(b[:])
	return "=_gw_" + hex.EncodeToString(b[:])
}

// attached redacts an attached message (message/rfc822) recursively.
func (r *Redactor) attached(w *bytes.Buffer, h *header, sep, body []byte, depth int, outer []string, rep *Report) error {
	if h.cte == cteIdentity {
		if err := r.writeHeader(w, h, rep); err != nil {
			return err
		}
		w.Write(sep)
		return r.message(w, body, depth+1, outer, rep)
	}
	decoded, trailer := decodeBody(h.cte, body)
	var inner bytes.Buffer
	inner.Grow(len(decoded))
	if err := r.message(&inner, decoded, depth+1, outer, rep); err != nil {
		return err
	}
	var tail bytes.Buffer
	if err := r.plain(&tail, trailer, rep); err != nil {
		return err
	}
	if err := r.writeHeader(w, h, rep); err != nil {
		return err
	}
	w.Write(sep)
	if bytes.Equal(inner.Bytes(), decoded) && bytes.Equal(tail.Bytes(), trailer) {
		w.Write(body)
		return nil
	}
	encode(w, h.cte, withTrailer(inner.Bytes(), tail.Bytes()))
	return nil
}

// leaf redacts a part that is not a container: a text-like part is decoded,
// read through the view of its type, and written back (in UTF-8, with its
// own transfer encoding) if anything was masked; a binary part is copied.
func (r *Redactor) leaf(w *bytes.Buffer, h *header, sep, body []byte, mediaType string, rep *Report) error {
	kind := textKind(mediaType, h.params, h.filename())
	if kind == kindBinary {
		if err := r.writeHeader(w, h, rep); err != nil {
			return err
		}
		w.Write(sep)
		w.Write(body)
		return nil
	}
	rep.TextParts++
	decoded, trailer := decodeBody(h.cte, body)
	text, converted := toUTF8(paramValue(h.params, "charset"), decoded)
	masked, n, err := r.maskText(kind, h, text)
	if err != nil {
		return err
	}
	var tail bytes.Buffer
	if err := r.plain(&tail, trailer, rep); err != nil {
		return err
	}
	if n == 0 && bytes.Equal(tail.Bytes(), trailer) {
		if err := r.writeHeader(w, h, rep); err != nil {
			return err
		}
		w.Write(sep)
		w.Write(body) // nothing to mask: the part stays byte for byte
		return nil
	}
	rep.Spans += n
	cte := h.cte
	if converted {
		h.setParam("charset", "utf-8")
	}
	if cte == cteIdentity && !isASCII(masked) && !h.eightBit() {
		cte = cteQP
		h.set("Content-Transfer-Encoding", cteQP)
	}
	if err := r.writeHeader(w, h, rep); err != nil {
		return err
	}
	w.Write(sep)
	encode(w, cte, withTrailer(masked, tail.Bytes()))
	return nil
}

// maskText reads text through the view of its kind and masks the matches.
func (r *Redactor) maskText(kind int, h *header, text []byte) ([]byte, int, error) {
	var v *view
	switch kind {
	case kindPlain:
		if strings.EqualFold(paramValue(h.params, "format"), "flowed") {
			v = flowedView(text, strings.EqualFold(paramValue(h.params, "delsp"), "yes"))
			break
		}
		spans, err := r.Engine.Find(text, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrRedact, err)
		}
		if len(spans) == 0 {
			return text, 0, nil
		}
		return redact.Mask(make([]byte, 0, len(text)), text, spans), len(spans), nil
	case kindHTML:
		v = htmlView(text)
	case kindFolded:
		v = unfoldView(text, true)
	case kindHeaders:
		v, _ = wordsView(text)
	case kindURL:
		v = urlView(text)
	}
	masked, n, err := maskView(r.Engine, text, v)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrRedact, err)
	}
	return masked, n, nil
}

// plain writes raw text (a preamble, an envelope line, what follows base64
// data) to w with every match masked.
func (r *Redactor) plain(w *bytes.Buffer, text []byte, rep *Report) error {
	if len(text) == 0 {
		return nil
	}
	spans, err := r.Engine.Find(text, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRedact, err)
	}
	rep.Spans += len(spans)
	w.Write(redact.Mask(w.AvailableBuffer(), text, spans))
	return nil
}

// withTrailer joins decoded data and the (masked) text that followed it in
// a base64 body, so that the part is written back as valid base64 that
// every reader decodes.
func withTrailer(data, trailer []byte) []byte {
	if len(trailer) == 0 {
		return data
	}
	out := make([]byte, 0, len(data)+len(trailer)+2)
	out = append(out, data...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return append(out, trailer...)
}

// decodeBody undoes a transfer encoding. The trailer is what followed the
// data of a base64 body.
func decodeBody(cte string, body []byte) (data, trailer []byte) {
	switch cte {
	case cteQP:
		return decodeQP(body), nil
	case cteBase64:
		return decodeBase64(body)
	}
	return body, nil
}

// encode writes data in a transfer encoding.
func encode(w *bytes.Buffer, cte string, data []byte) {
	switch cte {
	case cteQP:
		encodeQP(w, data)
	case cteBase64:
		encodeBase64(w, data)
	default:
		w.Write(data)
	}
}
