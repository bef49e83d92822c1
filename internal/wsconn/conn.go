// Package wsconn lets an idle websocket give up its goroutine: a hijacked
// connection that knows where the client's frames end, and one epoll set
// (a Poller, owned and closed by the server) that runs a parked
// connection's read loop again when bytes arrive.
package wsconn

import (
	"errors"
	"net"
	"sync/atomic"
)

// Conn is the connection a websocket runs on once hijacked. It lets
// an idle websocket give up its goroutine: at 20,000 sockets, one goroutine
// blocked in a read each is most of the server's memory (16 KiB of stack per
// socket against about 8 KiB of everything else).
//
// Conn follows the frames the client sends (frameTracker), so it knows
// when the websocket library has consumed a whole number of frames and asks
// for the first byte of the next one. If the read loop is reading then
// (SetLoopReading), that one read does not wait: with no bytes in the kernel
// it fails with ErrWouldBlock, having consumed nothing, and the library's
// state is as before the call. The loop then parks the connection (Park):
// the Poller's one goroutine watches it and runs the loop again on a new
// goroutine when bytes arrive or the peer goes away. Close wakes a parked
// connection so its loop ends and cleans up.
//
// Where parking is impossible (TLS, whose records the kernel cannot see
// into, or a platform without epoll) reads block as usual.
type Conn struct {
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
	// ErrWouldBlock.
	nonblockingRead(p []byte) (int, error)
	// wait arranges for resume to run on a new goroutine once the
	// connection is readable or closed, and reports whether it did; the
	// caller's goroutine should then return.
	wait(resume func()) bool
	// closing wakes a parked reader; it runs before the socket closes.
	closing()
}

// ErrWouldBlock ends a read at a frame boundary when no byte has arrived:
// the read loop parks the connection.
var ErrWouldBlock = errors.New("wsconn: no frame waiting")

// Wrap wraps a hijacked connection; pending is what the HTTP server had
// already read past the upgrade request. A nil Poller parks nothing.
func (p *Poller) Wrap(c net.Conn, pending []byte) *Conn {
	conn := &Conn{Conn: c, pending: pending}
	if p != nil {
		conn.park = p.newParking(c)
	}
	return conn
}

// SetLoopReading says whether the read loop is in a read and would rather
// park than wait: a read at a frame boundary then fails with ErrWouldBlock
// instead of waiting for bytes.
func (c *Conn) SetLoopReading(on bool) { c.loopReading.Store(on) }

// Park arranges for resume to run on a new goroutine once the connection is
// readable or closed, and reports whether it did; the caller's goroutine
// should then return. It reports false where parking is impossible: the
// loop then reads the usual way.
func (c *Conn) Park(resume func()) bool { return c.park != nil && c.park.wait(resume) }

// Read implements net.Conn. The websocket library reads through a
// bufio.Reader, which calls Read only once it has handed out every byte it
// held: so when the bytes read so far end on a frame boundary, this read is
// for the first byte of the next frame.
func (c *Conn) Read(p []byte) (n int, err error) {
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
func (c *Conn) Close() error {
	if c.park != nil {
		c.park.closing()
	}
	return c.Conn.Close()
}
