package redact

import (
	"math/big"
	"math/rand"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/secureinput/gateway/card"
)

// The reference detector: slow and written to be obviously right, from the
// rules of docs/redaction.md and nothing of the scanner. It folds what NFKC
// folds to one decimal digit, drops format characters (Cf), splits the text
// into runs of digits joined by gaps of one to three separators, and calls a
// run a card when all of its digits together have a brand's length and pass
// Luhn, it is grouped the way cards are, and it is neither an E.164 phone
// number (after '+', at most 15 digits) nor a valid IBAN.

// refDigit is the value of r as a digit: Nd by its place in its block of
// ten, anything else by its NFKC form with the punctuation of its form
// removed; -1 if none.
func refDigit(r rune) int {
	if unicode.Is(unicode.Nd, r) {
		zero := r
		for zero > 0 && unicode.Is(unicode.Nd, zero-1) {
			zero--
		}
		return int(r-zero) % 10
	}
	folded := []rune(strings.Trim(norm.NFKC.String(string(r)), "()., "))
	if len(folded) == 1 && unicode.Is(unicode.Nd, folded[0]) && folded[0] != r {
		return refDigit(folded[0])
	}
	return -1
}

// refSep classifies a separator: 0 none, 1 strong (spaces, dashes, dots),
// 2 weak (newlines, tabs, _ / ,).
func refSep(r rune) int {
	switch {
	case r == '\n' || r == '\r' || r == '\t' || r == '\v' || r == '\f' || r == '_' || r == '/' || r == ',' ||
		r == '\u0085' || r == '\u2028' || r == '\u2029' || r == '／' || r == '⁄' || r == '∕' || r == '＿' || r == '，' || r == '、' || r == '﹐' || r == '،':
		return 2
	case r == ' ' || unicode.Is(unicode.Zs, r), r == '-' || r == '.' || unicode.Is(unicode.Pd, r),
		r == '．' || r == '・' || r == '·' || r == '‧' || r == '․':
		return 1
	}
	return 0
}

// refRune is one rune of the text after dropping format characters.
type refRune struct {
	r          rune
	start, end int // bytes in the text
	digit      int
}

// refCard is a card the reference finds: the byte ranges of its digits.
type refCard struct {
	digits [][2]int
	text   string
}

func referenceCards(text []byte) []refCard {
	var rs []refRune
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		if !unicode.Is(unicode.Cf, r) {
			rs = append(rs, refRune{r, i, i + size, refDigit(r)})
		}
		i += size
	}
	var out []refCard
	for i := 0; i < len(rs); {
		if rs[i].digit < 0 {
			i++
			continue
		}
		// A run: groups of digits, gaps of 1–3 separators.
		var groups [][]refRune
		var weak bool
		j := i
		for {
			k := j
			for k < len(rs) && rs[k].digit >= 0 {
				k++
			}
			groups = append(groups, rs[j:k])
			g := k
			w := false
			for g < len(rs) && g-k < 4 && refSep(rs[g].r) > 0 {
				w = w || refSep(rs[g].r) == 2
				g++
			}
			if g == k || g-k > 3 || g >= len(rs) || rs[g].digit < 0 {
				j = k
				break
			}
			weak = weak || w
			j = g
		}
		if c, ok := refJudge(rs, i, groups, weak); ok {
			out = append(out, c)
		}
		i = j
	}
	return out
}

func refJudge(rs []refRune, at int, groups [][]refRune, weak bool) (refCard, bool) {
	var digits strings.Builder
	var c refCard
	var sizes []int
	for _, g := range groups {
		sizes = append(sizes, len(g))
		for _, d := range g {
			digits.WriteByte(byte('0' + d.digit))
			c.digits = append(c.digits, [2]int{d.start, d.end})
		}
	}
	num := digits.String()
	c.text = num
	if len(num) < 12 || len(num) > 19 || !card.Luhn(num) || !card.ValidLength(num) {
		return c, false
	}
	for k := 0; k+1 < len(sizes); k++ {
		if sizes[0] == 1 && sizes[k] != 1 || sizes[0] > 1 && sizes[k] == 1 {
			return c, false
		}
	}
	if weak && !refShaped(sizes) {
		return c, false
	}
	if at > 0 && rs[at-1].r == '+' && len(num) <= 15 {
		return c, false
	}
	if at >= 2 && refLetter(rs[at-1].r) && refLetter(rs[at-2].r) && (at == 2 || !refLetter(rs[at-3].r)) && refIBAN(rs[at-2:]) {
		return c, false
	}
	return c, true
}

func refShaped(sizes []int) bool {
	ones, fours := true, true
	for k, n := range sizes {
		ones = ones && n == 1
		fours = fours && (n == 4 || k == len(sizes)-1 && n <= 4)
	}
	s := ""
	for _, n := range sizes {
		s += string(rune('0' + n))
	}
	return ones || fours || s == "465" || s == "464" || s == "456"
}

func refLetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// refIBAN: two letters of a registry country, then letters and digits
// (single spaces allowed between) to that country's length, ending there,
// passing mod 97 (computed with math/big).
func refIBAN(rs []refRune) bool {
	cc := strings.ToUpper(string([]rune{rs[0].r, rs[1].r}))
	length, ok := ibanLengths[[2]byte{cc[0], cc[1]}]
	if !ok {
		return false
	}
	var sb strings.Builder
	k := 0
	for ; k < len(rs) && sb.Len() < length; k++ {
		r := rs[k].r
		switch {
		case refLetter(r) || '0' <= r && r <= '9':
			sb.WriteRune(unicode.ToUpper(r))
		case r == ' ' && k > 0 && k+1 < len(rs) && rs[k+1].r != ' ':
		default:
			return false
		}
	}
	if sb.Len() != length || k < len(rs) && (refLetter(rs[k].r) || '0' <= rs[k].r && rs[k].r <= '9') {
		return false
	}
	s := sb.String()
	if s[2] < '0' || s[2] > '9' || s[3] < '0' || s[3] > '9' {
		return false
	}
	s = s[4:] + s[:4]
	var num strings.Builder
	for _, r := range s {
		if r >= 'A' {
			num.WriteString(big.NewInt(int64(r - 'A' + 10)).String())
		} else {
			num.WriteRune(r)
		}
	}
	n, _ := new(big.Int).SetString(num.String(), 10)
	return new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

// checkAgainstReference fails if a card the reference finds in text keeps
// more than its last four digits visible after the engine's redaction.
func checkAgainstReference(t *testing.T, e *Engine, text []byte) {
	t.Helper()
	spans, err := e.Find(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	masked := func(a [2]int) bool {
		for _, s := range spans {
			if s.Start <= a[0] && a[1] <= s.End {
				return true
			}
		}
		return false
	}
	for _, c := range referenceCards(text) {
		for k, d := range c.digits {
			if !masked(d) && k < len(c.digits)-4 {
				t.Fatalf("text %q: the reference finds card %s; its digit %d at byte %d stays visible (spans %v)", text, c.text, k+1, d[0], spans)
			}
		}
	}
}

// denseTokens are what random digit-dense texts are made of.
var denseTokens = []string{
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "4", "5", "3", "6", "1",
	" ", " ", " ", "-", ".", "\n", "\t", "_", "/", ",", "\u00a0", "\u2009", "–", " / ",
	"\u200b", "\u200e", "\u00ad", "\ufeff",
	"４", "¹", "①", "⑷", "₇", "𝟖", "٣",
	"a", "D", "E", "x", "+", "(", ")", ":", "cvv ", "exp ", "12/27",
}

// denseText turns fuzz bytes into digit-dense text; byte 255 plants a
// Luhn-valid number of a brand written with the next bytes' separators.
func denseText(data []byte) []byte {
	var b []byte
	prefixes := []string{"4", "51", "2221", "34", "37", "6011", "62", "66", "3528", "5018", "1", "2200"}
	for i := 0; i < len(data); i++ {
		if data[i] == 255 && i+2 < len(data) {
			p := prefixes[int(data[i+1])%len(prefixes)]
			n := 12 + int(data[i+2])%8
			num := luhnComplete(p, n)
			sep := denseTokens[15+int(data[i+1]/16)%14]
			for k, d := range num {
				if k > 0 && k%4 == 0 {
					b = append(b, sep...)
				}
				b = append(b, byte(d))
			}
			i += 2
			continue
		}
		b = append(b, denseTokens[int(data[i])%len(denseTokens)]...)
	}
	return b
}

// FuzzReference: on random digit-dense text, every card the reference
// detector finds, the scanner masks.
func FuzzReference(f *testing.F) {
	f.Add([]byte{255, 0, 4, 16, 255, 3, 3})
	f.Add([]byte{4, 15, 1, 15, 1, 15, 1, 15, 1, 15, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{41, 42, 255, 7, 4, 33, 255, 8, 4})
	f.Add([]byte{44, 255, 0, 4, 21, 255, 1, 4})
	e := mustNew(f, DefaultConfig())
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 400 {
			return
		}
		checkAgainstReference(t, e, denseText(data))
	})
}

// TestReference runs the comparison on many random texts, so that plain
// go test covers it, and checks the reference itself on known cases.
func TestReference(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"4111 1111 1111 1111", 1}, {"⁴¹¹¹ ¹¹¹¹ ¹¹¹¹ ¹¹¹¹", 1}, {"4111\u200e1111\u200e1111\u200e1111", 1},
		{"DE89 3704 0044 0532 0130 00", 0}, {"+4111111111111111", 1}, {"+441234567890123", 0},
		{"4111 1111 1111 1112", 0}, {"4111,1111,1111,1111", 1}, {"411,111,111,111,111,1", 0},
	} {
		if got := len(referenceCards([]byte(tc.in))); got != tc.want {
			t.Errorf("reference finds %d cards in %q, want %d", got, tc.in, tc.want)
		}
	}
	e := mustNew(t, DefaultConfig())
	rng := rand.New(rand.NewSource(11))
	for range 20000 {
		data := make([]byte, rng.Intn(80))
		for k := range data {
			data[k] = byte(rng.Intn(256))
		}
		checkAgainstReference(t, e, denseText(data))
	}
}
