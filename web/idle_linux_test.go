package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/secureinput/gateway/chat"
	"github.com/secureinput/gateway/chatforms"
)

// readLoopGoroutines counts the goroutines inside a socket's read loop.
func readLoopGoroutines() int {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	return strings.Count(buf.String(), "web.(*readLoop).run(")
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIdleSocketsHoldNoGoroutine: an open, quiet websocket is parked in
// epoll, not in a goroutine; pings and pongs while parked leave it parked;
// bytes arriving resume it; a client gone or a shutdown ends it.
func TestIdleSocketsHoldNoGoroutine(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PingInterval = time.Second; c.Limits.ConversationBurst = 100 }) // a pong may take a while on a loaded machine
	e.agent(t, "ann")                                                                                  // an agent socket parks too

	const n = 40
	var pings atomic.Int64
	acks := make(chan chat.Frame, n)
	visitors := make([]*websocket.Conn, n)
	ids := make([]string, n)
	for i := range visitors {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, _, err := websocket.Dial(ctx, e.wsURL("/api/v1/visitor/ws"), &websocket.DialOptions{
			OnPingReceived: func(context.Context, []byte) bool { pings.Add(1); return true },
		})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.CloseNow() })
		visitors[i] = conn
		sendJSON(t, conn, map[string]any{"type": "hello", "service": "support"})
		ids[i] = readUntil(t, conn, chat.FrameWelcome).Conversation
		// The client reads from here on, so it answers the server's pings.
		go func() {
			for {
				_, data, err := conn.Read(context.Background())
				if err != nil {
					t.Logf("visitor %d: %v", i, err) // why an ack may be missing
					return
				}
				var f chat.Frame
				if json.Unmarshal(data, &f) == nil && f.Type == chat.FrameMessage && f.ClientID != "" {
					acks <- f
				}
			}
		}()
	}
	eventually(t, "every read loop parked", func() bool { return readLoopGoroutines() == 0 })

	// Each visitor answers at least two pings while parked; each pong
	// wakes its read loop, which parks again.
	eventually(t, "two pings per visitor", func() bool { return pings.Load() >= 2*n })
	eventually(t, "every read loop parked after the pongs", func() bool { return readLoopGoroutines() == 0 })

	// A parked socket reads what arrives: every message is stored and
	// acknowledged.
	for i, conn := range visitors {
		sendJSON(t, conn, map[string]any{"type": "message", "client_id": "m", "text": fmt.Sprintf("visitor %d", i)})
	}
	got := map[string]bool{}
	for len(got) < n {
		select {
		case f := <-acks:
			got[f.Conversation+" "+f.Text] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d messages acknowledged", len(got), n)
		}
	}
	for i, id := range ids {
		if !got[fmt.Sprintf("%s visitor %d", id, i)] {
			t.Errorf("visitor %d's message was not acknowledged", i)
		}
	}

	// Clients that vanish end their parked sockets: the count of open
	// connections falls to the agent's and the other half.
	for _, conn := range visitors[:n/2] {
		conn.CloseNow()
	}
	eventually(t, "vanished visitors' sockets ended", func() bool { return e.web.conns.Load() == 1+n/2 })

	// Shutdown closes parked sockets and waits for each to end.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.web.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with parked sockets: %v", err)
	}
	if c := e.web.conns.Load(); c != 0 {
		t.Errorf("%d connections still counted after shutdown", c)
	}
}

