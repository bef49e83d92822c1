package web

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/voice"
)

// Frame types web sends of its own (docs/protocol.md, docs/telephony.md):
// errors, secure forms, supervision and calls. The chat's frames are
// chat.Frame.
const (
	frameUndelivered = "undelivered" // your message could not be redacted and was withheld
	frameError       = "error"       // your last frame was refused; the socket stays open
	frameForms       = "forms"       // agent: the forms (and canned responses) you may use in a chat or on a call
	frameForm        = "form"        // visitor: a secure form to fill
	frameFormStatus  = "form_status" // both: a form request's state and outcome
	frameFormError   = "form_error"  // visitor: fields to correct before the form can be sent
	frameFormDraft   = "form_draft"  // agent: a form as its lookup filled it, and whether it may be sent
	frameSupervision = "supervision" // supervisor: a workgroup's live conversations and agents
	frameCalls       = "calls"       // agent: the calls you are on
	frameCallSession = "call_session"
	frameHistoryEnd  = "history_end" // agent: every frame a history request asked for has been sent
)

// webFrames lists every frame type of web's own.
var webFrames = []string{frameUndelivered, frameError, frameForms, frameForm, frameFormStatus, frameFormError,
	frameFormDraft, frameSupervision, frameCalls, frameCallSession, frameHistoryEnd}

// historyEndFrame follows the frames of a history request, so a client
// knows which frames after it are live.
type historyEndFrame struct {
	Type string `json:"type"`
}

// Every frame type below starts with its Type; encodeFrame adds the seq and
// the conversation after it, as every frame of the protocol carries them.

// errorFrame refuses a client's frame (error) or withholds its message
// (undelivered).
type errorFrame struct {
	Type     string            `json:"type"`
	ClientID string            `json:"client_id,omitempty"`
	Code     string            `json:"code"`
	Message  string            `json:"message"`
	Errors   map[string]string `json:"errors,omitempty"` // field id → the rule it broke
}

// chatFormsFrame lists the forms and canned responses of a chat.
type chatFormsFrame struct {
	Type   string             `json:"type"`
	Forms  []formInfo         `json:"forms"`
	Canned []chatforms.Canned `json:"canned"`
}

// formDraftFrame is a form the agent is about to send, as its lookup
// filled it (chatforms.Draft).
type formDraftFrame struct {
	Type     string            `json:"type"`
	Call     string            `json:"call,omitempty"` // a call's form, not a chat's
	Form     string            `json:"form"`
	Values   map[string]string `json:"values"`
	ReadOnly []string          `json:"read_only"`
	Ready    bool              `json:"ready"`
	Reasons  []string          `json:"reasons"`
}

// callFormsFrame lists the forms an agent may use on a call.
type callFormsFrame struct {
	Type  string     `json:"type"`
	Call  string     `json:"call"`
	Forms []formInfo `json:"forms"`
}

// formFrame gives the customer a secure form to fill.
type formFrame struct {
	Type    string      `json:"type"`
	Request string      `json:"request"`
	Form    visitorForm `json:"form"`
}

// formStatusFrame is a form request's state; the agent's copy carries the
// result string.
type formStatusFrame struct {
	Type    string          `json:"type"`
	Request string          `json:"request"`
	Name    string          `json:"name"` // the form's title
	Status  string          `json:"status"`
	Outcome *secure.Outcome `json:"outcome,omitempty"`
	Result  string          `json:"result,omitempty"`
}

// formErrorFrame tells the customer which fields to correct.
type formErrorFrame struct {
	Type    string            `json:"type"`
	Request string            `json:"request"`
	Errors  map[string]string `json:"errors"`
}

// supervisionFrame is a workgroup's live view.
type supervisionFrame struct {
	Type          string           `json:"type"`
	Workgroup     string           `json:"workgroup"`
	Conversations []supervisedChat `json:"conversations"`
	Agents        []chat.AgentInfo `json:"agents"`
	At            int64            `json:"at"` // unix ms
}

// callsFrame lists the calls an agent is on (in "conversations", as
// protocol version 1 names it).
type callsFrame struct {
	Type  string     `json:"type"`
	Calls []callInfo `json:"conversations"`
}

// callInfo is one call of a callsFrame.
type callInfo struct {
	Call      string `json:"call"`
	Parties   int    `json:"parties"`
	Monitored bool   `json:"monitored"`
}

// callSessionFrame is a secure IVR session's state, progress and outcome.
type callSessionFrame struct {
	Type     string            `json:"type"`
	Call     string            `json:"call"`
	Session  voice.SessionInfo `json:"outcome"`
	Progress *voice.Progress   `json:"form,omitempty"`
}

// encodeFrame encodes one of web's frames, putting the seq and the
// conversation ("" for none) right after its type: {"type":"form","seq":4,
// "conversation":"C…",…}.
func encodeFrame(conversation string, seq int64, body any) ([]byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	// b is {"type":"…"…: types are constants without commas or quotes, so
	// the type ends at the first comma, or before the closing brace.
	at := bytes.IndexByte(b, ',')
	if at < 0 {
		at = len(b) - 1
	}
	out := make([]byte, 0, len(b)+48+len(conversation))
	out = append(out, b[:at]...)
	out = append(out, `,"seq":`...)
	out = strconv.AppendInt(out, seq, 10)
	if conversation != "" {
		out = append(out, `,"conversation":`...)
		c, _ := json.Marshal(conversation)
		out = append(out, c...)
	}
	return append(out, b[at:]...), nil
}
