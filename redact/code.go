package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// KindSecurityCode is the Span.Kind of a card's security code (CVV, CVC,
// CID …): 3 or 4 digits right after a card (only separators, punctuation or
// an expiry date between), or after a word that names it ("cvv 123",
// "security code: 1234", "código de seguridad 123"). A 3–4 digit number
// anywhere else is left alone ("the card ending in 4907", "order 123"), and
// so is the expiry date: PCI DSS lets it be kept once the number is masked,
// but forbids keeping the code after authorisation (req. 3.3.1).
const KindSecurityCode = "security_code"

// codeWords name a security code, lower case, in the languages customers
// write to us in. A word matches at word boundaries, case-insensitively.
var codeWords = []string{
	"cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "cvn", "cvn2", "cav2", "cve", "cvp2", "cv2", "ccv",
	"security number", "security no", "card security number",
	"security code", "card security code", "sec code", "verification code", "card verification code",
	"card verification value", "card code", "3-digit code", "3 digit code", "4-digit code", "4 digit code",
	"código de seguridad", "codigo de seguridad", "código de segurança", "codigo de seguranca",
	"code de sécurité", "code de securite", "cryptogramme", "cryptogramme visuel",
	"sicherheitscode", "prüfnummer", "prufnummer", "kartenprüfnummer", "prüfziffer", "kartenprüfziffer",
	"codice di sicurezza", "codice cvv", "beveiligingscode", "kod zabezpieczający", "kod bezpieczeństwa",
	"säkerhetskod", "sikkerhedskode", "sikkerhetskode", "turvakoodi", "güvenlik kodu", "kód cvv",
	"код безопасности", "код cvv", "セキュリティコード", "安全码", "安全碼", "보안코드",
}

// codeFillers may stand between such a word and the code ("cvv is 123",
// "security code number: 123").
var codeFillers = []string{"is", "ist", "est", "es", "é", "è", "number", "no", "nr", "num", "code", "=", "was", "would be"}

// codeByLast maps the last word of each code word (lower case) to the code
// words that end with it; codeFillerSet holds the fillers. A number's
// preceding word is looked up in them without allocating.
var codeByLast, codeFillerSet = func() (map[string][]string, map[string]bool) {
	last := map[string][]string{}
	for _, w := range codeWords {
		k := w[strings.LastIndexByte(w, ' ')+1:]
		last[k] = append(last[k], w)
	}
	fillers := map[string]bool{}
	for _, w := range codeFillers {
		fillers[w] = true
	}
	return last, fillers
}()

// codeEnds is a bit set of the last two bytes (ASCII lower-cased) of every
// code word and filler: the quick test that rejects a number after "at",
// "$" or "order #" without a map lookup.
var codeEnds = func() (t [1 << 16 / 64]uint64) {
	for _, ws := range [][]string{codeWords, codeFillers} {
		for _, w := range ws {
			if len(w) < 2 {
				continue
			}
			k := uint16(w[len(w)-2])<<8 | uint16(w[len(w)-1])
			t[k/64] |= 1 << (k % 64)
		}
	}
	return t
}()

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// mayEndCodeWord is the quick test of codeEnds on the two bytes before i.
func mayEndCodeWord(text []byte, i int) bool {
	if i < 2 {
		return false
	}
	k := uint16(lowerASCII(text[i-2]))<<8 | uint16(lowerASCII(text[i-1]))
	return codeEnds[k/64]&(1<<(k%64)) != 0
}

// byFirst indexes words by their first byte, so that a scan forward tries
// only the words that can start where it stands.
func byFirst(words []string) (t [256][]string) {
	for _, w := range words {
		t[w[0]] = append(t[w[0]], w)
	}
	return t
}

var codeWordsByFirst, expiryWordsByFirst, fillersByFirst = byFirst(codeWords), byFirst(expiryWords), byFirst(codeFillers)

