// Package secure is the validation pipeline shared by chat forms and voice:
// the rules for secure fields, the secure session (begin, insert, validate,
// end), the client of the organisation's validation web service, the outcome
// and the result string. Secure values exist in memory only here: they are
// never logged, stored or sent to an agent, and are wiped as soon as the
// validation call returns.
package secure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
)

// redacted is what every printing path of a Value shows.
const redacted = "[redacted]"

// Value is a secure value a customer typed (a card number, an SSN …). Its
// bytes are unexported, it cannot be compared with ==, and every way of
// printing it gives "[redacted]". Only this package reads the bytes, to
// validate them and to send them to the validation web service.
type Value struct {
	_ [0]func() // not comparable
	b []byte
}

// NewValue copies s into a Value.
func NewValue(s string) Value { return Value{b: []byte(s)} }

// Len is the number of bytes of the value.
func (v Value) Len() int { return len(v.b) }

// IsZero reports whether the value is empty.
func (v Value) IsZero() bool { return len(v.b) == 0 }

// Wipe overwrites the value's bytes with zeros.
func (v *Value) Wipe() {
	clear(v.b)
	v.b = nil
}

// String implements fmt.Stringer.
func (Value) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (Value) GoString() string { return redacted }

// Format implements fmt.Formatter for every verb.
func (Value) Format(f fmt.State, _ rune) { f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer.
func (Value) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON implements json.Marshaler.
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// text is the value as a string, for the field rules in this package only.
func (v Value) text() string { return string(v.b) }

// UnmarshalJSON reads a JSON string into the value without an intermediate
// Go string when the text has no escapes, so the caller can wipe the frame it
// came from and leave no copy behind.
func (v *Value) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && !bytes.ContainsAny(b[1:len(b)-1], "\\\"") {
		v.b = append([]byte(nil), b[1:len(b)-1]...)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("secure: a value must be a JSON string")
	}
	v.b = []byte(s)
	return nil
}
