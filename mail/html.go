package mail

import (
	"bytes"
	"html"
	"io"
	"strings"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"

	"github.com/secureinput/gateway/redact"
)

// blockTags separate words when a page is read: between them a number does
// not continue. Inline tags (b, span, font, a …) do not separate, so
// "4111<b>1111</b>…" is one number.
var blockTags = map[string]bool{
	"p": true, "div": true, "br": true, "tr": true, "td": true, "th": true, "li": true, "ul": true, "ol": true,
	"table": true, "tbody": true, "thead": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"hr": true, "blockquote": true, "pre": true, "section": true, "article": true, "header": true, "footer": true,
	"title": true, "body": true, "head": true, "html": true, "dd": true, "dt": true, "dl": true,
}

// origin maps one character of the extracted text to the raw bytes of the
// page it came from: a character, or a whole entity ("&#52;", "&nbsp;").
type origin struct{ text, rawStart, rawEnd int }

// redactHTML masks matches in the text of an HTML page, leaving the markup
// as it is. Entities are decoded before scanning and tags are looked
// through, so a number written "4111&nbsp;1111<b>1111</b> 1111" is found;
// each masked character (or the entity that wrote it) becomes '#'. Script
// and style contents are scanned as text too: better masked than leaked.
func redactHTML(e *redact.Engine, page []byte) ([]byte, int, error) {
	var text []byte
	var origins []origin
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	offset := 0
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			if z.Err() != io.EOF {
				return nil, 0, z.Err()
			}
			break
		}
		raw := z.Raw()
		switch tt {
		case xhtml.TextToken:
			text, origins = appendText(text, origins, raw, offset)
		case xhtml.StartTagToken, xhtml.EndTagToken, xhtml.SelfClosingTagToken:
			name, _ := z.TagName()
			if blockTags[string(name)] {
				text = append(text, '\n')
				origins = append(origins, origin{text: len(text) - 1, rawStart: -1})
			}
		}
		offset += len(raw)
	}
	if offset != len(page) {
		return nil, 0, io.ErrUnexpectedEOF
	}
	spans, err := e.Find(text, nil)
	if err != nil {
		return nil, 0, err
	}
	if len(spans) == 0 {
		return page, 0, nil
	}
	// Mark the raw ranges of every masked character.
	type cut struct{ start, end int }
	var cuts []cut
	k := 0
	for _, sp := range spans {
		for k > 0 && origins[k-1].text >= sp.Start {
			k--
		}
		for ; k < len(origins) && origins[k].text < sp.End; k++ {
			if o := origins[k]; o.text >= sp.Start && o.rawStart >= 0 {
				cuts = append(cuts, cut{o.rawStart, o.rawEnd})
			}
		}
	}
	var out bytes.Buffer
	pos := 0
	for _, c := range cuts {
		if c.start < pos {
			continue // overlapping spans: already masked
		}
		out.Write(page[pos:c.start])
		out.WriteByte(redact.MaskChar)
		pos = c.end
	}
	out.Write(page[pos:])
	return out.Bytes(), len(spans), nil
}

// appendText decodes the raw text of a text token (offset: its place in the
// page) and records where each character came from.
func appendText(text []byte, origins []origin, raw []byte, offset int) ([]byte, []origin) {
	for i := 0; i < len(raw); {
		if raw[i] == '&' {
			if end := entityEnd(raw, i); end > 0 {
				decoded := html.UnescapeString(string(raw[i:end]))
				if decoded != string(raw[i:end]) {
					for _, r := range decoded {
						origins = append(origins, origin{text: len(text), rawStart: offset + i, rawEnd: offset + end})
						text = utf8.AppendRune(text, r)
					}
					i = end
					continue
				}
			}
		}
		_, size := utf8.DecodeRune(raw[i:])
		origins = append(origins, origin{text: len(text), rawStart: offset + i, rawEnd: offset + i + size})
		text = append(text, raw[i:i+size]...)
		i += size
	}
	return text, origins
}

// entityEnd returns the end of a character reference starting at raw[i]
// ("&amp;", "&#52;", "&#x34;"), or 0.
func entityEnd(raw []byte, i int) int {
	j := i + 1
	for j < len(raw) && j-i <= 32 {
		c := raw[j]
		if c == ';' {
			return j + 1
		}
		if !(c == '#' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			break
		}
		j++
	}
	// Legacy entities without a semicolon ("&nbsp 4111") are decoded too.
	if j > i+1 && strings.HasPrefix(html.UnescapeString(string(raw[i:j])), "\u00a0") {
		return j
	}
	return 0
}
