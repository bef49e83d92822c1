package mail

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// header is the header of one entity, what was read from it, and the
// changes the body's redaction asks for (a new charset, transfer encoding
// or boundary).
type header struct {
	fields        []field
	mediaType     string
	params        []param
	cte           string
	set_          map[string]string // canonical key → new value
	paramsChanged bool
}

// set replaces the value of the field key (adding the field if it is not
// there).
func (h *header) set(key, value string) {
	if h.set_ == nil {
		h.set_ = map[string]string{}
	}
	h.set_[key] = value
}

// setParam sets a Content-Type parameter.
func (h *header) setParam(name, value string) {
	h.paramsChanged = true
	for i := range h.params {
		if h.params[i].name == name {
			h.params[i].value = value
			return
		}
	}
	h.params = append(h.params, param{name, value})
}

// filename is the file name of the entity, from Content-Disposition or
// Content-Type.
func (h *header) filename() string {
	_, params := parseParams(get(h.fields, "Content-Disposition"))
	if name := paramValue(params, "filename"); name != "" {
		return name
	}
	return paramValue(h.params, "name")
}

// eightBit reports whether the entity is declared 8bit or binary, so that
// UTF-8 text may be written as it is.
func (h *header) eightBit() bool {
	_, canon := normalizeCTE(get(h.fields, "Content-Transfer-Encoding"))
	return canon == "8bit" || canon == "binary"
}

// structural fields are masked in place, so their syntax stays valid ('#'
// is an atom character): message ids, trace fields, dates, signatures.
// unstructured fields are written back as UTF-8 encoded words when a match
// sits in an encoded word.
var unstructured = map[string]bool{
	"Subject": true, "Comments": true, "Keywords": true, "Thread-Topic": true, "Content-Description": true,
}

// addressFields hold address lists: when a match sits in an encoded word,
// the list is written back as addresses with masked names.
var addressFields = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Reply-To": true, "Sender": true,
	"Resent-From": true, "Resent-To": true, "Resent-Cc": true, "Resent-Bcc": true, "Resent-Sender": true,
	"Disposition-Notification-To": true, "Return-Receipt-To": true,
}

// writeHeader writes the header with every field redacted and the changes
// the body asked for.
func (r *Redactor) writeHeader(w *bytes.Buffer, h *header, rep *Report) error {
	done := map[string]bool{}
	eol := "\r\n"
	for _, f := range h.fields {
		if f.key != "" {
			if v, ok := h.set_[f.key]; ok {
				f = rewritten(f, " "+v)
				done[f.key] = true
			} else if f.key == "Content-Type" && h.paramsChanged && !done[f.key] {
				f = rewritten(f, " "+formatParams(h.mediaType, h.params))
				done[f.key] = true
			}
		}
		if bytes.HasSuffix(f.raw, []byte("\n")) && !bytes.HasSuffix(f.raw, []byte("\r\n")) {
			eol = "\n"
		}
		out, n, err := r.field(f)
		if err != nil {
			return err
		}
		if n > 0 {
			rep.Headers++
			rep.Spans += n
		}
		w.Write(out)
	}
	add := func(key, value string) {
		if !done[key] {
			w.WriteString(key + ": " + value + eol)
		}
	}
	if v, ok := h.set_["Content-Transfer-Encoding"]; ok {
		add("Content-Transfer-Encoding", v)
	}
	if h.paramsChanged && get(h.fields, "Content-Type") == "" {
		add("Content-Type", formatParams(h.mediaType, h.params))
	}
	return nil
}

// rewritten returns f with a new value, its name and line break kept.
func rewritten(f field, value string) field {
	_, brk := lastBreak(f.raw)
	raw := append(append(append([]byte(nil), f.raw[:f.vOff]...), value...), f.raw[brk:]...)
	return field{raw: raw, name: f.name, key: f.key, value: raw[f.vOff : f.vOff+len(value)], vOff: f.vOff}
}

