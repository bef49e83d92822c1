package web

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/chat"
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

// client is one websocket connection: a chat.Sink whose frames a single
// writer goroutine sends in order.
type client struct {
	conn *websocket.Conn

	mu       sync.Mutex
	queue    []chat.Frame
	overflow bool
	wake     chan struct{} // one pending signal
}

func newClient(conn *websocket.Conn) *client {
	return &client{conn: conn, wake: make(chan struct{}, 1)}
}

// Deliver implements chat.Sink; it never blocks.
func (c *client) Deliver(f chat.Frame) {
	c.mu.Lock()
	if len(c.queue) >= maxQueued {
		c.overflow = true
	} else {
		c.queue = append(c.queue, f)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// deliverAll queues frames the client asked for (a transcript), however
// many.
func (c *client) deliverAll(frames []chat.Frame) {
	c.mu.Lock()
	c.queue = append(c.queue, frames...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop sends queued frames until ctx ends or the client falls too far
// behind. It pings every pingEvery; a client that does not answer within
// pingEvery is dropped.
func (c *client) writeLoop(ctx context.Context, pingEvery time.Duration) error {
	ping := time.NewTimer(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, pingEvery)
			err := c.conn.Ping(pctx)
			cancel()
			if err != nil {
				return errIdle
			}
			ping.Reset(pingEvery)
		case <-c.wake:
			c.mu.Lock()
			batch, overflow := c.queue, c.overflow
			c.queue = nil
			c.mu.Unlock()
			for _, f := range batch {
				if err := c.write(ctx, f); err != nil {
					return err
				}
			}
			if overflow {
				return errSlow
			}
		}
	}
}

var (
	errSlow = errors.New("client too slow")
	errIdle = errors.New("client idle")
)

func (c *client) write(ctx context.Context, f chat.Frame) error {
	b, err := json.Marshal(f)
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
	Since        int64  `json:"since"`
	ClientID     string `json:"client_id"`
	Text         string `json:"text"`
	Active       bool   `json:"active"`
	Status       string `json:"status"`
}

// readFrame reads one client frame. A frame that is not a JSON object with a
// type is a protocol violation.
func readFrame(ctx context.Context, conn *websocket.Conn) (inFrame, error) {
	typ, data, err := conn.Read(ctx)
	if err != nil {
		return inFrame{}, err
	}
	var f inFrame
	if typ != websocket.MessageText {
		return f, errMalformed
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Type == "" {
		return f, errMalformed
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

func errorFrame(err error, conversation string) chat.Frame {
	code := chat.Code(err)
	switch {
	case errors.Is(err, errRateLimited):
		code = "rate_limited"
	case errors.Is(err, errBadStatus):
		code = "bad_request"
	}
	return chat.Frame{Type: chat.FrameError, Conversation: conversation, Code: code, Message: err.Error()}
}
