package redact

import (
	"unicode/utf8"
)

// KindCard is the Span.Kind of a payment card number found by the default
// detector. Administrator expressions have kind "expr:N", N counting from 1
// in the order of Config.Additional.
const KindCard = "card"

// A Span is one match: the bytes text[Start:End] of the input, and what
// found it.
type Span struct {
	Start int    `json:"start"`
	End   int    `json:"end"`
	Kind  string `json:"kind"`
}

// MaskChar replaces every character of a match.
const MaskChar = '#'

// Mask appends text to dst with every character (rune) inside one of spans
// replaced by '#'. Spans must be sorted by Start; they may overlap. Outside
// spans, bytes are copied unchanged (invalid UTF-8 included).
func Mask(dst, text []byte, spans []Span) []byte {
	pos := 0
	for _, s := range spans {
		if s.End <= pos {
			continue
		}
		start := max(s.Start, pos)
		dst = append(dst, text[pos:start]...)
		for i := start; i < s.End; {
			_, size := utf8.DecodeRune(text[i:])
			dst = append(dst, MaskChar)
			i += size
			pos = i
		}
		pos = max(pos, s.End)
	}
	return append(dst, text[pos:]...)
}

// MaskAll appends text to dst with every character replaced by '#' except
// line breaks, which are kept so a withheld text keeps its line structure.
// It is what a caller gets when redaction fails.
func MaskAll(dst, text []byte) []byte {
	for i := 0; i < len(text); {
		c := text[i]
		if c == '\n' || c == '\r' {
			dst = append(dst, c)
			i++
			continue
		}
		_, size := utf8.DecodeRune(text[i:])
		dst = append(dst, MaskChar)
		i += size
	}
	return dst
}