// firstWordAt returns the end of the first of the words indexed in
// byFirst that text[i:] starts with (wordAt). A word whose second byte is
// ASCII and differs from the text's is not tried: after "Call" the two dozen
// words that start with 'c' cost one comparison each.
func firstWordAt(text []byte, i int, byFirst *[256][]string) (end int, ok bool) {
	if i >= len(text) {
		return 0, false
	}
	var second byte // no second byte matches no word of two bytes or more
	if i+1 < len(text) {
		second = lowerASCII(text[i+1])
	}
	for _, w := range byFirst[lowerASCII(text[i])] {
		if len(w) > 1 && w[1] < utf8.RuneSelf && second < utf8.RuneSelf && w[1] != second {
			continue
		}
		if end, ok := wordAt(text, i, w); ok {
			return end, true
		}
	}
	return 0, false
}

// maxCodeWord bounds the bytes of a word looked up in codeByLast.
const maxCodeWord = 40

// lastWord copies the word (ASCII letters and digits, and any non-ASCII
// bytes) that ends at text[i] into buf, ASCII lower-cased, and returns it
// and where it starts; n is 0 if there is none or it is too long.
func lastWord(text []byte, i int, buf *[maxCodeWord]byte) (start, n int) {
	j := i
	for j > 0 {
		c := text[j-1]
		if !(c >= utf8.RuneSelf || '0' <= c && c <= '9' || isASCIILetter(c)) {
			break
		}
		j--
		if i-j > maxCodeWord {
			return 0, 0
		}
	}
	for k := j; k < i; k++ {
		c := text[k]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[k-j] = c
	}
	return j, i - j
}

// codePunctASCII is isCodePunct for ASCII.
var codePunctASCII = func() (t [utf8.RuneSelf]bool) {
	for c := rune(0); c < utf8.RuneSelf; c++ {
		t[c] = isCodePunct(c)
	}
	return t
}()

// isCodePunct is what may stand between a card, an expiry, a code word and
// the code, besides separators.
func isCodePunct(r rune) bool {
	switch r {
	case ':', ';', '=', '#', '(', ')', '[', ']', '-', '.', ',', '/', '\'', '"', '*':
		return true
	}
	return r != utf8.RuneError && separatorClass(r) != sepNone
}

// skipBack returns the offset before the run of at most limit code
// punctuation characters that ends at i.
func skipBack(text []byte, i, limit int) int {
	for n := 0; i > 0 && n < limit; n++ {
		if c := text[i-1]; c < utf8.RuneSelf {
			if !codePunctASCII[c] {
				break
			}
			i--
			continue
		}
		r, size := utf8.DecodeLastRune(text[:i])
		if !isCodePunct(r) {
			break
		}
		i -= size
	}
	return i
}

