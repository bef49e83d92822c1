package secure

import (
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// AttributePrefix starts the name of every attribute param of the
// validation request, so an attribute never collides with a field id and a
// validation service that knows nothing of attributes ignores them.
const AttributePrefix = "attr."

// Limits of attributes: what a form, an interaction or a lookup answer may
// carry into a validation or lookup request.
const (
	MaxAttributes      = 64
	MaxAttributeName   = 64
	MaxAttributeValue  = 1024
	maxAttributesTotal = 32 << 10
)

// ErrAttribute is wrapped by the errors of CheckAttributes.
var ErrAttribute = errors.New("secure: bad attribute")

// CheckAttributes checks attribute names and values: at most MaxAttributes,
// names of 1 to MaxAttributeName letters, digits, '_', '-' or '.', values
// of valid UTF-8 up to MaxAttributeValue bytes without control characters.
// Its errors name the attribute, never its value.
func CheckAttributes(attrs map[string]string) error {
	if len(attrs) > MaxAttributes {
		return fmt.Errorf("%w: %d attributes, at most %d", ErrAttribute, len(attrs), MaxAttributes)
	}
	total := 0
	for name, v := range attrs {
		if !ValidAttributeName(name) {
			return fmt.Errorf("%w: name %q: want 1 to %d letters, digits, '_', '-' or '.'", ErrAttribute, truncate(name), MaxAttributeName)
		}
		if len(v) > MaxAttributeValue {
			return fmt.Errorf("%w: %q is longer than %d bytes", ErrAttribute, name, MaxAttributeValue)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("%w: %q is not UTF-8", ErrAttribute, name)
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("%w: %q holds a control character", ErrAttribute, name)
			}
		}
		total += len(name) + len(v)
	}
	if total > maxAttributesTotal {
		return fmt.Errorf("%w: %d bytes of attributes, at most %d", ErrAttribute, total, maxAttributesTotal)
	}
	return nil
}

// ValidAttributeName reports whether name may name an attribute.
func ValidAttributeName(name string) bool {
	if name == "" || len(name) > MaxAttributeName {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > MaxAttributeName {
		s = s[:MaxAttributeName] + "…"
	}
	return s
}

// AttributeParams are the params of attrs, named AttributePrefix+name and
// sorted by name.
func AttributeParams(attrs map[string]string) []Param {
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]Param, len(names))
	for i, n := range names {
		out[i] = Param{Name: AttributePrefix + n, Plain: attrs[n]}
	}
	return out
}
