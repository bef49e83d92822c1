package mail

import (
	"bytes"
	"slices"
	"unicode/utf8"

	"github.com/secureinput/gateway/redact"
)

// A view is the text a reader sees in a raw text, with a map back to the raw
// bytes: a quoted-printable soft break, a format=flowed soft line break, an
// iCalendar or header fold, a tag or comment between two digit groups of a
// page are not in the view, and an HTML character reference or an RFC 2047
// encoded word is in the view as the text it stands for. The engine scans
// the view; each match is masked in the raw text, so that everything the
// view leaves out stays as it was.
//
// The map is a list of segments, not an entry per character: a run copied
// byte for byte is one segment, so a view of plain text costs its bytes and
// a few words, which keeps a large message within a small multiple of its
// size.
type view struct {
	text []byte
	segs []seg
}

// seg says where view bytes [v, v+n) come from: raw [r, r+rn). A verbatim
// segment (n == rn) maps byte for byte; any other segment stands for its raw
// range as a whole (an entity, an encoded word), and r < 0 marks text the
// view inserted (a line break for a block tag) that has no raw bytes.
type seg struct {
	v, n, r, rn int32 // a message is at most a few tens of MiB
	verbatim    bool
	keep        bool // white space the view collapsed: never masked
	shape       bool // masked character by character in the raw text (a %XX escape)
}

// newView returns a view with room for a view of raw.
func newView(raw []byte) *view {
	return &view{text: make([]byte, 0, len(raw)+16)}
}

// copyRaw appends raw[start:end] to the view byte for byte.
func (v *view) copyRaw(raw []byte, start, end int) {
	if start >= end {
		return
	}
	n := int32(end - start)
	if k := len(v.segs) - 1; k >= 0 {
		if last := &v.segs[k]; last.verbatim && int(last.r+last.rn) == start && int(last.v+last.n) == len(v.text) {
			last.n += n
			last.rn += n
			v.text = append(v.text, raw[start:end]...)
			return
		}
	}
	v.segs = append(v.segs, seg{v: int32(len(v.text)), n: n, r: int32(start), rn: n, verbatim: true})
	v.text = append(v.text, raw[start:end]...)
}

// identityView is the view of a text read as it is.
func identityView(raw []byte) *view {
	return &view{text: raw, segs: []seg{{n: int32(len(raw)), rn: int32(len(raw)), verbatim: true}}}
}

// replace appends s to the view, standing for raw[start:end] as a whole.
func (v *view) replace(s []byte, start, end int) {
	if len(s) == 0 {
		return
	}
	v.segs = append(v.segs, seg{v: int32(len(v.text)), n: int32(len(s)), r: int32(start), rn: int32(end - start)})
	v.text = append(v.text, s...)
}

// escape appends s, standing for the escape raw[start:end], which is
// masked character by character ("%20" becomes "###").
func (v *view) escape(s []byte, start, end int) {
	v.replace(s, start, end)
	v.segs[len(v.segs)-1].shape = true
}

// space appends one space standing for the white space raw[start:end],
// which masking leaves as it is.
func (v *view) space(start, end int) {
	v.segs = append(v.segs, seg{v: int32(len(v.text)), n: 1, r: int32(start), rn: int32(end - start), keep: true})
	v.text = append(v.text, ' ')
}

// insert appends s, which has no raw bytes (a separator the reader sees).
func (v *view) insert(s string) {
	v.segs = append(v.segs, seg{v: int32(len(v.text)), n: int32(len(s)), r: -1})
	v.text = append(v.text, s...)
}

// appendView appends the whole of o (built over the same raw text) after a
// blank line, so that its text does not run into what came before.
func (v *view) appendView(o *view) {
	if len(o.text) == 0 {
		return
	}
	v.insert("\n\n")
	base := int32(len(v.text))
	for _, s := range o.segs {
		s.v += base
		v.segs = append(v.segs, s)
	}
	v.text = append(v.text, o.text...)
}

// cut is a raw range to mask: rune by rune, or (whole) as one mask
// character.
type cut struct {
	start, end int
	whole      bool
}

// cuts returns the raw ranges behind spans of the view, sorted and without
// overlaps.
func (v *view) cuts(spans []redact.Span) []cut {
	var out []cut
	k := 0
	for _, sp := range spans {
		for k > 0 && int(v.segs[k-1].v+v.segs[k-1].n) > sp.Start {
			k--
		}
		for ; k < len(v.segs) && int(v.segs[k].v) < sp.End; k++ {
			s := v.segs[k]
			sv, sn, sr, srn := int(s.v), int(s.n), int(s.r), int(s.rn)
			if sv+sn <= sp.Start || sr < 0 || srn == 0 || s.keep {
				continue
			}
			if !s.verbatim {
				out = append(out, cut{sr, sr + srn, !s.shape})
				continue
			}
			start := sr + max(sp.Start, sv) - sv
			end := sr + min(sp.End, sv+sn) - sv
			out = append(out, cut{start, end, false})
		}
	}
	slices.SortFunc(out, func(a, b cut) int { return a.start - b.start })
	merged := out[:0]
	for _, c := range out {
		if n := len(merged); n > 0 && c.start < merged[n-1].end {
			last := &merged[n-1]
			last.end = max(last.end, c.end)
			last.whole = last.whole || c.whole
			continue
		}
		merged = append(merged, c)
	}
	return merged
}