// skipForward returns the offset after the run of at most limit code
// punctuation characters that starts at i.
func skipForward(text []byte, i, limit int) int {
	for n := 0; i < len(text) && n < limit; n++ {
		if c := text[i]; c < utf8.RuneSelf {
			if !codePunctASCII[c] {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		if !isCodePunct(r) {
			break
		}
		i += size
	}
	return i
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

// wordBefore reports whether text[:i] ends with word w (case-insensitive,
// at a word boundary) and where it starts.
func wordBefore(text []byte, i int, w string) (int, bool) {
	j := i
	for k := len(w); k > 0; {
		if j == 0 {
			return 0, false
		}
		wr, wsize := utf8.DecodeLastRuneInString(w[:k])
		r, size := utf8.DecodeLastRune(text[:j])
		if unicode.ToLower(r) != wr {
			return 0, false
		}
		k -= wsize
		j -= size
	}
	if j > 0 {
		if r, _ := utf8.DecodeLastRune(text[:j]); isWordRune(r) {
			return 0, false
		}
	}
	return j, true
}

// wordAt reports whether text[i:] starts with word w (case-insensitive, not
// followed by a letter) and where it ends. A digit may follow: after a card,
// "exp1227cvv123" is an expiry and a code.
func wordAt(text []byte, i int, w string) (int, bool) {
	j := i
	for k := 0; k < len(w); {
		if j >= len(text) {
			return 0, false
		}
		if c, wc := text[j], w[k]; c < utf8.RuneSelf && wc < utf8.RuneSelf {
			if lowerASCII(c) != wc {
				return 0, false
			}
			j++
			k++
			continue
		}
		wr, wsize := utf8.DecodeRuneInString(w[k:])
		r, size := utf8.DecodeRune(text[j:])
		if unicode.ToLower(r) != wr {
			return 0, false
		}
		k += wsize
		j += size
	}
	if j < len(text) {
		if c := text[j]; c < utf8.RuneSelf {
			if isASCIILetter(c) {
				return 0, false
			}
		} else if r, _ := utf8.DecodeRune(text[j:]); unicode.IsLetter(r) || unicode.Is(unicode.Mn, r) {
			return 0, false
		}
	}
	return j, true
}

// codeKeywordBefore reports whether the digits at text[i] follow a word that
// names a security code, with at most a few fillers between.
func codeKeywordBefore(text []byte, i int) bool {
	if i > 0 {
		if c := text[i-1]; c < utf8.RuneSelf {
			if isASCIILetter(c) || '0' <= c && c <= '9' {
				return false // "abc123": glued to a word, not after one
			}
		} else if r, _ := utf8.DecodeLastRune(text[:i]); isWordRune(r) {
			return false
		}
	}
	var buf [maxCodeWord]byte
	pos := i
	for fillers := 0; fillers <= 2; fillers++ {
		pos = skipBack(text, pos, 6)
		if pos > 0 && text[pos-1] == '=' {
			pos--
			continue
		}
		if !mayEndCodeWord(text, pos) {
			return false
		}
		start, n := lastWord(text, pos, &buf)
		if n == 0 {
			return false
		}
		for _, w := range codeByLast[string(buf[:n])] {
			if _, ok := wordBefore(text, pos, w); ok {
				return true
			}
		}
		if !codeFillerSet[string(buf[:n])] {
			return false
		}
		pos = start
	}
	return false
}

// expiryWords may introduce an expiry date after a card.
var expiryWords = []string{"exp", "exp.", "expiry", "expiry date", "expires", "expiration", "expiration date",
	"valid thru", "valid through", "valid until", "good thru", "until", "gültig bis", "vence", "fecha", "échéance",
	"expira", "scadenza", "ablauf", "ablaufdatum"}

// expiryAt returns the end of an expiry date at text[i] (an optional word,
// then MM/YY, MM/YYYY, MM-YY …), or i if there is none.
func expiryAt(text []byte, i int) int {
	if i >= len(text) {
		return i
	}
	j := i
	if end, ok := firstWordAt(text, i, &expiryWordsByFirst); ok {
		j = skipForward(text, end, 4)
	}
	d1 := digitsAt(text, j)
	if d1.n == 4 && monthAt(text, j) {
		// MMYY, when a code word or a code of 3 or 4 digits that ends
		// there follows: "1227 123", "exp1227cvv123".
		k := skipForward(text, d1.end, 4)
		if _, ok := firstWordAt(text, k, &codeWordsByFirst); ok {
			return d1.end
		}
		if d2 := digitsAt(text, k); k > d1.end && (d2.n == 3 || d2.n == 4) && !moreDigits(text, d2.end) {
			return d1.end
		}
		return i
	}
	if d1.n < 1 || d1.n > 2 || d1.end >= len(text) {
		return i
	}
	switch text[d1.end] {
	case '/', '-', '.':
	default:
		return i
	}
	d2 := digitsAt(text, d1.end+1)
	if d2.n != 2 && d2.n != 4 {
		return i
	}
	return d2.end
}

// monthAt reports whether the two digits at text[i] are a month, 01 to 12.
func monthAt(text []byte, i int) bool {
	_, a, size := decode(text, i)
	_, b, _ := decode(text, i+size)
	m := a*10 + b
	return a >= 0 && b >= 0 && 1 <= m && m <= 12
}

// moreDigits reports whether a number goes on at text[i]: separators, then
// digits.
func moreDigits(text []byte, i int) bool {
	k := skipForward(text, i, 2)
	if k == i || digitsAt(text, k).n == 0 {
		return false
	}
	r, _ := utf8.DecodeRune(text[i:])
	return !endsCode(r)
}

// digitRun is a run of digits: how many and where it ends.
type digitRun struct{ n, end int }

func digitsAt(text []byte, i int) digitRun {
	n := 0
	for i < len(text) {
		_, v, size := decode(text, i)
		if v < 0 {
			break
		}
		n++
		i += size
	}
	return digitRun{n, i}
}

// codeAfter finds a security code after a card that ends at i: code
// punctuation, an optional expiry date, an optional code word and fillers,
// then 3 or 4 digits that are not the start of a longer number.
func codeAfter(text []byte, i int) (start, end int, ok bool) {
	j := skipForward(text, i, 4)
	if k := expiryAt(text, j); k > j {
		j = skipForward(text, k, 4)
	}
	// A code word and fillers, or after a card fillers alone ("code 123").
	if e, ok := firstWordAt(text, j, &codeWordsByFirst); ok {
		j = skipForward(text, e, 6)
	}
	if e, ok := firstWordAt(text, j, &fillersByFirst); ok {
		j = skipForward(text, e, 6)
	}
	d := digitsAt(text, j)
	if d.n < 3 || d.n > 4 {
		return 0, 0, false
	}
	// Not the first group of a longer number ("1234 5678", "123-45-6789"),
	// nor of a card in any spelling the scanner reads ("cvv 6214,7036,9250"
	// and "cvv 3528 / 1470 / …" are cards; "cvv 123, 4567" is a code, and
	// so is one that ends its line: "cvv 123\n5555 …").
	if moreDigits(text, d.end) {
		return 0, 0, false
	}
	if cardStartsAt(text, j) {
		return 0, 0, false
	}
	if d.end < len(text) {
		if r, _ := utf8.DecodeRune(text[d.end:]); unicode.IsLetter(r) {
			return 0, 0, false
		}
	}
	return j, d.end, true
}

// endsCode reports whether r, right after 3 or 4 digits, ends them as a
// code even when more digits follow: a list's comma or semicolon, an
// opening parenthesis, the end of a line.
func endsCode(r rune) bool {
	switch r {
	case ',', ';', '(', '\n', '\r', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// keywordCode reports whether the run just scanned, which starts at start
// and in which found are the cards, begins with a security code after its
// word: a first group of 3 or 4 digits that is not part of a card, alone
// or ended as a code (endsCode: "cvv: 123\n4111 1111 …").
func (sc *cardScanner) keywordCode(text []byte, start int, found []Span) bool {
	g := sc.groups[0]
	if sc.ng == 0 || g.n < 3 || g.n > 4 || len(found) > 0 && found[0].Start == start {
		return false
	}
	if sc.ng > 1 {
		if r, _ := utf8.DecodeRune(text[g.end:]); !endsCode(r) {
			return false
		}
	}
	return codeKeywordBefore(text, start)
}

// cardStartsAt reports whether the card scanner finds a card whose first
// digit is text[i].
func cardStartsAt(text []byte, i int) bool {
	var sc cardScanner
	var buf [4]Span
	_, spans := sc.run(text, i, buf[:0])
	for _, s := range spans {
		if s.Kind == KindCard && s.Start == i {
			return true
		}
	}
	return false
}

// codesAfterCards adds the security code after each card span of
// spans[mark:] (those of one run that ended at runEnd) and returns where
// the scan goes on and the spans, sorted.
func codesAfterCards(text []byte, runEnd int, spans []Span, mark int) (int, []Span) {
	n := len(spans)
	for k := mark; k < n; k++ {
		if start, end, ok := codeAfter(text, spans[k].End); ok {
			spans = append(spans, Span{Start: start, End: end, Kind: KindSecurityCode})
			runEnd = max(runEnd, end)
		}
	}
	if len(spans) > n {
		sortSpans(spans[mark:])
	}
	return runEnd, spans
}

// sortSpans sorts a few spans by Start, then End (insertion sort: no
// allocation).
func sortSpans(s []Span) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && (s[j].Start < s[j-1].Start || s[j].Start == s[j-1].Start && s[j].End < s[j-1].End); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
