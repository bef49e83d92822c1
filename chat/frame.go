package chat

// ProtocolVersion is the version of the visitor and agent websocket
// protocols (docs/protocol.md). It changes only when a change would break an
// existing client.
const ProtocolVersion = 1

// Frame types the server sends. History frames are part of a conversation's
// transcript and carry the seq of their event; a client resumes after the
// last history seq it saw. Every other frame is ephemeral and carries the
// conversation's latest history seq at the time it was sent.
const (
	// History (stored, replayed on resume).
	FrameWaiting       = "waiting"        // the visitor waits for an agent
	FrameAgentJoined   = "agent_joined"   // an agent accepted the chat
	FrameAgentLeft     = "agent_left"     // the agent left; the chat waits again
	FrameMessage       = "message"        // a message, redacted
	FrameMessageUpdate = "message_update" // an earlier message's text changed (more of it masked)
	FrameEnded         = "ended"          // the chat is over
	FrameSecureInput   = "secure_input"   // a secure form was requested, cancelled, or had an outcome (text: the fact, no value)

	// Ephemeral.
	FrameWelcome     = "welcome"     // first frame on a socket: who you are, where you are
	FrameTyping      = "typing"      // the other side is (or stopped) typing
	FrameUndelivered = "undelivered" // your message could not be redacted and was withheld
	FrameError       = "error"       // your last frame was refused; the socket stays open
	FrameQueue       = "queue"       // agent: the chats waiting in your workgroups
	FrameOffer       = "offer"       // agent: you are offered this chat (idle longest)
	FrameStatus      = "status"      // agent: your availability
	FrameChats       = "chats"       // agent: the chats you handle
	FrameForms       = "forms"       // agent: the forms and canned responses you may use in a chat
	FrameForm        = "form"        // visitor: a secure form to fill
	FrameFormStatus  = "form_status" // both: a form request's state and outcome
	FrameFormError   = "form_error"  // visitor: fields to correct before the form can be sent
	FrameSupervision = "supervision" // supervisor: a workgroup's live conversations and agents
)

// HistoryFrames and EphemeralFrames list every frame type the server sends.
var (
	HistoryFrames   = []string{FrameWaiting, FrameAgentJoined, FrameAgentLeft, FrameMessage, FrameMessageUpdate, FrameEnded, FrameSecureInput}
	EphemeralFrames = []string{FrameWelcome, FrameTyping, FrameUndelivered, FrameError, FrameQueue, FrameOffer, FrameStatus, FrameChats,
		FrameForms, FrameForm, FrameFormStatus, FrameFormError, FrameSupervision}
)

// Roles of a participant.
const (
	RoleVisitor = "visitor"
	RoleAgent   = "agent"
	RoleSystem  = "system"
)

// Frame is one server-to-client message, encoded as a JSON object. Only the
// fields a type uses are present.
type Frame struct {
	Type         string `json:"type"`
	Seq          int64  `json:"seq"`
	Conversation string `json:"conversation,omitempty"`
	// message, message_update: the message's id (the seq of its message
	// frame), author role and display name, redacted text, time (unix ms).
	ID   int64  `json:"id,omitempty"`
	From string `json:"from,omitempty"`
	Name string `json:"name,omitempty"`
	Text string `json:"text,omitempty"`
	At   int64  `json:"at,omitempty"`
	// ClientID echoes the client_id of the author's own message, so the
	// author knows it was committed (message) or withheld (undelivered).
	ClientID string `json:"client_id,omitempty"`
	// typing
	Active *bool `json:"active,omitempty"`
	// welcome (visitor): the resume token; (agent) the agent's login.
	Token    string `json:"token,omitempty"`
	Service  string `json:"service,omitempty"`
	State    string `json:"state,omitempty"`
	Protocol int    `json:"protocol,omitempty"`
	Agent    string `json:"agent,omitempty"`
	// status
	Status string `json:"status,omitempty"`
	// queue, chats
	Chats []ChatInfo `json:"chats,omitempty"`
	// error, undelivered
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Secure forms (docs/protocol.md): the request id, and what the frame
	// type carries, filled in by the web layer.
	Request string `json:"request,omitempty"`
	Form    any    `json:"form,omitempty"`
	Forms   any    `json:"forms,omitempty"`
	Canned  any    `json:"canned,omitempty"`
	Outcome any    `json:"outcome,omitempty"`
	Result  string `json:"result,omitempty"`
	// supervision
	Workgroup     string            `json:"workgroup,omitempty"`
	Call          string            `json:"call,omitempty"` // voice frames: the call
	Conversations any               `json:"conversations,omitempty"`
	Agents        any               `json:"agents,omitempty"`
	Errors        map[string]string `json:"errors,omitempty"`
}

// ChatInfo describes a conversation in an agent's queue or chat list.
type ChatInfo struct {
	Conversation string `json:"conversation"`
	Service      string `json:"service"`
	Workgroup    string `json:"workgroup"`
	State        string `json:"state"`
	Since        int64  `json:"since"` // unix ms: created
}
