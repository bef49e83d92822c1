package wsconn

import (
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
)

// epollParking parks a TCP connection's reader in its Poller.
type epollParking struct {
	p  *Poller
	rc syscall.RawConn
	id uint64 // the poller's key: never reused, unlike a descriptor

	// Guarded by p.mu.
	resume func() // set while parked
	added  bool   // registered with epoll (one-shot, re-armed by wait)
	closed bool
}

// newParking returns the parking of a plain TCP connection, or nil (TLS,
// or a poller that is broken or closed).
func (p *Poller) newParking(c net.Conn) parking {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return nil
	}
	p.next++
	return &epollParking{p: p, rc: rc, id: p.next}
}

func (e *epollParking) nonblockingRead(b []byte) (int, error) {
	var n int
	var err error
	if cerr := e.rc.Read(func(fd uintptr) bool {
		n, err = syscall.Read(int(fd), b)
		return true // one attempt: never wait for the descriptor
	}); cerr != nil {
		return 0, cerr
	}
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		return 0, ErrWouldBlock
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: err}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (e *epollParking) wait(resume func()) bool {
	p := e.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.closed || p.broken {
		return false
	}
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(e.id)),
		Pad:    int32(uint32(e.id >> 32)),
	}
	var err error
	if cerr := e.rc.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if !e.added {
			op = syscall.EPOLL_CTL_ADD
		}
		err = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	}); cerr != nil || err != nil {
		return false
	}
	e.added = true
	e.resume = resume
	p.parked[e.id] = e
	return true
}

func (e *epollParking) closing() {
	p := e.p
	p.mu.Lock()
	e.closed = true
	resume := e.resume
	e.resume = nil
	delete(p.parked, e.id)
	// A closed poller's descriptor may be another file's by now; closing
	// the connection takes it out of the epoll set anyway.
	if e.added && !p.broken {
		e.rc.Control(func(fd uintptr) {
			syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
	p.mu.Unlock()
	if resume != nil {
		go resume()
	}
}

// Poller is one epoll instance and the goroutine that waits on it for every
// parked connection of a server. The epoll descriptor is itself watched by
// Go's network poller, so the waiting goroutine is woken and scheduled like
// any network read rather than sitting in a blocking system call.
type Poller struct {
	epfd int
	file *os.File // epfd, registered with Go's network poller
	log  *slog.Logger
	done chan struct{} // closed when run returns

	mu      sync.Mutex
	next    uint64
	parked  map[uint64]*epollParking
	broken  bool // epoll failed or the poller closed: nothing parks any more
	closing bool
}

// NewPoller starts a poller that logs to log. If the kernel refuses one it
// says so and returns a poller that parks nothing (connections then read
// the usual way).
func NewPoller(log *slog.Logger) *Poller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Poller{log: log, parked: map[uint64]*epollParking{}, done: make(chan struct{})}
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}
	var rc syscall.RawConn
	if err == nil {
		p.file = os.NewFile(uintptr(fd), "websocket-epoll")
		rc, err = p.file.SyscallConn()
	}
	if err != nil {
		log.Warn("wsconn: no epoll; every websocket keeps a goroutine", slog.String("error", err.Error()))
		if p.file != nil {
			p.file.Close()
		}
		p.broken = true
		close(p.done)
		return p
	}
	p.epfd = fd
	go p.run(rc)
	return p
}

// Close stops the poller's goroutine and wakes every parked connection (its
// loop then reads the usual way until the connection ends); connections
// wrapped from now on do not park.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.broken {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closing = true
	p.mu.Unlock()
	err := p.file.Close() // ends run's wait
	<-p.done
	return err
}

// run resumes parked connections as the kernel reports them readable,
// each on a goroutine of its own, until the poller closes or epoll fails.
func (p *Poller) run(rc syscall.RawConn) {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	var err error
	rerr := rc.Read(func(fd uintptr) bool {
		for {
			var n int
			n, err = syscall.EpollWait(int(fd), events, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return true
			}
			p.resumeReady(events[:n])
			if n < len(events) {
				return false // drained: wait until the descriptor is readable again
			}
		}
	})
	if rerr != nil {
		err = rerr
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closing {
		p.log.Error("wsconn: epoll wait failed; websockets read the usual way from now on", slog.String("error", err.Error()))
	}
	p.broken = true
	for id, e := range p.parked {
		delete(p.parked, id)
		if e.resume != nil {
			go e.resume()
			e.resume = nil
		}
	}
}

// resumeReady starts the read loop of each connection in events.
func (p *Poller) resumeReady(events []syscall.EpollEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range events {
		id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
		e := p.parked[id]
		if e == nil {
			continue
		}
		delete(p.parked, id)
		if resume := e.resume; resume != nil {
			e.resume = nil
			go resume()
		}
	}
}
