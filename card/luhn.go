package card

// Luhn reports whether the ASCII digit string digits passes the Luhn
// (mod 10) check. It returns false for an empty string or any byte that is
// not an ASCII digit; use Digits first to normalise typed input.
func Luhn(digits string) bool {
	if len(digits) == 0 {
		return false
	}
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			d = doubled[d]
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// LuhnValues is Luhn over digit values 0–9 (not ASCII), for scanners that
// have already decoded the digits.
func LuhnValues(values []byte) bool {
	if len(values) == 0 {
		return false
	}
	sum := 0
	double := false
	for i := len(values) - 1; i >= 0; i-- {
		d := int(values[i])
		if double {
			d = doubled[d]
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// doubled[d] is the Luhn contribution of a doubled digit d.
var doubled = [10]int{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}
