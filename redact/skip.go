package redact

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"

	"github.com/secureinput/gateway/card"
)

// What the scanner passes over without collecting it: text that holds no
// digit, eight or sixteen bytes at a time, and the plain ASCII runs too
// short to hold a card (scanner.go collects the rest).

const (
	lo7   = 0x7f7f7f7f7f7f7f7f
	hi    = 0x8080808080808080
	add30 = 0x5050505050505050 // low7 + 0x50 sets bit 7 iff byte >= 0x30
	add3a = 0x4646464646464646 // low7 + 0x46 sets bit 7 iff byte >= 0x3a
)

// interesting returns a mask with bit 7 of each byte of w set where the byte
// is an ASCII digit or a non-ASCII byte (which may start a digit of another
// script or a no-break space). The test is exact byte by byte: no carry
// crosses a byte.
func interesting(w uint64) uint64 {
	low := w & lo7
	digit := (low + add30) &^ (low + add3a) & hi
	return digit | w&hi
}

// skipShort skips, from text[i], the ASCII text and the short runs in it,
// and returns where the caller goes on: the start and end of a short run
// that is a security code after its keyword (code true), or (code false) an
// offset the caller decides itself: len(text), a byte that is not ASCII, or
// a run that may hold a card.
//
// A short run needs no IBAN test: the digits and single spaces an IBAN
// would have the caller skip are all in the run, which holds nothing to
// mask either way (a run glued to letters is no security code).
//
// A run is short when it is plain ASCII and, measured the way run collects
// it, holds fewer than card.MinLength digits; it is shaped like a security
// code when it starts with a group of 3 or 4 digits, alone or ended as a
// code (endsCode). Most runs of chat (dates,
// times, amounts, order numbers) are short, and this loop is where the
// scanner spends its time on chat: it measures a run itself rather than
// call a function for it (that measured 5% slower), walks suffixes of text
// so that the compiler proves its indexes, and goes byte by byte through
// the runs, where the processor predicts its way ahead (eight bytes at a
// time through a run measured slower: the next run's address then waits
// for the arithmetic).
func skipShort(text []byte, i int) (start, end int, code bool) {
	for {
		// In chat the next digit is most often in the next eight bytes:
		// that word is read here, where skipDull's call costs more than
		// the reading (skipDull is too big to be inlined).
		rest := text[i:]
		if len(rest) < 8 {
			rest = skipDull(rest)
		} else if m := interesting(binary.LittleEndian.Uint64(rest)); m != 0 {
			rest = rest[bits.TrailingZeros64(m)>>3:]
		} else {
			rest = skipDull(rest[8:])
		}
		if i = len(text) - len(rest); len(rest) == 0 {
			return i, i, false
		}
		if c := rest[0]; c >= utf8.RuneSelf {
			return i, i, false
		} else if c-'0' > 9 {
			i++
			continue
		}
		digits, groups := 0, 0
		for {
			k := 0
			for k < len(rest) && rest[k]-'0' <= 9 {
				k++
			}
			digits += k
			groups++
			end = len(text) - len(rest) + k
			if digits >= card.MinLength {
				return i, i, false
			}
			// The gap: up to maxGapRunes separators, then a digit goes on.
			rest = rest[k:]
			j := 0
			for ; j < len(rest) && j <= maxGapRunes; j++ {
				if class := byteSep[rest[j]]; class == sepNone {
					break
				} else if class == sepMultiByte {
					return i, i, false
				}
			}
			if j == 0 || j >= len(rest) || j > maxGapRunes || rest[j]-'0' > 9 {
				break
			}
			rest = rest[j:]
		}
		// A first group of 3 or 4 digits, alone or ended as a code
		// (endsCode), after its keyword.
		if groups == 1 {
			if (digits == 3 || digits == 4) && codeKeywordBefore(text, i) {
				return i, end, true
			}
		} else if i+4 < end && (codeStop[text[i+3]] || codeStop[text[i+4]]) {
			if e, ok := endedCode(text, i); ok {
				return i, e, true
			}
		}
		i = end
	}
}

// skipDull returns the suffix of rest that starts with its first byte that
// may start a digit (interesting), or its last bytes if fewer than eight
// are left: sixteen bytes at a time (two independent words, half the loop
// overhead on prose), then eight, then straight to the byte. The loop is
// the hottest of the scanner on prose.
func skipDull(rest []byte) []byte {
	for len(rest) >= 16 {
		m0 := interesting(binary.LittleEndian.Uint64(rest))
		m1 := interesting(binary.LittleEndian.Uint64(rest[8:]))
		if m0|m1 != 0 {
			if m0 == 0 {
				return rest[8+bits.TrailingZeros64(m1)>>3:]
			}
			return rest[bits.TrailingZeros64(m0)>>3:]
		}
		rest = rest[16:]
	}
	for len(rest) >= 8 {
		if m := interesting(binary.LittleEndian.Uint64(rest)); m != 0 {
			return rest[bits.TrailingZeros64(m)>>3:]
		}
		rest = rest[8:]
	}
	return rest
}

// codeStop marks the ASCII bytes endsCode takes: the quick test before
// endedCode is called.
var codeStop = func() (t [256]bool) {
	for c := 0; c < utf8.RuneSelf; c++ {
		t[c] = endsCode(rune(c))
	}
	return t
}()

// endedCode reports whether the short run of several groups at text[i]
// starts with a security code after its keyword, ended as a code
// (endsCode: "cvv: 123\n2024-05-01"), and where the code ends. It stays out
// of skipShort's loop: state kept there for it cost a fifth of the
// scanner's speed on chat.
//
//go:noinline
func endedCode(text []byte, i int) (int, bool) {
	k := i
	for k < len(text) && text[k]-'0' <= 9 {
		k++
	}
	if n := k - i; n != 3 && n != 4 || k >= len(text) || !endsCode(rune(text[k])) {
		return 0, false
	}
	return k, codeKeywordBefore(text, i)
}