// TestFramesInPiecesAndInBursts: a client whose frames arrive a byte at a
// time, a message in several frames, and many frames in one write are read
// whole and in order (the parking read must never start in the middle of a
// frame or message).
func TestFramesInPiecesAndInBursts(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Rate = 1000; c.Burst = 100 })

	// Byte at a time.
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			return &tricklingConn{Conn: c}, err
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slow, _, err := websocket.Dial(ctx, e.wsURL("/api/v1/visitor/ws"), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	sendJSON(t, slow, map[string]any{"type": "hello", "service": "support"})
	id := readUntil(t, slow, chat.FrameWelcome).Conversation
	for i := range 3 {
		sendJSON(t, slow, map[string]any{"type": "message", "client_id": fmt.Sprint(i), "text": fmt.Sprintf("trickle %d", i)})
	}
	for i := range 3 {
		if f := readUntil(t, slow, chat.FrameMessage); f.Conversation != id || f.Text != fmt.Sprintf("trickle %d", i) {
			t.Fatalf("acknowledged %+v, want trickle %d", f, i)
		}
	}

	// A message in two frames with a pause between: the loop must not park
	// in the middle of it.
	w, err := slow.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, `{"type":"message","client_id":"f","text":"in two `)
	time.Sleep(50 * time.Millisecond)
	io.WriteString(w, `frames"}`)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if f := readUntil(t, slow, chat.FrameMessage); f.Text != "in two frames" {
		t.Fatalf("acknowledged %+v, want the fragmented message", f)
	}

	// A burst: the upgrade request, the hello and 30 messages in one write.
	raw, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var burst bytes.Buffer
	burst.WriteString("GET /api/v1/visitor/ws HTTP/1.1\r\nHost: " + strings.TrimPrefix(e.srv.URL, "http://") +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	writeMaskedText(&burst, `{"type":"hello","service":"support"}`)
	const k = 30
	for i := range k {
		writeMaskedText(&burst, fmt.Sprintf(`{"type":"message","client_id":"b%d","text":"burst %d"}`, i, i))
	}
	if _, err := raw.Write(burst.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(raw)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := 0; i < k; {
		var f chat.Frame
		if err := json.Unmarshal(readServerFrame(t, br), &f); err != nil {
			t.Fatal(err)
		}
		if f.Type != chat.FrameMessage {
			continue
		}
		if f.Text != fmt.Sprintf("burst %d", i) {
			t.Fatalf("acknowledged %q, want burst %d", f.Text, i)
		}
		i++
	}
}

// tricklingConn writes one byte at a time, each its own TCP segment.
type tricklingConn struct{ net.Conn }

func (c *tricklingConn) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := c.Conn.Write(p[i : i+1]); err != nil {
			return i, err
		}
		time.Sleep(200 * time.Microsecond)
	}
	return len(p), nil
}

func sendJSON(t *testing.T, conn *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func readUntil(t *testing.T, conn *websocket.Conn, typ string) chat.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		var f chat.Frame
		json.Unmarshal(data, &f)
		if f.Type == typ {
			return f
		}
	}
}

// writeMaskedText appends a client text frame (RFC 6455 §5.2).
func writeMaskedText(w *bytes.Buffer, text string) {
	w.WriteByte(0x81)
	switch n := len(text); {
	case n < 126:
		w.WriteByte(0x80 | byte(n))
	default:
		w.WriteByte(0x80 | 126)
		binary.Write(w, binary.BigEndian, uint16(n))
	}
	mask := [4]byte{1, 2, 3, 4}
	w.Write(mask[:])
	for i := range len(text) {
		w.WriteByte(text[i] ^ mask[i%4])
	}
}

// readServerFrame reads one unmasked, unfragmented server frame.
func readServerFrame(t *testing.T, r *bufio.Reader) []byte {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l uint16
		binary.Read(r, binary.BigEndian, &l)
		n = int(l)
	case 127:
		var l uint64
		binary.Read(r, binary.BigEndian, &l)
		n = int(l)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestShutdownWaitsForEverySocketGoroutine: when Shutdown returns, no read
// loop, writer, keep-alive ping, supervision ticker or poller of the server
// runs any more.
func TestShutdownWaitsForEverySocketGoroutine(t *testing.T) {
	e := formsEnv(t, map[string][]chatforms.Right{"ann": {chatforms.RightSupervisor}})
	agent := e.agent(t, "ann")
	agent.send(map[string]any{"type": "supervise", "workgroup": "support"})
	agent.next(frameSupervision)
	v, _, _ := dial(t, e.wsURL("/api/v1/visitor/ws"), nil)
	v.send(map[string]any{"type": "hello", "service": "support"})
	v.next(chat.FrameWelcome)
	v.send(map[string]any{"type": "message", "text": "hello", "client_id": "1"})
	agent.next(chat.FrameOffer)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.web.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	for _, f := range []string{"web.(*readLoop).run(", "web.(*client).flush(", "web.(*Server).supervise.func", "wsconn.(*Poller).run("} {
		if strings.Contains(buf.String(), f) {
			t.Errorf("after Shutdown a goroutine still runs %s", f)
		}
	}
}
