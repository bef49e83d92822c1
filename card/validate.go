package card

import (
	"errors"
	"fmt"
)

// Errors returned by Validate. They never contain the number.
var (
	ErrEmpty   = errors.New("card: no digits")
	ErrBrand   = errors.New("card: no card brand uses these leading digits")
	ErrLength  = errors.New("card: wrong number of digits for the brand")
	ErrLuhn    = errors.New("card: check digit is wrong")
	ErrCharset = errors.New("card: only digits, spaces and dashes are allowed")
)

// Validate checks a complete card number as typed by a person (digits,
// spaces and dashes) and returns its brand. The error wraps one of ErrEmpty,
// ErrCharset, ErrBrand, ErrLength or ErrLuhn and never holds the number.
func Validate(number string) (Brand, error) {
	for _, r := range number {
		if DigitValue(r) < 0 && r != ' ' && r != '-' && r != '\u00a0' {
			return Brand{}, ErrCharset
		}
	}
	digits := Digits(number)
	if digits == "" {
		return Brand{}, ErrEmpty
	}
	if len(Possible(digits[:min(len(digits), 6)])) == 0 {
		return Brand{}, ErrBrand
	}
	b, ok := Detect(digits)
	if !ok {
		return Brand{}, fmt.Errorf("%w (%d digits)", ErrLength, len(digits))
	}
	if !Luhn(digits) {
		return Brand{}, ErrLuhn
	}
	return b, nil
}
