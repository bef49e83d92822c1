package redact

import (
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/secureinput/gateway/card"
)

// The card scanner reads text once. It skips eight or sixteen bytes at a time
// while they hold no ASCII digit and no non-ASCII byte, measures a plain
// ASCII run on the way and passes over it if it holds too few digits for a
// card (skipShort), and otherwise collects the run: groups of digits (any
// script) joined by short gaps of separators. Inside a run it
// takes, from the left, the longest sequence of whole groups of 12–19 digits
// that passes Luhn and has a length its brand uses, preferring one whose
// separators are all alike. A grouped card is then kept only if at most
// maxLeftover digits hang on to it through the separator it uses itself: a
// card followed by a CVV ("4111 1111 1111 1111 123") or by another number
// written differently ("4111111111111111 123-45-6789") is found, while a
// 20-digit tracking number or IBAN written in groups of four that happens to
// hold a valid card-shaped part is left alone, and so is a 20-digit run with
// no separators at all.
//
// Separators are spaces of every width, dashes and dots ("strong"), and
// newlines, tabs, '_', '/' and ',' ("weak"), up to maxGapRunes of them in any
// mix; Unicode format characters (category Cf: zero-width spaces, LRM/RLM,
// soft hyphens …) between digits are ignored wherever they are. A card whose
// gaps hold a weak separator must also be grouped like a card (4-4-4-4,
// 4-6-5, single digits …), so that a list ("12345, 67890, 11111") or two IP
// addresses stay numbers. Digits are any Unicode decimal digit and the
// compatibility forms NFKC folds to one (card.DigitValue).
//
// Two things used to hide a card and are told apart properly now: a number
// after '+' is a phone only if what follows the '+' up to the card's end has
// at most 15 digits (E.164); and a run glued to two letters is skipped only
// if the letters, the run and what follows form a valid IBAN (an ISO 13616
// country code, that country's length, mod-97), so "CC4987-9390-7302-1006"
// and "card4111 1111 1111 1111" are cards while "DE89 3704 0044 0532 0130 00"
// is not (iban.go).
const (
	// maxLeftover is how many digits may hang on to a grouped card.
	maxLeftover = 3
	// maxGroups and maxValues bound the work kept for one run; a longer run is
	// judged in segments of that size.
	maxGroups = 64
	maxValues = 256
	// maxGapRunes is the most separator characters between two groups
	// ("4111 - 1111" has three).
	maxGapRunes = 3
)

// group is a maximal sequence of digits inside a run.
type group struct {
	start, end int  // byte offsets in the text
	gapEnd     int  // end of the separators after it (the next group's start)
	first      int  // index of its first digit in values
	n          int  // number of digits
	before     int  // digits of the run before it
	weakGap    bool // the separators after it hold a weak one (newline, tab, _ / ,)
}

// cardScanner holds the per-run state; it lives on the caller's stack.
type cardScanner struct {
	groups  [maxGroups]group
	ng      int
	values  [maxValues]byte
	nv      int
	digits  int             // digits in the run so far
	inCard  [maxGroups]bool // set by judge: the group belongs to a card
	blocked bool            // the run follows a '+': a phone number if it is short enough
}

// maxPhoneDigits is the most digits of an E.164 phone number.
const maxPhoneDigits = 15

// findCards appends the card numbers in text to spans, and the security
// codes that go with them (code.go).
func findCards(text []byte, spans []Span) []Span { return scanCards(text, spans, true) }

// scanCards is findCards; without shortcut, every run goes through
// cardScanner.run (the tests compare both).
func scanCards(text []byte, spans []Span, shortcut bool) []Span {
	var sc cardScanner
	n := len(text)
	i := 0
	for i < n {
		// Most runs in chat (dates, times, amounts, order numbers) are too
		// short to hold a card: skip those without collecting their groups,
		// but for a security code after its keyword ("cvv 123").
		if shortcut {
			start, end, code := skipShort(text, i)
			if code {
				spans = append(spans, Span{Start: start, End: end, Kind: KindSecurityCode})
				i = end
				continue
			}
			i = start
		}
		if i = n - len(skipDull(text[i:])); i >= n {
			break
		}
		c := text[i]
		if c < utf8.RuneSelf {
			if c < '0' || c > '9' {
				i++
				continue
			}
		} else {
			r, size := utf8.DecodeRune(text[i:])
			if card.DigitValue(r) < 0 {
				i += size
				continue
			}
		}
		// A run glued to two letters may be an IBAN: skip it whole.
		if i >= 2 && isASCIILetter(text[i-1]) {
			if end, ok := ibanAt(text, i-2); ok {
				i = ibanDigitsEnd(text, i, end)
				continue
			}
		}
		mark := len(spans)
		start := i
		i, spans = sc.run(text, i, spans)
		if sc.keywordCode(text, start, spans[mark:]) {
			spans = slices.Insert(spans, mark, Span{Start: start, End: sc.groups[0].end, Kind: KindSecurityCode})
			mark++
		}
		if len(spans) > mark {
			i, spans = codesAfterCards(text, i, spans, mark)
		}
	}
	return spans
}

