package card

import "strings"

// MaskChar replaces every masked character.
const MaskChar = '#'

// Mask returns s with every character replaced by '#', keeping its length
// in characters (runes).
func Mask(s string) string {
	return strings.Repeat(string(MaskChar), len([]rune(s)))
}

// MaskKeepLast4 returns number with every digit but the last four replaced
// by '#'; separators are kept ("4111 1111 1111 1111" gives
// "#### #### #### 1111"). A number of four digits or fewer is masked whole.
func MaskKeepLast4(number string) string {
	rs := []rune(number)
	total := 0
	for _, r := range rs {
		if DigitValue(r) >= 0 {
			total++
		}
	}
	keepFrom := total - 4
	if total <= 4 {
		keepFrom = total
	}
	seen := 0
	for i, r := range rs {
		if DigitValue(r) < 0 {
			continue
		}
		if seen < keepFrom {
			rs[i] = MaskChar
		}
		seen++
	}
	return string(rs)
}

// Last4 returns the last four digits of number (as ASCII), or "" when it
// has fewer than four digits beyond which nothing would stay hidden.
func Last4(number string) string {
	d := Digits(number)
	if len(d) < MinLength {
		return ""
	}
	return d[len(d)-4:]
}