// field redacts one header field. It returns the field to write and how
// many matches it masked.
func (r *Redactor) field(f field) ([]byte, int, error) {
	if f.key == "" { // a line that is not a field: scanned as it is
		spans, err := r.Engine.Find(f.raw, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrRedact, err)
		}
		if len(spans) == 0 {
			return f.raw, 0, nil
		}
		return applyCuts(nil, f.raw, identityView(f.raw).cuts(spans)), len(spans), nil
	}
	v, words := wordsView(f.value)
	spans, err := r.Engine.Find(v.text, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: header %s: %w", ErrRedact, f.key, err)
	}
	total := len(spans)
	if f.key == "Content-Type" || f.key == "Content-Disposition" {
		if value, n, err := r.maskParams(string(v.text)); err != nil {
			return nil, 0, err
		} else if n > 0 {
			f, total = rewritten(f, " "+value), total+n
			v, _ = wordsView(f.value)
			if spans, err = r.Engine.Find(v.text, nil); err != nil {
				return nil, 0, fmt.Errorf("%w: header %s: %w", ErrRedact, f.key, err)
			}
		}
	}
	if len(spans) == 0 {
		return f.raw, total, nil
	}
	if words && (unstructured[f.key] || strings.HasPrefix(f.key, "X-")) {
		masked := string(applyCuts(nil, v.text, identityView(v.text).cuts(spans)))
		f = rewritten(f, " "+mime.QEncoding.Encode("utf-8", strings.TrimSpace(masked)))
	} else if words && addressFields[f.key] {
		if value, ok := r.maskAddresses(string(v.text), string(f.value)); ok {
			f = rewritten(f, " "+value)
		}
	}
	// Whatever is left is masked in place: an encoded word holding a match
	// becomes one mask character.
	return r.inPlace(f, total)
}

// inPlace masks every match of f's value in its raw bytes.
func (r *Redactor) inPlace(f field, n int) ([]byte, int, error) {
	v, _ := wordsView(f.value)
	spans, err := r.Engine.Find(v.text, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: header %s: %w", ErrRedact, f.key, err)
	}
	if len(spans) == 0 {
		return f.raw, n, nil
	}
	out := append([]byte(nil), f.raw[:f.vOff]...)
	out = applyCuts(out, f.value, v.cuts(spans))
	_, brk := lastBreak(f.raw)
	return append(out, f.raw[brk:]...), max(n, len(spans)), nil
}

// maskParams masks the parameter values (decoded: RFC 2231 and RFC 2047) of
// a Content-Type or Content-Disposition value and formats it again if any
// held a match. The boundary is not touched here (multipart replaces it).
func (r *Redactor) maskParams(value string) (string, int, error) {
	head, params := parseParams(value)
	n := 0
	for i, p := range params {
		if p.name == "boundary" {
			continue
		}
		res, err := r.Engine.Redact(p.value)
		if err != nil {
			return "", 0, fmt.Errorf("%w: parameter %s: %w", ErrRedact, p.name, err)
		}
		if len(res.Spans) > 0 {
			params[i].value = res.Text
			n += len(res.Spans)
		}
	}
	if n == 0 {
		return value, 0, nil
	}
	return formatParams(head, params), n, nil
}

// formatParams writes a Content-Type or Content-Disposition value: ASCII
// values quoted, others in RFC 2231 form (UTF-8, percent-encoded).
func formatParams(head string, params []param) string {
	var b strings.Builder
	b.WriteString(head)
	for _, p := range params {
		b.WriteString(";\r\n\t")
		if !isASCII([]byte(p.value)) {
			b.WriteString(p.name + "*=utf-8''")
			for i := 0; i < len(p.value); i++ {
				c := p.value[i]
				if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
					b.WriteByte(c)
				} else {
					fmt.Fprintf(&b, "%%%02X", c)
				}
			}
			continue
		}
		b.WriteString(p.name + `="`)
		for i := 0; i < len(p.value); i++ {
			if c := p.value[i]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			if c := p.value[i]; c >= ' ' {
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	return b.String()
}

// lenientCharset reads any charset label, as toUTF8 does.
func lenientCharset(cs string, input io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(io.LimitReader(input, 1<<20))
	if err != nil {
		return nil, err
	}
	out, _ := toUTF8(cs, b)
	return bytes.NewReader(out), nil
}

// maskAddresses writes an address list back with every display name and
// address redacted. ok is false when the list does not parse.
func (r *Redactor) maskAddresses(_ string, raw string) (string, bool) {
	parser := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: lenientCharset}}
	list, err := parser.ParseList(string(unfoldView([]byte(raw), false).text))
	if err != nil || len(list) == 0 {
		return "", false
	}
	parts := make([]string, len(list))
	for i, a := range list {
		name, err1 := r.Engine.Redact(a.Name)
		addr, err2 := r.Engine.Redact(a.Address)
		if err1 != nil || err2 != nil {
			return "", false
		}
		parts[i] = (&mail.Address{Name: name.Text, Address: addr.Text}).String()
		if !utf8.ValidString(parts[i]) {
			return "", false
		}
	}
	return strings.Join(parts, ",\r\n "), true
}