// decode returns the rune at text[i], its digit value (-1 if none) and its
// size, with an ASCII fast path.
func decode(text []byte, i int) (r rune, val, size int) {
	c := text[i]
	if c < utf8.RuneSelf {
		if '0' <= c && c <= '9' {
			return rune(c), int(c - '0'), 1
		}
		return rune(c), -1, 1
	}
	r, size = utf8.DecodeRune(text[i:])
	return r, card.DigitValue(r), size
}

// Separator classes of the characters that may stand between digit groups.
const (
	sepNone      = iota
	sepSpace     // spaces of every width
	sepPunct     // dashes, dots
	sepWeak      // newlines, tabs, '_', '/', ',': only between groups shaped like a card
	sepInvisible // format characters (Cf: zero-width, LRM/RLM, soft hyphen …): ignored
)

// sepMultiByte is byteSep's class of a byte of a multi-byte rune: decode
// the rune and ask separatorClass.
const sepMultiByte = 0xff

// byteSep is separatorClass for ASCII, indexed by byte, and sepMultiByte
// for the other bytes.
var byteSep = func() (t [256]uint8) {
	t[' '] = sepSpace
	t['-'], t['.'] = sepPunct, sepPunct
	for _, c := range "\n\r\t\v\f_/," {
		t[c] = sepWeak
	}
	for c := utf8.RuneSelf; c < len(t); c++ {
		t[c] = sepMultiByte
	}
	return t
}()

func separatorClass(r rune) int {
	if r < utf8.RuneSelf {
		return int(byteSep[r])
	}
	switch r {
	case '\u00a0', '\u1680', '\u2007', '\u2009', '\u202f', '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005',
		'\u2006', '\u2008', '\u200a', '\u205f', '\u3000':
		return sepSpace
	case '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\ufe58', '\ufe63', '\uff0d', '\uff0e',
		'\u30fb', '\u00b7', '\u2027', '\u2024':
		return sepPunct
	case '\u0085', '\u2028', '\u2029', '\uff0f', '\u2044', '\u2215', '\uff3f', '\uff0c', '\u3001', '\ufe50', '\u060c':
		return sepWeak
	}
	if unicode.Is(unicode.Cf, r) {
		return sepInvisible
	}
	return sepNone
}

// run collects the run that starts with a digit at text[i], appends its cards
// to spans and returns the offset just past the run.
func (sc *cardScanner) run(text []byte, i int, spans []Span) (int, []Span) {
	sc.ng, sc.nv, sc.digits = 0, 0, 0
	// A number written "+44 …" may be a phone number.
	sc.blocked = i > 0 && text[i-1] == '+'
	n := len(text)
	for {
		// One group of digits.
		if sc.ng == maxGroups || sc.nv > maxValues-card.MaxLength-1 {
			spans = sc.judge(text, spans)
			sc.ng, sc.nv, sc.digits = 0, 0, 0
		}
		g := &sc.groups[sc.ng]
		sc.ng++
		g.start, g.first, g.n, g.before, g.weakGap = i, sc.nv, 0, sc.digits, false
		gn, nv := 0, sc.nv
		for i < n {
			v, size := int(text[i])-'0', 1
			if uint(v) > 9 {
				if text[i] < utf8.RuneSelf {
					break
				}
				var r rune
				if r, v, size = decode(text, i); v < 0 {
					// Format characters inside a group are not there.
					if k := skipFormat(text, i, r, size); k > i && k < n {
						if _, kv, _ := decode(text, k); kv >= 0 {
							i = k
							continue
						}
					}
					break
				}
			}
			if gn <= card.MaxLength {
				sc.values[nv] = byte(v)
				nv++
			}
			gn++
			i += size
		}
		g.n, sc.nv = gn, nv
		sc.digits += gn
		g.end, g.gapEnd = i, i
		// A gap of separators, then another group, or the run ends.
		j, visible, weak := i, 0, false
		for j < n {
			var class, size int
			if c := text[j]; c < utf8.RuneSelf {
				class, size = int(byteSep[c]), 1
			} else {
				var r rune
				r, size = utf8.DecodeRune(text[j:])
				class = separatorClass(r)
			}
			if class == sepNone {
				break
			}
			if class != sepInvisible {
				visible++
			}
			weak = weak || class == sepWeak
			if visible > maxGapRunes {
				break
			}
			j += size
		}
		if j == i || j >= n {
			break
		}
		if _, v, _ := decode(text, j); v < 0 {
			break
		}
		g.gapEnd, g.weakGap = j, weak
		i = j
	}
	return i, sc.judge(text, spans)
}

