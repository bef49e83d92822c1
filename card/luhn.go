package card

// Luhn reports whether the ASCII digit string digits passes the Luhn
// (mod 10) check. It returns false for an empty string or any byte that is
// not an ASCII digit; use Digits first to normalise typed input.
func Luhn(digits string) bool { return luhn([]byte(digits), '0') }

// LuhnValues is Luhn over digit values 0–9 (not ASCII), for scanners that
// have already decoded the digits.
func LuhnValues(values []byte) bool { return luhn(values, 0) }

// luhn checks d, whose digits are bytes from zero to zero+9: ASCII digits
// ('0') or digit values (0), as the redactor keeps them. It is not generic
// so that escape analysis sees d does not escape: the redactor passes a
// slice of its stack-allocated scanner.
func luhn(d []byte, zero byte) bool {
	if len(d) == 0 {
		return false
	}
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := d[i] - zero
		if v > 9 {
			return false
		}
		if double {
			sum += doubled[v]
		} else {
			sum += int(v)
		}
		double = !double
	}
	return sum%10 == 0
}

// doubled[d] is the Luhn contribution of a doubled digit d.
var doubled = [10]int{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}
