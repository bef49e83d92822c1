package web

import (
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"
)

// socketConn is the connection a websocket runs on once hijacked. It lets
// an idle websocket give up its goroutine: at 20,000 sockets, one goroutine
// blocked in a read each is most of the server's memory (16 KiB of stack per
// socket against about 8 KiB of everything else).
//
// socketConn follows the frames the client sends (frameTracker), so it knows
// when the websocket library has consumed a whole number of frames and asks
// for the first byte of the next one. If the read loop is reading then
// (loopReading), that one read does not wait: with no bytes in the kernel it
// fails with errWouldBlock, having consumed nothing, and the library's state
// is as before the call. The loop then parks the connection (park): one
// process-wide epoll goroutine watches it and runs the loop again on a new
// goroutine when bytes arrive or the peer goes away. Close wakes a parked
// connection so its loop ends and cleans up.
//
// Where parking is impossible (TLS, whose records the kernel cannot see
// into, or a platform without epoll) reads block as usual.
type socketConn struct {
	net.Conn

	// pending holds what the client sent before the upgrade finished; it
	// is read before the network.
	pending []byte
	// frames follows the frame boundaries of what was read. Only Read
	// touches it, and the websocket library never reads from two
	// goroutines at once.
	frames frameTracker
	// loopReading: the read loop is in a read and would rather park than
	// wait.
	loopReading atomic.Bool

	park parking // nil where the connection cannot be parked
}

// parking is what a platform offers to park a connection's reader.
type parking interface {
	// nonblockingRead reads what the kernel holds, or fails with
	// errWouldBlock.
	nonblockingRead(p []byte) (int, error)
	// wait arranges for resume to run on a new goroutine once the
	// connection is readable or closed, and reports whether it did; the
	// caller's goroutine should then return.
	wait(resume func()) bool
	// closing wakes a parked reader; it runs before the socket closes.
	closing()
}

// errWouldBlock ends a read at a frame boundary when no byte has arrived:
// the read loop parks the connection.
var errWouldBlock = errors.New("web: no frame waiting")

// newSocketConn wraps a hijacked connection; pending is what the HTTP
// server had already read past the upgrade request.
func newSocketConn(c net.Conn, pending []byte) *socketConn {
	return &socketConn{Conn: c, pending: pending, park: newParking(c)}
}

// Read implements net.Conn. The websocket library reads through a
// bufio.Reader, which calls Read only once it has handed out every byte it
// held: so when the bytes read so far end on a frame boundary, this read is
// for the first byte of the next frame.
func (c *socketConn) Read(p []byte) (n int, err error) {
	switch {
	case len(c.pending) > 0:
		n = copy(p, c.pending)
		c.pending = c.pending[n:]
	case c.park != nil && c.loopReading.Load() && c.frames.atBoundary():
		n, err = c.park.nonblockingRead(p)
	default:
		n, err = c.Conn.Read(p)
	}
	if n > 0 {
		c.frames.feed(p[:n])
	}
	return n, err
}

// Close implements net.Conn; a parked reader wakes up to find the
// connection closed.
func (c *socketConn) Close() error {
	if c.park != nil {
		c.park.closing()
	}
	return c.Conn.Close()
}

// frameTracker follows websocket frame headers (RFC 6455 §5.2) through a
// byte stream, skipping payloads, to know where frames end. It does not
// validate: the websocket library does, and closes the connection on a bad
// frame.
type frameTracker struct {
	header     [14]byte
	have       int   // header bytes seen
	need       int   // header length, once its first two bytes are in
	payload    int64 // payload bytes still to come
	fragmented bool  // a data message's later frames are still to come
}

// atBoundary reports whether what was fed ends with a whole message (control
// frames may come between the frames of a fragmented one).
func (t *frameTracker) atBoundary() bool {
	return t.have == 0 && t.payload == 0 && !t.fragmented
}

func (t *frameTracker) feed(b []byte) {
	for len(b) > 0 {
		if t.payload > 0 {
			k := int(min(t.payload, int64(len(b))))
			t.payload -= int64(k)
			b = b[k:]
			continue
		}
		t.header[t.have] = b[0]
		t.have++
		b = b[1:]
		if t.have == 2 {
			t.need = 2
			switch t.header[1] & 0x7f {
			case 126:
				t.need += 2
			case 127:
				t.need += 8
			}
			if t.header[1]&0x80 != 0 {
				t.need += 4 // masking key
			}
		}
		if t.have >= 2 && t.have == t.need {
			switch l := t.header[1] & 0x7f; l {
			case 126:
				t.payload = int64(binary.BigEndian.Uint16(t.header[2:]))
			case 127:
				t.payload = int64(binary.BigEndian.Uint64(t.header[2:]) &^ (1 << 63))
			default:
				t.payload = int64(l)
			}
			if t.header[0]&0x08 == 0 { // a data or continuation frame
				t.fragmented = t.header[0]&0x80 == 0 // FIN clear
			}
			t.have = 0
		}
	}
}