// skipFormat returns the offset after the format characters (Cf) starting
// with r (of size bytes) at text[i], or i if r is not one.
func skipFormat(text []byte, i int, r rune, size int) int {
	for r >= utf8.RuneSelf && unicode.Is(unicode.Cf, r) {
		i += size
		if i >= len(text) {
			break
		}
		r, size = utf8.DecodeRune(text[i:])
	}
	return i
}

func isASCIILetter(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z'
}

// uniform reports whether groups i..j are joined by identical separators.
func (sc *cardScanner) uniform(text []byte, i, j int) bool {
	first := text[sc.groups[i].end:sc.groups[i].gapEnd]
	for k := i + 1; k < j; k++ {
		if string(text[sc.groups[k].end:sc.groups[k].gapEnd]) != string(first) {
			return false
		}
	}
	return true
}

// judge appends the cards among the collected groups to spans.
func (sc *cardScanner) judge(text []byte, spans []Span) []Span {
	if sc.ng == 0 || sc.digits < card.MinLength {
		return spans
	}
	// Phase 1: from each group, the longest valid card of whole groups,
	// preferring alike separators ("6500-3141-3728-9960 1" is a card and a
	// stray 1 even if the 17 digits pass too).
	var ends [maxGroups]int // ends[i] = last group of the card starting at i, or -1
	for i := 0; i < sc.ng; i++ {
		ends[i] = -1
	}
	for i := 0; i < sc.ng; {
		best, bestUniform := -1, -1
		total, weak := 0, false
		for j := i; j < sc.ng; j++ {
			total += sc.groups[j].n
			if total > card.MaxLength {
				break
			}
			if j > i {
				// Only the last group of a card may be a single digit
				// ("4222 2222 2222 2"), unless the card is written in
				// single digits ("4 1 1 1 …"); "4 111 …" is more likely a
				// list.
				prev := sc.groups[j-1].n
				if sc.groups[i].n == 1 && prev != 1 || sc.groups[i].n > 1 && prev < 2 {
					break
				}
				weak = weak || sc.groups[j-1].weakGap
			}
			if total >= card.MinLength && (!weak || sc.cardShaped(i, j)) &&
				!(sc.blocked && sc.groups[i].before+total <= maxPhoneDigits) {
				vals := sc.values[sc.groups[i].first : sc.groups[i].first+total]
				if card.LuhnValues(vals) && card.ValidLengthValues(vals) {
					best = j
					if sc.uniform(text, i, j) {
						bestUniform = j
					}
				}
			}
		}
		// The uniform card wins unless it leaves more digits of the longer
		// one than a card may have visible.
		if bestUniform >= 0 && sc.digitsThrough(best)-sc.digitsThrough(bestUniform) <= 4 {
			best = bestUniform
		}
		if best < 0 {
			i++
			continue
		}
		ends[i] = best
		i = best + 1
	}
	// Phase 2: keep a grouped card unless more than maxLeftover digits of
	// other groups hang on to it through one of its own separators.
	for i := 0; i < sc.ng; i++ {
		sc.inCard[i] = false
	}
	for i := 0; i < sc.ng; i++ {
		for k := i; k <= ends[i]; k++ {
			sc.inCard[k] = true
		}
	}
	for i := 0; i < sc.ng; i++ {
		j := ends[i]
		if j < 0 {
			continue
		}
		if j == i || sc.keep(text, i, j) {
			spans = append(spans, Span{Start: sc.groups[i].start, End: sc.groups[j].end, Kind: KindCard})
		}
		i = j
	}
	return spans
}

