package redact

import (
	"unicode/utf8"

	"github.com/secureinput/gateway/card"
)

// KindCardPrefix is the Span.Kind of the digits masked at the end of a
// message because they may be the start of a card that later messages
// complete: everything after the first six digits of the possible prefix.
const KindCardPrefix = "card_prefix"

// prefixShown is how many leading digits of a possible card prefix stay
// visible: PCI DSS lets a PAN be displayed with its first six and last four
// digits, and the last four are not typed yet.
const prefixShown = 6

// prefixGroup is one group of digits of a run, with where its digits are in
// the new message's tail (nil for the tails of earlier messages).
type prefixGroup struct {
	vals []byte
	pos  [][2]int
}

// appendGroups splits a run of digits and separators into groups.
func appendGroups(groups []prefixGroup, run []byte, positions bool) []prefixGroup {
	var g prefixGroup
	for i := 0; i < len(run); {
		r, v, size := decode(run, i)
		switch {
		case v >= 0:
			g.vals = append(g.vals, byte(v))
			if positions {
				g.pos = append(g.pos, [2]int{i, i + size})
			}
		case separatorClass(r) == sepInvisible:
		default:
			if len(g.vals) > 0 {
				groups = append(groups, g)
				g = prefixGroup{}
			}
		}
		i += size
	}
	if len(g.vals) > 0 {
		groups = append(groups, g)
	}
	return groups
}

// possiblePrefix reports whether groups may be the first part of a card
// typed in several messages: they start with a brand's IIN and leave room
// for more digits, and are grouped like a card (4-4…, 4-6…, single digits)
// or are one ungrouped run of 13 to 18 digits or a first group of four.
func possiblePrefix(groups []prefixGroup) bool {
	var vals [card.MaxLength]byte
	n := 0
	for _, g := range groups {
		if n+len(g.vals) >= card.MaxLength {
			return false
		}
		n += copy(vals[n:], g.vals)
	}
	if n == 0 || !card.CanGrowValues(vals[:n]) {
		return false
	}
	sizes := make([]int, len(groups))
	ones := len(groups) > 1
	for i, g := range groups {
		sizes[i] = len(g.vals)
		ones = ones && sizes[i] == 1
	}
	switch {
	case len(sizes) == 1:
		return sizes[0] == 4 || 13 <= sizes[0] && sizes[0] <= 18
	case ones:
		return true
	case sizes[0] != 4:
		return false
	case len(sizes) == 2 && sizes[1] <= 6:
		return true
	case len(sizes) == 3 && sizes[1] == 6 && sizes[2] <= 5:
		return true
	}
	for _, n := range sizes[1 : len(sizes)-1] {
		if n != 4 {
			return false
		}
	}
	return sizes[len(sizes)-1] <= 4
}

// prefixSpans returns the spans (relative to tail) that mask the digits of
// tail past the first six of the longest possible card prefix that ends
// tail, counting from the earlier tails of chain that tail continues, and
// whether tail ends such a prefix.
func prefixSpans(chain [][]byte, tail []byte) ([]Span, bool) {
	var groups []prefixGroup
	for _, c := range chain {
		groups = appendGroups(groups, c, false)
	}
	own := len(groups)
	groups = appendGroups(groups, tail, true)
	if len(groups) == own {
		return nil, false
	}
	for k := range groups {
		if !possiblePrefix(groups[k:]) {
			continue
		}
		var spans []Span
		index := 0
		for _, g := range groups[k:] {
			for d := range g.vals {
				if index >= prefixShown && g.pos != nil {
					if n := len(spans); n > 0 && spans[n-1].End == g.pos[d][0] {
						spans[n-1].End = g.pos[d][1]
					} else {
						spans = append(spans, Span{Start: g.pos[d][0], End: g.pos[d][1], Kind: KindCardPrefix})
					}
				}
				index++
			}
		}
		return spans, true
	}
	return nil, false
}

// loneCode reports whether text, the message after a card, is its security
// code: nothing but a 3 or 4 digit number (blanks and punctuation around
// it), or an expiry and then the code ("12/27 123", "1227, 123"); and where
// the code's digits are.
func loneCode(text []byte) (from, to int, ok bool) {
	if from, to, ok := bareCode(text); ok {
		return from, to, true
	}
	from, to, ok = codeAfter(text, 0)
	if !ok {
		return 0, 0, false
	}
	for i := to; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		if !aroundCode(r, size) {
			return 0, 0, false
		}
		i += size
	}
	return from, to, true
}

// aroundCode reports whether r (of size bytes) may stand around a code
// sent on its own: code punctuation, '!' and '?'.
func aroundCode(r rune, size int) bool {
	return !(r == utf8.RuneError && size == 1) && (isCodePunct(r) || r == '!' || r == '?')
}

// bareCode reports whether text is nothing but a 3 or 4 digit number
// (blanks and punctuation around it), and where the digits are.
func bareCode(text []byte) (from, to int, ok bool) {
	from, to = -1, -1
	n := 0
	for i := 0; i < len(text); {
		r, v, size := decode(text, i)
		switch {
		case v >= 0:
			if to >= 0 && to != i {
				return 0, 0, false // a second number
			}
			if from < 0 {
				from = i
			}
			to = i + size
			n++
		case !aroundCode(r, size):
			return 0, 0, false
		}
		i += size
	}
	return from, to, 3 <= n && n <= 4
}
