package card

import (
	"sort"
	"unicode"
	"unicode/utf8"
)

// DigitValue returns the value of r if r is a decimal digit in any script
// (Unicode category Nd: ASCII, full-width, Arabic-Indic, Devanagari,
// mathematical bold and monospace …) or a compatibility form that NFKC folds
// to one decimal digit (superscript ², subscript ₂, circled ②, parenthesised
// ⑵, ⒉ with its full stop, 🄂 with its comma), and -1 otherwise. Forms that
// fold to two digits (⑩, ⑽) are not digits here: a card is not written in
// them, and one character must stay one digit for the scanner's spans.
func DigitValue(r rune) int {
	if r < utf8.RuneSelf {
		if '0' <= r && r <= '9' {
			return int(r - '0')
		}
		return -1
	}
	if v := compatDigit(r); v >= 0 {
		return v
	}
	// Every block of Unicode decimal digits is ten consecutive code points
	// starting at its zero, and each range of unicode.Nd starts at a zero
	// (TestNdRangesStartAtZero checks this), so the value is the offset
	// modulo ten.
	nd := unicode.Nd
	if r <= 0xFFFF {
		i := sort.Search(len(nd.R16), func(i int) bool { return rune(nd.R16[i].Hi) >= r })
		if i < len(nd.R16) && rune(nd.R16[i].Lo) <= r {
			return int(r-rune(nd.R16[i].Lo)) % 10
		}
		return -1
	}
	i := sort.Search(len(nd.R32), func(i int) bool { return rune(nd.R32[i].Hi) >= r })
	if i < len(nd.R32) && rune(nd.R32[i].Lo) <= r {
		return int(r-rune(nd.R32[i].Lo)) % 10
	}
	return -1
}

// Digits returns the decimal digits of s as ASCII, dropping everything else
// (spaces, dashes, dots …). Digits of other scripts are converted, so
// "４１１１ 1111" gives "41111111".
func Digits(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if v := DigitValue(r); v >= 0 {
			b = append(b, byte('0'+v))
		}
	}
	return string(b)
}

// compatDigits are the runs of compatibility digits: first, last, and the
// value of first. TestCompatDigitsAreNFKC checks them against
// golang.org/x/text's NFKC.
var compatDigits = [...]struct {
	lo, hi rune
	v      int
}{
	{0x00b2, 0x00b3, 2}, {0x00b9, 0x00b9, 1}, // superscript two, three, one
	{0x2070, 0x2070, 0}, {0x2074, 0x2079, 4}, // superscript zero, four to nine
	{0x2080, 0x2089, 0},                      // subscript zero to nine
	{0x2460, 0x2468, 1}, {0x24ea, 0x24ea, 0}, // circled one to nine, zero
	{0x2474, 0x247c, 1},   // parenthesised one to nine
	{0x2488, 0x2490, 1},   // digit one to nine full stop
	{0x1f100, 0x1f100, 0}, // digit zero full stop
	{0x1f101, 0x1f10a, 0}, // digit zero to nine comma
}

// compatDigit is the value of a compatibility digit, or -1.
func compatDigit(r rune) int {
	if r < 0x00b2 || r > 0x1f10a || (r > 0x00b9 && r < 0x2070) || (r > 0x2490 && r < 0x24ea) || (r > 0x24ea && r < 0x1f100) {
		return -1
	}
	for _, c := range compatDigits {
		if c.lo <= r && r <= c.hi {
			return c.v + int(r-c.lo)
		}
	}
	return -1
}
