package chat

// ProtocolVersion is the version of the visitor and agent websocket
// protocols (docs/protocol.md). It changes only when a change would break an
// existing client.
const ProtocolVersion = 1

// Frame types the chat sends. History frames are part of a conversation's
// transcript and carry the seq of their event; a client resumes after the
// last history seq it saw. Every other frame is ephemeral and carries the
// conversation's latest history seq at the time it was sent. The frames of
// other features (secure forms, calls, supervision, errors) are the web
// layer's, routed through Notify and NotifyAgent.
const (
	// History (stored, replayed on resume).
	FrameWaiting       = "waiting"        // the visitor waits for an agent
	FrameAgentJoined   = "agent_joined"   // an agent accepted the chat
	FrameAgentLeft     = "agent_left"     // the agent left; the chat waits again
	FrameMessage       = "message"        // a message, redacted
	FrameMessageUpdate = "message_update" // an earlier message's text changed (more of it masked)
	FrameEnded         = "ended"          // the chat is over
	FrameSecureInput   = "secure_input"   // a secure form was requested, cancelled, or had an outcome (text: the fact, no value)
	FrameRedaction     = "redaction"      // a message was redacted: id is the message, text the rules that fired (never what they masked)

	// Ephemeral.
	FrameWelcome = "welcome"        // first frame on a socket: who you are, where you are
	FrameTyping  = "typing"         // the other side is (or stopped) typing
	FrameQueue   = "queue"          // agent: the chats waiting in your workgroups
	FrameOffer   = "offer"          // agent: you are offered this chat (idle longest)
	FrameStatus  = "status"         // agent: your availability
	FrameChats   = "chats"          // agent: the chats you handle
	FramePlace   = "queue_position" // visitor: your place in the queue changed
)

// HistoryFrames and EphemeralFrames list every frame type the chat sends.
var (
	HistoryFrames   = []string{FrameWaiting, FrameAgentJoined, FrameAgentLeft, FrameMessage, FrameMessageUpdate, FrameEnded, FrameSecureInput, FrameRedaction}
	EphemeralFrames = []string{FrameWelcome, FrameTyping, FrameQueue, FrameOffer, FrameStatus, FrameChats, FramePlace}
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
	// welcome (visitor, while waiting), queue_position: the conversation's
	// place in its workgroup's queue, 1 the next to be taken.
	Position int `json:"position,omitempty"`
}

// ChatInfo describes a conversation in an agent's queue or chat list.
type ChatInfo struct {
	Conversation string `json:"conversation"`
	Service      string `json:"service"`
	Workgroup    string `json:"workgroup"`
	State        string `json:"state"`
	Since        int64  `json:"since"` // unix ms: created
	// FirstMessage is the visitor's first message, redacted (as everyone
	// sees it) and cut to maxPreview bytes; "" before the first message.
	FirstMessage string `json:"first_message,omitempty"`
	// Page is the page the visitor opened the chat on (scheme, host and
	// path; no query), redacted; "" if not told.
	Page string `json:"page,omitempty"`
}
