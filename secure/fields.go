package secure

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/secureinput/gateway/card"
)

// Kind is what a field holds; it decides the rules a value must pass.
type Kind string

// Field kinds.
const (
	KindCardNumber   Kind = "card_number"   // a payment card number (Luhn, brand, length)
	KindExpiry       Kind = "expiry"        // MM/YY or MM/YYYY, not in the past
	KindSecurityCode Kind = "security_code" // CVV/CVC/CID: the length the card's brand uses
	KindSSN          Kind = "ssn"           // US social security number
	KindNote         Kind = "secure_note"   // free text, up to MaxNote bytes
	KindAmount       Kind = "amount"        // a positive decimal amount, two decimals at most
	KindAccount      Kind = "account_number"
	KindText         Kind = "text" // short free text
)

// Kinds lists every kind, for configuration checks.
var Kinds = []Kind{KindCardNumber, KindExpiry, KindSecurityCode, KindSSN, KindNote, KindAmount, KindAccount, KindText}

// Limits of free-text fields.
const (
	MaxNote = 2000
	MaxText = 200
)

// Field errors. The error of a field names the field, never its value.
var (
	ErrRequired = errors.New("is required")
	ErrInvalid  = errors.New("is not valid")
	ErrExpired  = errors.New("is in the past")
	ErrTooLong  = errors.New("is too long")
	ErrBrand    = errors.New("is a card brand not accepted here")
)

// Field is one input of a form.
type Field struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Kind       Kind   `json:"kind"`
	AgentFills bool   `json:"agent_fills"` // non-confidential, filled by the agent
	Optional   bool   `json:"optional"`
	// ReadOnly, for an agent field of a form with a lookup service, keeps
	// the looked-up value: the agent cannot change it.
	ReadOnly bool `json:"read_only,omitempty"`
	// Brands, for a card number, are the brand ids accepted ("visa",
	// "mastercard" …); empty accepts every brand.
	Brands []string `json:"brands,omitempty"`
}

// FieldError says which field failed which rule.
type FieldError struct {
	Field string // the field's id
	Err   error  // one of the Err… rules, or a card.Err…
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q %v", e.Field, e.Err) }
func (e *FieldError) Unwrap() error { return e.Err }

// Check validates customer values (secure) and agent values (plain) against
// fields, as of now. It returns one error a failing field, in field order;
// none means every value passed. Values of unknown fields are errors too.
func Check(fields []Field, customer map[string]Value, agent map[string]string, now time.Time) []*FieldError {
	var errs []*FieldError
	var brand *card.Brand
	known := map[string]bool{}
	for _, f := range fields {
		known[f.ID] = true
		var s string
		if f.AgentFills {
			s = agent[f.ID]
		} else {
			v := customer[f.ID]
			s = v.text()
		}
		s = strings.TrimSpace(s)
		if s == "" {
			if !f.Optional {
				errs = append(errs, &FieldError{f.ID, ErrRequired})
			}
			continue
		}
		if err := checkValue(f.Kind, s, brand, now); err != nil {
			errs = append(errs, &FieldError{f.ID, err})
			continue
		}
		if f.Kind == KindCardNumber {
			b, _ := card.Detect(card.Digits(s))
			if len(f.Brands) > 0 && !slices.Contains(f.Brands, b.ID) {
				errs = append(errs, &FieldError{f.ID, ErrBrand})
				continue
			}
			brand = &b
		}
	}
	for id := range customer {
		if !known[id] {
			errs = append(errs, &FieldError{id, errors.New("is not a field of this form")})
		}
	}
	for id := range agent {
		if !known[id] {
			errs = append(errs, &FieldError{id, errors.New("is not a field of this form")})
		}
	}
	return errs
}

func checkValue(kind Kind, s string, brand *card.Brand, now time.Time) error {
	switch kind {
	case KindCardNumber:
		_, err := card.Validate(s)
		return err
	case KindExpiry:
		return checkExpiry(s, now)
	case KindSecurityCode:
		if !allDigits(s) {
			return ErrInvalid
		}
		if brand != nil && brand.CodeSize > 0 {
			if len(s) != brand.CodeSize {
				return fmt.Errorf("%w: %s has %d digits for %s", ErrInvalid, brand.CodeName, brand.CodeSize, brand.Name)
			}
			return nil
		}
		if len(s) < 3 || len(s) > 4 {
			return ErrInvalid
		}
	case KindSSN:
		return checkSSN(s)
	case KindNote:
		if len(s) > MaxNote || !utf8.ValidString(s) {
			return ErrTooLong
		}
	case KindText:
		if len(s) > MaxText || !utf8.ValidString(s) {
			return ErrTooLong
		}
	case KindAmount:
		return checkAmount(s)
	case KindAccount:
		d := strings.NewReplacer(" ", "", "-", "").Replace(s)
		if len(d) < 4 || len(d) > 34 || !alnum(d) {
			return ErrInvalid
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	return nil
}

// checkExpiry accepts MM/YY, MM/YYYY, MM-YY and MMYY; a card is valid until
// the end of its expiry month.
func checkExpiry(s string, now time.Time) error {
	s = strings.NewReplacer(" ", "", "-", "/").Replace(s)
	var mm, yy string
	switch {
	case len(s) == 4 && allDigits(s):
		mm, yy = s[:2], s[2:]
	case strings.Count(s, "/") == 1:
		mm, yy, _ = strings.Cut(s, "/")
	default:
		return ErrInvalid
	}
	m, err1 := strconv.Atoi(mm)
	y, err2 := strconv.Atoi(yy)
	if err1 != nil || err2 != nil || len(mm) < 1 || len(mm) > 2 || m < 1 || m > 12 || (len(yy) != 2 && len(yy) != 4) {
		return ErrInvalid
	}
	if len(yy) == 2 {
		y += 2000
	}
	endOfMonth := time.Date(y, time.Month(m)+1, 1, 0, 0, 0, 0, time.UTC)
	if !now.Before(endOfMonth) {
		return ErrExpired
	}
	if y > now.Year()+20 {
		return ErrInvalid
	}
	return nil
}

// checkSSN applies the SSA's rules: AAA-GG-SSSS, area not 000, 666 or
// 900–999, group not 00, serial not 0000.
func checkSSN(s string) error {
	d := strings.NewReplacer("-", "", " ", "").Replace(s)
	if len(d) != 9 || !allDigits(d) {
		return ErrInvalid
	}
	area, group, serial := d[:3], d[3:5], d[5:]
	if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
		return ErrInvalid
	}
	return nil
}

func checkAmount(s string) error {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || !allDigits(whole) || (hasFrac && (len(frac) == 0 || len(frac) > 2 || !allDigits(frac))) {
		return ErrInvalid
	}
	if strings.Trim(whole+frac, "0") == "" {
		return ErrInvalid
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
