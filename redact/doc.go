// Package redact finds and masks sensitive data in text: payment card
// numbers (a hand-written scanner over bytes, see scanner.go) and whatever
// extra regular expressions an administrator configures (.NET syntax with
// lookarounds, through github.com/dlclark/regexp2, see expr.go).
//
// Everything goes through one type, Engine. Detectors produce spans (byte
// offsets into the input); masking is one pass at the end, turning every
// character of a span into '#', so a redacted text keeps its shape. If a
// detector cannot finish (time limit, panic), the caller gets an error and a
// fully masked text, never the original.
package redact
