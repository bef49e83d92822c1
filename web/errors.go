package web

import (
	"errors"
	"net/http"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/voice"
)

// errorCodes is the one table of the stable error codes of error frames and
// HTTP replies (docs/protocol.md, docs/telephony.md): every domain error a
// client can meet, with the HTTP status an API answers it with. Any other
// error is "internal", 500.
var errorCodes = []struct {
	err    error
	code   string
	status int
}{
	{chat.ErrNotFound, "not_found", http.StatusNotFound},
	{chat.ErrUnknownService, "unknown_service", http.StatusNotFound},
	{chat.ErrBadVisitor, "bad_visitor", http.StatusBadRequest},
	{chat.ErrForbidden, "forbidden", http.StatusForbidden},
	{chat.ErrTaken, "taken", http.StatusConflict},
	{chat.ErrEnded, "ended", http.StatusConflict},
	{chat.ErrTooLarge, "too_large", http.StatusRequestEntityTooLarge},
	{chat.ErrEmpty, "empty", http.StatusBadRequest},
	{chat.ErrBadText, "bad_text", http.StatusBadRequest},
	{chat.ErrUndeliverable, "redaction_failed", http.StatusUnprocessableEntity},
	{chat.ErrBusy, "busy", http.StatusConflict},
	{chat.ErrBadClientID, "bad_request", http.StatusBadRequest},
	{errRateLimited, "rate_limited", http.StatusTooManyRequests},
	{errTooManyConversations, "rate_limited", http.StatusTooManyRequests},
	{errBadStatus, "bad_request", http.StatusBadRequest},
	{chatforms.ErrNoConversation, "not_found", http.StatusNotFound},
	{chatforms.ErrNotHandling, "forbidden", http.StatusForbidden},
	{chatforms.ErrNoSecureInput, "no_secure_input", http.StatusForbidden},
	{chatforms.ErrNoInitiate, "no_initiate_secure_input", http.StatusForbidden},
	{chatforms.ErrNoAccess, "no_workgroup_access", http.StatusForbidden},
	{chatforms.ErrNotForService, "form_not_for_service", http.StatusForbidden},
	{chatforms.ErrUnknownForm, "unknown_form", http.StatusNotFound},
	{chatforms.ErrUnknownRequest, "unknown_request", http.StatusNotFound},
	{chatforms.ErrState, "form_state", http.StatusConflict},
	{chatforms.ErrBusy, "form_busy", http.StatusConflict},
	{chatforms.ErrLookupPending, "lookup_pending", http.StatusConflict},
	{chatforms.ErrReadOnly, "read_only_field", http.StatusBadRequest},
	{chatforms.ErrUnverified, "unverified_attributes", http.StatusForbidden},
	{chatforms.ErrNotReady, "form_not_ready", http.StatusConflict},
	{secure.ErrFields, "invalid_fields", http.StatusBadRequest},
	{errFormsOff, "forms_disabled", http.StatusNotFound},
	{voice.ErrUnknownCall, "unknown_call", http.StatusNotFound},
	{voice.ErrUnknownSession, "no_session", http.StatusNotFound},
	{voice.ErrEnded, "no_session", http.StatusNotFound},
	{voice.ErrConference, "conference_call", http.StatusUnprocessableEntity},
	{voice.ErrMonitored, "monitored_call", http.StatusUnprocessableEntity},
	{voice.ErrSessionExists, "session_exists", http.StatusConflict},
	{voice.ErrTooManySessions, "too_many_sessions", http.StatusTooManyRequests},
	{voice.ErrNotOnCall, "not_on_call", http.StatusForbidden},
	{voice.ErrBadMode, "bad_request", http.StatusBadRequest},
	{voice.ErrNotCollecting, "not_collecting", http.StatusConflict},
	{voice.ErrKeySequence, "bad_sequence", http.StatusBadRequest},
	{voice.ErrEventPayloadType, "bad_payload_type", http.StatusBadRequest},
	{voice.ErrClosed, "unavailable", http.StatusServiceUnavailable},
}

// errorCode returns the stable code of err and the HTTP status for it.
func errorCode(err error) (string, int) {
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code, c.status
		}
	}
	return "internal", http.StatusInternalServerError
}

// codeOf returns the stable code of err.
func codeOf(err error) string {
	code, _ := errorCode(err)
	return code
}
