package mail

import (
	"bytes"
	"encoding/base64"
	"net/textproto"
	"strings"
)

// field is one header field as written: raw is the whole field, folds and
// final line break included; name is its name as written (empty for a line
// that is not a field, which is kept and scanned as text), value the raw
// bytes after the colon up to the final line break.
type field struct {
	raw   []byte
	name  string
	key   string // canonical name: "Message-Id"
	value []byte
	vOff  int // where value starts in raw
}

// parseHeader splits src into its header fields and the offset where the
// header ends and the body starts (between them, the blank line), leniently: a line without a colon is kept as a field with no
// name, bare LF line endings are accepted, and a message that ends inside
// its header has an empty body.
func parseHeader(src []byte) (fields []field, headerEnd, bodyStart int) {
	i := 0
	for i < len(src) {
		if src[i] == '\n' {
			return fields, i, i + 1
		}
		if src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n' {
			return fields, i, i + 2
		}
		start := i
		next, _ := lineEnd(src, i)
		for next < len(src) && (src[next] == ' ' || src[next] == '\t') {
			next, _ = lineEnd(src, next)
		}
		raw := src[start:next]
		f := field{raw: raw}
		if c := bytes.IndexByte(raw, ':'); c > 0 && validName(raw[:c]) {
			f.name = string(bytes.TrimRight(raw[:c], " \t"))
			f.key = textproto.CanonicalMIMEHeaderKey(f.name)
			f.vOff = c + 1
			_, brk := lastBreak(raw)
			f.value = raw[c+1 : brk]
		}
		fields = append(fields, f)
		i = next
	}
	return fields, len(src), len(src)
}

// lastBreak returns where the final line break of raw starts.
func lastBreak(raw []byte) (int, int) {
	n := len(raw)
	if n > 0 && raw[n-1] == '\n' {
		n--
		if n > 0 && raw[n-1] == '\r' {
			n--
		}
	}
	return len(raw), n
}

