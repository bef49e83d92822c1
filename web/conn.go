package web

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/secure"
)

// Close codes the server uses (docs/protocol.md).
const (
	CloseNormal          = websocket.StatusNormalClosure   // 1000: chat ended, logout
	CloseGoingAway       = websocket.StatusGoingAway       // 1001: server shutting down, idle timeout
	ClosePolicyViolation = websocket.StatusPolicyViolation // 1008: malformed frame, bad hello, session expired
	CloseTooBig          = websocket.StatusMessageTooBig   // 1009: frame over the size limit
	CloseTryAgainLater   = websocket.StatusTryAgainLater   // 1013: client too slow to read; resume
)

// maxQueued bounds the frames waiting for a slow client before the server
// drops the connection (the client resumes from its last seq).
const maxQueued = 256

// client is one websocket connection and the chat.Sink of it. It has no
// goroutine of its own while idle: Deliver starts a writer when frames are
// waiting, and the writer ends when the queue is empty. That keeps an open,
// quiet conversation down to the read loop's goroutine.
type client struct {
	conn *websocket.Conn
	ctx  context.Context
	// goroutines counts the writers and keep-alive pings for the server's
	// Shutdown; the socket's own count is held while they start.
	goroutines *sync.WaitGroup

	mu      sync.Mutex
	queue   []outFrame
	held    bool  // frames wait until release (welcome and history go first)
	writing bool  // a writer goroutine is running
	failed  error // the connection is being dropped
}

func (s *Server) newClient(ctx context.Context, conn *websocket.Conn) *client {
	return &client{conn: conn, ctx: ctx, held: true, goroutines: &s.sockets}
}

// outFrame is one frame waiting to be written: a chat frame, or one of
// web's own (body set) with the conversation and seq it goes with.
type outFrame struct {
	chat         chat.Frame
	body         any
	conversation string
	seq          int64
}

// chatFrames wraps chat frames for the queue.
func chatFrames(frames []chat.Frame) []outFrame {
	out := make([]outFrame, len(frames))
	for i, f := range frames {
		out[i].chat = f
	}
	return out
}

// Deliver implements chat.Sink; it never blocks. A client more than
// maxQueued frames behind is closed with 1013 and resumes.
func (c *client) Deliver(f chat.Frame) { c.enqueue(outFrame{chat: f}) }

// Notice implements chat.Sink: body is one of web's frames the hub routed.
func (c *client) Notice(conversation string, seq int64, body any) {
	c.enqueue(outFrame{body: body, conversation: conversation, seq: seq})
}

// send queues one of web's frames for this client only, outside any
// conversation's history (seq 0).
func (c *client) send(conversation string, body any) {
	c.enqueue(outFrame{body: body, conversation: conversation})
}

func (c *client) enqueue(f outFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return
	}
	if len(c.queue) >= maxQueued {
		c.failed = errSlow
		c.queue = nil
		go c.conn.Close(CloseTryAgainLater, "too slow; resume from your last seq")
		return
	}
	c.queue = append(c.queue, f)
	c.startLocked()
}

// deliverAll queues frames the client asked for (a transcript), however
// many.
func (c *client) deliverAll(frames []chat.Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed == nil {
		c.queue = append(c.queue, chatFrames(frames)...)
		c.startLocked()
	}
}

// release sends first, then whatever was delivered meanwhile.
func (c *client) release(first []outFrame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(first, c.queue...)
	c.held = false
	c.startLocked()
}

func (c *client) startLocked() {
	if !c.held && !c.writing && len(c.queue) > 0 {
		c.writing = true
		c.goroutines.Add(1)
		go c.flush()
	}
}

// flush writes queued frames in order until the queue is empty.
func (c *client) flush() {
	defer c.goroutines.Done()
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 || c.failed != nil {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for _, f := range batch {
			if err := c.write(c.ctx, f); err != nil {
				c.mu.Lock()
				c.failed, c.writing, c.queue = err, false, nil
				c.mu.Unlock()
				c.conn.CloseNow()
				return
			}
		}
	}
}

// keepAlive pings the client every interval and drops it if it does not
// answer within interval. It returns a function that stops it and waits for
// a ping in progress.
func (c *client) keepAlive(interval time.Duration) (stop func()) {
	var t *time.Timer
	var mu sync.Mutex
	var pinging sync.WaitGroup
	stopped := false
	t = time.AfterFunc(interval, func() {
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		pinging.Add(1)
		mu.Unlock()
		defer pinging.Done()
		ctx, cancel := context.WithTimeout(c.ctx, interval)
		err := c.conn.Ping(ctx)
		cancel()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			c.conn.CloseNow()
			return
		}
		if !stopped {
			t.Reset(interval)
		}
	})
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
		pinging.Wait()
	}
}

var errSlow = errors.New("client too slow")

func (c *client) write(ctx context.Context, f outFrame) error {
	var b []byte
	var err error
	if f.body != nil {
		b, err = encodeFrame(f.conversation, f.seq, f.body)
	} else {
		b, err = json.Marshal(f.chat)
	}
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.conn.Write(wctx, websocket.MessageText, b)
}

// inFrame is any frame a client sends; only the fields its type uses are
// read.
type inFrame struct {
	Type         string `json:"type"`
	Conversation string `json:"conversation"`
	Token        string `json:"token"`
	Service      string `json:"service"`
	Visitor      string `json:"visitor"` // hello: the site's id of the visitor, for erasure
	Page         string `json:"page"`    // hello: the page the visitor is on
	// hello: the attributes the website gave its visitor, signed by the
	// site's server (docs/chat.md#form-attributes).
	Attributes          map[string]string `json:"attributes"`
	AttributesExpires   int64             `json:"attributes_expires"`
	AttributesSignature string            `json:"attributes_signature"`
	Since               int64             `json:"since"`
	ClientID            string            `json:"client_id"`
	Text                string            `json:"text"`
	Active              bool              `json:"active"`
	Status              string            `json:"status"`
	Workgroup           string            `json:"workgroup"` // supervise
	Call                string            `json:"call"`      // voice
	Mode                string            `json:"mode"`      // voice: hold or assisted
	// Secure forms.
	Form    string                  `json:"form"`
	Request string                  `json:"request"`
	Fields  map[string]string       `json:"fields"` // agent-filled, not confidential
	Values  map[string]secure.Value `json:"values"` // the customer's: secure from here on
}

// readFrame reads one client frame. A frame that is not a JSON object with a
// type is a protocol violation.
func readFrame(ctx context.Context, conn *websocket.Conn) (inFrame, error) {
	typ, data, err := conn.Read(ctx)
	if err != nil {
		return inFrame{}, err
	}
	// The frame may hold secure values: once decoded into secure.Values,
	// wipe the bytes it came in.
	defer clear(data)
	var f inFrame
	if typ != websocket.MessageText {
		return f, errMalformed
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Type == "" {
		for _, v := range f.Values {
			v.Wipe()
		}
		return inFrame{}, errMalformed
	}
	return f, nil
}

var errMalformed = errors.New("malformed frame")

// limiter is a token bucket: rate frames a second, up to burst at once.
type limiter struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

func (l *limiter) allow(now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// refusal is the error frame of err.
func refusal(err error) errorFrame {
	code, _ := errorCode(err)
	return errorFrame{Type: frameError, Code: code, Message: err.Error()}
}
