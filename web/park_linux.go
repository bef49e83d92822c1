package web

import (
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
)

// epollParking parks a TCP connection's reader in the process-wide poller.
type epollParking struct {
	rc syscall.RawConn
	id uint64 // the poller's key: never reused, unlike a descriptor

	// Guarded by thePoller.mu.
	resume func() // set while parked
	added  bool   // registered with epoll (one-shot, re-armed by wait)
	closed bool
}

// newParking returns the parking of a plain TCP connection, or nil (TLS,
// or no poller).
func newParking(c net.Conn) parking {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	p := getPoller()
	if p == nil {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	return &epollParking{rc: rc, id: p.next}
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
		return 0, errWouldBlock
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: err}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (e *epollParking) wait(resume func()) bool {
	p := thePoller
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
	p := thePoller
	p.mu.Lock()
	e.closed = true
	resume := e.resume
	e.resume = nil
	delete(p.parked, e.id)
	if e.added {
		e.rc.Control(func(fd uintptr) {
			syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
		})
	}
	p.mu.Unlock()
	if resume != nil {
		go resume()
	}
}

// poller is one epoll instance and the goroutine that waits on it for every
// parked connection of the process. The epoll descriptor is itself watched
// by Go's network poller, so the waiting goroutine is woken and scheduled
// like any network read rather than sitting in a blocking system call.
type poller struct {
	epfd int
	file *os.File // epfd, registered with Go's network poller

	mu     sync.Mutex
	next   uint64
	parked map[uint64]*epollParking
	broken bool // epoll failed: nothing parks any more
}

var (
	thePoller  *poller
	pollerOnce sync.Once
)

// getPoller starts the process's poller the first time, or returns nil if
// the kernel refuses one (connections then read the usual way).
func getPoller() *poller {
	pollerOnce.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err == nil {
			err = syscall.SetNonblock(fd, true)
		}
		var rc syscall.RawConn
		var file *os.File
		if err == nil {
			file = os.NewFile(uintptr(fd), "websocket-epoll")
			rc, err = file.SyscallConn()
		}
		if err != nil {
			slog.Warn("web: no epoll; every websocket keeps a goroutine", slog.String("error", err.Error()))
			return
		}
		thePoller = &poller{epfd: fd, file: file, parked: map[uint64]*epollParking{}}
		go thePoller.run(rc)
	})
	return thePoller
}

// run resumes parked connections as the kernel reports them readable,
// each on a goroutine of its own. It runs for the life of the process.
func (p *poller) run(rc syscall.RawConn) {
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
	slog.Error("web: epoll wait failed; websockets read the usual way from now on", slog.String("error", err.Error()))
	p.mu.Lock()
	p.broken = true
	for id, e := range p.parked {
		delete(p.parked, id)
		if e.resume != nil {
			go e.resume()
			e.resume = nil
		}
	}
	p.mu.Unlock()
}

// resumeReady starts the read loop of each connection in events.
func (p *poller) resumeReady(events []syscall.EpollEvent) {
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
