package card

import (
	"sort"
	"unicode"
	"unicode/utf8"
)

// DigitValue returns the value of r if r is a decimal digit in any script
// (Unicode category Nd: ASCII, full-width, Arabic-Indic, Devanagari …),
// and -1 otherwise.
func DigitValue(r rune) int {
	if r < utf8.RuneSelf {
		if '0' <= r && r <= '9' {
			return int(r - '0')
		}
		return -1
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
