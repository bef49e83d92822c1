package chat

import (
	"errors"
)

// Errors of the Hub. The web layer maps each to the stable code of an error
// frame or HTTP reply (docs/protocol.md).
var (
	ErrNotFound       = errors.New("chat: no such conversation")
	ErrUnknownService = errors.New("chat: no such service")
	ErrBadVisitor     = errors.New("chat: bad visitor id (at most 128 bytes of printable ASCII)")
	ErrForbidden      = errors.New("chat: not allowed")
	ErrTaken          = errors.New("chat: conversation already taken")
	ErrEnded          = errors.New("chat: conversation ended")
	ErrTooLarge       = errors.New("chat: message too large")
	ErrEmpty          = errors.New("chat: empty message")
	ErrBadText        = errors.New("chat: message is not valid UTF-8")
	ErrUndeliverable  = errors.New("chat: message could not be redacted and was withheld")
	ErrBusy           = errors.New("chat: agent has reached the maximum number of chats")
	ErrStore          = errors.New("chat: could not store")
	ErrBadClientID    = errors.New("chat: client_id must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -")
)
