package chat

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"hash/fnv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secureinput/gateway/redact"
)

// Conversation states, as ChatInfo.State and the visitor's welcome frame
// carry them; the store keeps them as given.
const (
	StateWaiting = "waiting" // no agent yet (again, after an agent left)
	StateActive  = "active"  // an agent accepted it
	StateEnded   = "ended"   // over: no longer live, its history stays
)

type conversation struct {
	id, service, workgroup string
	tokenHash              []byte
	created                time.Time

	mu       sync.Mutex // before Hub.mu; serialises events: seq, streams, sinks
	seq      int64
	visitors sinkSet
	streams  map[Participant]*redact.Stream
	sent     []sentMessage // the last maxRemembered client ids, for deduplication
	sentNext int
	spoke    atomic.Bool // the visitor has written a message

	// Guarded by Hub.mu.
	state     string
	agent     string
	offeredTo string
	first     string // ChatInfo.FirstMessage
	firstSeq  int64  // the seq of the first visitor message, 0 before it
	page      string // ChatInfo.Page
	place     int    // the place in the queue last told to its visitors
}

// maxRemembered bounds the client ids a conversation remembers; maxClientID
// bounds their length.
const (
	maxRemembered = 16
	maxClientID   = 64
)

// sentMessage is a stored message by the hash of its author and client id:
// a few bytes a message however long the ids, which matters at 10,000 open
// conversations.
type sentMessage struct {
	key uint64
	seq int64
}

// ValidID reports whether s is an identifier a client may send and the
// gateway may echo: 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'.
// Client ids must be; conversation ids are (randomID). Nothing else a
// client sends is echoed without passing the engine.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > maxClientID {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func sentKey(p Participant, clientID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(p.Role))
	h.Write([]byte{0})
	h.Write([]byte(p.Login))
	h.Write([]byte{0})
	h.Write([]byte(clientID))
	return h.Sum64()
}

// stored returns the seq of the message key, if remembered. c.mu held.
func (c *conversation) stored(key uint64) (int64, bool) {
	for _, m := range c.sent {
		if m.key == key {
			return m.seq, true
		}
	}
	return 0, false
}

// remember records that key was stored as seq. c.mu must be held.
func (c *conversation) remember(key uint64, seq int64) {
	if len(c.sent) < maxRemembered {
		c.sent = append(c.sent, sentMessage{key, seq})
		return
	}
	c.sent[c.sentNext] = sentMessage{key, seq}
	c.sentNext = (c.sentNext + 1) % maxRemembered
}

func (h *Hub) newConversation(id, service, workgroup string, tokenHash []byte, created time.Time) *conversation {
	return &conversation{
		id: id, service: service, workgroup: workgroup, tokenHash: tokenHash, created: created,
		visitors: sinkSet{}, streams: map[Participant]*redact.Stream{},
	}
}

func randomID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func tokenMatches(hash []byte, token string) bool {
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(hash, hashToken(token)) == 1
}
