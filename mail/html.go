package mail

import (
	"bytes"
	"html"
	"io"
	"strings"

	xhtml "golang.org/x/net/html"
)

// blockTags separate words when a page is rendered: between them a number
// does not continue. Inline tags (b, span, font, a, wbr …) do not separate,
// so "4111<b>1111</b>…" and "<span>4111</span><span>1111</span>…" are one
// number each.
var blockTags = map[string]bool{
	"p": true, "div": true, "br": true, "tr": true, "td": true, "th": true, "li": true, "ul": true, "ol": true,
	"table": true, "tbody": true, "thead": true, "tfoot": true, "caption": true, "h1": true, "h2": true, "h3": true,
	"h4": true, "h5": true, "h6": true, "hr": true, "blockquote": true, "pre": true, "section": true, "article": true,
	"header": true, "footer": true, "title": true, "body": true, "head": true, "html": true, "dd": true, "dt": true,
	"dl": true, "option": true, "textarea": true, "fieldset": true, "legend": true, "address": true, "center": true,
	"nav": true, "aside": true, "main": true, "figure": true, "figcaption": true, "form": true, "iframe": true,
}

// htmlView reads a page the way it renders, so that a grouped card is found
// across markup: text with character references decoded (including &nbsp;
// and references between groups, which count as the characters they stand
// for), white space collapsed to one space, inline tags, <wbr> and comments
// adding nothing, block tags (<br>, table cells, paragraphs) separating.
// After the rendered text come, each on its own, the things a reader or an
// indexer also sees: every attribute value (href, alt, title, value,
// data-* …; character references and %XX escapes decoded) and every
// comment. Script and style contents are scanned as text too: better masked
// than leaked. A page the tokenizer cannot follow byte for byte is read as
// plain text.
func htmlView(page []byte) *view {
	main, side := newView(page), &view{}
	main.segs = make([]seg, 0, 2*bytes.Count(page, []byte("<"))+16)
	z := xhtml.NewTokenizer(bytes.NewReader(page))
	offset := 0
	for {
		tt := z.Next()
		if tt == xhtml.ErrorToken {
			if z.Err() != io.EOF || offset != len(page) {
				return identityView(page)
			}
			break
		}
		raw := z.Raw()
		switch tt {
		case xhtml.TextToken:
			appendText(main, page, offset, offset+len(raw))
		case xhtml.StartTagToken, xhtml.EndTagToken, xhtml.SelfClosingTagToken:
			name, _ := z.TagName()
			if blockTags[string(name)] {
				main.insert("\n")
			}
			for _, a := range attrValues(raw) {
				attr := &view{}
				appendAttr(attr, page, offset+a[0], offset+a[1])
				side.appendView(attr)
			}
		case xhtml.CommentToken, xhtml.DoctypeToken:
			c := &view{}
			c.copyRaw(page, offset, offset+len(raw))
			side.appendView(c)
		}
		offset += len(raw)
	}
	main.appendView(side)
	return main
}

// appendText appends the text page[start:end] as rendered: references
// decoded, each run of white space one space.
func appendText(v *view, page []byte, start, end int) {
	from := start
	for i := start; i < end; {
		c := page[i]
		switch {
		case c == '&':
			e := entityEnd(page[:end], i)
			if e == 0 {
				i++
				continue
			}
			decoded := html.UnescapeString(string(page[i:e]))
			if decoded == string(page[i:e]) {
				i = e
				continue
			}
			v.copyRaw(page, from, i)
			if strings.TrimLeft(decoded, " \t\r\n\f") == "" {
				decoded = " "
			}
			v.replace([]byte(decoded), i, e)
			i, from = e, e
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
			j := i
			for j < end && (page[j] == ' ' || page[j] == '\t' || page[j] == '\r' || page[j] == '\n' || page[j] == '\f') {
				j++
			}
			if c == ' ' && j == i+1 {
				i++
				continue
			}
			v.copyRaw(page, from, i)
			v.space(i, j)
			i, from = j, j
		default:
			i++
		}
	}
	v.copyRaw(page, from, end)
}

// appendAttr appends an attribute value with character references and %XX
// escapes decoded.
func appendAttr(v *view, page []byte, start, end int) {
	sub := urlView(page[start:end])
	for _, s := range sub.segs {
		text := sub.text[s.v : s.v+s.n]
		rs, re := start+int(s.r), start+int(s.r+s.rn)
		if s.verbatim {
			appendText(v, page, rs, re)
			continue
		}
		v.escape(text, rs, re)
	}
}

// entityEnd returns the end of a character reference starting at raw[i]
// ("&amp;", "&#52;", "&#x34;", or a legacy "&nbsp" without semicolon), or 0.
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
	if j > i+1 && html.UnescapeString(string(raw[i:j])) != string(raw[i:j]) {
		return j
	}
	return 0
}

// attrValues returns the ranges of the attribute values in the raw bytes of
// a tag ("<a href=x title='y'>").
func attrValues(tag []byte) [][2]int {
	var out [][2]int
	i := 1
	for i < len(tag) && tag[i] != ' ' && tag[i] != '\t' && tag[i] != '\n' && tag[i] != '\r' && tag[i] != '\f' && tag[i] != '>' && tag[i] != '/' {
		i++ // the tag name
	}
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
	for i < len(tag) {
		for i < len(tag) && (isSpace(tag[i]) || tag[i] == '/') {
			i++
		}
		if i >= len(tag) || tag[i] == '>' {
			break
		}
		// The name.
		for i < len(tag) && !isSpace(tag[i]) && tag[i] != '=' && tag[i] != '>' && tag[i] != '/' {
			i++
		}
		j := i
		for j < len(tag) && isSpace(tag[j]) {
			j++
		}
		if j >= len(tag) || tag[j] != '=' {
			i = j
			continue
		}
		j++
		for j < len(tag) && isSpace(tag[j]) {
			j++
		}
		if j >= len(tag) {
			break
		}
		if q := tag[j]; q == '"' || q == '\'' {
			e := bytes.IndexByte(tag[j+1:], q)
			if e < 0 {
				out = append(out, [2]int{j + 1, len(tag)})
				break
			}
			out = append(out, [2]int{j + 1, j + 1 + e})
			i = j + 1 + e + 1
			continue
		}
		e := j
		for e < len(tag) && !isSpace(tag[e]) && tag[e] != '>' {
			e++
		}
		out = append(out, [2]int{j, e})
		i = e
	}
	return out
}