// applyCuts appends raw to dst with every cut masked.
func applyCuts(dst, raw []byte, cuts []cut) []byte {
	pos := 0
	for _, c := range cuts {
		dst = append(dst, raw[pos:c.start]...)
		if c.whole {
			dst = append(dst, redact.MaskChar)
		} else {
			for i := c.start; i < c.end; {
				_, size := utf8.DecodeRune(raw[i:c.end])
				dst = append(dst, redact.MaskChar)
				i += size
			}
		}
		pos = c.end
	}
	return append(dst, raw[pos:]...)
}

// lineEnd returns the end of the line starting at i (past its line break)
// and the start of that line break.
func lineEnd(raw []byte, i int) (next, brk int) {
	j := bytes.IndexByte(raw[i:], '\n')
	if j < 0 {
		return len(raw), len(raw)
	}
	next = i + j + 1
	brk = i + j
	if brk > i && raw[brk-1] == '\r' {
		brk--
	}
	return next, brk
}

// flowedView reads a format=flowed text (RFC 3676): a line that ends in a
// space is joined with the next (the space deleted too with DelSp=yes), and
// the quote marks and stuffed space of a continuation line are left out.
func flowedView(raw []byte, delSp bool) *view {
	v := newView(raw)
	soft, depth := false, 0
	for i := 0; i < len(raw); {
		next, brk := lineEnd(raw, i)
		d, k := 0, i
		for k < brk && raw[k] == '>' {
			d++
			k++
		}
		start := i
		if soft && d == depth {
			start = k
			if start < brk && raw[start] == ' ' {
				start++ // space-stuffing
			}
		}
		line := raw[k:brk]
		soft = len(line) > 0 && line[len(line)-1] == ' ' && string(bytes.TrimLeft(line, " ")) != "-- "
		depth = d
		switch {
		case soft && delSp:
			v.copyRaw(raw, start, brk-1)
		case soft:
			v.copyRaw(raw, start, brk)
		default:
			v.copyRaw(raw, start, next)
		}
		i = next
	}
	return v
}

// unfoldView reads folded lines: a line break followed by a space or tab
// continues the line. With dropSpace (iCalendar, vCard, RFC 5545 §3.1) that
// one space or tab is left out too; without it (RFC 5322 headers) it stays.
func unfoldView(raw []byte, dropSpace bool) *view {
	v := newView(raw)
	i := 0
	for i < len(raw) {
		next, brk := lineEnd(raw, i)
		if next < len(raw) && (raw[next] == ' ' || raw[next] == '\t') {
			v.copyRaw(raw, i, brk)
			i = next
			if !dropSpace {
				v.space(i, i+1) // the fold's white space is never masked: the line stays a continuation
			}
			i++
			continue
		}
		v.copyRaw(raw, i, next)
		i = next
	}
	return v
}

// urlView reads application/x-www-form-urlencoded text and URLs: '+' is a
// space and a run of %XX escapes stands for the bytes it encodes.
func urlView(raw []byte) *view {
	v := newView(raw)
	start := 0
	var dec []byte
	for i := 0; i < len(raw); {
		switch {
		case raw[i] == '+':
			v.copyRaw(raw, start, i)
			v.escape([]byte{' '}, i, i+1)
			i++
			start = i
		case raw[i] == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]):
			v.copyRaw(raw, start, i)
			j := i
			dec = dec[:0]
			for j+2 < len(raw) && raw[j] == '%' && isHex(raw[j+1]) && isHex(raw[j+2]) {
				dec = append(dec, unhex(raw[j+1])<<4|unhex(raw[j+2]))
				j += 3
			}
			v.escape(dec, i, j)
			i = j
			start = i
		default:
			i++
		}
	}
	v.copyRaw(raw, start, len(raw))
	return v
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// maskView scans v and returns raw with every match masked, the number of
// matches, and whether anything changed.
func maskView(e *redact.Engine, raw []byte, v *view) ([]byte, int, error) {
	spans, err := e.Find(v.text, nil)
	if err != nil {
		return nil, 0, err
	}
	if len(spans) == 0 {
		return raw, 0, nil
	}
	return applyCuts(make([]byte, 0, len(raw)), raw, v.cuts(spans)), len(spans), nil
}
