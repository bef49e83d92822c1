package chat

import (
	"errors"
)

// Errors of the Hub. Code maps each to the code of an error frame.
var (
	ErrNotFound       = errors.New("chat: no such conversation")
	ErrUnknownService = errors.New("chat: no such service")
	ErrForbidden      = errors.New("chat: not allowed")
	ErrTaken          = errors.New("chat: conversation already taken")
	ErrEnded          = errors.New("chat: conversation ended")
	ErrTooLarge       = errors.New("chat: message too large")
	ErrEmpty          = errors.New("chat: empty message")
	ErrBadText        = errors.New("chat: message is not valid UTF-8")
	ErrUndeliverable  = errors.New("chat: message could not be redacted and was withheld")
	ErrBusy           = errors.New("chat: agent has reached the maximum number of chats")
	ErrStore          = errors.New("chat: could not store")
	ErrBadClientID    = errors.New("chat: client_id longer than 64 bytes")
)

// errorCodes maps each error of the Hub to its stable code.
var errorCodes = []struct {
	err  error
	code string
}{
	{ErrNotFound, "not_found"},
	{ErrUnknownService, "unknown_service"},
	{ErrForbidden, "forbidden"},
	{ErrTaken, "taken"},
	{ErrEnded, "ended"},
	{ErrTooLarge, "too_large"},
	{ErrEmpty, "empty"},
	{ErrBadText, "bad_text"},
	{ErrUndeliverable, "redaction_failed"},
	{ErrBusy, "busy"},
	{ErrBadClientID, "bad_request"},
}

// Code returns the stable error code of err for error frames and HTTP
// replies (docs/protocol.md); "internal" for any other error.
func Code(err error) string {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}