// validName: printable ASCII but colon and space (trailing space before the
// colon is tolerated, as "Subject : x" is seen in the wild).
func validName(b []byte) bool {
	b = bytes.TrimRight(b, " \t")
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// get returns the unfolded value of the first field named key, trimmed.
func get(fields []field, key string) string {
	for _, f := range fields {
		if f.key == key {
			return strings.TrimSpace(string(unfoldView(f.value, false).text))
		}
	}
	return ""
}

// wordsView reads a header value the way a mail reader shows it: folds
// unfolded, RFC 2047 encoded words decoded (leniently: anywhere in the text,
// any charset label, Q or B), and the white space between two adjacent
// encoded words left out, so a number split across two words is one text.
// Adjacent words of one charset are decoded together, so a character split
// between them is whole. It reports whether any encoded word was decoded.
func wordsView(raw []byte) (*view, bool) {
	v := &view{}
	text := unfoldView(raw, false) // over raw: its segments map to raw
	t := text.text
	words := false
	pos := 0
	for i := 0; i < len(t); {
		w, ok := parseWord(t, i)
		if !ok {
			i++
			continue
		}
		copyMapped(v, text, pos, i)
		// Gather adjacent words of the same charset.
		data := w.data
		end := w.end
		for {
			j := end
			for j < len(t) && (t[j] == ' ' || t[j] == '\t') {
				j++
			}
			w2, ok := parseWord(t, j)
			if !ok || !strings.EqualFold(w2.charset, w.charset) {
				break
			}
			data = append(data, w2.data...)
			end = w2.end
		}
		out, _ := toUTF8(w.charset, data)
		rs, re := rawRange(text, i, end)
		v.replace(out, rs, re)
		words = true
		// White space up to a following word (of another charset) is left out.
		j := end
		for j < len(t) && (t[j] == ' ' || t[j] == '\t') {
			j++
		}
		if _, ok := parseWord(t, j); ok {
			end = j
		}
		pos, i = end, end
	}
	copyMapped(v, text, pos, len(t))
	return v, words
}

// copyMapped appends text.text[from:to] to v with the raw origins it has in
// text (an unfold view: verbatim segments and the kept white space of folds).
func copyMapped(v *view, text *view, from, to int) {
	for _, s := range text.segs {
		a, b := max(from, int(s.v)), min(to, int(s.v+s.n))
		if a < b && !s.verbatim {
			s.v = int32(len(v.text))
			v.segs = append(v.segs, s)
			v.text = append(v.text, text.text[a:b]...)
			continue
		}
		if a < b {
			v.segs = append(v.segs, seg{v: int32(len(v.text)), n: int32(b - a), r: s.r + int32(a) - s.v, rn: int32(b - a), verbatim: true})
			v.text = append(v.text, text.text[a:b]...)
		}
	}
}

// rawRange returns the raw range behind text.text[from:to].
func rawRange(text *view, from, to int) (int, int) {
	start, end := -1, -1
	for _, s := range text.segs {
		sv, sn, sr := int(s.v), int(s.n), int(s.r)
		if start < 0 && from < sv+sn {
			start = sr + max(from, sv) - sv
		}
		if to > sv && to <= sv+sn {
			end = sr + to - sv
		}
	}
	return start, end
}

// encodedWord is one decoded RFC 2047 word: its bytes in their charset.
type encodedWord struct {
	charset string
	data    []byte
	end     int
}

// parseWord reads "=?charset?Q|B?text?=" at t[i].
func parseWord(t []byte, i int) (encodedWord, bool) {
	if i+1 >= len(t) || t[i] != '=' || t[i+1] != '?' {
		return encodedWord{}, false
	}
	rest := t[i+2:]
	q1 := bytes.IndexByte(rest, '?')
	if q1 <= 0 || q1 > 64 || q1+2 >= len(rest) || rest[q1+2] != '?' {
		return encodedWord{}, false
	}
	cs := string(rest[:q1])
	if k := strings.IndexByte(cs, '*'); k >= 0 {
		cs = cs[:k] // RFC 2231 language
	}
	enc := rest[q1+1] | 0x20
	body := rest[q1+3:]
	q2 := bytes.Index(body, []byte("?="))
	if q2 < 0 || q2 > 998 || bytes.ContainsAny(body[:q2], " \t\r\n") {
		return encodedWord{}, false
	}
	text := body[:q2]
	var data []byte
	switch enc {
	case 'q':
		for k := 0; k < len(text); k++ {
			switch c := text[k]; {
			case c == '_':
				data = append(data, ' ')
			case c == '=' && k+2 < len(text) && isHex(text[k+1]) && isHex(text[k+2]):
				data = append(data, unhex(text[k+1])<<4|unhex(text[k+2]))
				k += 2
			default:
				data = append(data, c)
			}
		}
	case 'b':
		s := bytes.TrimRight(text, "=")
		if len(s)%4 == 1 {
			s = s[:len(s)-1]
		}
		data = make([]byte, base64.RawStdEncoding.DecodedLen(len(s)))
		n, err := base64.RawStdEncoding.Decode(data, s)
		if err != nil {
			return encodedWord{}, false
		}
		data = data[:n]
	default:
		return encodedWord{}, false
	}
	return encodedWord{charset: cs, data: data, end: i + 2 + q1 + 3 + q2 + 2}, true
}

// param is one parameter of a Content-Type or Content-Disposition value.
type param struct {
	name, value string
}

// parseParams reads "type/sub; a=b; c*0*=utf-8”x; c*1=y" leniently: the
// value before the first semicolon, then each parameter, with RFC 2231
// continuations joined and decoded, and RFC 2047 words in a value decoded
// (as Outlook and others write file names). Parameters keep their order.
func parseParams(value string) (string, []param) {
	value = strings.TrimSpace(value)
	parts := splitParams(value)
	head := strings.ToLower(strings.TrimSpace(parts[0]))
	type cont struct {
		seg     map[int]string
		encoded map[int]bool
	}
	var out []param
	conts := map[string]*cont{}
	var order []string
	for _, p := range parts[1:] {
		name, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		val = unquote(strings.TrimSpace(val))
		base, idx, enc := name, -1, false
		if strings.HasSuffix(base, "*") {
			base, enc = strings.TrimSuffix(base, "*"), true
		}
		if k := strings.IndexByte(base, '*'); k >= 0 {
			n := 0
			for _, c := range base[k+1:] {
				if c < '0' || c > '9' {
					n = -1
					break
				}
				n = n*10 + int(c-'0')
				if n > 1000 {
					n = -1
					break
				}
			}
			if n >= 0 {
				base, idx = base[:k], n
			}
		}
		if idx < 0 && !enc {
			out = append(out, param{name, decodeWords(val)})
			continue
		}
		if idx < 0 {
			idx = 0
		}
		c := conts[base]
		if c == nil {
			c = &cont{seg: map[int]string{}, encoded: map[int]bool{}}
			conts[base] = c
			order = append(order, base)
		}
		c.seg[idx], c.encoded[idx] = val, enc
	}
	for _, name := range order {
		c := conts[name]
		var raw []byte
		cs := ""
		for k := 0; ; k++ {
			s, ok := c.seg[k]
			if !ok {
				break
			}
			if c.encoded[k] {
				if k == 0 {
					if a := strings.SplitN(s, "'", 3); len(a) == 3 {
						cs, s = a[0], a[2]
					}
				}
				raw = append(raw, percentDecode(s)...)
			} else {
				raw = append(raw, s...)
			}
		}
		text, _ := toUTF8(cs, raw)
		replaced := false
		for i := range out {
			if out[i].name == name {
				out[i].value, replaced = string(text), true
			}
		}
		if !replaced {
			out = append(out, param{name, string(text)})
		}
	}
	return head, out
}

// splitParams splits at semicolons outside quoted strings.
func splitParams(s string) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '\\':
			if quoted {
				i++
			}
		case ';':
			if !quoted {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' {
		return s
	}
	s = strings.TrimSuffix(s[1:], `"`)
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// decodeWords decodes the encoded words of a text leniently.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	v, _ := wordsView([]byte(s))
	return string(v.text)
}

// paramValue returns the value of the named parameter.
func paramValue(params []param, name string) string {
	for _, p := range params {
		if p.name == name {
			return p.value
		}
	}
	return ""
}