// digitsThrough is how many digits of the run come up to the end of group j.
func (sc *cardScanner) digitsThrough(j int) int { return sc.groups[j].before + sc.groups[j].n }

// cardShaped reports whether groups i..j are sized the way cards are
// written: single digits, fours with a shorter last group (4-4-4-4,
// 4-4-4-4-3), or three groups 4-6-5, 4-6-4, 4-5-6.
func (sc *cardScanner) cardShaped(i, j int) bool {
	g := sc.groups[i : j+1]
	ones, fours := true, true
	for k, x := range g {
		ones = ones && x.n == 1
		if k < len(g)-1 {
			fours = fours && x.n == 4
		} else {
			fours = fours && x.n <= 4
		}
	}
	if ones || fours {
		return true
	}
	if len(g) == 3 && g[0].n == 4 {
		a, b := g[1].n, g[2].n
		return a == 6 && (b == 5 || b == 4) || a == 5 && b == 6
	}
	return false
}

// keep decides whether the grouped card i..j stands: at most maxLeftover
// digits hang on to it, or exactly one group of its brand's security-code
// size (an American Express card and its 4-digit CID).
func (sc *cardScanner) keep(text []byte, i, j int) bool {
	h := sc.hanging(text, i, j)
	if h <= maxLeftover || sc.expiryHangs(j, h) {
		return true
	}
	total := sc.groups[j].before + sc.groups[j].n - sc.groups[i].before
	vals := sc.values[sc.groups[i].first : sc.groups[i].first+total]
	b, ok := card.DetectValues(vals)
	if !ok || h != b.CodeSize {
		return false
	}
	if j+1 < sc.ng && sc.groups[j+1].n == h && !sc.inCard[j+1] {
		return j+2 >= sc.ng || string(sc.gap(text, j+1)) != string(sc.gap(text, j))
	}
	return false
}

// expiryHangs reports whether the h digits that hang on to the card ending
// with group j are an expiry written MMYY, alone or with a code of 3 or 4
// digits after it: "4111 1111 1111 1111 1227 123" is a card, its expiry
// and its code, not a longer number.
func (sc *cardScanner) expiryHangs(j, h int) bool {
	if j+1 >= sc.ng || sc.inCard[j+1] || sc.groups[j+1].n != 4 || !sc.month(j+1) {
		return false
	}
	if h == 4 {
		return true
	}
	return j+2 < sc.ng && !sc.inCard[j+2] && (sc.groups[j+2].n == 3 || sc.groups[j+2].n == 4) && h == 4+sc.groups[j+2].n
}

// month reports whether group k starts with a month, 01 to 12.
func (sc *cardScanner) month(k int) bool {
	f := sc.groups[k].first
	m := int(sc.values[f])*10 + int(sc.values[f+1])
	return 1 <= m && m <= 12
}

// gap returns the separators between group k and group k+1.
func (sc *cardScanner) gap(text []byte, k int) []byte {
	return text[sc.groups[k].end:sc.groups[k].gapEnd]
}

// hanging counts the digits of groups outside any card that are joined to
// the card i..j, directly or through each other, by a separator the card
// itself uses.
func (sc *cardScanner) hanging(text []byte, i, j int) int {
	own := func(g []byte) bool {
		for k := i; k < j; k++ {
			if string(sc.gap(text, k)) == string(g) {
				return true
			}
		}
		return false
	}
	// A group that is joined onward by a separator the card does not use
	// belongs to another number ("… 1111 2024-11-24") and ends the count.
	n := 0
	for k := i - 1; k >= 0 && own(sc.gap(text, k)) && !sc.inCard[k]; k-- {
		if k > 0 && !own(sc.gap(text, k-1)) {
			break
		}
		n += sc.groups[k].n
	}
	for k := j + 1; k < sc.ng && own(sc.gap(text, k-1)) && !sc.inCard[k]; k++ {
		if k < sc.ng-1 && !own(sc.gap(text, k)) {
			break
		}
		n += sc.groups[k].n
	}
	return n
}
