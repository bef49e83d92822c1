package redact

import (
	"unicode"
	"unicode/utf8"
)

// ibanLengths is the length of the IBAN of every country of the ISO 13616
// registry (SWIFT's IBAN registry, release 99), by country code.
var ibanLengths = map[[2]byte]int{
	{'A', 'D'}: 24, {'A', 'E'}: 23, {'A', 'L'}: 28, {'A', 'T'}: 20, {'A', 'Z'}: 28, {'B', 'A'}: 20,
	{'B', 'E'}: 16, {'B', 'G'}: 22, {'B', 'H'}: 22, {'B', 'I'}: 27, {'B', 'R'}: 29, {'B', 'Y'}: 28,
	{'C', 'H'}: 21, {'C', 'R'}: 22, {'C', 'Y'}: 28, {'C', 'Z'}: 24, {'D', 'E'}: 22, {'D', 'J'}: 27,
	{'D', 'K'}: 18, {'D', 'O'}: 28, {'E', 'E'}: 20, {'E', 'G'}: 29, {'E', 'S'}: 24, {'F', 'I'}: 18,
	{'F', 'K'}: 18, {'F', 'O'}: 18, {'F', 'R'}: 27, {'G', 'B'}: 22, {'G', 'E'}: 22, {'G', 'I'}: 23,
	{'G', 'L'}: 18, {'G', 'R'}: 27, {'G', 'T'}: 28, {'H', 'N'}: 28, {'H', 'R'}: 21, {'H', 'U'}: 28,
	{'I', 'E'}: 22, {'I', 'L'}: 23, {'I', 'Q'}: 23, {'I', 'S'}: 26, {'I', 'T'}: 27, {'J', 'O'}: 30,
	{'K', 'W'}: 30, {'K', 'Z'}: 20, {'L', 'B'}: 28, {'L', 'C'}: 32, {'L', 'I'}: 21, {'L', 'T'}: 20,
	{'L', 'U'}: 20, {'L', 'V'}: 21, {'L', 'Y'}: 25, {'M', 'C'}: 27, {'M', 'D'}: 24, {'M', 'E'}: 22,
	{'M', 'K'}: 19, {'M', 'N'}: 20, {'M', 'R'}: 27, {'M', 'T'}: 31, {'M', 'U'}: 30, {'N', 'I'}: 28,
	{'N', 'L'}: 18, {'N', 'O'}: 15, {'O', 'M'}: 23, {'P', 'K'}: 24, {'P', 'L'}: 28, {'P', 'S'}: 29,
	{'P', 'T'}: 25, {'Q', 'A'}: 29, {'R', 'O'}: 24, {'R', 'S'}: 22, {'R', 'U'}: 33, {'S', 'A'}: 24,
	{'S', 'C'}: 31, {'S', 'D'}: 18, {'S', 'E'}: 24, {'S', 'I'}: 19, {'S', 'K'}: 24, {'S', 'M'}: 27,
	{'S', 'O'}: 23, {'S', 'T'}: 25, {'S', 'V'}: 28, {'T', 'L'}: 23, {'T', 'N'}: 24, {'T', 'R'}: 26,
	{'U', 'A'}: 29, {'V', 'A'}: 22, {'V', 'G'}: 24, {'X', 'K'}: 20, {'Y', 'E'}: 30,
}

// ibanTable is ibanLengths indexed by (first letter)*26 + second letter.
var ibanTable = func() (t [26 * 26]uint8) {
	for cc, n := range ibanLengths {
		t[int(cc[0]-'A')*26+int(cc[1]-'A')] = uint8(n)
	}
	return t
}()

// ibanDigitsEnd is where the digits and spaces of an IBAN that start at
// text[i] stop: its end, or its first letter after the country code. The
// scanner skips only those, so digits after a letter of the BBAN are read
// again: an IBAN-shaped prefix must not hide a card ("AD36533E3528 1470
// 3692 5814 704").
func ibanDigitsEnd(text []byte, i, end int) int {
	for i < end && (text[i] == ' ' || '0' <= text[i] && text[i] <= '9') {
		i++
	}
	return i
}

// letterBefore reports whether an ASCII letter comes right before text[i],
// format characters (invisible) skipped: "a\u200bDE89…" is one word.
func letterBefore(text []byte, i int) bool {
	for i > 0 {
		r, size := utf8.DecodeLastRune(text[:i])
		if !unicode.Is(unicode.Cf, r) {
			return r < utf8.RuneSelf && isASCIILetter(byte(r))
		}
		i -= size
	}
	return false
}

// ibanAt reports whether an IBAN starts at text[i] (two letters, then its
// check digits and BBAN, in groups separated by single spaces or not at
// all) and where it ends. It is one only if the country is in the registry,
// the letters and digits that follow have exactly that country's length and
// the whole passes the ISO 7064 mod-97 check; the letters must not be the
// end of a longer word.
func ibanAt(text []byte, i int) (end int, ok bool) {
	if !isASCIILetter(text[i]) || !isASCIILetter(text[i+1]) || letterBefore(text, i) {
		return 0, false
	}
	length := int(ibanTable[int(text[i]&^0x20-'A')*26+int(text[i+1]&^0x20-'A')])
	if length == 0 {
		return 0, false
	}
	// Rearranged: BBAN, country, check digits; mod 97 computed as we read.
	var head [4]byte
	rem, n, j := 0, 0, i
	add := func(c byte) {
		v := int(c - '0')
		if c > '9' {
			v = int(c&^0x20-'A') + 10
			rem = (rem*100 + v) % 97
			return
		}
		rem = (rem*10 + v) % 97
	}
	for j < len(text) && n < length {
		c := text[j]
		switch {
		case '0' <= c && c <= '9', isASCIILetter(c):
			if n < 4 {
				head[n] = c
			} else {
				add(c)
			}
			n++
			j++
		case c == ' ' && n > 0 && j+1 < len(text) && text[j+1] != ' ':
			j++
		default:
			return 0, false
		}
	}
	if n != length {
		return 0, false
	}
	// What follows must not go on the IBAN: format characters are
	// invisible, so a letter or digit after them counts too.
	if k := j; k < len(text) {
		if text[k] >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(text[k:])
			k = skipFormat(text, k, r, size)
		}
		if k < len(text) && ('0' <= text[k] && text[k] <= '9' || isASCIILetter(text[k])) {
			return 0, false
		}
	}
	if head[2] < '0' || head[2] > '9' || head[3] < '0' || head[3] > '9' {
		return 0, false
	}
	for _, c := range head {
		add(c)
	}
	return j, rem == 1
}
